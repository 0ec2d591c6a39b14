// -----------------------------------------------------------------------------
// File: progress.h
// -----------------------------------------------------------------------------
//
// Training progress on stderr. On a terminal, one bar per epoch redrawn in
// place at most ten times a second (epoch, batches, loss, accuracy,
// samples/s, ETA), left as a permanent line when the epoch ends; anywhere
// else (logs, pipes, TERM=dumb, --no-progress) only the permanent line per
// epoch, with no carriage returns. The clock is injected so tests can drive
// it.
//
// Example:
//
//   ProgressBar bar(std::cerr, ProgressBar::StderrIsInteractive(), epochs);
//   for (int epoch = 0; epoch < epochs; ++epoch) {
//     for (int b = 0; b < batches; ++b) bar.Update(epoch, b + 1, batches, rows_so_far, loss, acc);
//     bar.EndEpoch(epoch, "loss 0.123  test_acc 0.961");
//   }

#ifndef ACTGRAD_TOOLS_PROGRESS_H_
#define ACTGRAD_TOOLS_PROGRESS_H_

#include <chrono>
#include <functional>
#include <ostream>
#include <string>

namespace actgrad::tools {

class ProgressBar {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  ProgressBar(std::ostream& out, bool interactive, int epochs,
              Clock clock = std::chrono::steady_clock::now);

  // Whether stderr is a terminal that understands carriage returns.
  static bool StderrIsInteractive();

  // Within an epoch: `batch` of `batches` done, `samples` seen this epoch,
  // running mean loss and accuracy (negative: not shown). Draws only when
  // interactive and 0.1 s have passed.
  void Update(int epoch, int batch, int batches, int64_t samples, double loss,
              double accuracy = -1);
  // Leaves one permanent line for the epoch, with `summary` appended.
  void EndEpoch(int epoch, const std::string& summary);

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

}  // namespace actgrad::tools

#endif  // ACTGRAD_TOOLS_PROGRESS_H_
