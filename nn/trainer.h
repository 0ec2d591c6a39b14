// -----------------------------------------------------------------------------
// File: trainer.h
// -----------------------------------------------------------------------------
//
// Training a `Sequential` on one of the built-in tasks (nn/task.h): the
// generic loop of nn/train_loop.h with the task's loss computed from the
// logits, its metric (accuracy, or RMSE for regression) and the targets as
// the loss wants them. `actgrad train` and the experiments train this way.
//
// Example:
//
//   actgrad::nn::TrainOptions options;
//   options.epochs = 200;
//   options.sgd = {.learning_rate = 0.05, .momentum = 0.9};
//   actgrad::nn::TrainResult result = actgrad::nn::Train(
//       actgrad::nn::Task::kBinary, *model, train_x, train_y, test_x, test_y, options);
//   std::cout << result.history.back().test->metrics[0];  // test accuracy

#ifndef ACTGRAD_NN_TRAINER_H_
#define ACTGRAD_NN_TRAINER_H_

#include <span>

#include "nn/sequential.h"
#include "nn/task.h"
#include "nn/train_loop.h"

namespace actgrad::nn {

// What the loop needs to train `model` on `task`: the loss from the logits,
// the logits as the output, and the task's metric on them.
struct TaskTraining {
  Loss loss;
  ForwardFn forward;
  Metric metric;
};
// `model` must outlive the returned callables.
TaskTraining ForTask(Task task, Sequential& model);

// Rows of x ([rows, features]) with the targets as `task`'s loss wants them.
TensorData TaskData(Task task, const Tensor& x, std::span<const double> y);

// Trains `model` with the task's loss, metric and forward (overriding those
// in `options`) on (x_train, y_train); (x_test, y_test), when it has rows,
// is scored after every epoch as EpochReport::test.
TrainResult Train(Task task, Sequential& model, const Tensor& x_train,
                  std::span<const double> y_train, const Tensor& x_test,
                  std::span<const double> y_test, const TrainOptions& options);

// Loss and metric of `model` on (x, y), computed without recording.
struct Evaluation {
  double loss = 0;
  double metric = 0;
};
Evaluation Evaluate(Task task, Sequential& model, const Tensor& x, std::span<const double> y);

}  // namespace actgrad::nn

#endif  // ACTGRAD_NN_TRAINER_H_
