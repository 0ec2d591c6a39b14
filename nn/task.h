// -----------------------------------------------------------------------------
// File: task.h
// -----------------------------------------------------------------------------
//
// What a network predicts, and the output layer and loss that go with it:
// a sigmoid output trained with binary cross-entropy on its logits (claim
// C8), softmax with cross-entropy for k classes, and an identity output with
// mean squared error for regression (claim C11). Losses are computed from the
// logits, before the output activation, which keeps them finite however
// confident the network gets.
//
// Example:
//
//   actgrad::nn::Task task = actgrad::nn::DetectTask(dataset.y);
//   const actgrad::OpDef& out = actgrad::nn::DefaultOutputActivation(task);
//   actgrad::Tensor loss = actgrad::nn::TaskLoss(task, *model, x, targets);

#ifndef ACTGRAD_NN_TASK_H_
#define ACTGRAD_NN_TASK_H_

#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nn/sequential.h"

namespace actgrad::nn {

enum class Task { kBinary, kMulticlass, kRegression };

const char* TaskName(Task task);
// "binary", "multiclass" or "regression".
absl::StatusOr<Task> ParseTask(absl::string_view name);

// Integer targets with the two values 0 and 1 are binary; other integer
// targets 0..k-1 are multiclass; anything else is regression.
Task DetectTask(std::span<const double> targets);

// The number of network outputs: 1, the class count, or 1.
int64_t OutputWidth(Task task, std::span<const double> targets);

const OpDef& DefaultOutputActivation(Task task);

// kInvalidArgument unless `output_activation` suits `task` (sigmoid for
// binary, softmax for multiclass; any activation for regression).
absl::Status CheckOutputActivation(Task task, const OpDef& output_activation);

// Targets as the task's loss wants them: float [rows, 1] for binary and
// regression, int64 labels [rows] for multiclass.
Tensor TargetTensor(Task task, std::span<const double> targets, DType dtype);

// The mean loss of `model` on (x, targets).
Tensor TaskLoss(Task task, Sequential& model, const Tensor& x, const Tensor& targets);
// The same from the logits (the output before `output_activation`).
Tensor TaskLossFromLogits(Task task, const OpDef& output_activation, const Tensor& logits,
                          const Tensor& targets);
// Rows whose class the logits predict right (binary: logit >= 0 means 1).
int64_t CountCorrect(Task task, const Tensor& logits, std::span<const double> targets);

// Accuracy for classification tasks.
double Accuracy(Task task, const Tensor& outputs, std::span<const double> targets);
// Root mean squared error of a regression.
double Rmse(const Tensor& outputs, std::span<const double> targets);

}  // namespace actgrad::nn

#endif  // ACTGRAD_NN_TASK_H_
