// -----------------------------------------------------------------------------
// File: experiment_command.h
// -----------------------------------------------------------------------------
//
// `actgrad experiment NAME|all`: runs the experiments that test the article's
// claims (experiments/experiment.h), prints each one's setup, tables, checks
// (estimate, 95 % interval, threshold, outcome) and verdict, and writes its
// SVG figures; seeds are added while a check is inconclusive. With --report
// DIR it also writes DIR/results.html (self-contained: figures and styles
// inline, no scripts) and DIR/results.md with its figures in DIR/figures/.
// --json prints the results as one JSON object instead of the text.
//
// Example:
//
//   $ actgrad experiment linear-collapse
//   $ actgrad experiment all --report docs
//   $ actgrad experiment saturation --seed 7 --repeats 3 --json
//   $ actgrad experiment relu-speed --max-repeats 20 --threads 2

#ifndef ACTGRAD_TOOLS_EXPERIMENT_COMMAND_H_
#define ACTGRAD_TOOLS_EXPERIMENT_COMMAND_H_

#include <CLI/CLI.hpp>

namespace actgrad::tools {

// Adds the subcommand to `app`; running it stores its exit status in
// `*exit_code`: 0, 1 when an experiment or a file write fails, 2 for an
// unknown experiment name (with the closest names suggested).
void AddExperimentCommand(CLI::App& app, int* exit_code);

}  // namespace actgrad::tools

#endif  // ACTGRAD_TOOLS_EXPERIMENT_COMMAND_H_
