#include "ops/formula_kernels.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <numbers>

#include "ops/gelu_single.h"
#include "ops/pick.h"

// The kernels below compute in double; GCC vectorizes them at 256 bits
// unless told otherwise, and at 512 they take a quarter less time.
#if defined(__AVX512F__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("prefer-vector-width=512")
#endif

namespace actgrad::internal {

namespace {

// Plain loops that GCC vectorizes (Eigen 3.4's select() stays scalar);
// comparisons are written so that NaN inputs give NaN outputs. Lambdas that
// read a runtime scalar take it by value: captured by reference, it might
// alias the output, and GCC then leaves the loop scalar (20x slower).
template <typename Fn>
void ForEach(int64_t n, Fn fn) {
#pragma GCC unroll 4
  for (int64_t i = 0; i < n; ++i) fn(i);
}

// e^v for v <= 0 in double, to 2^-47 relative (Cody-Waite reduction with
// fdlibm's split of ln 2, Taylor's terms to the 11th): plenty for float32
// results, and no division, which made Eigen's double exp the cost of
// these kernels. v must not be below -700 (1e-304: 0 for any float
// result; callers clamp with AbsAtMost); NaN stays NaN. kTerms = 9 stops at
// the 9th term, within 2^-36 relative (|r| <= ln 2 / 2: |r|^10 / 10!
// e^|r|), for the kernels where e^v is not subtracted from 1: a seventh
// less work.
template <int kTerms = 11>
inline double ExpNonPositiveDouble(double v) {
  static_assert(kTerms == 11 || kTerms == 9);
  constexpr double kShift = 0x1.8p52;
  const double shifted = v * 1.4426950408889634074 + kShift;
  const double k = shifted - kShift;
  double r = v - k * 6.93147180369123816490e-01;  // exact: 32 bits times 10
  r = r - k * 1.90821492927058770002e-10;
  double p = 1.0 / 362880;
  if constexpr (kTerms == 11) {
    p = 1.0 / 39916800;
    p = p * r + 1.0 / 3628800;
    p = p * r + 1.0 / 362880;
  }
  p = p * r + 1.0 / 40320;
  p = p * r + 1.0 / 5040;
  p = p * r + 1.0 / 720;
  p = p * r + 1.0 / 120;
  p = p * r + 1.0 / 24;
  p = p * r + 1.0 / 6;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  const uint64_t ki = std::bit_cast<uint64_t>(shifted) - std::bit_cast<uint64_t>(kShift);
  return p * std::bit_cast<double>((ki + 1023u) << 52);
}

// min(|v|, limit) for limit > 0, NaN staying NaN, in integer operations on
// the bits of |v| (ordered as the doubles are): with a floating select, as
// `v < -700 ? -700 : v`, GCC evaluates the rest of a kernel's body
// once for each side under a mask, doing much of the work twice.
inline double AbsAtMost(double v, double limit) {
  constexpr uint64_t kInf = 0x7ff0000000000000u;
  const uint64_t b = std::bit_cast<uint64_t>(std::abs(v));
  const uint64_t nan = b & -uint64_t(b > kInf);  // NaN's bits, or 0
  return std::bit_cast<double>(std::min(b, std::bit_cast<uint64_t>(limit)) | nan);
}

// Calls fn(i, v, e) for i in [0, n), with v = scale x[i] in double and
// e = exp(-|v|) (to kTerms terms): the one transcendental most of the
// kernels below are written on. Computing in double keeps each result within
// 1 ulp of float32 even where the float formula cancels (a derivative
// crossing zero, e^x - 1 near 0). One pass, with nothing stored in between:
// GCC vectorizes the whole body.
template <int kTerms, typename Fn>
[[gnu::always_inline]] inline void ForEachDouble(const float* x, int64_t n, double scale, Fn fn) {
  ForEach(n, [=](int64_t i) {
    const double v = scale * double(x[i]);
    fn(i, v, ExpNonPositiveDouble<kTerms>(-AbsAtMost(v, 700.0)));
  });
}

// ForEachDouble (scale 1) for bodies that use e on one side of a select
// only: GCC moves e^v into that branch and then leaves the loop scalar
// (7x slower), so e^-|x| is computed for a block first, in a loop of its own.
// Always inlined: a separate copy reads fn's captures through memory, which
// might alias the output, and GCC then leaves the loops scalar (7x slower).
template <int kTerms, typename Fn>
[[gnu::always_inline]] inline void ForExpBlocks(const float* x, int64_t n, double scale, Fn fn) {
  constexpr int64_t kBlock = 1024;  // the exponentials of a block stay in L1
  for (int64_t start = 0; start < n; start += kBlock) {
    const int64_t len = std::min(kBlock, n - start);
    alignas(64) double e[kBlock];
    const float* in = x + start;
    ForEach(len, [=, &e](int64_t i) {
      e[i] = ExpNonPositiveDouble<kTerms>(-AbsAtMost(scale * double(in[i]), 700.0));
    });
    ForEach(len, [=, &e](int64_t i) { fn(start + i, scale * double(in[i]), e[i]); });
  }
}

// log(1 + u) for u in [0, 1] (or NaN), in double: 2 atanh(s) with
// s = u / (2 + u) in [0, 1/3], whose odd series to s^23 / 23 is within
// 2^-42 relative; no cancellation anywhere, and branch-free, so that GCC
// vectorizes it (with Eigen's double log, softplus took three times as long).
inline double Log1pUnit(double u) {
  const double s = u / (2.0 + u), s2 = s * s;
  double p = 1.0 / 23;
  p = p * s2 + 1.0 / 21;
  p = p * s2 + 1.0 / 19;
  p = p * s2 + 1.0 / 17;
  p = p * s2 + 1.0 / 15;
  p = p * s2 + 1.0 / 13;
  p = p * s2 + 1.0 / 11;
  p = p * s2 + 1.0 / 9;
  p = p * s2 + 1.0 / 7;
  p = p * s2 + 1.0 / 5;
  p = p * s2 + 1.0 / 3;
  return 2.0 * s + 2.0 * s * s2 * p;
}

// e^v - 1 for v <= 0 from e = e^v: Taylor's three terms below 2^-20, where
// e - 1 would cancel; above, e - 1 is within 2^-33 relative.
inline double Expm1NonPositive(double v, double e) {
  return Pick(v > -0x1p-20, v * (1.0 + v * (0.5 + v * (1.0 / 6))), e - 1.0);
}

// Phi(x) = erfc(-x / sqrt 2) / 2 from erfc(|z|) = e^-z^2 P(|z|) / Q(|z|)
// and erfc(-|z|) = 2 - erfc(|z|), with P of degree 5 and Q of degree 6 fitted
// for this kernel (tools/fit_normal_cdf_rational.py: Lawson's iteration
// against mpmath on [0, 11]): within 9.8e-11 relative, 1/600 of a float32
// ulp, so that no other approximation need be evaluated alongside it; every
// coefficient is positive, so that Horner's steps never cancel. Past
// |z| = 11 (x = -15.6) gelu and its derivative are 0 in float32 and Phi 1;
// the fit still decreases there, as erfc does. Cephes' pair of degree 8
// over 8, to double precision, made the kernels 2-9 % slower. g = e^-z^2 =
// e^(-x^2 / 2), the normal density's factor, is left for the derivative.
struct NormalCdfParts {
  double phi, g;
};
inline NormalCdfParts NormalCdf(double x) {
  const double z = -x * (std::numbers::sqrt2 / 2);
  // |z| at most 26 (Phi(-36.8) = 1e-296: x Phi(x) and x phi(x) are 0 for
  // every float x below), with an integer min on the bits of the
  // non-negative double: a floating select (see AbsAtMost) makes GCC
  // evaluate the rest of the function once for each side under a mask,
  // three divisions for every two vectors. NaN becomes 26 here, and stays
  // NaN in the callers through x.
  const double a = std::bit_cast<double>(
      std::min(std::bit_cast<int64_t>(std::abs(z)), std::bit_cast<int64_t>(26.0)));
  const double g = ExpNonPositiveDouble<9>(-a * a);
  double p = 0.5641889959745835;
  p = p * a + 5.1937013764990878;
  p = p * a + 22.400528510793052;
  p = p * a + 55.464187084471327;
  p = p * a + 79.18607654037028;
  p = p * a + 54.943640530408665;
  double q = a + 9.205544858320458;
  q = q * a + 40.205015822306514;
  q = q * a + 102.89616582954316;
  q = q * a + 159.82889616950666;
  q = q * a + 141.18333516805501;
  q = q * a + 54.943640535747164;
  // erfc(|z|), or 2 - erfc(|z|): a select on the constants alone, for the
  // same reason.
  const double ratio = g * p / q;
  const double erfc = std::fma(z < 0.0 ? -1.0 : 1.0, ratio, z < 0.0 ? 2.0 : 0.0);
  return {0.5 * erfc, g};
}

constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;  // 1 / sqrt(2 pi)
constexpr double kGeluTanhC = 0.79788456080286535588;   // sqrt(2 / pi)
constexpr double kGeluTanhK = 0.044715;

double SwishBeta(const Attrs& a) { return std::isnan(a.params[0]) ? 1.0 : a.params[0]; }

// y = alpha expm1(x) (x <= 0), scale x (x > 0): elu (scale 1) and selu.
void ExpLinearForward(const float* x, float* y, int64_t n, double scale, double alpha) {
  ForExpBlocks<11>(x, n, 1.0, [=](int64_t i, double v, double e) {
    y[i] = float(Pick(v > 0.0, scale * v, alpha * Expm1NonPositive(v, e)));
  });
}
// dy/dx = scale (x > 0), alpha e^x (x <= 0): from the input, where y + alpha
// would cancel.
void ExpLinearBackward(const float* x, const float* dy, float* dx, int64_t n, double scale,
                       double alpha) {
  ForExpBlocks<9>(x, n, 1.0, [=](int64_t i, double v, double e) {
    dx[i] = float(dy[i] * Pick(v > 0.0, scale, alpha * e));
  });
}

}  // namespace

// Every kernel below computes in double and rounds once: within 1 ulp of
// the correctly rounded float32 value, forward and derivative, over the
// whole float range (tests/float32_accuracy_test.cc). gelu's, with
// AVX-512, computes below |x| = 4 in single precision instead, within
// 2.53 ulps (ops/gelu_single.h).

// ------------------------------------------------------------------- elu
// y = x (x > 0), alpha expm1(x) (x <= 0);  dy/dx = 1, or alpha e^x
void EluForwardFloat(const float* x, float* y, int64_t n, const Attrs& attrs) {
  ExpLinearForward(x, y, n, 1.0, attrs.params[0]);
}
void EluBackwardFloat(const float* x, const float*, const float* dy, float* dx, int64_t n,
                      const Attrs& attrs) {
  ExpLinearBackward(x, dy, dx, n, 1.0, attrs.params[0]);
}

// ------------------------------------------------------------------ selu
void SeluForwardFloat(const float* x, float* y, int64_t n, const Attrs&) {
  ExpLinearForward(x, y, n, kSeluScale, kSeluScale * kSeluAlpha);
}
void SeluBackwardFloat(const float* x, const float*, const float* dy, float* dx, int64_t n,
                       const Attrs&) {
  ExpLinearBackward(x, dy, dx, n, kSeluScale, kSeluScale * kSeluAlpha);
}

// ------------------------------------------------------------------ gelu
// y = x Phi(x);  dy/dx = Phi(x) + x phi(x). With AVX-512, in single
// precision below |x| = 4 (ops/gelu_single.h), in double past it.
namespace {
void GeluForwardInDouble(const float* x, float* y, int64_t n) {
  ForEach(n, [=](int64_t i) {
    const double v = x[i];
    y[i] = float(v * NormalCdf(v).phi);
  });
}
void GeluBackwardInDouble(const float* x, const float* dy, float* dx, int64_t n) {
  ForEach(n, [=](int64_t i) {
    const double v = x[i];
    const NormalCdfParts p = NormalCdf(v);
    dx[i] = float(dy[i] * (p.phi + v * kInvSqrt2Pi * p.g));
  });
}
}  // namespace

void GeluForwardFloat(const float* x, float* y, int64_t n, const Attrs&) {
  GeluForwardSingle(x, y, n, &GeluForwardInDouble);
}
void GeluBackwardFloat(const float* x, const float*, const float* dy, float* dx, int64_t n,
                       const Attrs&) {
  GeluBackwardSingle(x, dy, dx, n, &GeluBackwardInDouble);
}

// ------------------------------------------------------------- gelu_tanh
// u = c (x + k x^3), E = e^(-2|u|): (1 + tanh u) / 2 = (u < 0 ? E : 1) / (1 + E)
// and (1 - tanh^2 u) / 2 = 2 E / (1 + E)^2, neither of which cancels;
// y = x (1 + t) / 2;  dy/dx = (1 + t) / 2 + x (1 - t^2) c (1 + 3 k x^2) / 2
void GeluTanhForwardFloat(const float* x, float* y, int64_t n, const Attrs&) {
  ForEach(n, [=](int64_t i) {
    const double v = x[i];
    const double u = kGeluTanhC * (v + kGeluTanhK * v * v * v);
    const double e = ExpNonPositiveDouble<9>(-AbsAtMost(2.0 * u, 700.0));
    y[i] = float(v * Pick(u < 0.0, e, 1.0) / (1.0 + e));
  });
}
void GeluTanhBackwardFloat(const float* x, const float*, const float* dy, float* dx, int64_t n,
                           const Attrs&) {
  ForEach(n, [=](int64_t i) {
    // Past |x| = 30 the derivative is 0 or 1 in double; clamping keeps x^3
    // finite there, so that infinite inputs do not make inf * 0.
    const double v = std::copysign(AbsAtMost(x[i], 30.0), double(x[i]));
    const double u = kGeluTanhC * (v + kGeluTanhK * v * v * v);
    const double e = ExpNonPositiveDouble<9>(-AbsAtMost(2.0 * u, 700.0));
    const double w = 1.0 / (1.0 + e);
    const double half_sech2 = 2.0 * e * w * w;
    const double d =
        Pick(u < 0.0, e, 1.0) * w + v * half_sech2 * kGeluTanhC * (1.0 + 3.0 * kGeluTanhK * v * v);
    dx[i] = float(dy[i] * d);
  });
}

// -------------------------------------------------------------- softplus
// v = beta x, E = e^-|v|: y = (max(v, 0) + log1p(E)) / beta;
// dy/dx = sigmoid(v) = (v < 0 ? E : 1) / (1 + E)
void SoftplusForwardFloat(const float* x, float* y, int64_t n, const Attrs& attrs) {
  const double beta = attrs.params[0], inv_beta = 1.0 / beta;
  ForExpBlocks<9>(x, n, beta, [=](int64_t i, double v, double e) {
    y[i] = float(((v > 0.0 ? v : 0.0) + Log1pUnit(e)) * inv_beta);  // NaN stays NaN
  });
}
void SoftplusBackwardFloat(const float* x, const float*, const float* dy, float* dx, int64_t n,
                           const Attrs& attrs) {
  ForEachDouble<9>(x, n, attrs.params[0], [=](int64_t i, double v, double e) {
    dx[i] = float(dy[i] * ((v < 0.0 ? e : 1.0) / (1.0 + e)));
  });
}

// ----------------------------------------------------------- swish, silu
// v = beta x, s = sigmoid(v), 1 - s = sigmoid(-v), both from E = e^-|v|;
// y = x s;  dy/dx = s (1 + v (1 - s)), which crosses zero near v = -1.28
// and is computed in double so that it stays relatively accurate there.
void SwishForwardFloat(const float* x, float* y, int64_t n, const Attrs& attrs) {
  ForEachDouble<9>(x, n, SwishBeta(attrs), [=](int64_t i, double v, double e) {
    y[i] = float(double(x[i]) * ((v < 0.0 ? e : 1.0) / (1.0 + e)));
  });
}
void SwishBackwardFloat(const float* x, const float*, const float* dy, float* dx, int64_t n,
                        const Attrs& attrs) {
  ForEachDouble<9>(x, n, SwishBeta(attrs), [=](int64_t i, double v, double e) {
    const double w = 1.0 / (1.0 + e);
    const double gate = Pick(v < 0.0, e, 1.0) * w;
    const double rest = Pick(v < 0.0, 1.0, e) * w;
    dx[i] = float(dy[i] * (gate * (1.0 + v * rest)));
  });
}

// ------------------------------------------------------------------ mish
// t = tanh(softplus(x)) in E = e^-|x|, with no cancellation anywhere:
//   x <= 0:  m = E (E + 2),  t = m / (m + 2),  1 - t^2 = 4 (m + 1) / (m + 2)^2
//   x > 0:   d = 1 + 2E + 2E^2,  t = (1 + 2E) / d,  1 - t^2 = 4 E^2 (1 + E)^2 / d^2
// y = x t;  dy/dx = t + x (1 - t^2) sigmoid(x)
namespace {
struct MishParts {
  double t, one_minus_t2, sigmoid;
};
// One division: 1 / ((1 + E) d) gives both 1 / (1 + E) and 1 / d, with
// d = m + 2 or 1 + 2E + 2E^2 as above.
inline MishParts Mish(double v, double e) {
  const bool neg = v <= 0.0;
  const double m = e * (e + 2.0);
  const double d = Pick(neg, m + 2.0, 1.0 + 2.0 * e + 2.0 * e * e);
  const double inv = 1.0 / ((1.0 + e) * d);
  const double w = d * inv, r = (1.0 + e) * inv;  // 1 / (1 + E), 1 / d
  const double q = 2.0 * e * (1.0 + e);
  const double num = Pick(neg, 4.0 * (m + 1.0), q * q);  // (1 - t^2) d^2
  return {Pick(neg, m, 1.0 + 2.0 * e) * r, num * r * r, Pick(neg, e, 1.0) * w};
}
// The forward alone: t, with its one division.
inline double MishT(double v, double e) {
  const bool neg = v <= 0.0;
  const double m = e * (e + 2.0);
  return Pick(neg, m, 1.0 + 2.0 * e) / Pick(neg, m + 2.0, 1.0 + 2.0 * e + 2.0 * e * e);
}
}  // namespace

void MishForwardFloat(const float* x, float* y, int64_t n, const Attrs&) {
  ForEachDouble<9>(x, n, 1.0,
                   [=](int64_t i, double v, double e) { y[i] = float(v * MishT(v, e)); });
}
void MishBackwardFloat(const float* x, const float*, const float* dy, float* dx, int64_t n,
                       const Attrs&) {
  ForExpBlocks<9>(x, n, 1.0, [=](int64_t i, double v, double e) {
    const MishParts p = Mish(v, e);
    dx[i] = float(dy[i] * (p.t + v * p.one_minus_t2 * p.sigmoid));
  });
}

// -------------------------------------------------------------- hardtanh
// The bounds are compared as the formula compares them, in double: float(0.1)
// lies above 0.1, and x = float(0.1) is outside [-0.1, 0.1]. For a float x,
// x < lo exactly when x is below the least float >= lo, and so on: the
// comparisons stay in float.
namespace {
float FloatAtLeast(double v) {
  const float f = float(v);
  return double(f) < v ? std::nextafter(f, HUGE_VALF) : f;
}
float FloatAtMost(double v) {
  const float f = float(v);
  return double(f) > v ? std::nextafter(f, -HUGE_VALF) : f;
}
}  // namespace

void HardtanhForwardFloat(const float* x, float* y, int64_t n, const Attrs& attrs) {
  const double lo = attrs.params[0], hi = attrs.params[1];
  const float below = FloatAtLeast(lo), above = FloatAtMost(hi);  // x < lo, x > hi
  const float lo_f = float(lo), hi_f = float(hi);
  ForEach(n, [=](int64_t i) {
    const float v = x[i];
    y[i] = v < below ? lo_f : (v > above ? hi_f : v);
  });
}
void HardtanhBackwardFloat(const float* x, const float*, const float* dy, float* dx, int64_t n,
                           const Attrs& attrs) {
  const float above_lo = FloatAtMost(attrs.params[0]);   // x > lo
  const float below_hi = FloatAtLeast(attrs.params[1]);  // x < hi
  ForEach(n, [=](int64_t i) {
    dx[i] = dy[i] * Pick((x[i] > above_lo) & (x[i] < below_hi), 1.0f, 0.0f);
  });
}

// ----------------------------------------------------------- hardsigmoid
// (x + 3) / 6: x / 6 + 1/2 cancels near x = -3.
void HardsigmoidForwardFloat(const float* x, float* y, int64_t n, const Attrs&) {
  ForEach(n, [=](int64_t i) {
    const float v = (x[i] + 3.0f) / 6.0f;  // x + 3 is exact near -3, where it cancels
    y[i] = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
  });
}
void HardsigmoidBackwardFloat(const float* x, const float*, const float* dy, float* dx, int64_t n,
                              const Attrs&) {
  ForEach(n,
          [=](int64_t i) { dx[i] = dy[i] * Pick((x[i] > -3.0f) & (x[i] < 3.0f), 1.0f / 6, 0.0f); });
}

// -------------------------------------------------------------- softsign
// The derivative in double: (1 + |x|)^2 overflows float from |x| = 1.8e19
// on, where the derivative is still a (subnormal) float. At +-inf the
// forward is its limit, +-1, not inf / inf.
void SoftsignForwardFloat(const float* x, float* y, int64_t n, const Attrs&) {
  ForEach(n, [=](int64_t i) {
    const float v = x[i];
    y[i] = Pick(std::isinf(v), Pick(v > 0.0f, 1.0f, -1.0f), v / (1.0f + std::abs(v)));
  });
}
void SoftsignBackwardFloat(const float* x, const float*, const float* dy, float* dx, int64_t n,
                           const Attrs&) {
  ForEach(n, [=](int64_t i) {
    const double d = 1.0 + std::abs(double(x[i]));
    dx[i] = float(dy[i] / (d * d));
  });
}

}  // namespace actgrad::internal
