// -----------------------------------------------------------------------------
// File: sgd.h
// -----------------------------------------------------------------------------
//
// optim/ holds what updates parameters from their gradients: optimizers,
// gradient clipping (optim/clip.h) and learning-rate schedules
// (optim/schedule.h).
//
// Stochastic gradient descent with momentum, dampening, Nesterov momentum and
// weight decay, with exactly the update rule of PyTorch's torch.optim.SGD:
//
//   g = grad + weight_decay * p
//   b = g                                  (first step with momentum)
//   b = momentum * b + (1 - dampening) * g (later steps)
//   g = nesterov ? g + momentum * b : b    (when momentum != 0)
//   p = p - lr * g
//
// Parameters without a gradient are skipped, as in PyTorch.
//
// Example:
//
//   actgrad::optim::Sgd sgd(model.Parameters(), {.learning_rate = 0.05, .momentum = 0.9});
//   for (...) {
//     sgd.ZeroGrad();
//     loss(model, batch).Backward();
//     sgd.Step();
//   }

#ifndef ACTGRAD_OPTIM_SGD_H_
#define ACTGRAD_OPTIM_SGD_H_

#include <source_location>
#include <vector>

#include "graph/tensor.h"
#include "optim/optimizer.h"

namespace actgrad::optim {

struct SgdOptions {
  double learning_rate = 0.01;
  double momentum = 0.0;
  double dampening = 0.0;
  bool nesterov = false;
  double weight_decay = 0.0;
};

class Sgd : public Optimizer {
 public:
  // Throws `Error` for a negative (or non-finite) learning rate, momentum or
  // weight decay, for Nesterov without momentum or with dampening
  // (PyTorch's rules), and for parameters that are not leaves requiring a
  // gradient.
  Sgd(std::vector<Tensor> parameters, const SgdOptions& options,
      std::source_location location = std::source_location::current());
  // With parameter groups (optim/optimizer.h).
  Sgd(std::vector<ParamGroup> groups, const SgdOptions& options,
      std::source_location location = std::source_location::current());

  const SgdOptions& options() const { return options_; }
  // The momentum buffer of parameter i (undefined before its first step);
  // setting it resumes from a checkpoint.
  const Tensor& momentum_buffer(size_t i) const { return state(i).buffer("momentum_buffer"); }
  void set_momentum_buffer(size_t i, Tensor buffer);

 protected:
  void Update(const Tensor& param, const Tensor& grad, const Resolved& group,
              ParameterState& state) override;

 private:
  SgdOptions options_;
};

}  // namespace actgrad::optim

#endif  // ACTGRAD_OPTIM_SGD_H_
