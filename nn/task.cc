#include "nn/task.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "graph/factories.h"
#include "ops/functional.h"

namespace actgrad::nn {

const char* TaskName(Task task) {
  switch (task) {
    case Task::kBinary:
      return "binary";
    case Task::kMulticlass:
      return "multiclass";
    case Task::kRegression:
      return "regression";
  }
  return "?";
}

absl::StatusOr<Task> ParseTask(absl::string_view name) {
  for (Task t : {Task::kBinary, Task::kMulticlass, Task::kRegression}) {
    if (name == TaskName(t)) return t;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown task \"", name, "\"; choose auto, binary, multiclass or regression"));
}

Task DetectTask(std::span<const double> targets) {
  bool integers = !targets.empty();
  double max = 0;
  for (double t : targets) {
    integers &= t >= 0 && t == std::floor(t) && t < 1e6;
    max = std::max(max, t);
  }
  if (!integers) return Task::kRegression;
  return max <= 1 ? Task::kBinary : Task::kMulticlass;
}

int64_t OutputWidth(Task task, std::span<const double> targets) {
  if (task != Task::kMulticlass) return 1;
  double max = 0;
  for (double t : targets) max = std::max(max, t);
  return static_cast<int64_t>(max) + 1;
}

const OpDef& DefaultOutputActivation(Task task) {
  switch (task) {
    case Task::kBinary:
      return ops::kSigmoid;
    case Task::kMulticlass:
      return ops::kSoftmax;
    case Task::kRegression:
      return ops::kIdentity;
  }
  return ops::kIdentity;
}

absl::Status CheckOutputActivation(Task task, const OpDef& output_activation) {
  if (task == Task::kRegression || &output_activation == &DefaultOutputActivation(task)) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "a ", TaskName(task), " task needs a ", DefaultOutputActivation(task).name,
      " output layer (its loss is computed from the logits); got ", output_activation.name));
}

Tensor TargetTensor(Task task, std::span<const double> targets, DType dtype) {
  if (task == Task::kMulticlass) {
    std::vector<int64_t> labels(targets.begin(), targets.end());
    return Labels(labels);
  }
  return FromValues(targets, Shape{static_cast<int64_t>(targets.size()), 1}, dtype);
}

Tensor TaskLossFromLogits(Task task, const OpDef& output_activation, const Tensor& logits,
                          const Tensor& targets) {
  switch (task) {
    case Task::kBinary:
      return BinaryCrossEntropyWithLogits(logits, targets);
    case Task::kMulticlass:
      return CrossEntropy(logits, targets);
    case Task::kRegression:
      return MseLoss(Apply(output_activation, {logits}), targets);
  }
  return Tensor();
}

Tensor TaskLoss(Task task, Sequential& model, const Tensor& x, const Tensor& targets) {
  const Activation* output = model.OutputActivation();
  return TaskLossFromLogits(task, output != nullptr ? output->op() : ops::kIdentity,
                            model.Logits(x), targets);
}

int64_t CountCorrect(Task task, const Tensor& logits, std::span<const double> targets) {
  if (task == Task::kRegression || targets.empty()) return 0;
  const std::vector<double> z = logits.ToVector();
  const size_t width = z.size() / targets.size();
  int64_t correct = 0;
  for (size_t r = 0; r < targets.size(); ++r) {
    const auto row = z.begin() + r * width;
    const double predicted = task == Task::kBinary
                                 ? (row[0] >= 0 ? 1.0 : 0.0)
                                 : double(std::max_element(row, row + width) - row);
    correct += predicted == targets[r];
  }
  return correct;
}

double Accuracy(Task task, const Tensor& outputs, std::span<const double> targets) {
  const std::vector<double> out = outputs.ToVector();
  const size_t rows = targets.size();
  if (rows == 0) return 0.0;
  const size_t width = out.size() / rows;
  size_t correct = 0;
  for (size_t r = 0; r < rows; ++r) {
    double predicted;
    if (task == Task::kBinary) {
      predicted = out[r] >= 0.5 ? 1.0 : 0.0;
    } else {
      const auto row = out.begin() + r * width;
      predicted = double(std::max_element(row, row + width) - row);
    }
    correct += predicted == targets[r];
  }
  return double(correct) / double(rows);
}

double Rmse(const Tensor& outputs, std::span<const double> targets) {
  const std::vector<double> out = outputs.ToVector();
  double sum = 0;
  for (size_t r = 0; r < targets.size(); ++r) sum += (out[r] - targets[r]) * (out[r] - targets[r]);
  return targets.empty() ? 0.0 : std::sqrt(sum / double(targets.size()));
}

}  // namespace actgrad::nn
