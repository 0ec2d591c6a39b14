#include "optim/optimizer.h"

#include <algorithm>
#include <cmath>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/error.h"
#include "graph/factories.h"
#include "graph/grad_mode.h"

namespace actgrad::optim {

const Tensor& ParameterState::buffer(const std::string& name) const {
  static const Tensor* const kUndefined = new Tensor();
  for (const auto& [key, value] : buffers) {
    if (key == name) return value;
  }
  return *kUndefined;
}

Optimizer::Optimizer(std::string name, std::vector<ParamGroup> groups, double learning_rate,
                     double weight_decay, std::vector<std::string> buffer_names,
                     const std::source_location& location)
    : name_(std::move(name)), buffer_names_(std::move(buffer_names)) {
  RequireRange("learning rate", learning_rate, 0, INFINITY, location);
  RequireRange("weight decay", weight_decay, 0, INFINITY, location);
  absl::flat_hash_set<const internal::TensorImpl*> seen;
  for (size_t g = 0; g < groups.size(); ++g) {
    ParamGroup& group = groups[g];
    const double lr = group.learning_rate.value_or(learning_rate);
    const double wd = group.weight_decay.value_or(weight_decay);
    RequireRange("learning rate", lr, 0, INFINITY, location);
    RequireRange("weight decay", wd, 0, INFINITY, location);
    for (size_t i = 0; i < group.parameters.size(); ++i) {
      const Tensor& p = group.parameters[i];
      ACTGRAD_REQUIRE(p.defined() && p.is_leaf() && p.requires_grad() && IsFloating(p.dtype()),
                      location, name_, ": parameter ", i, " of group ", g,
                      " must be a floating leaf that requires a gradient");
      ACTGRAD_REQUIRE(seen.insert(p.impl()).second, location, name_, ": parameter ", i,
                      " of group ", g,
                      " appears in more than one place; each parameter belongs to one group");
      states_.emplace_back();
    }
    groups_.push_back({std::move(group.parameters), lr, wd});
  }
}

void Optimizer::RequireRange(const char* what, double value, double low, double high,
                             const std::source_location& location, bool high_inclusive) const {
  const bool ok = std::isfinite(value) && value >= low &&
                  (high_inclusive ? value <= high : value < high || std::isinf(high));
  ACTGRAD_REQUIRE(ok, location, name_, ": ", what, " must be ",
                  std::isinf(high)
                      ? absl::StrCat(">= ", low)
                      : absl::StrCat("in [", low, ", ", high, high_inclusive ? "]" : ")"),
                  ", got ", value);
}

void Optimizer::set_learning_rate(size_t group, double learning_rate) {
  RequireRange("learning rate", learning_rate, 0, INFINITY, std::source_location::current());
  groups_[group].learning_rate = learning_rate;
}

void Optimizer::set_learning_rate(double learning_rate) {
  for (size_t g = 0; g < groups_.size(); ++g) set_learning_rate(g, learning_rate);
}

void Optimizer::set_state(size_t i, ParameterState state, std::source_location location) {
  ACTGRAD_REQUIRE(i < states_.size(), location, name_, ": no parameter ", i, " (it has ",
                  states_.size(), ")");
  const Tensor* param = nullptr;
  size_t k = i;
  for (const Resolved& group : groups_) {
    if (k < group.parameters.size()) {
      param = &group.parameters[k];
      break;
    }
    k -= group.parameters.size();
  }
  ACTGRAD_REQUIRE(state.step >= 0, location, name_, ": negative step count ", state.step);
  for (const auto& [key, value] : state.buffers) {
    ACTGRAD_REQUIRE(
        std::find(buffer_names_.begin(), buffer_names_.end(), key) != buffer_names_.end(), location,
        name_, ": keeps no buffer \"", key, "\" (it keeps ", absl::StrJoin(buffer_names_, ", "),
        ")");
    ACTGRAD_REQUIRE(
        value.defined() && value.shape() == param->shape() && value.dtype() == param->dtype(),
        location, name_, ": buffer \"", key, "\" of parameter ", i, " must be ",
        param->shape().ToString(), " ", DTypeName(param->dtype()));
  }
  states_[i] = std::move(state);
}

Tensor Optimizer::Buffer(ParameterState& state, const std::string& name, const Tensor& param,
                         double initial) {
  for (auto& [key, value] : state.buffers) {
    if (key == name) return value;
  }
  state.buffers.emplace_back(name, Full(param.shape(), initial, param.dtype()));
  return state.buffers.back().second;
}

void Optimizer::Step() {
  NoGradGuard no_grad;
  size_t index = 0;
  for (const Resolved& group : groups_) {
    for (const Tensor& p : group.parameters) {
      ParameterState& state = states_[index++];
      const Tensor& grad = p.grad();
      if (!grad.defined()) continue;
      ++state.step;
      Update(p, grad, group, state);
    }
  }
}

void Optimizer::ZeroGrad() {
  for (Resolved& group : groups_) {
    for (Tensor& p : group.parameters) p.ZeroGrad();
  }
}

void Optimizer::ClearGrad() {
  for (Resolved& group : groups_) {
    for (Tensor& p : group.parameters) p.ClearGrad();
  }
}

}  // namespace actgrad::optim
