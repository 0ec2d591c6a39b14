// -----------------------------------------------------------------------------
// File: logistic.h
// -----------------------------------------------------------------------------
//
// The logistic function and tanh in float32, within 2.3 and 3.1 ulps of the
// correctly rounded value over the whole float range (the worst found on a
// dense grid; tests/float32_accuracy_test.cc holds them to 4),
// for every kernel that needs them (sigmoid, tanh, the fused linear layer,
// the recurrent cells); and the logistic function 1 / (1 + exp(-x)) on Eigen
// arrays of any type, for double.
//
// Eigen 3.4's own float logistic() and tanh() are clamped rational
// approximations: the logistic is up to 5.6e-4 off in relative terms near
// x = -9 and flushes to 0 below x = -88.4 (the true value is a subnormal
// down to -103.9), and tanh rounds to +-1 from |x| = 7.9 on, where the float
// closest to it is still 1 - 2^-24 up to 9.01, so a derivative from the
// output became exactly 0 early. Here both are written on an exponential,
// with a correction where 1 - ... would round:
//
//   sigmoid(x) = q (x < 0), 1 - q (x >= 0),  q = e / (1 + e), e = exp(-|x|)
//   tanh(|x|) = 1 - 2q,  q = e / (1 + e), e = exp(-2|x|)   (|x| >= 0.625)
//             = (1 - e) / (1 + e), 1 - e from expm1's pieces  (below; the
//               portable loop takes a fitted odd polynomial there)
//
// With AVX-512, 16 floats at a time in intrinsics (W2's forward passes are
// bound by the operations: these take fewer than Eigen's sigmoid and about
// what its tanh did, README); otherwise plain loops that GCC vectorizes.
// NaN in gives NaN out; +-inf give the limits.
//
// Example:
//
//   actgrad::internal::LogisticFloat(x, y, n);  // y may be x
//   actgrad::internal::TanhFloat(x, y, n);
//   actgrad::internal::TanhInPlace(values, n);  // float or double

#ifndef ACTGRAD_OPS_LOGISTIC_H_
#define ACTGRAD_OPS_LOGISTIC_H_

#include <Eigen/Core>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif
#include <bit>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "ops/pick.h"
#include "ops/prefetch.h"

namespace actgrad::internal {

// 0 at -inf, 1 at +inf, NaN for NaN. For float32 arrays, LogisticFloat is
// the accurate one.
template <typename Derived>
auto Logistic(const Eigen::ArrayBase<Derived>& x) {
  using Scalar = typename Derived::Scalar;
  return (Scalar(1) + (-x).exp()).inverse();
}

// e^v for v <= 0 (and NaN), within 1 ulp, subnormal results included; 0
// below -104. Inline, so that it vectorizes inside the callers' loops.
inline float ExpNonPositiveFloat(float v) {
  // NaN passes the clamp (the comparison is false) and the polynomial.
  v = Pick(v < -104.0f, -104.0f, v);
  // k = round(v / ln 2), from the bits of v / ln 2 + 1.5 * 2^23.
  constexpr float kShift = 0x1.8p23f;
  const float shifted = v * 1.44269504088896341f + kShift;
  const float k = shifted - kShift;
  // r = v - k ln 2 in two steps: k * kLn2Hi is exact (9 bits times 8).
  float r = v - k * 0.693359375f;
  r = r - k * -2.12194440e-4f;
  // e^r on |r| <= ln 2 / 2 (Cephes' expf polynomial).
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = 1.0f + (r + r * r * p);
  // 2^k = 2^k1 2^k2 with both halves normal (k >= -150): the first product
  // is exact, the second rounds once, into the subnormals where it must.
  const uint32_t ki = std::bit_cast<uint32_t>(shifted) - std::bit_cast<uint32_t>(kShift);
  const uint32_t k1 = uint32_t(int32_t(ki) >> 1), k2 = ki - k1;
  return p * std::bit_cast<float>((k1 + 127u) << 23) * std::bit_cast<float>((k2 + 127u) << 23);
}

// e / (1 + e) for e in [0, 1], within about 1 ulp: the rounding of 1 + e
// (half an ulp of 1, a whole one of a result just below 1) is taken back
// with its exact error c.
inline float OverOnePlusFloat(float e) {
  const float w = 1.0f + e;
  const float c = (1.0f - w) + e;  // w + c = 1 + e exactly
  const float r = e / w;
  return r - r * c / w;
}

// The sigmoid from q = sigmoid(-|x|) = e / (1 + e), e = exp(-|x|): q for
// x < 0, 1 - q (which rounds once) for x >= 0.
inline float LogisticOne(float v) {
  const float q = OverOnePlusFloat(ExpNonPositiveFloat(-std::abs(v)));
  return Pick(v < 0.0f, q, 1.0f - q);  // NaN: q is NaN
}

// tanh |x| = 1 - 2 q with q = e / (1 + e), e = exp(-2|x|), from |x| = 0.625
// on (q <= 0.22, so 1 - 2q loses nothing); a fitted odd polynomial below.
inline float TanhOne(float v) {
  const float a = std::abs(v);
  // Past 9.5, tanh is 1 in float; clamping keeps e a normal number.
  const float large =
      1.0f - 2.0f * OverOnePlusFloat(ExpNonPositiveFloat(-2.0f * Pick(a > 9.5f, 9.5f, a)));
  const float s = a * a;
  float p = -5.704990588e-03f;
  p = p * s + 2.063908987e-02f;
  p = p * s + -5.373971537e-02f;
  p = p * s + 1.333144158e-01f;
  p = p * s + -3.333328068e-01f;
  const float t = Pick(a < 0.625f, a + a * s * p, large);  // NaN: large, which is NaN
  return std::bit_cast<float>(std::bit_cast<uint32_t>(t) |
                              (std::bit_cast<uint32_t>(v) & 0x80000000u));
}

#if defined(__AVX512F__) && defined(__AVX512DQ__)
#define ACTGRAD_LOGISTIC_AVX512 1
// The same on 16 floats with AVX-512: GCC vectorizes the scalar forms at
// half that width, and W2's forward passes are bound by the operations, not
// by memory, so each one counts: vscalefps scales into the subnormals in
// one, masked FMAs choose branches. (vrangeps would take |x| and clamp it in
// one, but turns NaN into the limit.) min and max return their second
// operand when either is NaN: the clamps below keep a NaN input.

// |v| and -|v|, from the sign bit.
inline __m512 Abs16(__m512 v) {
  return _mm512_castsi512_ps(
      _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(0x7fffffff)));
}
inline __m512 MinusAbs16(__m512 v) {
  return _mm512_castsi512_ps(
      _mm512_or_si512(_mm512_castps_si512(v), _mm512_set1_epi32(int32_t(0x80000000u))));
}

// e^v for v in [-104, 0] (ExpNonPositiveFloat's algorithm).
inline __m512 ExpNonPositive16(__m512 v) {
  const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(v, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693359375f), v);
  r = _mm512_fnmadd_ps(k, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_add_ps(_mm512_set1_ps(1.0f), _mm512_fmadd_ps(_mm512_mul_ps(r, r), p, r));
  return _mm512_scalef_ps(p, k);
}

// q = e / (1 + e) with 1 + e rounded (half an ulp of 1): q is within 2 ulps
// for x < 0, and 1 - q within 1 where it nears 1.
inline __m512 Logistic16(__m512 v) {
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 e = ExpNonPositive16(_mm512_max_ps(_mm512_set1_ps(-104.0f), MinusAbs16(v)));
  const __m512 q = _mm512_div_ps(e, _mm512_add_ps(one, e));
  const __mmask16 positive = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_NLT_UQ);
  return _mm512_mask_sub_ps(q, positive, one, q);  // NaN: q is NaN
}

// tanh x = (1 - e) / (1 + e), e = exp(-2x) = 2^m, m = -2x log2(e) clamped at
// 27.5 (tanh is -1 in float beyond): 2^m = 2^k (1 + p(f)), f = m - k in
// [-1/2, 1/2], p(f) = 2^f - 1 fitted (2^-25.5 relative). The numerator
// (1 - 2^k) - 2^k p does not cancel near 0 (k = 0: it is -p), and the
// denominator 2 - numerator is exact or one rounding: within 3.1 ulps
// everywhere, 2 near +-1. Sixteen operations and a division, about what
// Eigen's rational approximation took; no branch for small |x|, no |x|.
inline __m512 Tanh16(__m512 v) {
  const __m512 one = _mm512_set1_ps(1.0f);
  // m below -27.5 needs no clamp: 2^k rounds to 0 or 1 - e to 1, and
  // vreduceps gives f = 0 at m = -inf (x = +inf).
  const __m512 m =
      _mm512_min_ps(_mm512_set1_ps(27.5f), _mm512_mul_ps(v, _mm512_set1_ps(-2.88539008177792681f)));
  const __m512 f = _mm512_reduce_ps(m, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 k = _mm512_sub_ps(m, f);  // exact
  __m512 p = _mm512_set1_ps(1.5403510770e-04f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.3390735257e-03f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.6182376146e-03f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5503573269e-02f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022649229e-01f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.9314718246e-01f));
  p = _mm512_mul_ps(p, f);                        // 2^f - 1
  const __m512 scale = _mm512_scalef_ps(one, k);  // 2^k
  const __m512 numerator = _mm512_fnmadd_ps(scale, p, _mm512_sub_ps(one, scale));
  const __m512 t = _mm512_div_ps(numerator, _mm512_sub_ps(_mm512_set1_ps(2.0f), numerator));
  return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(  // v's sign, for tanh(-0) = -0
      _mm512_castps_si512(t), _mm512_castps_si512(v), _mm512_set1_epi32(int32_t(0x80000000u)),
      0xd8));
}

// Fewer values than this are computed one at a time.
inline constexpr int64_t kScalarBelow = 4;

// Applies op to n floats, 16 at a time, the tail masked.
template <typename Op>
void Map16(const float* x, float* y, int64_t n, Op op) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    PrefetchAhead(x + i);
    _mm512_storeu_ps(y + i, op(_mm512_loadu_ps(x + i)));
  }
  if (i < n) {
    const __mmask16 m = __mmask16((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(y + i, m, op(_mm512_maskz_loadu_ps(m, x + i)));
  }
}
#endif

// y = 1 / (1 + e^-x) for n floats; y may alias x.
inline void LogisticFloat(const float* x, float* y, int64_t n) {
#if defined(ACTGRAD_LOGISTIC_AVX512)
  // A few values (a scalar graph) go the shorter scalar way: a masked
  // 16-wide pass has the longer latency.
  if (n < kScalarBelow) {
    for (int64_t i = 0; i < n; ++i) y[i] = LogisticOne(x[i]);
    return;
  }
  Map16(x, y, n, Logistic16);
#else
  for (int64_t i = 0; i < n; ++i) y[i] = LogisticOne(x[i]);
#endif
}

// y = tanh(x) for n floats; y may alias x. It rounds to +-1 where the
// correctly rounded value does (|x| > 9.01).
inline void TanhFloat(const float* x, float* y, int64_t n) {
#if defined(ACTGRAD_LOGISTIC_AVX512)
  if (n < kScalarBelow) {
    for (int64_t i = 0; i < n; ++i) y[i] = TanhOne(x[i]);
    return;
  }
  Map16(x, y, n, Tanh16);
#else
  for (int64_t i = 0; i < n; ++i) y[i] = TanhOne(x[i]);
#endif
}

// In place on n values of T: the float kernels above for float, Eigen's
// (accurate in double) otherwise.
template <typename T>
void LogisticInPlace(T* v, int64_t n) {
  if constexpr (std::is_same_v<T, float>) {
    LogisticFloat(v, v, n);
  } else {
    Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>> a(v, n);
    a = Logistic(a);
  }
}
template <typename T>
void TanhInPlace(T* v, int64_t n) {
  if constexpr (std::is_same_v<T, float>) {
    TanhFloat(v, v, n);
  } else {
    Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>> a(v, n);
    a = a.tanh();
  }
}

}  // namespace actgrad::internal

#endif  // ACTGRAD_OPS_LOGISTIC_H_
