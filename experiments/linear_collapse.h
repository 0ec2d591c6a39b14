// -----------------------------------------------------------------------------
// File: linear_collapse.h
// -----------------------------------------------------------------------------
//
// Claim C13 made concrete: a stack of Linear layers with identity activations
// between them computes one affine map, W = W_k ... W_2 W_1 and
// b = W_k (... (W_2 b_1 + b_2) ...) + b_k. `CollapseLinear` multiplies a
// trained network out in float64, so its logits can be compared with the
// network's own to float rounding; the `linear-collapse` experiment and its
// test use it.
//
// Example:
//
//   auto net = actgrad::nn::Mlp({.inputs = 2, .hidden = {16, 16}, .outputs = 1,
//                                .hidden_activation = &actgrad::ops::kIdentity,
//                                .output_activation = &actgrad::ops::kSigmoid}, gen);
//   AffineMap map = CollapseLinear(*net);       // weight [1, 2], bias [1]
//   std::vector<double> logits = map.Apply(x);  // == net->Logits(x), to rounding

#ifndef ACTGRAD_EXPERIMENTS_LINEAR_COLLAPSE_H_
#define ACTGRAD_EXPERIMENTS_LINEAR_COLLAPSE_H_

#include <cstdint>
#include <source_location>
#include <vector>

#include "graph/tensor.h"
#include "nn/sequential.h"

namespace actgrad::experiments {

// y = x W^T + b, W stored [outputs, inputs] like nn::Linear's weight.
struct AffineMap {
  int64_t inputs = 0;
  int64_t outputs = 0;
  std::vector<double> weight;  // outputs * inputs, row-major
  std::vector<double> bias;    // outputs

  // The map applied to the rows of x ([rows, inputs]), in float64,
  // row-major [rows, outputs].
  std::vector<double> Apply(const Tensor& x) const;
};

// The affine map from the input of `model` to its logits (the output of its
// last Linear layer). Throws `Error` when an activation before that layer is
// not the identity, or a layer is neither Linear nor Activation.
AffineMap CollapseLinear(nn::Sequential& model,
                         std::source_location location = std::source_location::current());

}  // namespace actgrad::experiments

#endif  // ACTGRAD_EXPERIMENTS_LINEAR_COLLAPSE_H_
