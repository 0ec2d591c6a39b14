// -----------------------------------------------------------------------------
// File: progress_bar.h
// -----------------------------------------------------------------------------
//
// Training progress on stderr. On a terminal, one bar per epoch redrawn in
// place at most ten times a second (epoch, batches, loss, accuracy,
// samples/s, ETA), left as a permanent line when the epoch ends; anywhere
// else (logs, pipes, TERM=dumb, --no-progress) only the permanent line per
// epoch, with no carriage returns. The clock is injected so tests can drive
// it. AttachTo() draws the training loop's progress.
//
// Example:
//
//   actgrad::nn::ProgressBar bar(std::cerr, actgrad::nn::ProgressBar::StderrIsInteractive(),
//                                options.epochs);
//   bar.AttachTo(options);  // "epoch 3/200 ... loss 0.1234  val_loss 0.1300  val_accuracy 0.96"
//   actgrad::nn::Train(model, loss, train, options);
//
//   // Or by hand, for a loop of one's own:
//   bar.Update(epoch, b + 1, batches, rows_so_far, loss, accuracy);
//   bar.EndEpoch(epoch, "loss 0.123  test_acc 0.961");

#ifndef ACTGRAD_NN_PROGRESS_BAR_H_
#define ACTGRAD_NN_PROGRESS_BAR_H_

#include <chrono>
#include <functional>
#include <optional>
#include <ostream>
#include <string>

#include "nn/train_loop.h"

namespace actgrad::nn {

class ProgressBar {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  ProgressBar(std::ostream& out, bool interactive, int epochs,
              Clock clock = std::chrono::steady_clock::now);

  // Whether stderr is a terminal that understands carriage returns.
  static bool StderrIsInteractive();

  // Within an epoch: `batch` of `batches` done, `samples` seen this epoch,
  // the running mean loss and, when given, a metric under its name. Draws
  // only when interactive and 0.1 s have passed.
  void Update(int epoch, int batch, int batches, int64_t samples, double loss,
              std::optional<double> metric = std::nullopt, const std::string& metric_name = "acc");
  // Leaves one permanent line for the epoch, with `summary` appended.
  void EndEpoch(int epoch, const std::string& summary);

  // Sets options.on_batch (drawing the running loss and the first metric)
  // and options.on_epoch (the epoch's loss, then loss and metrics on the
  // validation and test data, the learning rate, and "best" when early
  // stopping's figure improved), calling any callbacks already set after
  // drawing. The bar must outlive training.
  void AttachTo(TrainOptions& options);

 private:
  std::ostream& out_;
  bool interactive_;
  int epochs_;
  Clock clock_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point epoch_start_;  // end of the previous epoch
  std::chrono::steady_clock::time_point last_draw_;
  size_t drawn_width_ = 0;
};

}  // namespace actgrad::nn

#endif  // ACTGRAD_NN_PROGRESS_BAR_H_
