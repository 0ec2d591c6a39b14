// -----------------------------------------------------------------------------
// File: early_stopping.h
// -----------------------------------------------------------------------------
//
// Early stopping: watch one validation figure per epoch, remember the epoch
// where it was best, and stop after `patience` epochs without an
// improvement larger than `min_delta`. The training loop keeps a copy of the
// weights of the best epoch and puts them back when it stops, so the model
// it returns is the best one seen, not the last. The state is text, like
// PlateauReducer's, so that a resumed run stops at the same epoch.
//
// Example:
//
//   actgrad::nn::EarlyStopping stopping({.patience = 5, .monitor = "loss"});
//   for (int epoch = 0; epoch < epochs; ++epoch) {
//     ...
//     if (stopping.Observe(epoch, validation_loss)) best = model.StateDict();
//     if (stopping.ShouldStop()) break;
//   }

#ifndef ACTGRAD_NN_EARLY_STOPPING_H_
#define ACTGRAD_NN_EARLY_STOPPING_H_

#include <string>

namespace actgrad::nn {

struct EarlyStoppingOptions {
  // Epochs without improvement before training stops; 0 turns it off.
  int patience = 0;
  // An improvement must beat the best value by more than this.
  double min_delta = 0;
  // What to watch on the validation data: "loss", or the name of one of
  // TrainOptions::metrics (whose higher_is_better says which way is up).
  std::string monitor = "loss";
  // Put the best epoch's weights back when training ends.
  bool restore_best = true;
};

class EarlyStopping {
 public:
  // `higher_is_better` for the monitored figure.
  EarlyStopping(const EarlyStoppingOptions& options, bool higher_is_better)
      : options_(options), higher_is_better_(higher_is_better) {}

  // Takes epoch `epoch`'s figure; returns true when it is the best so far.
  // NaN never improves.
  bool Observe(int epoch, double value);
  bool ShouldStop() const { return options_.patience > 0 && bad_epochs_ >= options_.patience; }
  // -1 before the first improvement.
  int best_epoch() const { return best_epoch_; }
  double best_value() const { return best_; }

  // Everything Observe() remembers, as text for checkpoints; RestoreState
  // returns false for text SaveState did not write.
  std::string SaveState() const;
  bool RestoreState(const std::string& state);

 private:
  EarlyStoppingOptions options_;
  bool higher_is_better_;
  double best_ = 0;
  int best_epoch_ = -1;
  int bad_epochs_ = 0;
};

}  // namespace actgrad::nn

#endif  // ACTGRAD_NN_EARLY_STOPPING_H_
