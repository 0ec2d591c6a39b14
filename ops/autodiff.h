// -----------------------------------------------------------------------------
// File: autodiff.h
// -----------------------------------------------------------------------------
//
// Derivatives of whole functions of tensors: Jacobian-vector products
// (forward mode, graph/forward_mode.h), vector-Jacobian products (reverse
// mode), full Jacobians by whichever mode needs fewer passes, Hessian-vector
// products by forward over reverse (one forward pass carrying the direction
// and one reverse pass recorded with it), and whole Hessians.
//
// The function is called on copies of the inputs (fresh storage, no graph),
// so the caller's tensors and their gradients are left as they were; the
// function may close over modules and their parameters, which are then
// constants.
//
// Example:
//
//   auto net = [&](const actgrad::Tensor& x) { return actgrad::Tanh(layer(x)); };
//   actgrad::Tensor j = actgrad::Jacobian(net, x);  // [outputs..., inputs...]
//   auto loss = [&](const actgrad::Tensor& w) { return actgrad::Sum(actgrad::Square(w)); };
//   actgrad::Tensor hv = actgrad::Hvp(loss, w, v);  // 2v

#ifndef ACTGRAD_OPS_AUTODIFF_H_
#define ACTGRAD_OPS_AUTODIFF_H_

#include <functional>
#include <initializer_list>
#include <source_location>
#include <span>
#include <vector>

#include "graph/tensor.h"

namespace actgrad {

using TensorFunction = std::function<Tensor(std::span<const Tensor> inputs)>;
using UnaryTensorFunction = std::function<Tensor(const Tensor& x)>;

struct JvpResult {
  Tensor output;
  Tensor tangent;  // J · tangents, in the output's shape
};

// f(primals) and its directional derivative along `tangents` (one per
// primal, in its shape and dtype; an undefined one counts as zero), in one
// forward pass.
JvpResult Jvp(const TensorFunction& f, std::span<const Tensor> primals,
              std::span<const Tensor> tangents,
              std::source_location location = std::source_location::current());

inline JvpResult Jvp(const TensorFunction& f, std::initializer_list<Tensor> primals,
                     std::initializer_list<Tensor> tangents,
                     std::source_location location = std::source_location::current()) {
  return Jvp(f, std::span<const Tensor>(primals.begin(), primals.size()),
             std::span<const Tensor>(tangents.begin(), tangents.size()), location);
}

struct VjpResult {
  Tensor output;
  std::vector<Tensor> cotangents;  // Jᵀ · cotangent, one per primal
};

// f(primals) and `cotangent`ᵀ J (cotangent in the output's shape; undefined
// for a one-element output means 1), in one reverse pass.
VjpResult Vjp(const TensorFunction& f, std::span<const Tensor> primals, const Tensor& cotangent,
              std::source_location location = std::source_location::current());

inline VjpResult Vjp(const TensorFunction& f, std::initializer_list<Tensor> primals,
                     const Tensor& cotangent,
                     std::source_location location = std::source_location::current()) {
  return Vjp(f, std::span<const Tensor>(primals.begin(), primals.size()), cotangent, location);
}

enum class JacobianMode {
  kAuto,     // reverse when the output has no more elements than the input
  kReverse,  // one reverse pass per output element
  kForward,  // one forward pass per input element
};

// ∂f/∂x, of shape f(x).shape ++ x.shape.
Tensor Jacobian(const UnaryTensorFunction& f, const Tensor& x,
                JacobianMode mode = JacobianMode::kAuto,
                std::source_location location = std::source_location::current());

// H·v for a function `f` with a one-element output, by forward over reverse.
Tensor Hvp(const UnaryTensorFunction& f, const Tensor& x, const Tensor& v,
           std::source_location location = std::source_location::current());

// The Hessian of a function with a one-element output, of shape
// x.shape ++ x.shape: the gradient recorded once, then one reverse pass
// through it per element of x (reverse over reverse reuses the first two
// passes; forward over reverse would repeat them for every column).
Tensor Hessian(const UnaryTensorFunction& f, const Tensor& x,
               std::source_location location = std::source_location::current());

}  // namespace actgrad

#endif  // ACTGRAD_OPS_AUTODIFF_H_
