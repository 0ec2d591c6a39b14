// -----------------------------------------------------------------------------
// File: schedule.h
// -----------------------------------------------------------------------------
//
// Learning-rate schedules as functions of the epoch, matching PyTorch's
// StepLR and CosineAnnealingLR (the closed forms, epoch counted from 0).
//
// Example:
//
//   actgrad::optim::Schedule schedule = actgrad::optim::Schedule::Cosine(0.05, 200);
//   for (int epoch = 0; epoch < 200; ++epoch) {
//     sgd.set_learning_rate(schedule.LearningRateAt(epoch));
//     ...
//   }

#ifndef ACTGRAD_OPTIM_SCHEDULE_H_
#define ACTGRAD_OPTIM_SCHEDULE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace actgrad::optim {

class Schedule {
 public:
  // The same rate every epoch.
  static Schedule Constant(double base);
  // base * gamma^(floor(epoch / step_size)).
  static Schedule StepDecay(double base, int step_size, double gamma);
  // min + (base - min) (1 + cos(pi epoch / epochs)) / 2.
  static Schedule Cosine(double base, int epochs, double min = 0.0);

  // Parses "constant", "step:STEP:GAMMA" or "cosine[:MIN]" for a run of
  // `epochs` epochs starting at `base`.
  static absl::StatusOr<Schedule> Parse(absl::string_view spec, double base, int epochs);

  double LearningRateAt(int epoch) const;
  // "cosine(base=0.05, epochs=200, min=0)".
  std::string ToString() const;

 private:
  enum class Kind { kConstant, kStep, kCosine };
  Kind kind_ = Kind::kConstant;
  double base_ = 0;
  int period_ = 1;
  double factor_ = 1;
};

}  // namespace actgrad::optim

#endif  // ACTGRAD_OPTIM_SCHEDULE_H_
