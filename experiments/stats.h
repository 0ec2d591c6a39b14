// -----------------------------------------------------------------------------
// File: stats.h
// -----------------------------------------------------------------------------
//
// Summaries over seeds, and how the experiments print numbers. Every result
// of an experiment is a spread, not one run: mean, standard deviation,
// minimum and maximum over the repeats, printed as "0.934 ± 0.012
// [0.92, 0.95]" so that a reader can judge whether a difference is larger
// than the noise. Curves over epochs are summarized point by point as bands.
//
// The checks behind a verdict use confidence intervals instead: a 95 %
// percentile bootstrap over seeds (`BootstrapInterval`). Seeds are resampled
// as units, so a statistic that pairs two configurations run with the same
// seed keeps the pairing. The resampler's own generator has a fixed seed:
// the same per-seed values always give the same interval, bit for bit.
//
// Example:
//
//   std::vector<double> accuracy = {0.93, 0.95, 0.94};
//   Spread s = Summarize(accuracy);
//   std::cout << FormatSpread(s);            // "0.94 ± 0.01 [0.93, 0.95]"
//   Band band = SummarizeCurves(loss_curves);  // mean, min and max per epoch
//   Interval ratio = RatioInterval(relu_epochs, leaky_epochs);
//   std::cout << FormatInterval(ratio);      // "1.3 [1.1, 1.5]"

#ifndef ACTGRAD_EXPERIMENTS_STATS_H_
#define ACTGRAD_EXPERIMENTS_STATS_H_

#include <span>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"

namespace actgrad::experiments {

struct Spread {
  double mean = 0;
  double sd = 0;  // sample standard deviation (n - 1); 0 for one value
  double min = 0;
  double max = 0;
  int n = 0;
};

// Non-finite values are left out; an empty input gives n = 0 and NaNs.
Spread Summarize(std::span<const double> values);

// Three significant digits, in exponent form below 1e-3 or from 1e5:
// "0.934", "12.5", "3.1e-07". NaN prints as "n/a".
std::string FormatValue(double v, int significant = 3);

// "mean ± sd [min, max]"; a single value prints alone.
std::string FormatSpread(const Spread& s, int significant = 3);

// As a percentage: "97.2 ± 0.4 % [96.5, 97.9]".
std::string FormatPercentSpread(const Spread& s);

// Epochs to a target as "12 ± 2 [10, 15]", or "not reached (k of n)" when
// some runs never got there (those are marked by a negative count).
std::string FormatEpochsSpread(std::span<const double> epochs);

struct Band {
  std::vector<double> mean;
  std::vector<double> low;
  std::vector<double> high;
};

// Point-by-point mean, minimum and maximum of equally long curves.
Band SummarizeCurves(const std::vector<std::vector<double>>& curves);

// An estimate over seeds with its 95 % confidence interval.
struct Interval {
  double estimate = 0;  // the statistic on all seeds
  double low = 0;
  double high = 0;
  int n = 0;  // seeds; 0 for an exact value that no seed changes
};

// Resamples drawn by `BootstrapInterval`: enough that the 2.5 % and 97.5 %
// points move by far less than the intervals are wide.
inline constexpr int kBootstrapResamples = 4000;

// The percentile bootstrap interval of `statistic` over seeds 0..n-1:
// `statistic` is given a multiset of seed indices (all n for the estimate,
// n drawn with replacement for each resample) and returns the quantity.
// Deterministic: the resampler is seeded with a constant.
Interval BootstrapInterval(int n, absl::FunctionRef<double(std::span<const int> seeds)> statistic);

// The mean of values[s] over the seeds s, for statistics of one's own.
double MeanOver(std::span<const double> values, std::span<const int> seeds);

// The mean of per-seed values.
Interval MeanInterval(std::span<const double> values);

// mean(numerator) / mean(denominator), the two paired by seed.
Interval RatioInterval(std::span<const double> numerator, std::span<const double> denominator);

// mean(a - b) over seeds, paired.
Interval DifferenceInterval(std::span<const double> a, std::span<const double> b);

// A number that does not depend on the seeds (a derivative from an op's
// formula): its interval is the number itself.
Interval ExactValue(double v);

// "1.3 [1.1, 1.5]", or the value alone when it is exact.
std::string FormatInterval(const Interval& interval, int significant = 3);

// 0, 1, ..., n - 1 (or 1..n with `from_one`) as doubles, for x axes.
std::vector<double> Range(size_t n, bool from_one = false);

}  // namespace actgrad::experiments

#endif  // ACTGRAD_EXPERIMENTS_STATS_H_
