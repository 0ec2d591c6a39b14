// -----------------------------------------------------------------------------
// File: gradcheck_command.h
// -----------------------------------------------------------------------------
//
// `actgrad gradcheck`: checks the gradient of every registered op (or those
// named by --op) against float64 finite differences on the op's sample
// inputs, prints one line per op (or JSON with --json), and exits non-zero
// when any op fails.
//
// Example:
//
//   $ actgrad gradcheck --op tanh --op relu
//   PASS  tanh   4 cases   38 elements  max abs 2.1e-12  max rel 8.4e-11
//   PASS  relu   4 cases   37 elements  max abs 0        max rel 0

#ifndef ACTGRAD_TOOLS_GRADCHECK_COMMAND_H_
#define ACTGRAD_TOOLS_GRADCHECK_COMMAND_H_

#include <CLI/CLI.hpp>

namespace actgrad::tools {

// Adds the subcommand to `app`; running it stores its exit status in
// `*exit_code`.
void AddGradcheckCommand(CLI::App& app, int* exit_code);

}  // namespace actgrad::tools

#endif  // ACTGRAD_TOOLS_GRADCHECK_COMMAND_H_
