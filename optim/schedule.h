// -----------------------------------------------------------------------------
// File: schedule.h
// -----------------------------------------------------------------------------
//
// Learning-rate schedules, matching PyTorch's closed forms: StepLR and
// CosineAnnealingLR per epoch (counted from 0), OneCycleLR per optimizer
// step (cosine annealing, learning rate only), any of them behind a linear
// warm-up over the first optimizer steps, and ReduceLROnPlateau on a
// validation figure (`PlateauReducer`, below).
//
// Example:
//
//   actgrad::optim::Schedule schedule =
//       actgrad::optim::Schedule::Cosine(0.05, 200).WithWarmup(100);
//   for (int64_t step = 0; ...; ++step) {
//     optimizer.set_learning_rate(schedule.LearningRateAtStep(step, steps_per_epoch));
//     ...
//   }

#ifndef ACTGRAD_OPTIM_SCHEDULE_H_
#define ACTGRAD_OPTIM_SCHEDULE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace actgrad::optim {

// ReduceLROnPlateau as PyTorch defines it (mode "min", relative threshold):
// after `patience` epochs in which the watched figure (a validation loss)
// did not improve on the best by more than `threshold` x best, the scale
// drops by `factor`, then `cooldown` epochs pass before counting again; the
// rate never goes below `min_lr`. The scale multiplies the schedule's rate.
//
//   actgrad::optim::PlateauReducer plateau({.factor = 0.5, .patience = 5});
//   double scale = plateau.Observe(validation_loss);  // once per epoch
class PlateauReducer {
 public:
  struct Options {
    double factor = 0.1;
    int patience = 10;
    double threshold = 1e-4;
    int cooldown = 0;
    double min_lr = 0.0;
  };
  explicit PlateauReducer(const Options& options) : options_(options) {}
  PlateauReducer() : PlateauReducer(Options{}) {}

  // Takes one epoch's figure; returns the scale to apply from the next
  // epoch on. NaN counts as no improvement.
  double Observe(double value);
  double scale() const { return scale_; }
  // The rate to use: max(min_lr, rate x scale).
  double Apply(double rate) const;
  const Options& options() const { return options_; }

  // Everything Observe() remembers, as text for checkpoints; RestoreState
  // returns false for text SaveState did not write.
  std::string SaveState() const;
  bool RestoreState(const std::string& state);

 private:
  Options options_;
  double best_ = 0;
  bool has_best_ = false;
  int bad_epochs_ = 0;
  int cooldown_left_ = 0;
  double scale_ = 1.0;
};

class Schedule {
 public:
  // The same rate every epoch.
  static Schedule Constant(double base);
  // base * gamma^(floor(epoch / step_size)).
  static Schedule StepDecay(double base, int step_size, double gamma);
  // min + (base - min) (1 + cos(pi epoch / epochs)) / 2.
  static Schedule Cosine(double base, int epochs, double min = 0.0);
  // PyTorch's OneCycleLR over `epochs` epochs of optimizer steps: from
  // max / 25 up to `max` over the first 30% of the steps, then down to
  // max / 25 / 1e4, both halves cosine-shaped.
  static Schedule OneCycle(double max, int epochs);

  // This schedule, multiplied by (step + 1) / steps over the first `steps`
  // optimizer steps.
  Schedule WithWarmup(int64_t steps) const;

  // Parses a comma-separated list: an optional "warmup:STEPS", then
  // "constant", "step:STEP:GAMMA", "cosine[:MIN]" or "onecycle[:MAX]", for a
  // run of `epochs` epochs starting at (or, for onecycle, peaking at) `base`,
  // then an optional "plateau[:FACTOR[:PATIENCE]]".
  static absl::StatusOr<Schedule> Parse(absl::string_view spec, double base, int epochs);

  // A ReduceLROnPlateau to apply on top ("plateau" in the parsed text).
  Schedule WithPlateau(const PlateauReducer::Options& options) const;
  const std::optional<PlateauReducer::Options>& plateau() const { return plateau_; }

  // The rate of an epoch (warm-up and one-cycle, which count steps, are
  // taken at the epoch's first step with one step per epoch).
  double LearningRateAt(int epoch) const;
  // The rate of optimizer step `step` (from 0) of a run with
  // `steps_per_epoch` steps in each epoch.
  double LearningRateAtStep(int64_t step, int64_t steps_per_epoch) const;
  // "warmup(100) then cosine(base=0.05, epochs=200, min=0)".
  std::string ToString() const;

 private:
  enum class Kind { kConstant, kStep, kCosine, kOneCycle };
  Kind kind_ = Kind::kConstant;
  double base_ = 0;
  int period_ = 1;
  double factor_ = 1;
  int64_t warmup_steps_ = 0;
  std::optional<PlateauReducer::Options> plateau_;
};

}  // namespace actgrad::optim

#endif  // ACTGRAD_OPTIM_SCHEDULE_H_
