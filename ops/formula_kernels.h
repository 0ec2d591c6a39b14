// -----------------------------------------------------------------------------
// File: formula_kernels.h
// -----------------------------------------------------------------------------
//
// Vectorized float32 kernels of the built-in activations that are defined by
// their scalar formulas (ops/more_activations.cc). The formulas themselves
// run in double precision, one element at a time, which is what float64
// tensors (and so the gradient checks) use; for float32 these kernels compute
// the same functions eight or sixteen at a time, in double with their own
// exponential and logarithm and rounding once (within 0.5 ulp), except
// gelu's below |x| = 4 with AVX-512, in single precision (within 2.53 ulps,
// ops/gelu_single.h). Tests hold them to the double formulas at every input
// range and to exact values in ulps.
//
// Example:
//
//   // y = gelu(x) for n floats:
//   actgrad::internal::GeluForwardFloat(x, y, n, attrs);
//   // dx = dy * gelu'(x), from the saved input and output:
//   actgrad::internal::GeluBackwardFloat(x, y, dy, dx, n, attrs);

#ifndef ACTGRAD_OPS_FORMULA_KERNELS_H_
#define ACTGRAD_OPS_FORMULA_KERNELS_H_

#include <cstdint>

#include "graph/op_def.h"

namespace actgrad::internal {

// Every kernel reads n values; attrs has the row's defaults filled in.
#define ACTGRAD_FLOAT_KERNELS(Name)                                                               \
  void Name##ForwardFloat(const float* x, float* y, int64_t n, const Attrs& attrs);               \
  void Name##BackwardFloat(const float* x, const float* y, const float* dy, float* dx, int64_t n, \
                           const Attrs& attrs)

ACTGRAD_FLOAT_KERNELS(Elu);
ACTGRAD_FLOAT_KERNELS(Selu);
ACTGRAD_FLOAT_KERNELS(Gelu);
ACTGRAD_FLOAT_KERNELS(GeluTanh);
ACTGRAD_FLOAT_KERNELS(Softplus);
ACTGRAD_FLOAT_KERNELS(Swish);
ACTGRAD_FLOAT_KERNELS(Mish);
ACTGRAD_FLOAT_KERNELS(Hardtanh);
ACTGRAD_FLOAT_KERNELS(Hardsigmoid);
ACTGRAD_FLOAT_KERNELS(Softsign);

#undef ACTGRAD_FLOAT_KERNELS

}  // namespace actgrad::internal

#endif  // ACTGRAD_OPS_FORMULA_KERNELS_H_
