// -----------------------------------------------------------------------------
// File: jvp_rules.h
// -----------------------------------------------------------------------------
//
// Jacobian-vector products (forward mode, graph/forward_mode.h) shared by
// rows whose functions have the same structure: linear in their inputs
// (reshape, sum, pooling by averages), linear in each input separately
// (mul, matmul), or such a product plus a bias (linear, convolution). A row
// names its rule in `OpDef::jvp`; each is exact, computed from the row
// itself applied to the tangents.
//
// Example (a row):
//
//   const OpDef kReshape{
//       ...
//       .backward_graph = &ReshapeBackward,
//       .jvp = &internal::LinearJvp,
//   };

#ifndef ACTGRAD_OPS_JVP_RULES_H_
#define ACTGRAD_OPS_JVP_RULES_H_

#include "graph/op_def.h"
#include "graph/tensor.h"

namespace actgrad::internal {

// y = op(x₀, x₁, ...) linear in its differentiable inputs together:
// ẏ = op(ẋ₀, ẋ₁, ...), zeros for inputs without a tangent, integer inputs
// (indices) as they are.
Tensor LinearJvp(JvpContext& ctx);

// pad: linear but for the fill value, which the tangent pads with zeros.
Tensor PadJvp(JvpContext& ctx);

// y linear in each input separately: ẏ = Σᵢ op(x₀, ..., ẋᵢ, ...).
Tensor ProductJvp(JvpContext& ctx);

// y = op(x, w) + b, bilinear in x and w plus an optional bias:
// ẏ = op(ẋ, w, ḃ) + op(x, ẇ).
Tensor ProductWithBiasJvp(JvpContext& ctx);

// y = a / b: ẏ = ȧ / b − y ḃ / b.
Tensor DivJvp(JvpContext& ctx);

}  // namespace actgrad::internal

#endif  // ACTGRAD_OPS_JVP_RULES_H_
