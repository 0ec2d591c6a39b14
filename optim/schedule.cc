#include "optim/schedule.h"

#include <cmath>
#include <numbers>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace actgrad::optim {

Schedule Schedule::Constant(double base) {
  Schedule s;
  s.base_ = base;
  return s;
}

Schedule Schedule::StepDecay(double base, int step_size, double gamma) {
  Schedule s;
  s.kind_ = Kind::kStep;
  s.base_ = base;
  s.period_ = step_size;
  s.factor_ = gamma;
  return s;
}

Schedule Schedule::Cosine(double base, int epochs, double min) {
  Schedule s;
  s.kind_ = Kind::kCosine;
  s.base_ = base;
  s.period_ = epochs;
  s.factor_ = min;
  return s;
}

absl::StatusOr<Schedule> Schedule::Parse(absl::string_view spec, double base, int epochs) {
  const std::vector<absl::string_view> parts = absl::StrSplit(spec, ':');
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("learning-rate schedule \"", spec, "\": ", why,
                     " (use constant, step:STEP:GAMMA or cosine[:MIN])"));
  };
  if (parts[0] == "constant" && parts.size() == 1) return Constant(base);
  if (parts[0] == "step") {
    int step = 0;
    double gamma = 0;
    if (parts.size() != 3 || !absl::SimpleAtoi(parts[1], &step) ||
        !absl::SimpleAtod(parts[2], &gamma) || step <= 0 || gamma <= 0) {
      return bad("step needs a positive step size and a positive gamma");
    }
    return StepDecay(base, step, gamma);
  }
  if (parts[0] == "cosine") {
    double min = 0;
    if (parts.size() > 2 || (parts.size() == 2 && !absl::SimpleAtod(parts[1], &min)) || min < 0) {
      return bad("cosine takes an optional non-negative minimum");
    }
    return Cosine(base, epochs, min);
  }
  return bad("unknown kind");
}

double Schedule::LearningRateAt(int epoch) const {
  switch (kind_) {
    case Kind::kConstant:
      return base_;
    case Kind::kStep:
      return base_ * std::pow(factor_, epoch / period_);
    case Kind::kCosine:
      return factor_ + (base_ - factor_) * (1 + std::cos(std::numbers::pi * epoch / period_)) / 2;
  }
  return base_;
}

std::string Schedule::ToString() const {
  switch (kind_) {
    case Kind::kConstant:
      return absl::StrCat("constant(", base_, ")");
    case Kind::kStep:
      return absl::StrCat("step(base=", base_, ", every ", period_, " epochs x", factor_, ")");
    case Kind::kCosine:
      return absl::StrCat("cosine(base=", base_, ", epochs=", period_, ", min=", factor_, ")");
  }
  return "";
}

}  // namespace actgrad::optim
