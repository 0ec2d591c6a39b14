// -----------------------------------------------------------------------------
// File: optimizer.h
// -----------------------------------------------------------------------------
//
// What the adaptive optimizers (Adam, AdamW, RMSprop, Adagrad) share:
// parameter groups, each with its own learning rate and weight decay (for
// instance no decay on biases), per-parameter state (a step count and named
// buffers such as Adam's "exp_avg"), and the step loop. Each optimizer
// writes only its per-parameter update, one pass over the parameter, split
// over the threads for large parameters exactly as SGD is (the result is
// bitwise the same on any thread count).
//
// Hyperparameters follow torch.optim's names, defaults and rules, and its
// state names, so a state can be compared with PyTorch's state_dict().
//
// Example:
//
//   std::vector<actgrad::Tensor> weights, biases = ...;
//   actgrad::optim::Adam adam({{.parameters = weights},
//                              {.parameters = biases, .weight_decay = 0.0}},
//                             {.learning_rate = 1e-3, .weight_decay = 1e-4});
//   adam.ZeroGrad();
//   loss.Backward();
//   adam.Step();

#ifndef ACTGRAD_OPTIM_OPTIMIZER_H_
#define ACTGRAD_OPTIM_OPTIMIZER_H_

#include <cstdint>
#include <optional>
#include <source_location>
#include <string>
#include <utility>
#include <vector>

#include "graph/tensor.h"

namespace actgrad::optim {

// Parameters that share hyperparameters; unset ones take the optimizer's.
struct ParamGroup {
  std::vector<Tensor> parameters;
  std::optional<double> learning_rate;
  std::optional<double> weight_decay;
};

// What an optimizer keeps for one parameter between steps.
struct ParameterState {
  int64_t step = 0;                                     // updates taken
  std::vector<std::pair<std::string, Tensor>> buffers;  // e.g. {"exp_avg", ...}

  // The buffer `name`, or an undefined tensor.
  const Tensor& buffer(const std::string& name) const;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a gradient; runs without
  // recording. Parameters without a gradient keep their state, as in PyTorch.
  void Step();
  // Zeroes every parameter's gradient in place.
  void ZeroGrad();
  // Drops every parameter's gradient, as PyTorch's zero_grad(set_to_none=
  // True): the next backward writes each gradient afresh (a linear layer's
  // product overwrites instead of adding), saving a pass that writes zeros
  // and a read of them. Unlike ZeroGrad, a parameter that then gets no
  // gradient has none, and Step leaves it alone instead of applying
  // momentum or weight decay to it; a handle kept to an old gradient keeps
  // its old values.
  void ClearGrad();

  const std::string& name() const { return name_; }
  size_t num_groups() const { return groups_.size(); }
  const std::vector<Tensor>& parameters(size_t group = 0) const {
    return groups_[group].parameters;
  }
  double learning_rate(size_t group = 0) const { return groups_[group].learning_rate; }
  double weight_decay(size_t group = 0) const { return groups_[group].weight_decay; }
  // Sets the learning rate of one group, or of every group (schedules).
  void set_learning_rate(size_t group, double learning_rate);
  void set_learning_rate(double learning_rate);

  // The state of parameter i, counting through the groups in order.
  size_t num_parameters() const { return states_.size(); }
  const ParameterState& state(size_t i) const { return states_[i]; }
  // Restores a saved state (checkpoints); throws `Error` when a buffer's
  // shape or dtype differs from the parameter's or its name is not one this
  // optimizer keeps.
  void set_state(size_t i, ParameterState state,
                 std::source_location location = std::source_location::current());

 protected:
  struct Resolved {
    std::vector<Tensor> parameters;
    double learning_rate;
    double weight_decay;
  };

  // Checks the groups (leaves that require a gradient, no parameter in two
  // groups, finite non-negative learning rates and decays) and resolves the
  // unset hyperparameters; throws `Error` naming `name` and the caller.
  Optimizer(std::string name, std::vector<ParamGroup> groups, double learning_rate,
            double weight_decay, std::vector<std::string> buffer_names,
            const std::source_location& location);

  // Updates `param` in place from `grad` (same shape and dtype), with the
  // step count already advanced.
  virtual void Update(const Tensor& param, const Tensor& grad, const Resolved& group,
                      ParameterState& state) = 0;

  // The buffer `name` of `state`, created as a tensor like `param` filled
  // with `initial` on first use. A handle (sharing the values), not a
  // reference: creating the next buffer may move the state's list.
  static Tensor Buffer(ParameterState& state, const std::string& name, const Tensor& param,
                       double initial = 0.0);

  // Throws `Error` naming the optimizer unless `value` is finite and in
  // [low, high) (or [low, high] when `high_inclusive`).
  void RequireRange(const char* what, double value, double low, double high,
                    const std::source_location& location, bool high_inclusive = false) const;

 private:
  std::string name_;
  std::vector<Resolved> groups_;
  std::vector<ParameterState> states_;
  std::vector<std::string> buffer_names_;
};

}  // namespace actgrad::optim

#endif  // ACTGRAD_OPTIM_OPTIMIZER_H_
