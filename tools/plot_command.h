// -----------------------------------------------------------------------------
// File: plot_command.h
// -----------------------------------------------------------------------------
//
// `actgrad plot`: draws registered activations (all, or those named by --op,
// plugin ops included) and their first derivatives over --range as one SVG:
// axes with ticks and labels, a legend, one colour per function, derivative
// dashed. The same arguments always give the same bytes. The file is written
// to a temporary name and renamed into place.
//
// Example:
//
//   $ actgrad plot --op tanh --op leaky_relu:alpha=0.1 --range=-4,4 --out act.svg
//   wrote act.svg: 2 activations over [-4, 4]

#ifndef ACTGRAD_TOOLS_PLOT_COMMAND_H_
#define ACTGRAD_TOOLS_PLOT_COMMAND_H_

#include <CLI/CLI.hpp>

namespace actgrad::tools {

// Adds the subcommand to `app`; running it stores its exit status in
// `*exit_code`: 0, 1 when the file cannot be written, 2 for bad arguments
// (an unknown op, with the closest names suggested; a bad range).
void AddPlotCommand(CLI::App& app, int* exit_code);

}  // namespace actgrad::tools

#endif  // ACTGRAD_TOOLS_PLOT_COMMAND_H_
