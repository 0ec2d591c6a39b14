// -----------------------------------------------------------------------------
// File: train_command.h
// -----------------------------------------------------------------------------
//
// `actgrad train`: trains an MLP on a CSV data set (by default the breast-
// cancer data bundled with the project) with the article's advice as visible
// defaults — the output layer and loss from the task, initializers and input
// scaling from the hidden activation — prints what it decided, shows progress,
// and reports test accuracy (or RMSE); `--save` writes a model that
// `actgrad predict` (tools/predict_command.h) and PyTorch read.
//
// Example:
//
//   $ actgrad train --activation tanh --epochs 100 --save model.safetensors

#ifndef ACTGRAD_TOOLS_TRAIN_COMMAND_H_
#define ACTGRAD_TOOLS_TRAIN_COMMAND_H_

#include <CLI/CLI.hpp>

namespace actgrad::tools {

void AddTrainCommand(CLI::App& app, int* exit_code);

}  // namespace actgrad::tools

#endif  // ACTGRAD_TOOLS_TRAIN_COMMAND_H_
