// -----------------------------------------------------------------------------
// File: small_gemm.h
// -----------------------------------------------------------------------------
//
// float32 products too small for a GEMM library's call to pay off: the
// layers of narrow networks (W4's 32 x 64 x 64) spend a fifth of oneDNN's
// sgemm call in its driver (argument checks, blocking decisions, packing)
// rather than in its kernel. This kernel holds a block of C in registers
// (ops/gemm_lanes.h: 8 x 32 or 12 x 16 with AVX-512, 6 x 16 or 12 x 8 with
// AVX2) and adds rank-1 updates over k, reading A by
// broadcast (so a transposed A costs nothing) and B by rows (so a transposed
// B is first transposed into a per-thread buffer). ops/gemm.cc sends a
// product here when SmallGemmApplies says so; bench/gemm_libraries prints
// both side by side at the shapes the threshold was chosen from.
//
// Example:
//
//   if (actgrad::internal::SmallGemmApplies(32, 64, 64)) {
//     // c[32,64] = a[32,64] x b[64,64]^T, b stored [64,64] row-major:
//     actgrad::internal::SmallGemm(false, true, 32, 64, 64, a, 64, b, 64, c, 64, false);
//   }

#ifndef ACTGRAD_OPS_SMALL_GEMM_H_
#define ACTGRAD_OPS_SMALL_GEMM_H_

#include <cstdint>

namespace actgrad::internal {

// Whether this build has the kernel: it needs AVX-512, or AVX2 with FMA,
// at compile time.
bool SmallGemmAvailable();
// Whether the kernel is available and m x n x k small enough that it beats
// the library's call.
bool SmallGemmApplies(int64_t m, int64_t n, int64_t k);

// C[m,n] = op(A) op(B) (+ C when `accumulate`), row-major, with GemmStrided's
// conventions (ops/gemm.h), for m, n, k > 0 where SmallGemmAvailable; any
// size is computed, but past SmallGemmApplies more slowly than the library.
void SmallGemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a,
               int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate);

}  // namespace actgrad::internal

#endif  // ACTGRAD_OPS_SMALL_GEMM_H_
