// -----------------------------------------------------------------------------
// File: predict_command.h
// -----------------------------------------------------------------------------
//
// `actgrad predict`: applies any saved model (nn::Save, `actgrad train
// --save`) to the rows of a CSV file and prints, per row, the predicted
// label with every class's probability, or the predicted values; with the
// target column present it also reports accuracy or RMSE.
//
// Example:
//
//   $ actgrad predict --model model.safetensors --data data/breast_cancer.csv
//   1  p(0)=0.0021 p(1)=0.9979
//   $ actgrad predict --model model.safetensors --data new_rows.csv --json

#ifndef ACTGRAD_TOOLS_PREDICT_COMMAND_H_
#define ACTGRAD_TOOLS_PREDICT_COMMAND_H_

#include <CLI/CLI.hpp>

namespace actgrad::tools {

void AddPredictCommand(CLI::App& app, int* exit_code);

}  // namespace actgrad::tools

#endif  // ACTGRAD_TOOLS_PREDICT_COMMAND_H_
