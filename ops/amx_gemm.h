// -----------------------------------------------------------------------------
// File: amx_gemm.h
// -----------------------------------------------------------------------------
//
// float32 products on the AMX tile units of processors that have them
// (Intel Sapphire Rapids and later), to float32 accuracy. AMX multiplies
// only bfloat16, which holds 8 of a float's 24 significant bits, so each
// operand is split exactly into three bfloat16 parts, x = x0 + x1 + x2, and
// the six part products whose order is at most that of a float's rounding
// (a0 b0, a0 b1, a1 b0, a0 b2, a1 b1, a2 b0) are summed in float32, the
// largest last. The terms left out are below 2^-24 of |a b|: the result is
// as close to the exact product as a float32 GEMM's (tests/gemm_test.cc
// holds it to the same bound). Six bfloat16 products still take less time
// than one float32 product on the FMA units, where the tiles run at about
// sixteen times the FMA units' multiply-adds per cycle.
//
// The tile units treat bfloat16 subnormals as zero and flush float32
// subnormal results, so AmxGemm keeps to operands whose every part product
// stays normal: if a nonzero magnitude is below 2^-100 or above 2^100 (or
// not finite) in either, it returns false, and the caller runs another
// kernel.
//
// Example:
//
//   if (actgrad::internal::AmxGemmApplies(1024, 1024, 1024) &&
//       actgrad::internal::AmxGemm(false, false, 1024, 1024, 1024, a, 1024, b, 1024, c, 1024,
//                                   /*accumulate=*/false)) {
//     // c holds a x b.
//   }

#ifndef ACTGRAD_OPS_AMX_GEMM_H_
#define ACTGRAD_OPS_AMX_GEMM_H_

#include <cstdint>

namespace actgrad::internal {

// Whether this processor has AMX with bfloat16, AVX-512BW and AVX-512 BF16,
// and the kernel granted this process the tile state (Linux asks for it
// once per process). Computed once.
bool AmxGemmAvailable();

// Whether products of this size go to the kernel: it is available, allowed,
// m and k are at least 128, n at least 256, and m n k at least 2^23 on one
// thread; on more, 2^23 where n is at least 512 and 2^27 otherwise. There it
// measured faster than oneDNN's float32 kernels (bench/gemm_libraries).
bool AmxGemmApplies(int64_t m, int64_t n, int64_t k);

// Tests and benchmarks turn the kernel off to compare with the others.
void SetAmxGemmAllowed(bool allowed);

// C[m,n] = op(A) op(B) (+ C when `accumulate`; + bias's n values in every
// row when `bias` is not null, which is only without `accumulate`),
// row-major, with GemmStrided's conventions (ops/gemm.h), for m, n, k > 0
// where AmxGemmAvailable. Returns false when an operand or the bias holds
// values outside the range above, or the packed operands would take more
// than 256 MiB. C is then untouched when accumulating; otherwise it may hold
// part of the product, for the next kernel to overwrite.
bool AmxGemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a,
             int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate,
             const float* bias = nullptr);

}  // namespace actgrad::internal

#endif  // ACTGRAD_OPS_AMX_GEMM_H_
