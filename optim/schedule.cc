#include "optim/schedule.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numbers>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
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

Schedule Schedule::OneCycle(double max, int epochs) {
  Schedule s;
  s.kind_ = Kind::kOneCycle;
  s.base_ = max;
  s.period_ = epochs;
  return s;
}

Schedule Schedule::WithWarmup(int64_t steps) const {
  Schedule s = *this;
  s.warmup_steps_ = steps;
  return s;
}

Schedule Schedule::WithPlateau(const PlateauReducer::Options& options) const {
  Schedule s = *this;
  s.plateau_ = options;
  return s;
}

absl::StatusOr<Schedule> Schedule::Parse(absl::string_view spec, double base, int epochs) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("learning-rate schedule \"", spec, "\": ", why,
                     " (use [warmup:STEPS,]constant|step:STEP:GAMMA|cosine[:MIN]|onecycle[:MAX]"
                     "[,plateau[:FACTOR[:PATIENCE]]])"));
  };
  std::vector<absl::string_view> items = absl::StrSplit(spec, ',');
  int64_t warmup = 0;
  if (absl::StartsWith(items.front(), "warmup")) {
    const std::vector<absl::string_view> w = absl::StrSplit(items.front(), ':');
    if (w.size() != 2 || w[0] != "warmup" || !absl::SimpleAtoi(w[1], &warmup) || warmup <= 0) {
      return bad("warmup needs a positive number of steps, warmup:STEPS");
    }
    items.erase(items.begin());
    if (items.empty()) items.push_back("constant");
  }
  std::optional<PlateauReducer::Options> plateau;
  if (items.size() == 2 && absl::StartsWith(items.back(), "plateau")) {
    const std::vector<absl::string_view> p = absl::StrSplit(items.back(), ':');
    PlateauReducer::Options options;
    if (p[0] != "plateau" || p.size() > 3 ||
        (p.size() >= 2 && (!absl::SimpleAtod(p[1], &options.factor) || !(options.factor > 0) ||
                           !(options.factor < 1))) ||
        (p.size() == 3 && (!absl::SimpleAtoi(p[2], &options.patience) || options.patience < 0))) {
      return bad("plateau takes a factor in (0, 1) and a patience >= 0 in epochs");
    }
    plateau = options;
    items.pop_back();
  }
  if (items.size() != 1) return bad("one schedule kind, with an optional warmup and plateau");
  const std::vector<absl::string_view> parts = absl::StrSplit(items[0], ':');
  std::optional<Schedule> schedule;
  if (parts[0] == "constant" && parts.size() == 1) schedule = Constant(base);
  if (parts[0] == "step") {
    int step = 0;
    double gamma = 0;
    if (parts.size() != 3 || !absl::SimpleAtoi(parts[1], &step) ||
        !absl::SimpleAtod(parts[2], &gamma) || step <= 0 || !(gamma > 0)) {
      return bad("step needs a positive step size and a positive gamma");
    }
    schedule = StepDecay(base, step, gamma);
  }
  if (parts[0] == "cosine") {
    double min = 0;
    if (parts.size() > 2 || (parts.size() == 2 && !absl::SimpleAtod(parts[1], &min)) ||
        !(min >= 0)) {
      return bad("cosine takes an optional non-negative minimum");
    }
    schedule = Cosine(base, epochs, min);
  }
  if (parts[0] == "onecycle") {
    double max = base;
    if (parts.size() > 2 || (parts.size() == 2 && !absl::SimpleAtod(parts[1], &max)) ||
        !(max > 0) || std::isinf(max)) {
      return bad("onecycle takes an optional positive peak rate");
    }
    schedule = OneCycle(max, epochs);
  }
  if (!schedule.has_value()) return bad("unknown kind");
  if (warmup > 0) schedule = schedule->WithWarmup(warmup);
  if (plateau.has_value()) schedule = schedule->WithPlateau(*plateau);
  return *schedule;
}

double Schedule::LearningRateAt(int epoch) const { return LearningRateAtStep(epoch, 1); }

double Schedule::LearningRateAtStep(int64_t step, int64_t steps_per_epoch) const {
  steps_per_epoch = std::max<int64_t>(1, steps_per_epoch);
  const int epoch = static_cast<int>(step / steps_per_epoch);
  double rate = base_;
  switch (kind_) {
    case Kind::kConstant:
      break;
    case Kind::kStep:
      rate = base_ * std::pow(factor_, epoch / period_);
      break;
    case Kind::kCosine:
      rate = factor_ + (base_ - factor_) * (1 + std::cos(std::numbers::pi * epoch / period_)) / 2;
      break;
    case Kind::kOneCycle: {
      // OneCycleLR's defaults: pct_start 0.3, div_factor 25,
      // final_div_factor 1e4, cosine annealing.
      const double total = double(period_) * double(steps_per_epoch);
      const double initial = base_ / 25, final = initial / 1e4;
      const double up_end = 0.3 * total - 1, down_end = total - 1;
      auto anneal = [](double start, double end, double pct) {
        return end + (start - end) / 2 * (std::cos(std::numbers::pi * pct) + 1);
      };
      const double s = double(step);
      rate = s <= up_end ? anneal(initial, base_, up_end > 0 ? s / up_end : 1.0)
                         : anneal(base_, final, std::min(1.0, (s - up_end) / (down_end - up_end)));
      break;
    }
  }
  if (step < warmup_steps_) rate *= double(step + 1) / double(warmup_steps_);
  return rate;
}

std::string Schedule::ToString() const {
  std::string kind;
  switch (kind_) {
    case Kind::kConstant:
      kind = absl::StrCat("constant(", base_, ")");
      break;
    case Kind::kStep:
      kind = absl::StrCat("step(base=", base_, ", every ", period_, " epochs x", factor_, ")");
      break;
    case Kind::kCosine:
      kind = absl::StrCat("cosine(base=", base_, ", epochs=", period_, ", min=", factor_, ")");
      break;
    case Kind::kOneCycle:
      kind = absl::StrCat("onecycle(max=", base_, ", epochs=", period_, ")");
      break;
  }
  if (warmup_steps_ > 0) kind = absl::StrCat("warmup(", warmup_steps_, " steps) then ", kind);
  if (plateau_.has_value()) {
    absl::StrAppend(&kind, ", plateau(factor=", plateau_->factor, ", patience=", plateau_->patience,
                    ")");
  }
  return kind;
}

double PlateauReducer::Observe(double value) {
  const bool improved =
      !std::isnan(value) && (!has_best_ || value < best_ * (1 - options_.threshold));
  if (improved) {
    best_ = value;
    has_best_ = true;
    bad_epochs_ = 0;
  } else {
    ++bad_epochs_;
  }
  if (cooldown_left_ > 0) {
    --cooldown_left_;
    bad_epochs_ = 0;
  }
  if (bad_epochs_ > options_.patience) {
    scale_ *= options_.factor;
    cooldown_left_ = options_.cooldown;
    bad_epochs_ = 0;
  }
  return scale_;
}

std::string PlateauReducer::SaveState() const {
  return absl::StrFormat("%a,%d,%d,%d,%a", best_, has_best_ ? 1 : 0, bad_epochs_, cooldown_left_,
                         scale_);
}

bool PlateauReducer::RestoreState(const std::string& state) {
  const std::vector<std::string> parts = absl::StrSplit(state, ',');
  int has_best = 0;
  double best = 0, scale = 0;
  int bad = 0, cooldown = 0;
  if (parts.size() != 5 || !absl::SimpleAtoi(parts[1], &has_best) ||
      !absl::SimpleAtoi(parts[2], &bad) || !absl::SimpleAtoi(parts[3], &cooldown) ||
      std::sscanf(parts[0].c_str(), "%la", &best) != 1 ||
      std::sscanf(parts[4].c_str(), "%la", &scale) != 1 || bad < 0 || cooldown < 0 ||
      !(scale > 0)) {
    return false;
  }
  best_ = best;
  has_best_ = has_best != 0;
  bad_epochs_ = bad;
  cooldown_left_ = cooldown;
  scale_ = scale;
  return true;
}

double PlateauReducer::Apply(double rate) const { return std::max(options_.min_lr, rate * scale_); }

}  // namespace actgrad::optim
