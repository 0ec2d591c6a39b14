// -----------------------------------------------------------------------------
// File: experiment.h
// -----------------------------------------------------------------------------
//
// experiments/ measures the article's claims with the rest of the library.
//
// The article's measurable claims (../shared/seed/CLAIMS.md, C1-C20) as
// experiments that anyone can rerun: each trains small networks over several
// seeds, and returns its setup, tables, SVG figures, and a verdict on the
// claim. The verdict is never written by hand: an experiment states each
// measurable part of its claim as a `Check`, one quantity with a 95 %
// confidence interval over seeds and the threshold the claim implies.
// A check agrees when the whole interval is on the claim's side of the
// threshold, disagrees when it is wholly on the other side, and is
// inconclusive otherwise; a verdict built on point estimates would flip
// with the rounding of one training step.
//
// `RunExperiment` adds seeds while a check is inconclusive (10, 20, then 30
// seeds by default; `Options::max_repeats`), then turns the checks into a
// verdict (`VerdictFromChecks`). Seeds train in parallel; each run is
// single-threaded and owns its generator, so the results are the same bits
// whatever the thread count.
//
// The experiments are listed in one table (`AllExperiments()`); `actgrad
// experiment` and the tests iterate over it.
//
// Example:
//
//   absl::StatusOr<const actgrad::experiments::Experiment*> e =
//       actgrad::experiments::FindExperiment("linear-collapse");
//   if (!e.ok()) return e.status();
//   absl::StatusOr<actgrad::experiments::Result> r =
//       actgrad::experiments::RunExperiment(**e, {.seed = 0, .reduced = true});
//   std::cout << actgrad::experiments::VerdictName(r->verdict) << " after " << r->seeds
//             << " seeds";

#ifndef ACTGRAD_EXPERIMENTS_EXPERIMENT_H_
#define ACTGRAD_EXPERIMENTS_EXPERIMENT_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "experiments/stats.h"

namespace actgrad::experiments {

struct Options {
  // Repeat i of a configuration seeds its weights and batch order with
  // seed + i; data splits stay fixed so that the spread is the seeds'.
  uint64_t seed = 0;
  // Seeds per configuration. 0: start with the default (10; 2 reduced) and
  // add seeds while a check is inconclusive, up to `max_repeats`. A number
  // given here is used as it is.
  int repeats = 0;
  // The most seeds sequential seeding goes to; 0: 30 (4 reduced).
  int max_repeats = 0;
  // Training runs at once, one seed each; 0: the hardware's threads.
  int threads = 0;
  // Smaller data and fewer epochs, for tests: seconds instead of tens.
  bool reduced = false;
  // Where breast_cancer.csv and digits.csv are; empty is the bundled data/.
  std::string data_dir;
  // For tests: scales every training loss recorded for repeat
  // `perturbed_repeat` by 1 + `loss_perturbation` (1e-7 is a rounding
  // difference), so that a test can show no verdict hangs on it.
  double loss_perturbation = 0;
  int perturbed_repeat = 0;
};

// The factor TrainMlp applies to the losses it records for `repeat`.
double LossFactor(const Options& options, int repeat);

// Seeds an experiment runs with when `Options::repeats` is 0, and the cap.
int DefaultRepeats(const Options& options);
int MaxRepeats(const Options& options);

enum class Verdict { kAgrees, kPartlyAgrees, kDisagrees, kInconclusive };

// "agrees", "partly agrees", "disagrees", "inconclusive".
const char* VerdictName(Verdict verdict);

// Which side of its threshold the claim puts a check's quantity on.
enum class Side { kAtMost, kAtLeast };

enum class CheckOutcome { kAgrees, kDisagrees, kInconclusive };

// "agrees", "disagrees", "inconclusive".
const char* OutcomeName(CheckOutcome outcome);

// One measurable part of a claim: a quantity, its interval, and the
// threshold the claim implies. `outcome` is filled in by `RunExperiment`
// from the other fields (`Decide`), never by the experiment.
struct Check {
  std::string claim;      // "C17"
  std::string statement;  // what the article says, as tested
  std::string quantity;   // what `value` measures: "relu / leaky_relu epochs (5x64, momentum)"
  Interval value;
  Side side = Side::kAtMost;
  double threshold = 0;
  std::string evidence;  // further numbers behind it; may be empty
  CheckOutcome outcome = CheckOutcome::kInconclusive;
};

// Agrees when the whole interval is on the claim's side of the threshold
// (the threshold itself counts as the claim's side), disagrees when the
// whole interval is on the other side, inconclusive when it straddles.
CheckOutcome Decide(const Check& check);

// "≤ 1.25" or "≥ 0.9".
std::string FormatThreshold(const Check& check);

// One line: "relu / leaky_relu epochs (5x64, momentum) 1.3 [1.1, 1.5], claim
// ≤ 1.25: inconclusive".
std::string CheckLine(const Check& check);

// The same numbers as a sentence for the prose: "relu / leaky_relu epochs
// (5x64, momentum) was 1.3 [1.1, 1.5], above the claim's ≤ 1.25."
std::string CheckSentence(const Check& check);

// From the checks' outcomes:
//   agrees         every check agrees;
//   disagrees      every check disagrees;
//   partly agrees  at least one check agrees and at least one disagrees
//                  (whatever the inconclusive ones would come to);
//   inconclusive   otherwise: some check is inconclusive and the others
//                  all point one way (or there are none), so more seeds
//                  could still change the verdict. No checks at all is
//                  inconclusive too.
// A verdict other than inconclusive is one no inconclusive check can change.
Verdict VerdictFromChecks(std::span<const Check> checks);

struct Table {
  std::string caption;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

struct Figure {
  std::string name;  // file stem, unique across experiments: "saturation-gradients"
  std::string caption;
  std::string svg;
};

// A number worth keeping in machine-readable output (--json).
struct Metric {
  std::string name;
  double value = 0;
};

struct Result {
  std::string name;
  std::string claims;
  std::string title;               // the question, one line
  std::vector<std::string> setup;  // data, sizes, seeds, learning rate, epochs
  std::vector<Table> tables;
  std::vector<Figure> figures;
  std::vector<Check> checks;
  std::vector<Metric> metrics;
  std::string discussion;  // what the numbers mean, including where they differ from the article
  Verdict verdict = Verdict::kInconclusive;
  int seeds = 0;                 // per configuration, in the final round
  std::vector<int> seed_rounds;  // seeds of each round: {10, 20}
  double seconds = 0;            // all rounds
  int threads = 1;               // training runs at once
};

struct Experiment {
  absl::string_view name;    // "linear-collapse"
  absl::string_view claims;  // "C13, C14"
  absl::string_view measures;
  absl::StatusOr<Result> (*run)(const Options& options);
};

// Every experiment, in the order the report presents them.
std::span<const Experiment> AllExperiments();

// The experiment named `name`; kNotFound naming the closest names otherwise.
absl::StatusOr<const Experiment*> FindExperiment(absl::string_view name);

// Runs `experiment` with the default seeds, and again with more while a
// check is inconclusive and the cap allows (seeds 0..n-1 are the same runs
// in every round); then fills in its name, claims, seeds, wall time, each
// check's outcome and the verdict. Errors are the outside world's (a data
// file that cannot be read).
absl::StatusOr<Result> RunExperiment(const Experiment& experiment, const Options& options);

}  // namespace actgrad::experiments

#endif  // ACTGRAD_EXPERIMENTS_EXPERIMENT_H_
