#include "nn/early_stopping.h"

#include <cmath>
#include <cstdlib>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace actgrad::nn {

namespace {

// A number as %a wrote it, and nothing after it.
bool ParseHexDouble(const std::string& text, double* value) {
  if (text.empty()) return false;
  char* end = nullptr;
  *value = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size();
}

}  // namespace

bool EarlyStopping::Observe(int epoch, double value) {
  const bool improved =
      !std::isnan(value) &&
      (best_epoch_ < 0 || (higher_is_better_ ? value > best_ + options_.min_delta
                                             : value < best_ - options_.min_delta));
  if (improved) {
    best_ = value;
    best_epoch_ = epoch;
    bad_epochs_ = 0;
  } else {
    ++bad_epochs_;
  }
  return improved;
}

std::string EarlyStopping::SaveState() const {
  return absl::StrFormat("%a,%d,%d", best_, best_epoch_, bad_epochs_);
}

bool EarlyStopping::RestoreState(const std::string& state) {
  const std::vector<std::string> parts = absl::StrSplit(state, ',');
  double best = 0;
  int best_epoch = 0, bad_epochs = 0;
  if (parts.size() != 3 || !ParseHexDouble(parts[0], &best) ||
      !absl::SimpleAtoi(parts[1], &best_epoch) || !absl::SimpleAtoi(parts[2], &bad_epochs) ||
      best_epoch < -1 || bad_epochs < 0) {
    return false;
  }
  best_ = best;
  best_epoch_ = best_epoch;
  bad_epochs_ = bad_epochs;
  return true;
}

}  // namespace actgrad::nn
