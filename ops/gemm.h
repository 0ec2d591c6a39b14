// -----------------------------------------------------------------------------
// File: gemm.h
// -----------------------------------------------------------------------------
//
// The matrix products under matmul and linear. float32 products go to
// oneDNN's sgemm where the build found oneDNN: on this project's machines
// it runs about twice as fast as OpenBLAS under the pinned
// OPENBLAS_CORETYPE=Haswell kernel, at 1024^3 and at the small shapes of
// real networks alike (README, "Performance"). float32 products small
// enough that a library call costs more than its arithmetic (up to 64^3
// multiply-adds, such as a 64-wide layer at batch 32) run on the library's
// own kernel (ops/small_gemm.h) instead, on the calling thread. On
// processors with AMX, large float32 products run on the tile
// units (ops/amx_gemm.h), to the same accuracy. float64 products, and
// float32 without oneDNN, go to OpenBLAS. Libraries use NumThreads()
// threads.
//
// Example:
//
//   std::cout << actgrad::GemmLibraryName();  // "oneDNN 2.6.3 (avx512_core_bf16)"
//   // c[2,4] = a[2,3] x b[3,4], row-major:
//   actgrad::internal::Gemm(false, false, 2, 4, 3, a, b, c, /*accumulate=*/false);

#ifndef ACTGRAD_OPS_GEMM_H_
#define ACTGRAD_OPS_GEMM_H_

#include <cstdint>
#include <string>

namespace actgrad {

// Which library computes float32 products, with its version and the
// instruction set its kernels use, for benchmark reports.
std::string GemmLibraryName();

namespace internal {

// oneDNN threads with OpenMP, whose thread count is a per-thread setting:
// each calling thread is told NumThreads() once (and again after a change),
// so that oneDNN never runs on more threads than asked. Call it before any
// oneDNN primitive.
void MatchOpenMpThreads();

// C[m,n] = op(A) op(B) (+ C when `accumulate`), row-major, where op(A) is
// [m,k] (A stored [k,m] when trans_a) and op(B) is [k,n] (B stored [n,k]
// when trans_b).
void Gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a,
          const float* b, float* c, bool accumulate);
void Gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const double* a,
          const double* b, double* c, bool accumulate);

// Gemm on matrices whose rows lie `lda`, `ldb` and `ldc` elements apart
// (each at least its row's length), so that one head of a [L, B, heads * d]
// tensor is multiplied where it lies, with no copy into a dense block. Empty
// extents are handled here (k = 0 gives zeros, or leaves C when
// accumulating), since GEMM libraries disagree on them.
//
//   // C[2,4] = A[2,3] B[3,4], reading A's rows 8 apart and writing C's 16 apart:
//   actgrad::internal::GemmStrided(false, false, 2, 4, 3, a, 8, b, 4, c, 16, false);
void GemmStrided(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a,
                 int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate);
void GemmStrided(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const double* a,
                 int64_t lda, const double* b, int64_t ldb, double* c, int64_t ldc,
                 bool accumulate);

// C[m,n] = op(A) op(B) + bias, with bias's n values added to every row: a
// linear layer's forward. The AMX kernel starts its sums from the bias;
// the others from a copy of it in each row of C.
//
//   // y[rows, out] = x[rows, in] w[out, in]^T + b[out]:
//   actgrad::internal::GemmWithBias(false, true, rows, out, in, x, w, b, y);
void GemmWithBias(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a,
                  const float* b, const float* bias, float* c);
void GemmWithBias(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const double* a,
                  const double* b, const double* bias, double* c);

}  // namespace internal
}  // namespace actgrad

#endif  // ACTGRAD_OPS_GEMM_H_
