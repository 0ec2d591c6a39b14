// -----------------------------------------------------------------------------
// File: train_loop.h
// -----------------------------------------------------------------------------
//
// The training loop for any module and any loss: shuffled mini-batches, any
// optimizer (SGD by default) with a learning-rate schedule and gradient
// clipping, a validation split, metrics, early stopping that puts the best
// weights back, callbacks per step and per epoch, checkpoints that resume
// bitwise, anomaly detection and data-parallel gradient averaging. The loop
// prints nothing; callbacks report progress (nn/progress_bar.h draws it).
//
// The loss is any callable of (output, batch) returning a scalar tensor; it
// should be a mean over the batch's rows, which is what makes a
// data-parallel step equal to one process's step on the global batch.
//
// Example: a residual network with a custom loss, Adam with no decay on
// biases, early stopping on a held-out tenth of the rows.
//
//   Residual model(...);  // any nn::Module
//   actgrad::nn::Loss loss = [](const actgrad::Tensor& out, const actgrad::nn::TensorData& b) {
//     return actgrad::CrossEntropy(out, b.targets) + 0.01 * actgrad::Mean(out * out);
//   };
//   actgrad::nn::TrainOptions options;
//   options.epochs = 100;
//   options.make_optimizer = [](actgrad::nn::Module& m) {
//     return std::make_unique<actgrad::optim::Adam>(actgrad::nn::SplitDecay(m, {"bias"}),
//                                                   actgrad::optim::AdamOptions{
//                                                       .learning_rate = 1e-3,
//                                                       .weight_decay = 1e-4});
//   };
//   options.validation_fraction = 0.1;
//   options.metrics = {actgrad::nn::AccuracyMetric()};
//   options.early_stopping = {.patience = 10};
//   actgrad::nn::TrainResult result =
//       actgrad::nn::Train(model, loss, {.inputs = x, .targets = labels}, options);
//   // `model` now holds the weights of result.best_epoch.

#ifndef ACTGRAD_NN_TRAIN_LOOP_H_
#define ACTGRAD_NN_TRAIN_LOOP_H_

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "nn/early_stopping.h"
#include "nn/gradient_sync.h"
#include "nn/metrics.h"
#include "nn/module.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"
#include "optim/sgd.h"

namespace actgrad::nn {

// The scalar loss of a batch, given the network's output for its inputs.
using Loss = std::function<Tensor(const Tensor& output, const TensorData& batch)>;
// The output the loss and metrics see, from a batch's inputs.
using ForwardFn = std::function<Tensor(const Tensor& inputs)>;

// Loss and metrics on a whole data set.
struct Scores {
  double loss = 0;              // mean over the rows
  std::vector<double> metrics;  // in TrainOptions::metrics's order
};

struct EpochReport {
  int epoch = 0;
  double train_loss = 0;  // mean over the epoch's batches
  // Over the epoch's training batches, each measured before its step.
  std::vector<double> train_metrics;
  std::optional<Scores> validation;
  std::optional<Scores> test;
  double learning_rate = 0;
  double seconds = 0;  // wall time of the epoch, evaluation included
  // Early stopping's figure improved on the best so far this epoch.
  bool best = false;
};

struct BatchProgress {
  int epoch = 0;
  int batch = 0;  // batches done in this epoch
  int batches = 0;
  int64_t samples = 0;
  double loss = 0;              // running mean over the epoch's batches
  std::vector<double> metrics;  // running, over the epoch's training batches
};

// What resuming needs besides the weights: how far training got, the state
// of the batch-order generator, the optimizer's state per parameter (its
// step count and buffers: SGD's momentum, Adam's moments, ...), and the
// schedule's and early stopping's memory with the best weights so far.
struct TrainState {
  int epochs_done = 0;
  std::string batch_order;
  std::string optimizer;  // Optimizer::name() of the run that saved it
  // By the parameter's name in the model ("0.weight").
  std::vector<std::pair<std::string, optim::ParameterState>> optimizer_state;
  // PlateauReducer::SaveState() of a schedule with a plateau.
  std::string plateau;
  // EarlyStopping::SaveState() and the state dict of its best epoch.
  std::string early_stopping;
  NamedTensors best_weights;
};

struct TrainOptions {
  int epochs = 200;
  int64_t batch = 32;  // per process when gradient_sync is set
  optim::SgdOptions sgd = {.learning_rate = 0.05, .momentum = 0.9};
  // Another optimizer (Adam, parameter groups, ...) over the model's
  // parameters; when unset, SGD with `sgd`.
  std::function<std::unique_ptr<optim::Optimizer>(Module& model)> make_optimizer;
  // Sets every group's learning rate at every step; a plateau in it watches
  // the validation loss (the training loss without validation data).
  std::optional<optim::Schedule> schedule;
  double clip_norm = 0;  // 0: no clipping
  uint64_t seed = 0;     // batch order and the validation split

  // Held-out data for early stopping and the plateau: `validation`, or else
  // this fraction of the training rows (drawn with `seed`, the same on every
  // run and every rank), which are then not trained on.
  std::optional<TensorData> validation;
  double validation_fraction = 0;
  // Scored after every epoch for the report only; nothing decides on it.
  std::optional<TensorData> test;
  std::vector<Metric> metrics;
  EarlyStoppingOptions early_stopping;
  // The output the loss and metrics see; module.Forward when unset (a
  // Sequential with a sigmoid or softmax output trains on its Logits).
  ForwardFn forward;
  // Rows per forward pass when scoring held-out data.
  int64_t evaluation_batch = 4096;
  // Checks every op's output and gradient for NaN and infinity, naming the
  // op and where it was recorded (graph/anomaly.h).
  bool detect_anomaly = false;

  // Called after each step with the epoch's running figures.
  std::function<void(const BatchProgress&)> on_batch;
  std::function<void(const EpochReport&)> on_epoch;
  // Called after on_epoch; returning true ends training after this epoch
  // (data-parallel runs must answer the same on every rank).
  std::function<bool(const EpochReport&)> stop_if;
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
  // the history) carry the global batch's figures; resume_from is read on
  // rank 0 only.
  GradientSync* gradient_sync = nullptr;
};

struct TrainResult {
  std::vector<EpochReport> history;
  double seconds = 0;
  // Empty, or why training failed: the loss became NaN or infinite, or grew
  // far beyond where it started, with the likely fixes.
  std::string diverged;
  // Empty, or why training ended before TrainOptions::epochs: early
  // stopping's patience ran out, or stop_if asked.
  std::string stopped;
  // The epoch whose weights the model holds when early stopping restored
  // them; -1 otherwise.
  int restored_epoch = -1;
};

// Trains `module` on `train` with `loss`. Throws `Error` for options that
// cannot work together (early stopping without validation data, a monitor
// that names no metric, a validation fraction outside [0, 1) or one that
// leaves no row on either side). Stops, saying why in TrainResult::diverged,
// when the training loss becomes NaN or infinite or exceeds 100 times (and
// 10 above) the first batch's.
TrainResult Train(Module& module, const Loss& loss, const TensorData& train,
                  const TrainOptions& options);

// Loss and metrics of `module` on `data`, in batches of `batch` rows, in
// evaluation mode and without recording.
Scores Evaluate(Module& module, const Loss& loss, const TensorData& data,
                std::span<const Metric> metrics, const ForwardFn& forward = {},
                int64_t batch = 4096);

// The rows of `x` (rows in its first dimension) listed in `rows`, copied.
Tensor GatherRows(const Tensor& x, std::span<const int64_t> rows);

// optim::SplitDecay over the module's named parameters: a group with weight
// decay, and one without for parameters whose dotted name has a component
// in `no_decay` ("bias" matches "fc.bias").
std::vector<optim::ParamGroup> SplitDecay(Module& module, const std::vector<std::string>& no_decay);

}  // namespace actgrad::nn

#endif  // ACTGRAD_NN_TRAIN_LOOP_H_
