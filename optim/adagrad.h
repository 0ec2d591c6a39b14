// -----------------------------------------------------------------------------
// File: adagrad.h
// -----------------------------------------------------------------------------
//
// Adagrad with exactly torch.optim.Adagrad's update rule (PyTorch 1.13),
// step t counted per parameter:
//
//   g = maximize ? -grad : grad;  g = g + weight_decay * p
//   clr = lr / (1 + (t - 1) * lr_decay)
//   s = s + g * g                         ("sum", starting at
//                                          initial_accumulator_value)
//   p = p - clr * g / (sqrt(s) + eps)
//
// Defaults are PyTorch's: lr 1e-2, no lr decay, no weight decay, accumulator
// starting at 0, eps 1e-10.
//
// Example:
//
//   actgrad::optim::Adagrad adagrad({{.parameters = model.Parameters()}}, {.lr_decay = 1e-4});

#ifndef ACTGRAD_OPTIM_ADAGRAD_H_
#define ACTGRAD_OPTIM_ADAGRAD_H_

#include <source_location>
#include <vector>

#include "optim/optimizer.h"

namespace actgrad::optim {

struct AdagradOptions {
  double learning_rate = 1e-2;
  double lr_decay = 0.0;
  double weight_decay = 0.0;
  double initial_accumulator_value = 0.0;
  double eps = 1e-10;
  bool maximize = false;
};

class Adagrad : public Optimizer {
 public:
  // Throws `Error` for a negative lr decay or initial accumulator, eps <= 0,
  // and what every optimizer refuses (optim/optimizer.h).
  Adagrad(std::vector<ParamGroup> groups, const AdagradOptions& options,
          std::source_location location = std::source_location::current());

  const AdagradOptions& options() const { return options_; }

 protected:
  void Update(const Tensor& param, const Tensor& grad, const Resolved& group,
              ParameterState& state) override;

 private:
  AdagradOptions options_;
};

}  // namespace actgrad::optim

#endif  // ACTGRAD_OPTIM_ADAGRAD_H_
