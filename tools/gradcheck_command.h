// -----------------------------------------------------------------------------
// File: gradcheck_command.h
// -----------------------------------------------------------------------------
//
// `actgrad gradcheck`: the conformance report (ops/conformance.h) of every
// registered op, or of those named by --op, plugin ops included (--plugin):
// first derivative against float64 finite differences on random inputs and,
// for activations, on a fixed grid; the Taylor-remainder order; second
// derivatives with --second-order; float32 against float64; and for
// activations finiteness at extreme inputs and the figures a designer wants.
// Prints one line per op (the reasons and the worst element under a failing
// one), the full block with --report, or JSON with --json; exits non-zero
// when any op fails.
//
// Example:
//
//   $ actgrad gradcheck --op tanh --op relu
//   PASS  tanh     4 cases   39 elements  max abs 1.7e-12  max rel 1.8e-09  grid ok    taylor 1.99
//   PASS  relu     8 cases   78 elements  max abs 1.5e-12  max rel 1.9e-11  grid ok    taylor -
//   $ actgrad gradcheck --report --plugin libmy_activations.so --op my_activation
//
// With --model FILE it checks a saved network instead (check/module_check.h):
// directional derivatives of the whole network in float64, on random rows of
// the model's width or on the first rows of --data with the task's loss,
// and prints the worst direction and, for a failure, the shrunk input. It
// exits 1 when the check fails, 2 for flags that do not go together.
//
//   $ actgrad gradcheck --model digits.safetensors --data data/digits.csv
//   $ actgrad gradcheck --model digits.safetensors --json

#ifndef ACTGRAD_TOOLS_GRADCHECK_COMMAND_H_
#define ACTGRAD_TOOLS_GRADCHECK_COMMAND_H_

#include <CLI/CLI.hpp>

namespace actgrad::tools {

// Adds the subcommand to `app`; running it stores its exit status in
// `*exit_code`.
void AddGradcheckCommand(CLI::App& app, int* exit_code);

}  // namespace actgrad::tools

#endif  // ACTGRAD_TOOLS_GRADCHECK_COMMAND_H_
