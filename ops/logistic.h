// -----------------------------------------------------------------------------
// File: logistic.h
// -----------------------------------------------------------------------------
//
// The logistic function 1 / (1 + exp(-x)) on Eigen arrays, for every kernel
// that needs a sigmoid (sigmoid, silu, swish, mish, softplus's derivative,
// the fused linear layer, binary cross-entropy with logits). Eigen 3.4's own
// float logistic() is a rational approximation that is up to 1e-3 off in
// relative terms near x = -9, where the sigmoid is 1e-4: a model's small
// probabilities came out 4e-4 off PyTorch's. Through exp it is within 4 ulp
// (3.2e-7 relative) over [-87, 100]. The price: on W2's 4M floats, sigmoid's
// forward pass takes 19 % longer on an AVX-512 host (2.12 ms against 1.78);
// a kernel both accurate and as fast is still to be written.
//
// Example:
//
//   ArrayMap<float>(y, n) = Logistic(ConstArrayMap<float>(x, n));

#ifndef ACTGRAD_OPS_LOGISTIC_H_
#define ACTGRAD_OPS_LOGISTIC_H_

#include <Eigen/Core>

namespace actgrad::internal {

// 0 at -inf, 1 at +inf, NaN for NaN.
template <typename Derived>
auto Logistic(const Eigen::ArrayBase<Derived>& x) {
  using Scalar = typename Derived::Scalar;
  return (Scalar(1) + (-x).exp()).inverse();
}

}  // namespace actgrad::internal

#endif  // ACTGRAD_OPS_LOGISTIC_H_
