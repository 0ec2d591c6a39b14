// -----------------------------------------------------------------------------
// File: trainer.h
// -----------------------------------------------------------------------------
//
// The training loop: shuffled mini-batches, SGD (with an optional learning-
// rate schedule and gradient clipping), and after every epoch the mean
// training loss and the loss and metric on held-out data. Callbacks report
// progress; the loop itself prints nothing.
//
// Example:
//
//   actgrad::nn::TrainOptions options;
//   options.epochs = 200;
//   options.sgd = {.learning_rate = 0.05, .momentum = 0.9};
//   actgrad::nn::TrainResult result = actgrad::nn::Train(
//       actgrad::nn::Task::kBinary, *model, train_x, train_y, test_x, test_y, options);
//   std::cout << result.history.back().test_metric;

#ifndef ACTGRAD_NN_TRAINER_H_
#define ACTGRAD_NN_TRAINER_H_

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "nn/gradient_sync.h"
#include "nn/sequential.h"
#include "nn/task.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"
#include "optim/sgd.h"

namespace actgrad::nn {

struct EpochReport {
  int epoch = 0;
  double train_loss = 0;   // mean over the epoch's batches
  double test_loss = 0;    // on the held-out rows (0 when there are none)
  double test_metric = 0;  // accuracy, or RMSE for regression
  double learning_rate = 0;
  double seconds = 0;  // wall time of the epoch
};

struct BatchProgress {
  int epoch = 0;
  int batch = 0;  // batches done in this epoch
  int batches = 0;
  int64_t samples = 0;
  double loss = 0;      // running mean over the epoch's batches
  double accuracy = 0;  // running, on the training batches (classification)
};

// What resuming needs besides the weights: how far training got, the state
// of the batch-order generator, and the optimizer's state per parameter
// (its step count and buffers: SGD's momentum, Adam's moments, ...).
struct TrainState {
  int epochs_done = 0;
  std::string batch_order;
  std::string optimizer;  // Optimizer::name() of the run that saved it
  // By the parameter's name in the model ("0.weight").
  std::vector<std::pair<std::string, optim::ParameterState>> optimizer_state;
  // PlateauReducer::SaveState() of a schedule with a plateau.
  std::string plateau;
};

struct TrainOptions {
  int epochs = 200;
  int64_t batch = 32;  // per process when gradient_sync is set
  optim::SgdOptions sgd = {.learning_rate = 0.05, .momentum = 0.9};
  // Another optimizer (Adam, parameter groups, ...) over the model's
  // parameters; when unset, SGD with `sgd`.
  std::function<std::unique_ptr<optim::Optimizer>(Sequential& model)> make_optimizer;
  // Sets every group's learning rate at every step; a plateau in it watches
  // the held-out loss (the training loss without held-out rows).
  std::optional<optim::Schedule> schedule;
  double clip_norm = 0;  // 0: no clipping
  uint64_t seed = 0;     // batch order
  // Called after each batch with the epoch's running figures.
  std::function<void(const BatchProgress&)> on_batch;
  std::function<void(const EpochReport&)> on_epoch;
  // Called after every `checkpoint_every` epochs (0: never) with the state
  // to save beside the weights.
  int checkpoint_every = 0;
  std::function<void(const TrainState&)> on_checkpoint;
  // Continue from a saved state (the weights already loaded into the model):
  // with one thread, the result is bitwise what an uninterrupted run gives.
  const TrainState* resume_from = nullptr;
  // Data-parallel training: every process draws the same global batches of
  // `batch` x world_size rows and trains on its slice of each; the gradients
  // are combined before each step, so all replicas take the same steps as
  // one process would with the global batch. Reports (on_batch, on_epoch,
  // the history) carry the global batch's loss; resume_from is read on
  // rank 0 only.
  GradientSync* gradient_sync = nullptr;
};

struct TrainResult {
  std::vector<EpochReport> history;
  double seconds = 0;
  // Empty, or why training stopped early: the loss became NaN or infinite,
  // or grew far beyond where it started (diverged), with the likely fixes.
  std::string stopped_early;
};

// Trains `model` on rows of x_train ([rows, features], float) with targets
// y_train, and evaluates on x_test / y_test after each epoch. Stops early,
// saying why in TrainResult::stopped_early, when the training loss becomes
// NaN or infinite or exceeds 100 times (and 10 above) the first batch's.
TrainResult Train(Task task, Sequential& model, const Tensor& x_train,
                  std::span<const double> y_train, const Tensor& x_test,
                  std::span<const double> y_test, const TrainOptions& options);

// Loss and metric of `model` on (x, y), computed without recording.
struct Evaluation {
  double loss = 0;
  double metric = 0;
};
Evaluation Evaluate(Task task, Sequential& model, const Tensor& x, std::span<const double> y);

// The rows of `x` ([rows, features]) listed in `rows`, as a new tensor.
Tensor GatherRows(const Tensor& x, std::span<const int64_t> rows);

}  // namespace actgrad::nn

#endif  // ACTGRAD_NN_TRAINER_H_
