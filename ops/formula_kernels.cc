#include "ops/formula_kernels.h"

#include <Eigen/Core>
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <numbers>

// The kernels below compute in double; GCC vectorizes them at 256 bits
// unless told otherwise, and at 512 they take a quarter less time.
#if defined(__AVX512F__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("prefer-vector-width=512")
#endif

namespace actgrad::internal {

namespace {

// Small enough that a block's temporaries stay in L1, large enough that the
// loop overhead vanishes.
constexpr int64_t kBlock = 1024;

using ConstDoubles = Eigen::Map<const Eigen::ArrayXd, Eigen::Aligned64>;
using Doubles = Eigen::Map<Eigen::ArrayXd, Eigen::Aligned64>;

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
// these kernels. e^v below -700 is taken as e^-700 (1e-304: 0 for any
// float result); NaN stays NaN.
inline double ExpNonPositiveDouble(double v) {
  v = v < -700.0 ? -700.0 : v;
  constexpr double kShift = 0x1.8p52;
  const double shifted = v * 1.4426950408889634074 + kShift;
  const double k = shifted - kShift;
  double r = v - k * 6.93147180369123816490e-01;  // exact: 32 bits times 10
  r = r - k * 1.90821492927058770002e-10;
  double p = 1.0 / 39916800;
  p = p * r + 1.0 / 3628800;
  p = p * r + 1.0 / 362880;
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

// Calls fn(v, e, offset, length) over [0, n) in blocks of kBlock, with v the
// block's inputs times `scale` in double and e = exp(-|v|): the one
// transcendental most of the kernels below are written on. Computing in
// double keeps each result within 1 ulp of float32 even where the float
// formula cancels (a derivative crossing zero, e^x - 1 near 0).
template <typename Fn>
void ForDoubleBlocks(const float* x, int64_t n, double scale, Fn fn) {
  for (int64_t start = 0; start < n; start += kBlock) {
    const int64_t len = std::min(kBlock, n - start);
    alignas(64) double v[kBlock], e[kBlock];
    const float* in = x + start;
    ForEach(len, [=, &v, &e](int64_t i) {
      v[i] = scale * double(in[i]);
      e[i] = ExpNonPositiveDouble(-std::abs(v[i]));
    });
    fn(static_cast<const double*>(v), static_cast<const double*>(e), start, len);
  }
}

// log(1 + u) for u in [0, 1], in double: log(w) u / (w - 1) with w = 1 + u
// is exact to a few ulp even where w rounds (Goldberg's trick), and Eigen's
// log vectorizes where its log1p does not.
void Log1pUnit(const double* u, double* out, int64_t len) {
  alignas(64) double w[kBlock];
  Doubles(w, len) = 1.0 + ConstDoubles(u, len);
  Doubles(out, len) = ConstDoubles(w, len).log();
  ForEach(len, [=](int64_t i) { out[i] = w[i] == 1.0 ? u[i] : out[i] * u[i] / (w[i] - 1.0); });
}

// e^v - 1 for v <= 0 from e = e^v: Taylor's three terms below 2^-20, where
// e - 1 would cancel; above, e - 1 is within 2^-33 relative.
inline double Expm1NonPositive(double v, double e) {
  return v > -0x1p-20 ? v * (1.0 + v * (0.5 + v * (1.0 / 6))) : e - 1.0;
}

// Phi(x) = erfc(-x / sqrt 2) / 2 to double precision, on Cephes' rational
// approximations: erf(z) = z T(z^2) / U(z^2) for |z| < 1, erfc(z) = e^-z^2
// P(z) / Q(z) for 1 <= z < 8 and R(z) / S(z) beyond. All three are
// evaluated, and the numerator and denominator chosen before the one
// division, so that the loop vectorizes. g[i] = e^-z^2 = e^(-x^2 / 2), the
// normal density's factor, is left for the derivative.
void NormalCdf(const float* x, double* phi, double* g, int64_t len) {
  alignas(64) double z[kBlock];
  ForEach(len, [=, &z](int64_t i) {
    z[i] = -double(x[i]) * std::numbers::sqrt2 / 2;
    g[i] = ExpNonPositiveDouble(-z[i] * z[i]);
  });
  ForEach(len, [=, &z](int64_t i) {
    const double a = std::min(std::abs(z[i]), 30.0), s = a * a;
    const double t = (((9.60497373987051638749E0 * s + 9.00260197203842689217E1) * s +
                       2.23200534594684319226E3) *
                          s +
                      7.00332514112805075473E3) *
                         s +
                     5.55923013010394962768E4;
    const double u = ((((s + 3.35617141647503099647E1) * s + 5.21357949780152679795E2) * s +
                       4.59432382970980127987E3) *
                          s +
                      2.26290000613890934246E4) *
                         s +
                     4.92673942608635921086E4;
    const double p = (((((((2.46196981473530512524E-10 * a + 5.64189564831068821977E-1) * a +
                           7.46321056442269912687E0) *
                              a +
                          4.86371970985681366614E1) *
                             a +
                         1.96520832956077098242E2) *
                            a +
                        5.26445194995477358631E2) *
                           a +
                       9.34528527171957607540E2) *
                          a +
                      1.02755188689515710272E3) *
                         a +
                     5.57535335369399327526E2;
    const double q = (((((((a + 1.32281951154744992508E1) * a + 8.67072140885989742329E1) * a +
                          3.54937778887819891062E2) *
                             a +
                         9.75708501743205489753E2) *
                            a +
                        1.82390916687909736289E3) *
                           a +
                       2.24633760818710981792E3) *
                          a +
                      1.65666309194161350182E3) *
                         a +
                     5.57535340817727675546E2;
    const double r = ((((5.64189583547755073984E-1 * a + 1.27536670759978104416E0) * a +
                        5.01905042251180477414E0) *
                           a +
                       6.16021097993053585195E0) *
                          a +
                      7.40974269950448939160E0) *
                         a +
                     2.97886665372100240670E0;
    const double ss = (((((a + 2.26052863220117276590E0) * a + 9.39603524938001434673E0) * a +
                         1.20489539808096656605E1) *
                            a +
                        1.70814450747565897222E1) *
                           a +
                       9.60896809063285878198E0) *
                          a +
                      3.36907645100081516050E0;
    // erfc(z) = (u - z t) / u for |z| < 1; erfc(|z|) = g P / Q or g R / S.
    const double ratio =
        (a < 1.0 ? u - z[i] * t : g[i] * (a < 8.0 ? p : r)) / (a < 1.0 ? u : (a < 8.0 ? q : ss));
    const double erfc = a >= 1.0 && z[i] < 0.0 ? 2.0 - ratio : ratio;
    phi[i] = 0.5 * erfc;  // NaN: a is NaN, and so is the ratio
  });
}

constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;  // 1 / sqrt(2 pi)
constexpr double kGeluTanhC = 0.79788456080286535588;   // sqrt(2 / pi)
constexpr double kGeluTanhK = 0.044715;

double SwishBeta(const Attrs& a) { return std::isnan(a.params[0]) ? 1.0 : a.params[0]; }

// y = alpha expm1(x) (x <= 0), scale x (x > 0): elu (scale 1) and selu.
void ExpLinearForward(const float* x, float* y, int64_t n, double scale, double alpha) {
  ForDoubleBlocks(x, n, 1.0, [=](const double* v, const double* e, int64_t s, int64_t len) {
    float* out = y + s;
    ForEach(len, [=](int64_t i) {
      out[i] = float(v[i] > 0.0 ? scale * v[i] : alpha * Expm1NonPositive(v[i], e[i]));
    });
  });
}
// dy/dx = scale (x > 0), alpha e^x (x <= 0): from the input, where y + alpha
// would cancel.
void ExpLinearBackward(const float* x, const float* dy, float* dx, int64_t n, double scale,
                       double alpha) {
  ForDoubleBlocks(x, n, 1.0, [=](const double* v, const double* e, int64_t s, int64_t len) {
    const float* g = dy + s;
    float* out = dx + s;
    ForEach(len, [=](int64_t i) { out[i] = float(g[i] * (v[i] > 0.0 ? scale : alpha * e[i])); });
  });
}

}  // namespace

// Every kernel below computes in double and rounds once: within 1 ulp of
// the correctly rounded float32 value, forward and derivative, over the
// whole float range (tests/float32_accuracy_test.cc).

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
// y = x Phi(x);  dy/dx = Phi(x) + x phi(x)
void GeluForwardFloat(const float* x, float* y, int64_t n, const Attrs&) {
  for (int64_t s = 0; s < n; s += kBlock) {
    const int64_t len = std::min(kBlock, n - s);
    alignas(64) double phi[kBlock], g[kBlock];
    NormalCdf(x + s, phi, g, len);
    const float* in = x + s;
    float* out = y + s;
    ForEach(len, [=, &phi](int64_t i) { out[i] = float(double(in[i]) * phi[i]); });
  }
}
void GeluBackwardFloat(const float* x, const float*, const float* dy, float* dx, int64_t n,
                       const Attrs&) {
  for (int64_t s = 0; s < n; s += kBlock) {
    const int64_t len = std::min(kBlock, n - s);
    alignas(64) double phi[kBlock], density[kBlock];
    NormalCdf(x + s, phi, density, len);
    const float* in = x + s;
    const float* g = dy + s;
    float* out = dx + s;
    ForEach(len, [=, &phi, &density](int64_t i) {
      out[i] = float(g[i] * (phi[i] + double(in[i]) * kInvSqrt2Pi * density[i]));
    });
  }
}

// ------------------------------------------------------------- gelu_tanh
// u = c (x + k x^3), E = e^(-2|u|): (1 + tanh u) / 2 = (u < 0 ? E : 1) / (1 + E)
// and (1 - tanh^2 u) / 2 = 2 E / (1 + E)^2, neither of which cancels;
// y = x (1 + t) / 2;  dy/dx = (1 + t) / 2 + x (1 - t^2) c (1 + 3 k x^2) / 2
void GeluTanhForwardFloat(const float* x, float* y, int64_t n, const Attrs&) {
  for (int64_t s = 0; s < n; s += kBlock) {
    const int64_t len = std::min(kBlock, n - s);
    alignas(64) double u[kBlock], e[kBlock];
    const float* in = x + s;
    ForEach(len, [=, &u](int64_t i) {
      const double v = in[i];
      u[i] = kGeluTanhC * (v + kGeluTanhK * v * v * v);
    });
    ForEach(len, [=, &u, &e](int64_t i) { e[i] = ExpNonPositiveDouble(-2.0 * std::abs(u[i])); });
    float* out = y + s;
    ForEach(len, [=, &u, &e](int64_t i) {
      out[i] = float(double(in[i]) * (u[i] < 0.0 ? e[i] : 1.0) / (1.0 + e[i]));
    });
  }
}
void GeluTanhBackwardFloat(const float* x, const float*, const float* dy, float* dx, int64_t n,
                           const Attrs&) {
  for (int64_t s = 0; s < n; s += kBlock) {
    const int64_t len = std::min(kBlock, n - s);
    alignas(64) double v[kBlock], u[kBlock], e[kBlock];
    const float* in = x + s;
    // Past |x| = 30 the derivative is 0 or 1 in double; clamping keeps x^3
    // finite there, so that infinite inputs do not make inf * 0.
    ForEach(len, [=, &v, &u](int64_t i) {
      const double c = std::min(std::max(double(in[i]), -30.0), 30.0);
      v[i] = std::isnan(in[i]) ? double(in[i]) : c;
      u[i] = kGeluTanhC * (v[i] + kGeluTanhK * v[i] * v[i] * v[i]);
    });
    ForEach(len, [=, &u, &e](int64_t i) { e[i] = ExpNonPositiveDouble(-2.0 * std::abs(u[i])); });
    const float* g = dy + s;
    float* out = dx + s;
    ForEach(len, [=, &v, &u, &e](int64_t i) {
      const double w = 1.0 / (1.0 + e[i]);
      const double half_sech2 = 2.0 * e[i] * w * w;
      const double d = (u[i] < 0.0 ? e[i] : 1.0) * w +
                       v[i] * half_sech2 * kGeluTanhC * (1.0 + 3.0 * kGeluTanhK * v[i] * v[i]);
      out[i] = float(g[i] * d);
    });
  }
}

// -------------------------------------------------------------- softplus
// v = beta x, E = e^-|v|: y = (max(v, 0) + log1p(E)) / beta;
// dy/dx = sigmoid(v) = (v < 0 ? E : 1) / (1 + E)
void SoftplusForwardFloat(const float* x, float* y, int64_t n, const Attrs& attrs) {
  const double beta = attrs.params[0];
  ForDoubleBlocks(x, n, beta, [=](const double* v, const double* e, int64_t s, int64_t len) {
    alignas(64) double log1p_e[kBlock];
    Log1pUnit(e, log1p_e, len);
    float* out = y + s;
    ForEach(len, [=, &log1p_e](int64_t i) {
      out[i] = float(((v[i] > 0.0 ? v[i] : 0.0) + log1p_e[i]) / beta);  // NaN stays NaN
    });
  });
}
void SoftplusBackwardFloat(const float* x, const float*, const float* dy, float* dx, int64_t n,
                           const Attrs& attrs) {
  ForDoubleBlocks(x, n, attrs.params[0],
                  [=](const double* v, const double* e, int64_t s, int64_t len) {
                    const float* g = dy + s;
                    float* out = dx + s;
                    ForEach(len, [=](int64_t i) {
                      out[i] = float(g[i] * ((v[i] < 0.0 ? e[i] : 1.0) / (1.0 + e[i])));
                    });
                  });
}

// ----------------------------------------------------------- swish, silu
// v = beta x, s = sigmoid(v), 1 - s = sigmoid(-v), both from E = e^-|v|;
// y = x s;  dy/dx = s (1 + v (1 - s)), which crosses zero near v = -1.28
// and is computed in double so that it stays relatively accurate there.
void SwishForwardFloat(const float* x, float* y, int64_t n, const Attrs& attrs) {
  const double beta = SwishBeta(attrs);
  ForDoubleBlocks(x, n, beta, [=](const double* v, const double* e, int64_t s, int64_t len) {
    const float* in = x + s;
    float* out = y + s;
    ForEach(len, [=](int64_t i) {
      out[i] = float(double(in[i]) * ((v[i] < 0.0 ? e[i] : 1.0) / (1.0 + e[i])));
    });
  });
}
void SwishBackwardFloat(const float* x, const float*, const float* dy, float* dx, int64_t n,
                        const Attrs& attrs) {
  ForDoubleBlocks(x, n, SwishBeta(attrs),
                  [=](const double* v, const double* e, int64_t s, int64_t len) {
                    const float* g = dy + s;
                    float* out = dx + s;
                    ForEach(len, [=](int64_t i) {
                      const double w = 1.0 / (1.0 + e[i]);
                      const double gate = (v[i] < 0.0 ? e[i] : 1.0) * w;
                      const double rest = (v[i] < 0.0 ? 1.0 : e[i]) * w;
                      out[i] = float(g[i] * (gate * (1.0 + v[i] * rest)));
                    });
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
inline MishParts Mish(double v, double e) {
  const double w = 1.0 / (1.0 + e);
  if (v <= 0.0) {
    const double m = e * (e + 2.0), r = 1.0 / (m + 2.0);
    return {m * r, 4.0 * (m + 1.0) * r * r, e * w};
  }
  const double r = 1.0 / (1.0 + 2.0 * e + 2.0 * e * e);
  const double q = 2.0 * e * (1.0 + e) * r;
  return {(1.0 + 2.0 * e) * r, q * q, w};
}
}  // namespace

void MishForwardFloat(const float* x, float* y, int64_t n, const Attrs&) {
  ForDoubleBlocks(x, n, 1.0, [=](const double* v, const double* e, int64_t s, int64_t len) {
    float* out = y + s;
    ForEach(len, [=](int64_t i) { out[i] = float(v[i] * Mish(v[i], e[i]).t); });
  });
}
void MishBackwardFloat(const float* x, const float*, const float* dy, float* dx, int64_t n,
                       const Attrs&) {
  ForDoubleBlocks(x, n, 1.0, [=](const double* v, const double* e, int64_t s, int64_t len) {
    const float* g = dy + s;
    float* out = dx + s;
    ForEach(len, [=](int64_t i) {
      const MishParts p = Mish(v[i], e[i]);
      out[i] = float(g[i] * (p.t + v[i] * p.one_minus_t2 * p.sigmoid));
    });
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
  ForEach(n,
          [=](int64_t i) { dx[i] = dy[i] * (x[i] > above_lo && x[i] < below_hi ? 1.0f : 0.0f); });
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
  ForEach(n, [=](int64_t i) { dx[i] = dy[i] * (x[i] > -3.0f && x[i] < 3.0f ? 1.0f / 6 : 0.0f); });
}

// -------------------------------------------------------------- softsign
// The derivative in double: (1 + |x|)^2 overflows float from |x| = 1.8e19
// on, where the derivative is still a (subnormal) float. At +-inf the
// forward is its limit, +-1, not inf / inf.
void SoftsignForwardFloat(const float* x, float* y, int64_t n, const Attrs&) {
  ForEach(n, [=](int64_t i) {
    const float v = x[i];
    y[i] = std::isinf(v) ? (v > 0.0f ? 1.0f : -1.0f) : v / (1.0f + std::abs(v));
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
