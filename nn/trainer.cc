#include "nn/trainer.h"

#include <vector>

#include "ops/functional.h"

namespace actgrad::nn {

TaskTraining ForTask(Task task, Sequential& model) {
  const Activation* output = model.OutputActivation();
  const OpDef* output_op = output != nullptr ? &output->op() : &ops::kIdentity;
  TaskTraining training;
  training.loss = [task, output_op](const Tensor& logits, const TensorData& batch) {
    return TaskLossFromLogits(task, *output_op, logits, batch.targets);
  };
  training.forward = [&model](const Tensor& x) { return model.Logits(x); };
  if (task == Task::kRegression) {
    // RMSE of the prediction, after the output activation.
    training.metric = RmseMetric();
    training.metric.sum = [output_op, rmse = RmseMetric()](const Tensor& logits,
                                                           const TensorData& batch) {
      return rmse.sum(Apply(*output_op, {logits}), batch);
    };
  } else {
    // A logit at or above 0 is a probability at or above 0.5.
    training.metric = AccuracyMetric(/*threshold=*/0.0);
  }
  return training;
}

TensorData TaskData(Task task, const Tensor& x, std::span<const double> y) {
  return {.inputs = x, .targets = TargetTensor(task, y, x.dtype())};
}

TrainResult Train(Task task, Sequential& model, const Tensor& x_train,
                  std::span<const double> y_train, const Tensor& x_test,
                  std::span<const double> y_test, const TrainOptions& options) {
  const TaskTraining training = ForTask(task, model);
  TrainOptions task_options = options;
  task_options.forward = training.forward;
  task_options.metrics = {training.metric};
  if (!y_test.empty()) task_options.test = TaskData(task, x_test, y_test);
  return Train(model, training.loss, TaskData(task, x_train, y_train), task_options);
}

Evaluation Evaluate(Task task, Sequential& model, const Tensor& x, std::span<const double> y) {
  if (y.empty()) return {};
  const TaskTraining training = ForTask(task, model);
  const Scores scores = Evaluate(model, training.loss, TaskData(task, x, y),
                                 std::span<const Metric>(&training.metric, 1), training.forward);
  return {.loss = scores.loss, .metric = scores.metrics[0]};
}

}  // namespace actgrad::nn
