#include "experiments/stats.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace actgrad::experiments {

Spread Summarize(std::span<const double> values) {
  Spread s;
  double sum = 0;
  s.min = std::numeric_limits<double>::infinity();
  s.max = -s.min;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    sum += v;
    s.min = std::min(s.min, v);
    s.max = std::max(s.max, v);
    ++s.n;
  }
  if (s.n == 0) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    return {nan, nan, nan, nan, 0};
  }
  s.mean = sum / s.n;
  double squares = 0;
  for (double v : values) {
    if (std::isfinite(v)) squares += (v - s.mean) * (v - s.mean);
  }
  s.sd = s.n > 1 ? std::sqrt(squares / (s.n - 1)) : 0;
  return s;
}

std::string FormatValue(double v, int significant) {
  if (std::isnan(v)) return "n/a";
  if (v == 0) return "0";
  const double a = std::abs(v);
  if (a < 1e-3 || a >= 1e5) return absl::StrFormat("%.1e", v);
  return absl::StrFormat("%.*g", significant, v);
}

std::string FormatSpread(const Spread& s, int significant) {
  if (s.n == 0) return "n/a";
  if (s.n == 1) return FormatValue(s.mean, significant);
  return absl::StrCat(FormatValue(s.mean, significant), " ± ", FormatValue(s.sd, 2), " [",
                      FormatValue(s.min, significant), ", ", FormatValue(s.max, significant), "]");
}

std::string FormatPercentSpread(const Spread& s) {
  if (s.n == 0) return "n/a";
  if (s.n == 1) return absl::StrFormat("%.1f %%", 100 * s.mean);
  return absl::StrFormat("%.1f ± %.1f %% [%.1f, %.1f]", 100 * s.mean, 100 * s.sd, 100 * s.min,
                         100 * s.max);
}

std::string FormatEpochsSpread(std::span<const double> epochs) {
  std::vector<double> reached;
  for (double e : epochs) {
    if (e >= 0) reached.push_back(e);
  }
  if (reached.size() == epochs.size()) return FormatSpread(Summarize(reached), 3);
  if (reached.empty()) return absl::StrFormat("not reached (0 of %d)", epochs.size());
  return absl::StrFormat("%s; not reached in %d of %d", FormatSpread(Summarize(reached), 3),
                         epochs.size() - reached.size(), epochs.size());
}

Band SummarizeCurves(const std::vector<std::vector<double>>& curves) {
  Band band;
  if (curves.empty()) return band;
  size_t length = curves[0].size();
  for (const auto& c : curves) length = std::min(length, c.size());
  for (size_t i = 0; i < length; ++i) {
    std::vector<double> column;
    for (const auto& c : curves) column.push_back(c[i]);
    const Spread s = Summarize(column);
    band.mean.push_back(s.mean);
    band.low.push_back(s.min);
    band.high.push_back(s.max);
  }
  return band;
}

Interval BootstrapInterval(int n, absl::FunctionRef<double(std::span<const int> seeds)> statistic) {
  std::vector<int> seeds(static_cast<size_t>(std::max(n, 0)));
  for (int i = 0; i < n; ++i) seeds[i] = i;
  Interval out{.estimate = statistic(seeds), .n = n};
  out.low = out.high = out.estimate;
  if (n < 2) return out;
  // mt19937_64's output is fixed by the standard, and `% n` (unlike
  // std::uniform_int_distribution) is too, so every platform draws the same
  // resamples; the modulo bias for n <= 100 is below 1e-17.
  std::mt19937_64 gen(0x5eed'b007);
  std::vector<double> stats;
  stats.reserve(kBootstrapResamples);
  std::vector<int> draw(seeds.size());
  for (int b = 0; b < kBootstrapResamples; ++b) {
    for (int& d : draw) d = static_cast<int>(gen() % static_cast<uint64_t>(n));
    const double v = statistic(draw);
    // A resample whose statistic is undefined (0 / 0) says nothing either way.
    if (!std::isnan(v)) stats.push_back(v);
  }
  if (stats.empty()) return out;
  std::sort(stats.begin(), stats.end());
  const double last = static_cast<double>(stats.size() - 1);
  out.low = stats[static_cast<size_t>(std::floor(0.025 * last))];
  out.high = stats[static_cast<size_t>(std::ceil(0.975 * last))];
  return out;
}

double MeanOver(std::span<const double> values, std::span<const int> seeds) {
  double sum = 0;
  for (int s : seeds) sum += values[s];
  return seeds.empty() ? std::numeric_limits<double>::quiet_NaN() : sum / double(seeds.size());
}

Interval MeanInterval(std::span<const double> values) {
  return BootstrapInterval(static_cast<int>(values.size()),
                           [&](std::span<const int> seeds) { return MeanOver(values, seeds); });
}

Interval RatioInterval(std::span<const double> numerator, std::span<const double> denominator) {
  const int n = static_cast<int>(std::min(numerator.size(), denominator.size()));
  return BootstrapInterval(n, [&](std::span<const int> seeds) {
    return MeanOver(numerator, seeds) / MeanOver(denominator, seeds);
  });
}

Interval DifferenceInterval(std::span<const double> a, std::span<const double> b) {
  const int n = static_cast<int>(std::min(a.size(), b.size()));
  return BootstrapInterval(
      n, [&](std::span<const int> seeds) { return MeanOver(a, seeds) - MeanOver(b, seeds); });
}

Interval ExactValue(double v) { return {.estimate = v, .low = v, .high = v, .n = 0}; }

std::string FormatInterval(const Interval& interval, int significant) {
  if (interval.n == 0) {
    return FormatValue(interval.estimate, significant);
  }
  return absl::StrCat(FormatValue(interval.estimate, significant), " [",
                      FormatValue(interval.low, significant), ", ",
                      FormatValue(interval.high, significant), "]");
}

std::vector<double> Range(size_t n, bool from_one) {
  std::vector<double> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = double(i + (from_one ? 1 : 0));
  return out;
}

}  // namespace actgrad::experiments
