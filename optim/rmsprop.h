// -----------------------------------------------------------------------------
// File: rmsprop.h
// -----------------------------------------------------------------------------
//
// RMSprop with exactly torch.optim.RMSprop's update rule (PyTorch 1.13):
//
//   g = maximize ? -grad : grad;  g = g + weight_decay * p
//   s = alpha * s + (1 - alpha) * g * g                   ("square_avg")
//   centered: a = alpha * a + (1 - alpha) * g             ("grad_avg")
//             avg = sqrt(s - a * a) + eps;   else avg = sqrt(s) + eps
//   momentum > 0: b = momentum * b + g / avg; p = p - lr * b   ("momentum_buffer")
//   otherwise:    p = p - lr * g / avg
//
// Defaults are PyTorch's: lr 1e-2, alpha 0.99, eps 1e-8, no decay, no
// momentum, not centered.
//
// Example:
//
//   actgrad::optim::RmsProp rmsprop({{.parameters = model.Parameters()}},
//                                   {.momentum = 0.9, .centered = true});

#ifndef ACTGRAD_OPTIM_RMSPROP_H_
#define ACTGRAD_OPTIM_RMSPROP_H_

#include <source_location>
#include <vector>

#include "optim/optimizer.h"

namespace actgrad::optim {

struct RmsPropOptions {
  double learning_rate = 1e-2;
  double alpha = 0.99;
  double eps = 1e-8;
  double weight_decay = 0.0;
  double momentum = 0.0;
  bool centered = false;
  bool maximize = false;
};

class RmsProp : public Optimizer {
 public:
  // Throws `Error` for alpha outside [0, 1], eps <= 0, negative momentum,
  // and what every optimizer refuses (optim/optimizer.h).
  RmsProp(std::vector<ParamGroup> groups, const RmsPropOptions& options,
          std::source_location location = std::source_location::current());

  const RmsPropOptions& options() const { return options_; }

 protected:
  void Update(const Tensor& param, const Tensor& grad, const Resolved& group,
              ParameterState& state) override;

 private:
  RmsPropOptions options_;
};

}  // namespace actgrad::optim

#endif  // ACTGRAD_OPTIM_RMSPROP_H_
