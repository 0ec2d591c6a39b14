// -----------------------------------------------------------------------------
// File: profile_command.h
// -----------------------------------------------------------------------------
//
// `actgrad profile`: runs training steps of the network `train` would build
// (same options, or a plugin's activation), and prints what the forward and
// backward passes cost per op type and per layer — the median step of
// several, after warm-up — with backward/forward ratios, achieved GFLOP/s
// against the machine's measured GEMM rate, and the framework overhead. It
// can write a Chrome trace (--trace) and a graph coloured by backward cost
// (--dot).
//
// Example:
//
//   $ actgrad profile --data data/digits.csv --steps 50 --trace step.json
//   # open step.json in https://ui.perfetto.dev (Open trace file)

#ifndef ACTGRAD_TOOLS_PROFILE_COMMAND_H_
#define ACTGRAD_TOOLS_PROFILE_COMMAND_H_

#include <CLI/CLI.hpp>

namespace actgrad::tools {

void AddProfileCommand(CLI::App& app, int* exit_code);

}  // namespace actgrad::tools

#endif  // ACTGRAD_TOOLS_PROFILE_COMMAND_H_
