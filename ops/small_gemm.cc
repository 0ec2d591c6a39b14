#include "ops/small_gemm.h"

#include <algorithm>
#include <vector>

#ifdef __AVX512F__
#include <immintrin.h>
#endif

namespace actgrad::internal {

#ifdef __AVX512F__

namespace {

// Up to here (m n k, 64^3) the kernel beat oneDNN 2.6's sgemm at one thread
// on every shape bench/gemm_libraries times, by 12-34 %; past it its lead
// shrinks (128 x 64 x 64: 1.06x) and turns (128^3: 0.92x), where the
// library's cache blocking pays.
constexpr int64_t kMaxVolume = int64_t{1} << 18;

// C[kRows, up to 16 kVecs] (+)= A-panel x B-panel, C held in registers over
// the whole sum. `last_mask` covers the columns of the last vector.
template <int kRows, int kVecs, bool kTransA>
inline void Block(int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                  int64_t ldc, __mmask16 last_mask, bool accumulate) {
  auto mask = [last_mask](int v) { return v + 1 == kVecs ? last_mask : __mmask16(0xFFFF); };
  __m512 acc[kRows][kVecs];
#pragma GCC unroll 16
  for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) {
      acc[r][v] =
          accumulate ? _mm512_maskz_loadu_ps(mask(v), c + r * ldc + 16 * v) : _mm512_setzero_ps();
    }
  }
  for (int64_t p = 0; p < k; ++p) {
    __m512 row[kVecs];
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) row[v] = _mm512_maskz_loadu_ps(mask(v), b + p * ldb + 16 * v);
#pragma GCC unroll 16
    for (int r = 0; r < kRows; ++r) {
      const __m512 scalar = _mm512_set1_ps(kTransA ? a[p * lda + r] : a[r * lda + p]);
#pragma GCC unroll 4
      for (int v = 0; v < kVecs; ++v) acc[r][v] = _mm512_fmadd_ps(scalar, row[v], acc[r][v]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) _mm512_mask_storeu_ps(c + r * ldc + 16 * v, mask(v), acc[r][v]);
  }
}

// Every row of one column panel of C, in blocks of kMaxRows rows and one
// block of the rows left over.
template <int kVecs, bool kTransA>
void Panel(int64_t m, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
           int64_t ldc, __mmask16 last_mask, bool accumulate) {
  // 12 accumulators one vector wide or 16 two wide, leaving registers for
  // B's rows and a broadcast.
  constexpr int kMaxRows = kVecs == 1 ? 12 : 8;
  auto a_rows = [&](int64_t i) { return kTransA ? a + i : a + i * lda; };
  int64_t i = 0;
  for (; i + kMaxRows <= m; i += kMaxRows) {
    Block<kMaxRows, kVecs, kTransA>(k, a_rows(i), lda, b, ldb, c + i * ldc, ldc, last_mask,
                                    accumulate);
  }
  const int64_t rest = m - i;
  if (rest == 0) return;
  auto left_over = [&]<int kRows>() {
    Block<kRows, kVecs, kTransA>(k, a_rows(i), lda, b, ldb, c + i * ldc, ldc, last_mask,
                                 accumulate);
  };
  switch (rest) {
    case 1:
      return left_over.template operator()<1>();
    case 2:
      return left_over.template operator()<2>();
    case 3:
      return left_over.template operator()<3>();
    case 4:
      return left_over.template operator()<4>();
    case 5:
      return left_over.template operator()<5>();
    case 6:
      return left_over.template operator()<6>();
    case 7:
      return left_over.template operator()<7>();
    case 8:
      return left_over.template operator()<8>();
    case 9:
      return left_over.template operator()<9>();
    case 10:
      return left_over.template operator()<10>();
    case 11:
      return left_over.template operator()<11>();
  }
}

// dst[j, i] = src[i, j] for 16 x 16 floats, in registers.
inline void Transpose16x16(const float* src, int64_t src_stride, float* dst, int64_t dst_stride) {
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

// dst[cols, rows] = src[rows, cols]^T.
void Transpose(const float* src, int64_t src_stride, int64_t rows, int64_t cols, float* dst,
               int64_t dst_stride) {
  const int64_t full_rows = rows - rows % 16, full_cols = cols - cols % 16;
  for (int64_t i = 0; i < full_rows; i += 16) {
    for (int64_t j = 0; j < full_cols; j += 16) {
      Transpose16x16(src + i * src_stride + j, src_stride, dst + j * dst_stride + i, dst_stride);
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
  for (int64_t j = 0; j < n; j += 32) {
    const int64_t width = std::min<int64_t>(32, n - j);
    const int64_t last = width > 16 ? width - 16 : width;
    const __mmask16 last_mask = static_cast<__mmask16>((1u << last) - 1);
    if (width > 16) {
      trans_a ? Panel<2, true>(m, k, a, lda, b + j, ldb, c + j, ldc, last_mask, accumulate)
              : Panel<2, false>(m, k, a, lda, b + j, ldb, c + j, ldc, last_mask, accumulate);
    } else {
      trans_a ? Panel<1, true>(m, k, a, lda, b + j, ldb, c + j, ldc, last_mask, accumulate)
              : Panel<1, false>(m, k, a, lda, b + j, ldb, c + j, ldc, last_mask, accumulate);
    }
  }
}

#else  // !__AVX512F__

bool SmallGemmAvailable() { return false; }
bool SmallGemmApplies(int64_t, int64_t, int64_t) { return false; }

void SmallGemm(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t,
               float*, int64_t, bool) {}

#endif

}  // namespace actgrad::internal
