// -----------------------------------------------------------------------------
// File: runners.h
// -----------------------------------------------------------------------------
//
// The entry point of each experiment, one per .cc file in this folder. Only
// the table in experiment.cc calls them; everyone else goes through
// `AllExperiments()` / `RunExperiment()`, which also computes the verdict.
//
// Example:
//
//   absl::StatusOr<Result> r = RunSaturation({.reduced = true});

#ifndef ACTGRAD_EXPERIMENTS_RUNNERS_H_
#define ACTGRAD_EXPERIMENTS_RUNNERS_H_

#include "absl/status/statusor.h"
#include "experiments/experiment.h"

namespace actgrad::experiments {

absl::StatusOr<Result> RunLinearCollapse(const Options& options);        // C13, C14
absl::StatusOr<Result> RunSaturation(const Options& options);            // C15
absl::StatusOr<Result> RunTanhVsSigmoid(const Options& options);         // C9
absl::StatusOr<Result> RunReluSpeed(const Options& options);             // C10, C16, C17
absl::StatusOr<Result> RunInitialization(const Options& options);        // C18-C20
absl::StatusOr<Result> RunReluDerivativeAtZero(const Options& options);  // C3
absl::StatusOr<Result> RunOutputLayer(const Options& options);           // C8, C11

}  // namespace actgrad::experiments

#endif  // ACTGRAD_EXPERIMENTS_RUNNERS_H_
