// -----------------------------------------------------------------------------
// File: adam.h
// -----------------------------------------------------------------------------
//
// Adam and AdamW with exactly torch.optim's update rules (PyTorch 1.13),
// step t counted per parameter:
//
//   g = maximize ? -grad : grad
//   Adam:  g = g + weight_decay * p         AdamW:  p = p * (1 - lr * weight_decay)
//   m = beta1 * m + (1 - beta1) * g                         ("exp_avg")
//   v = beta2 * v + (1 - beta2) * g * g                     ("exp_avg_sq")
//   v_max = max(v_max, v) with amsgrad, else v_max = v      ("max_exp_avg_sq")
//   denom = sqrt(v_max) / sqrt(1 - beta2^t) + eps
//   p = p - (lr / (1 - beta1^t)) * m / denom
//
// Defaults are PyTorch's: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay
// 0 for Adam and 1e-2 for AdamW.
//
// Example:
//
//   actgrad::optim::Adam adam({{.parameters = model.Parameters()}}, {.learning_rate = 1e-3});
//   actgrad::optim::AdamW adamw({{.parameters = model.Parameters()}}, {.amsgrad = true});

#ifndef ACTGRAD_OPTIM_ADAM_H_
#define ACTGRAD_OPTIM_ADAM_H_

#include <source_location>
#include <vector>

#include "optim/optimizer.h"

namespace actgrad::optim {

struct AdamOptions {
  double learning_rate = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool amsgrad = false;
  bool maximize = false;
};

class Adam : public Optimizer {
 public:
  // Throws `Error` for betas outside [0, 1), eps <= 0, a negative or
  // non-finite learning rate or weight decay, and parameters that are not
  // leaves requiring a gradient.
  Adam(std::vector<ParamGroup> groups, const AdamOptions& options,
       std::source_location location = std::source_location::current());

  const AdamOptions& options() const { return options_; }

 protected:
  // AdamW: the same moments with decoupled weight decay.
  Adam(const char* name, std::vector<ParamGroup> groups, const AdamOptions& options, bool decoupled,
       const std::source_location& location);

  void Update(const Tensor& param, const Tensor& grad, const Resolved& group,
              ParameterState& state) override;

 private:
  AdamOptions options_;
  bool decoupled_ = false;
};

// AdamOptions with AdamW's default decay.
struct AdamWOptions {
  double learning_rate = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;
  bool amsgrad = false;
  bool maximize = false;
};

class AdamW : public Adam {
 public:
  AdamW(std::vector<ParamGroup> groups, const AdamWOptions& options,
        std::source_location location = std::source_location::current())
      : Adam("AdamW", std::move(groups),
             {.learning_rate = options.learning_rate,
              .beta1 = options.beta1,
              .beta2 = options.beta2,
              .eps = options.eps,
              .weight_decay = options.weight_decay,
              .amsgrad = options.amsgrad,
              .maximize = options.maximize},
             /*decoupled=*/true, location) {}
};

}  // namespace actgrad::optim

#endif  // ACTGRAD_OPTIM_ADAM_H_
