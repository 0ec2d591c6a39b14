// -----------------------------------------------------------------------------
// File: packed_gemm.h
// -----------------------------------------------------------------------------
//
// float32 products of every size on the library's own kernel, the way the
// tuned BLAS libraries run them: B is copied, a block of depth at a time,
// into panels two vectors wide that the kernel reads in order, A into blocks
// of as many rows as the registers hold (ops/gemm_lanes.h), and each block
// of C is summed in registers over a whole block of depth. A transposed A or
// B costs only its copy. Rows of C are split over the threads
// SetNumThreads allows. ops/gemm.cc sends a product here when
// PackedGemmApplies says so; bench/gemm_libraries prints it beside OpenBLAS
// and oneDNN at the shapes the choice was made from.
//
// Example:
//
//   if (actgrad::internal::PackedGemmApplies(true, false, 768, 256, 1024)) {
//     // c[768,256] = a[1024,768]^T x b[1024,256]:
//     actgrad::internal::PackedGemm(true, false, 768, 256, 1024, a, 768, b, 256, c, 256, false);
//   }

#ifndef ACTGRAD_OPS_PACKED_GEMM_H_
#define ACTGRAD_OPS_PACKED_GEMM_H_

#include <cstdint>

namespace actgrad::internal {

// Whether this build has the kernel: it needs AVX-512, or AVX2 with FMA.
bool PackedGemmAvailable();
// Whether the kernel is available and beats the GEMM library at op(A) m x k
// times op(B) k x n.
bool PackedGemmApplies(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k);

// C[m,n] = op(A) op(B) (+ C when `accumulate`), row-major, with GemmStrided's
// conventions (ops/gemm.h), for m, n, k > 0 where PackedGemmAvailable.
void PackedGemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a,
                int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate);

}  // namespace actgrad::internal

#endif  // ACTGRAD_OPS_PACKED_GEMM_H_
