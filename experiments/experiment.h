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
// measurable part of its claim as a `Check` with the numbers behind it, and
// `RunExperiment` turns the checks into "agrees" (all hold), "disagrees"
// (none holds) or "partly agrees".
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
//   std::cout << actgrad::experiments::VerdictName(r->verdict) << ": " << r->summary;

#ifndef ACTGRAD_EXPERIMENTS_EXPERIMENT_H_
#define ACTGRAD_EXPERIMENTS_EXPERIMENT_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace actgrad::experiments {

struct Options {
  // Repeat i of a configuration seeds its weights and batch order with
  // seed + i; data splits stay fixed so that the spread is the seeds'.
  uint64_t seed = 0;
  // Seeds per configuration; 0 is the experiment's own default.
  int repeats = 0;
  // Smaller data and fewer epochs, for tests: seconds instead of tens.
  bool reduced = false;
  // Where breast_cancer.csv and digits.csv are; empty is the bundled data/.
  std::string data_dir;
};

enum class Verdict { kAgrees, kPartlyAgrees, kDisagrees };

// "agrees", "partly agrees", "disagrees".
const char* VerdictName(Verdict verdict);

// One measurable part of a claim, and whether the measurement supports it.
struct Check {
  std::string claim;      // "C13"
  std::string statement;  // what the article says, as tested
  bool supported = false;
  std::string evidence;  // the numbers that decided it
};

// All checks supported: agrees; none: disagrees; otherwise partly agrees.
// No checks at all is "disagrees": an experiment that measured nothing
// supports nothing.
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
  Verdict verdict = Verdict::kDisagrees;
  double seconds = 0;
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

// Runs `experiment`, then fills in its name, claims, wall time and verdict.
// Errors are the outside world's (a data file that cannot be read).
absl::StatusOr<Result> RunExperiment(const Experiment& experiment, const Options& options);

}  // namespace actgrad::experiments

#endif  // ACTGRAD_EXPERIMENTS_EXPERIMENT_H_
