// -----------------------------------------------------------------------------
// File: linear.h
// -----------------------------------------------------------------------------
//
// A fully connected layer, y = x W^T + b, with W stored [out, in] as PyTorch
// stores it. Which initializer the weight got is part of the layer and of its
// printed form; the MLP builder picks it from the activation that follows
// (claims C18-C20), and any choice can be overridden.
//
// Example:
//
//   actgrad::Generator gen(0);
//   actgrad::nn::Linear fc({.in = 30, .out = 64,
//                           .weight_init = actgrad::nn::Initializer::HeNormal(std::sqrt(2.0))},
//                          gen);
//   actgrad::Tensor h = fc(x);  // [batch, 64]
//   std::cout << fc.ToString(); // Linear(30 -> 64, weight=he_normal(gain=1.414, fan_in),
//   bias=zeros)

#ifndef ACTGRAD_NN_LINEAR_H_
#define ACTGRAD_NN_LINEAR_H_

#include <source_location>

#include "graph/generator.h"
#include "nn/init.h"
#include "nn/module.h"

namespace actgrad::nn {

struct LinearOptions {
  int64_t in = 0;
  int64_t out = 0;
  bool bias = true;
  Initializer weight_init = Initializer::XavierUniform();
  Initializer bias_init = Initializer::Zeros();
  DType dtype = DType::kFloat32;
};

class Linear : public Module {
 public:
  // Throws `Error` for non-positive sizes.
  Linear(const LinearOptions& options, Generator& gen,
         std::source_location location = std::source_location::current());

  Tensor Forward(const Tensor& x) override;
  std::string ToString() const override;
  std::string Kind() const override { return "linear"; }
  // in, out, bias, dtype.
  ModuleConfig Config() const override;

  Tensor& weight() { return weight_; }
  Tensor& bias() { return bias_; }
  const LinearOptions& options() const { return options_; }

 private:
  LinearOptions options_;
  Tensor weight_;
  Tensor bias_;
};

}  // namespace actgrad::nn

#endif  // ACTGRAD_NN_LINEAR_H_
