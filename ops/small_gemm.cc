#include "ops/small_gemm.h"

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "ops/gemm_lanes.h"

namespace actgrad::internal {

#if ACTGRAD_GEMM_LANES

namespace {

// Up to here (m n k, 64^3) the kernel beat oneDNN 2.6's sgemm at one thread
// on every shape bench/gemm_libraries times: by 12-34 % with AVX-512, by
// 4-43 % with AVX2. Past it its lead shrinks (128 x 64 x 64: 1.06x with
// AVX-512, 0.94-1.15x over runs with AVX2) and turns (128^3: 0.92x with
// AVX-512, 0.86-1.03x with AVX2), where the library's cache blocking pays.
constexpr int64_t kMaxVolume = int64_t{1} << 18;

using Lanes = GemmLanes;
using Vec = Lanes::Vec;
using Mask = Lanes::Mask;
constexpr int kWidth = Lanes::kWidth;

// C[kRows, kVecs vectors] (+)= A-panel x B-panel, C held in registers over
// the whole sum. With kPartial, the last vector covers only the columns of
// `last_mask` (AVX2's masked moves are slower than its plain ones, so full
// panels do without).
template <int kRows, int kVecs, bool kTransA, bool kPartial>
inline void Block(int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                  int64_t ldc, Mask last_mask, bool accumulate) {
  auto load = [last_mask](const float* p, int v) {
    return kPartial && v + 1 == kVecs ? Lanes::LoadFirst(p, last_mask) : Lanes::Load(p);
  };
  Vec acc[kRows][kVecs];
#pragma GCC unroll 16
  for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) {
      acc[r][v] = accumulate ? load(c + r * ldc + kWidth * v, v) : Lanes::Zero();
    }
  }
#pragma GCC unroll 4
  for (int64_t p = 0; p < k; ++p) {
    Vec row[kVecs];
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) row[v] = load(b + p * ldb + kWidth * v, v);
#pragma GCC unroll 16
    for (int r = 0; r < kRows; ++r) {
      const Vec scalar = Lanes::Broadcast(kTransA ? a[p * lda + r] : a[r * lda + p]);
#pragma GCC unroll 4
      for (int v = 0; v < kVecs; ++v) acc[r][v] = Lanes::Fma(scalar, row[v], acc[r][v]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) {
      float* to = c + r * ldc + kWidth * v;
      if (kPartial && v + 1 == kVecs) {
        Lanes::StoreFirst(to, last_mask, acc[r][v]);
      } else {
        Lanes::Store(to, acc[r][v]);
      }
    }
  }
}

// Every row of one column panel of C, in blocks of the most rows the
// registers hold and one block of the rows left over.
template <int kVecs, bool kTransA, bool kPartial>
void Panel(int64_t m, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
           int64_t ldc, Mask last_mask, bool accumulate) {
  constexpr int kMaxRows = kVecs == 1 ? Lanes::kRowsOneWide : Lanes::kRowsTwoWide;
  auto a_rows = [&](int64_t i) { return kTransA ? a + i : a + i * lda; };
  int64_t i = 0;
  for (; i + kMaxRows <= m; i += kMaxRows) {
    Block<kMaxRows, kVecs, kTransA, kPartial>(k, a_rows(i), lda, b, ldb, c + i * ldc, ldc,
                                              last_mask, accumulate);
  }
  const int64_t rest = m - i;
  // One instantiation per count of rows left over, 1 to kMaxRows - 1.
  auto left_over = [&]<int... kFewer>(std::integer_sequence<int, kFewer...>) {
    (void)((rest == kFewer + 1 &&
            (Block<kFewer + 1, kVecs, kTransA, kPartial>(k, a_rows(i), lda, b, ldb, c + i * ldc,
                                                         ldc, last_mask, accumulate),
             true)) ||
           ...);
  };
  left_over(std::make_integer_sequence<int, kMaxRows - 1>());
}

// dst[j, i] = src[i, j] for one kWidth x kWidth tile, in registers.
#ifdef __AVX512F__
inline void TransposeTile(const float* src, int64_t src_stride, float* dst, int64_t dst_stride) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * src_stride);
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
    t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xDD);
    t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
    t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xDD);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
    r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
    r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xDD);
  }
  for (int i = 0; i < 16; ++i) _mm512_storeu_ps(dst + i * dst_stride, r[i]);
}
#else
inline void TransposeTile(const float* src, int64_t src_stride, float* dst, int64_t dst_stride) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * src_stride);
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x20);
    t[i + 4] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x31);
  }
  for (int i = 0; i < 8; ++i) _mm256_storeu_ps(dst + i * dst_stride, t[i]);
}
#endif

// dst[cols, rows] = src[rows, cols]^T.
void Transpose(const float* src, int64_t src_stride, int64_t rows, int64_t cols, float* dst,
               int64_t dst_stride) {
  const int64_t full_rows = rows - rows % kWidth, full_cols = cols - cols % kWidth;
  for (int64_t i = 0; i < full_rows; i += kWidth) {
    for (int64_t j = 0; j < full_cols; j += kWidth) {
      TransposeTile(src + i * src_stride + j, src_stride, dst + j * dst_stride + i, dst_stride);
    }
  }
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = i < full_rows ? full_cols : 0; j < cols; ++j) {
      dst[j * dst_stride + i] = src[i * src_stride + j];
    }
  }
}

}  // namespace

bool SmallGemmAvailable() { return true; }

bool SmallGemmApplies(int64_t m, int64_t n, int64_t k) {
  return m > 0 && n > 0 && k > 0 && m <= kMaxVolume && n <= kMaxVolume && k <= kMaxVolume &&
         m * n * k <= kMaxVolume;
}

void SmallGemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a,
               int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  // B is read a row of op(B) at a time, so a transposed B is turned over
  // first; the buffer keeps its capacity from call to call.
  thread_local std::vector<float> turned;
  if (trans_b) {
    turned.resize(static_cast<size_t>(k * n));
    Transpose(b, ldb, n, k, turned.data(), n);
    b = turned.data();
    ldb = n;
  }
  // Column panels two vectors wide, and one or two vectors for the rest.
  for (int64_t j = 0; j < n; j += 2 * kWidth) {
    const int64_t width = std::min<int64_t>(2 * kWidth, n - j);
    const int last = static_cast<int>(width > kWidth ? width - kWidth : width);
    const Mask last_mask = Lanes::FirstLanes(last);
    auto panel = [&]<int kVecs, bool kPartial>() {
      trans_a ? Panel<kVecs, true, kPartial>(m, k, a, lda, b + j, ldb, c + j, ldc, last_mask,
                                             accumulate)
              : Panel<kVecs, false, kPartial>(m, k, a, lda, b + j, ldb, c + j, ldc, last_mask,
                                              accumulate);
    };
    const bool partial = last < kWidth;
    if (width > kWidth) {
      partial ? panel.template operator()<2, true>() : panel.template operator()<2, false>();
    } else {
      partial ? panel.template operator()<1, true>() : panel.template operator()<1, false>();
    }
  }
}

#else  // neither AVX-512 nor AVX2 with FMA

bool SmallGemmAvailable() { return false; }
bool SmallGemmApplies(int64_t, int64_t, int64_t) { return false; }

void SmallGemm(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t,
               float*, int64_t, bool) {}

#endif

}  // namespace actgrad::internal
