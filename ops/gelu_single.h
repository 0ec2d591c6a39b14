// -----------------------------------------------------------------------------
// File: gelu_single.h
// -----------------------------------------------------------------------------
//
// gelu's float32 kernels in single precision, for AVX-512: sixteen lanes
// where the double-precision kernels of ops/formula_kernels.h hold eight.
// For t = |x| below 4, Phi(-t) = e^(-t^2/2) R(t) and gelu'(-t) =
// e^(-t^2/2) (t - t0) Q(t), and for x >= 0 Phi and gelu' themselves, each
// tabulated as polynomials on sixteen intervals of t
// (tools/fit_gelu_float_tables.py); the exponential's argument stays exact
// through x^2's rounding error, and the derivative keeps its relative
// precision where it crosses zero at t0. Over every float below 4 in
// magnitude, the forward is within 2.53 ulps of the exact value and the
// derivative within 2.52 where it is at least 1e-3 (1.6e-10 nearer its
// zero); the double kernels are within 0.5 ulp, and took 2.1-2.3x as long.
// Every group of sixteen values with one at or past 4 in magnitude, or
// NaN, goes to the double-precision kernel instead.
//
// Example:
//
//   if (actgrad::internal::GeluSingleAvailable()) {
//     actgrad::internal::GeluForwardSingle(x, y, n, &GeluForwardInDouble);
//   }

#ifndef ACTGRAD_OPS_GELU_SINGLE_H_
#define ACTGRAD_OPS_GELU_SINGLE_H_

#include <cstdint>

namespace actgrad::internal {

// Whether this build has the single-precision kernels (AVX-512).
bool GeluSingleAvailable();

// y = gelu(x) for n values; `fallback` computes the groups the tables do
// not cover.
void GeluForwardSingle(const float* x, float* y, int64_t n,
                       void (*fallback)(const float* x, float* y, int64_t n));

// dx = dy gelu'(x) for n values, likewise.
void GeluBackwardSingle(const float* x, const float* dy, float* dx, int64_t n,
                        void (*fallback)(const float* x, const float* dy, float* dx, int64_t n));

}  // namespace actgrad::internal

#endif  // ACTGRAD_OPS_GELU_SINGLE_H_
