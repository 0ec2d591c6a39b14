// -----------------------------------------------------------------------------
// File: linear_kernels.h
// -----------------------------------------------------------------------------
//
// Internal: the kernels of the linear row (ops/linalg.cc), shared with the
// fused linear + activation row (ops/fused_linear.cc), whose backward differs
// only in the gradient it feeds to the two products.
//
// Example (inside a fused row's backward, with dz computed from dy):
//
//   internal::LinearProductGradients(ctx, dz);  // dX = dZ W, dW = dZ^T X

#ifndef ACTGRAD_OPS_LINEAR_KERNELS_H_
#define ACTGRAD_OPS_LINEAR_KERNELS_H_

#include <span>

#include "graph/op_def.h"
#include "graph/tensor.h"

namespace actgrad::internal {

// Y = X W^T + b from the row's inputs (x, weight [out, in], optional bias),
// one product with the bias folded in. Throws naming ctx's op for shapes
// that do not fit.
Tensor LinearValues(const ForwardContext& ctx);

// Sets input gradients 0 and 1 (those ctx needs) from the gradient `dz` of
// X W^T + b: dX = dZ W, dW = dZ^T X, with x and the weight saved as inputs
// 0 and 1.
void LinearProductGradients(BackwardContext& ctx, const Tensor& dz);
// The same with recorded ops (create_graph); `dz` is [rows, out].
void LinearProductGradientsGraph(BackwardContext& ctx, const Tensor& dz);

// 2 · rows · out · in, for the profiler.
double LinearFlops(std::span<const Tensor> inputs, const Tensor& output);

}  // namespace actgrad::internal

#endif  // ACTGRAD_OPS_LINEAR_KERNELS_H_
