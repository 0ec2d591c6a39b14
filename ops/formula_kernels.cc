#include "ops/formula_kernels.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <numbers>
#include <unsupported/Eigen/SpecialFunctions>

#include "ops/logistic.h"

namespace actgrad::internal {

namespace {

using ConstBlock = Eigen::Map<const Eigen::ArrayXf, Eigen::Unaligned>;
using Block = Eigen::Map<Eigen::ArrayXf, Eigen::Unaligned>;

// Small enough that a block's temporaries stay in L1, large enough that the
// loop overhead vanishes.
constexpr int64_t kBlock = 1024;

// Calls fn(offset, length) over [0, n) in blocks of kBlock.
template <typename Fn>
void ForBlocks(int64_t n, Fn fn) {
  for (int64_t start = 0; start < n; start += kBlock) fn(start, std::min(kBlock, n - start));
}

// Plain loops that GCC vectorizes (Eigen 3.4's select() stays scalar);
// comparisons are written so that NaN inputs give NaN outputs. Lambdas that
// read a runtime scalar take it by value: captured by reference, it might
// alias the output, and GCC then leaves the loop scalar (20x slower).
template <typename Fn>
void ForEach(int64_t n, Fn fn) {
#pragma GCC unroll 4
  for (int64_t i = 0; i < n; ++i) fn(i);
}

// out = log(1 + e^v) for one block, without overflow: max(v, 0) +
// log1p(e^-|v|). Eigen's log1p and expm1 do not vectorize for float here,
// so log1p(u) is computed as log(1 + u) u / ((1 + u) - 1), which is exact to
// a few ulp even where 1 + u rounds to 1 (then it is u).
void Softplus1(const float* v, float* out, int64_t len) {
  alignas(64) float u[kBlock], w[kBlock], log_w[kBlock];
  Block(u, len) = (-ConstBlock(v, len).abs()).exp();
  Block(w, len) = 1.0f + Block(u, len);
  Block(log_w, len) = Block(w, len).log();
  const float *pu = u, *pw = w, *plog_w = log_w;
  ForEach(len, [=](int64_t i) {
    const float log1p_u = pw[i] == 1.0f ? pu[i] : plog_w[i] * pu[i] / (pw[i] - 1.0f);
    out[i] = (v[i] < 0.0f ? 0.0f : v[i]) + log1p_u;  // NaN stays NaN
  });
}

// out = e^v - 1 for v <= 0, as 2t / (1 - t) with t = tanh(v / 2): no
// cancellation near 0, where e^v - 1 would lose every digit.
void Expm1NonPositive(const float* v, float* out, int64_t len) {
  alignas(64) float t[kBlock];
  Block(t, len) = (0.5f * ConstBlock(v, len).min(0.0f)).tanh();
  const float* pt = t;
  ForEach(len, [=](int64_t i) { out[i] = 2.0f * pt[i] / (1.0f - pt[i]); });
}

float SwishBeta(const Attrs& a) { return std::isnan(a.params[0]) ? 1.0f : float(a.params[0]); }

constexpr float kSeluAlpha = 1.6732632423543772848170429916717f;
constexpr float kSeluScale = 1.0507009873554804934193349852946f;
constexpr float kInvSqrt2 = 0.70710678118654752440f;
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;  // 1 / sqrt(2 pi)
constexpr float kGeluTanhC = 0.79788456080286535588f;   // sqrt(2 / pi)
constexpr float kGeluTanhK = 0.044715f;

}  // namespace

// ------------------------------------------------------------------- elu
// y = x (x > 0), alpha expm1(x) (x <= 0);  dy/dx = 1, or y + alpha
void EluForwardFloat(const float* x, float* y, int64_t n, const Attrs& attrs) {
  const float alpha = float(attrs.params[0]);
  ForBlocks(n, [&](int64_t s, int64_t len) {
    alignas(64) float negative[kBlock];
    Expm1NonPositive(x + s, negative, len);
    const float* in = x + s;
    float* out = y + s;
    ForEach(len,
            [=, &negative](int64_t i) { out[i] = in[i] > 0.0f ? in[i] : alpha * negative[i]; });
  });
}
void EluBackwardFloat(const float* x, const float* y, const float* dy, float* dx, int64_t n,
                      const Attrs& attrs) {
  const float alpha = float(attrs.params[0]);
  ForEach(n, [=](int64_t i) { dx[i] = dy[i] * (x[i] > 0.0f ? 1.0f : y[i] + alpha); });
}

// ------------------------------------------------------------------ selu
void SeluForwardFloat(const float* x, float* y, int64_t n, const Attrs&) {
  ForBlocks(n, [&](int64_t s, int64_t len) {
    alignas(64) float negative[kBlock];
    Expm1NonPositive(x + s, negative, len);
    ForEach(len, [&](int64_t i) {
      y[s + i] = x[s + i] > 0.0f ? kSeluScale * x[s + i] : kSeluScale * kSeluAlpha * negative[i];
    });
  });
}
void SeluBackwardFloat(const float* x, const float* y, const float* dy, float* dx, int64_t n,
                       const Attrs&) {
  ForEach(n, [&](int64_t i) {
    dx[i] = dy[i] * (x[i] > 0.0f ? kSeluScale : y[i] + kSeluScale * kSeluAlpha);
  });
}

// ------------------------------------------------------------------ gelu
// y = x Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2;  dy/dx = Phi(x) + x phi(x)
void GeluForwardFloat(const float* x, float* y, int64_t n, const Attrs&) {
  ForBlocks(n, [&](int64_t s, int64_t len) {
    const ConstBlock v(x + s, len);
    Block(y + s, len) = 0.5f * v * (1.0f + (v * kInvSqrt2).erf());
  });
}
void GeluBackwardFloat(const float* x, const float*, const float* dy, float* dx, int64_t n,
                       const Attrs&) {
  ForBlocks(n, [&](int64_t s, int64_t len) {
    const ConstBlock v(x + s, len);
    Block(dx + s, len) = ConstBlock(dy + s, len) * (0.5f * (1.0f + (v * kInvSqrt2).erf()) +
                                                    v * kInvSqrt2Pi * (-0.5f * v.square()).exp());
  });
}

// ------------------------------------------------------------- gelu_tanh
// t = tanh(c (x + k x^3)); y = x (1 + t) / 2;
// dy/dx = (1 + t) / 2 + x (1 - t^2) c (1 + 3 k x^2) / 2
void GeluTanhForwardFloat(const float* x, float* y, int64_t n, const Attrs&) {
  ForBlocks(n, [&](int64_t s, int64_t len) {
    const ConstBlock v(x + s, len);
    Block(y + s, len) = 0.5f * v * (1.0f + (kGeluTanhC * (v + kGeluTanhK * v.cube())).tanh());
  });
}
void GeluTanhBackwardFloat(const float* x, const float*, const float* dy, float* dx, int64_t n,
                           const Attrs&) {
  ForBlocks(n, [&](int64_t s, int64_t len) {
    alignas(64) float tanh_values[kBlock];
    // Past |x| = 10 the tanh is +-1 in float and the second term 0; clamping
    // keeps x^3 finite there, so that huge inputs do not make inf * 0.
    const auto v = ConstBlock(x + s, len).max(-10.0f).min(10.0f);
    Block t(tanh_values, len);
    t = (kGeluTanhC * (v + kGeluTanhK * v.cube())).tanh();
    Block(dx + s, len) =
        ConstBlock(dy + s, len) * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t.square()) * kGeluTanhC *
                                                           (1.0f + 3.0f * kGeluTanhK * v.square()));
  });
}

// -------------------------------------------------------------- softplus
// y = log(1 + e^(beta x)) / beta;  dy/dx = sigmoid(beta x)
void SoftplusForwardFloat(const float* x, float* y, int64_t n, const Attrs& attrs) {
  const float beta = float(attrs.params[0]);
  ForBlocks(n, [&](int64_t s, int64_t len) {
    alignas(64) float scaled[kBlock];
    Block(scaled, len) = beta * ConstBlock(x + s, len);
    Softplus1(scaled, y + s, len);
    Block(y + s, len) /= beta;
  });
}
void SoftplusBackwardFloat(const float* x, const float*, const float* dy, float* dx, int64_t n,
                           const Attrs& attrs) {
  const float beta = float(attrs.params[0]);
  ForBlocks(n, [&](int64_t s, int64_t len) {
    Block(dx + s, len) =
        ConstBlock(dy + s, len) * internal::Logistic(beta * ConstBlock(x + s, len));
  });
}

// ----------------------------------------------------------- swish, silu
// y = x sigmoid(beta x);  dy/dx = s + beta x s (1 - s)
void SwishForwardFloat(const float* x, float* y, int64_t n, const Attrs& attrs) {
  const float beta = SwishBeta(attrs);
  ForBlocks(n, [&](int64_t s, int64_t len) {
    const ConstBlock v(x + s, len);
    Block(y + s, len) = v * internal::Logistic(beta * v);
  });
}
void SwishBackwardFloat(const float* x, const float*, const float* dy, float* dx, int64_t n,
                        const Attrs& attrs) {
  const float beta = SwishBeta(attrs);
  ForBlocks(n, [&](int64_t s, int64_t len) {
    alignas(64) float gate[kBlock];
    const ConstBlock v(x + s, len);
    Block g(gate, len);
    g = internal::Logistic(beta * v);
    Block(dx + s, len) = ConstBlock(dy + s, len) * (g + beta * v * g * (1.0f - g));
  });
}

// ------------------------------------------------------------------ mish
// y = x tanh(softplus(x));  dy/dx = t + x (1 - t^2) sigmoid(x)
void MishForwardFloat(const float* x, float* y, int64_t n, const Attrs&) {
  ForBlocks(n, [&](int64_t s, int64_t len) {
    alignas(64) float softplus[kBlock];
    Softplus1(x + s, softplus, len);
    Block(y + s, len) = ConstBlock(x + s, len) * Block(softplus, len).tanh();
  });
}
void MishBackwardFloat(const float* x, const float*, const float* dy, float* dx, int64_t n,
                       const Attrs&) {
  ForBlocks(n, [&](int64_t s, int64_t len) {
    alignas(64) float tanh_values[kBlock];
    const ConstBlock v(x + s, len);
    Softplus1(x + s, tanh_values, len);
    Block t(tanh_values, len);
    t = t.tanh();
    Block(dx + s, len) =
        ConstBlock(dy + s, len) * (t + v * (1.0f - t.square()) * internal::Logistic(v));
  });
}

// -------------------------------------------------------------- hardtanh
void HardtanhForwardFloat(const float* x, float* y, int64_t n, const Attrs& attrs) {
  const float lo = float(attrs.params[0]), hi = float(attrs.params[1]);
  ForEach(n, [=](int64_t i) {
    const float v = x[i];
    y[i] = v < lo ? lo : (v > hi ? hi : v);
  });
}
void HardtanhBackwardFloat(const float* x, const float*, const float* dy, float* dx, int64_t n,
                           const Attrs& attrs) {
  const float lo = float(attrs.params[0]), hi = float(attrs.params[1]);
  ForEach(n, [=](int64_t i) { dx[i] = dy[i] * (x[i] > lo && x[i] < hi ? 1.0f : 0.0f); });
}

// ----------------------------------------------------------- hardsigmoid
void HardsigmoidForwardFloat(const float* x, float* y, int64_t n, const Attrs&) {
  ForEach(n, [&](int64_t i) {
    const float v = x[i] / 6.0f + 0.5f;
    y[i] = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
  });
}
void HardsigmoidBackwardFloat(const float* x, const float*, const float* dy, float* dx, int64_t n,
                              const Attrs&) {
  ForEach(n, [&](int64_t i) { dx[i] = dy[i] * (x[i] > -3.0f && x[i] < 3.0f ? 1.0f / 6 : 0.0f); });
}

// -------------------------------------------------------------- softsign
void SoftsignForwardFloat(const float* x, float* y, int64_t n, const Attrs&) {
  ForEach(n, [&](int64_t i) { y[i] = x[i] / (1.0f + std::abs(x[i])); });
}
void SoftsignBackwardFloat(const float* x, const float*, const float* dy, float* dx, int64_t n,
                           const Attrs&) {
  ForEach(n, [&](int64_t i) {
    const float d = 1.0f + std::abs(x[i]);
    dx[i] = dy[i] / (d * d);
  });
}

}  // namespace actgrad::internal
