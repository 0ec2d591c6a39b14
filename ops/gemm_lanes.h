// -----------------------------------------------------------------------------
// File: gemm_lanes.h
// -----------------------------------------------------------------------------
//
// Internal: the float32 vector the library's own product kernels
// (ops/small_gemm.h, ops/packed_gemm.h) hold blocks of C in, for AVX-512
// or for AVX2 with FMA; ACTGRAD_GEMM_LANES says whether the target has
// either. A block of C lives in registers over a whole sum, with room left
// for one row of B and a broadcast of A: AVX-512's 32 registers hold 8 rows
// two vectors wide or 12 one wide, AVX2's 16 hold 6 rows two wide or 12 one
// wide.
//
// Example:
//
//   using actgrad::internal::GemmLanes;
//   GemmLanes::Vec sum = GemmLanes::Zero();
//   sum = GemmLanes::Fma(GemmLanes::Broadcast(a), GemmLanes::Load(b_row), sum);
//   GemmLanes::StoreFirst(c_row, GemmLanes::FirstLanes(3), sum);  // 3 columns

#ifndef ACTGRAD_OPS_GEMM_LANES_H_
#define ACTGRAD_OPS_GEMM_LANES_H_

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#define ACTGRAD_GEMM_LANES 1
#include <immintrin.h>
#else
#define ACTGRAD_GEMM_LANES 0
#endif

#if ACTGRAD_GEMM_LANES

namespace actgrad::internal {

#ifdef __AVX512F__
struct GemmLanes {
  using Vec = __m512;
  using Mask = __mmask16;
  static constexpr int kWidth = 16;
  static constexpr int kRowsTwoWide = 8;
  static constexpr int kRowsOneWide = 12;
  static Mask FirstLanes(int count) { return static_cast<__mmask16>((1u << count) - 1); }
  static Vec Zero() { return _mm512_setzero_ps(); }
  static Vec Broadcast(float x) { return _mm512_set1_ps(x); }
  static Vec Fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
  static Vec Add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
  static Vec Load(const float* p) { return _mm512_loadu_ps(p); }
  static Vec LoadFirst(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static void Store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
  static void StoreFirst(float* p, Mask m, Vec v) { _mm512_mask_storeu_ps(p, m, v); }
};
#else
struct GemmLanes {
  using Vec = __m256;
  using Mask = __m256i;
  static constexpr int kWidth = 8;
  static constexpr int kRowsTwoWide = 6;
  static constexpr int kRowsOneWide = 12;
  static Mask FirstLanes(int count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static Vec Zero() { return _mm256_setzero_ps(); }
  static Vec Broadcast(float x) { return _mm256_set1_ps(x); }
  static Vec Fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
  static Vec Add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
  static Vec Load(const float* p) { return _mm256_loadu_ps(p); }
  static Vec LoadFirst(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
  static void Store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
  static void StoreFirst(float* p, Mask m, Vec v) { _mm256_maskstore_ps(p, m, v); }
};
#endif

}  // namespace actgrad::internal

#endif  // ACTGRAD_GEMM_LANES

#endif  // ACTGRAD_OPS_GEMM_LANES_H_
