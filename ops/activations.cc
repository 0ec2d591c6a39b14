// The article's activations (claims C1-C5) and softmax / log_softmax.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>

#include "graph/parallel.h"
#include "ops/builtin_ops.h"
#include "ops/check_cases.h"
#include "ops/functional.h"
#include "ops/generic_formula.h"
#include "ops/kernels.h"
#include "ops/logistic.h"
#include "ops/pick.h"
#include "ops/streaming.h"

namespace actgrad {
namespace ops {

namespace {

using internal::EmptyLike;

// ParallelFor's ranges keep the buffers' 64-byte alignment, so each range
// is viewed as an aligned Eigen array.
using internal::ArrayMap;
using internal::ConstArrayMap;

// Runs `fn(x_array, y_array)` for a one-input elementwise forward, split
// over threads for large tensors; kComputeHeavy kernels walk each thread's
// range as two streams (internal::ForTwoStreams).
template <bool kComputeHeavy = false, typename Fn>
Tensor MapForward(ForwardContext& ctx, Fn fn) {
  internal::RequireSameFloatingDType(ctx);
  const Tensor& x = ctx.input(0);
  Tensor y = EmptyLike(x);
  DispatchFloating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = static_cast<const T*>(x.raw_data());
    T* out = static_cast<T*>(y.raw_data());
    auto run = [&](int64_t begin, int64_t end) {
      fn(ConstArrayMap<T>(in + begin, end - begin), ArrayMap<T>(out + begin, end - begin), T{});
    };
    internal::ParallelFor(x.numel(), [&](int64_t begin, int64_t end) {
      if constexpr (kComputeHeavy) {
        internal::ForTwoStreams(begin, end, run);
      } else {
        run(begin, end);
      }
    });
  });
  return y;
}

// dx from dy and one saved tensor `s` (the input or the output).
template <typename Fn>
Tensor MapBackward(const BackwardContext& ctx, const Tensor& s, Fn fn) {
  Tensor dx = ctx.TakeDyForDx(0);
  const bool over_dy = dx.defined();
  if (!over_dy) dx = EmptyLike(ctx.dy());
  DispatchFloating(dx.dtype(), [&](auto tag) {
    using T = decltype(tag);
    // Each element of dx is written after the same element of dy is read.
    const T* dy = static_cast<const T*>(over_dy ? dx.raw_data() : ctx.dy().raw_data());
    const T* saved = static_cast<const T*>(s.raw_data());
    T* out = static_cast<T*>(dx.raw_data());
    // A new dx is read once, by the next backward step; large ones are
    // streamed out (ops/streaming.h), unless written over dy.
    internal::ParallelFor(dx.numel(), [&](int64_t begin, int64_t end) {
      internal::StreamedOutput(
          out + begin, end - begin, over_dy, [&](int64_t at, int64_t n, T* block) {
            fn(ConstArrayMap<T>(dy + begin + at, n), ConstArrayMap<T>(saved + begin + at, n),
               ArrayMap<T>(block, n), T{});
          });
    });
  });
  return dx;
}

std::vector<GradCheckCase> ActivationCases(Generator& gen) {
  std::vector<GradCheckCase> cases = internal::UnaryCases(gen, -3.0, 3.0);
  cases.push_back(
      {{FromValues({-20.0, -5.0, -1.0, -0.5, 0.25, 0.5, 1.0, 5.0, 20.0}, DType::kFloat64)},
       {},
       "grid",
       {}});
  return cases;
}

// The same inputs again under each attribute setting, so that every saved-
// value path of a row's backward is checked.
std::vector<GradCheckCase> WithAttrVariants(Generator& gen, double Attrs::*field,
                                            std::initializer_list<double> values) {
  std::vector<GradCheckCase> cases;
  for (double v : values) {
    for (GradCheckCase& c : ActivationCases(gen)) {
      (c.attrs.*field) = v;
      c.description += absl::StrCat(" (attribute ", v, ")");
      cases.push_back(std::move(c));
    }
  }
  return cases;
}

// A case drawn wholly at or below 0 (1 in 64 for six values) has a zero
// gradient throughout, which the checker refuses as proving nothing; such a
// draw gets one positive value, clear of the kink.
std::vector<GradCheckCase> ReluCases(Generator& gen) {
  std::vector<GradCheckCase> cases = WithAttrVariants(gen, &Attrs::grad_at_zero, {0.0, 1.0});
  for (GradCheckCase& c : cases) {
    double* x = c.inputs[0].data<double>();
    if (std::all_of(x, x + c.inputs[0].numel(), [](double v) { return v <= 0; })) {
      x[0] = 0.1 + std::abs(x[0]);
    }
  }
  return cases;
}

std::vector<GradCheckCase> LeakyReluCases(Generator& gen) {
  return WithAttrVariants(gen, &Attrs::alpha, {0.01, 0.2, -0.3});
}

constexpr double kKinkAtZero[] = {0.0};

// ---------------------------------------------------------------- identity
// y = x;  dy/dx = 1   (claim C5)
constexpr ActivationFormulas kIdentityFormulas{
    .forward = [](double x, const Attrs&) { return x; },
    .derivative = [](double, double, const Attrs&) { return 1.0; },
    .generic = Generic([](auto x, const Attrs&) { return x; }),
};

Tensor IdentityForward(ForwardContext& ctx) {
  return MapForward(ctx, [](const auto& x, auto y, auto) { y = x; });
}
void IdentityBackward(BackwardContext& ctx) { ctx.set_dx(0, ctx.dy()); }

// ----------------------------------------------------------------- sigmoid
// y = 1 / (1 + exp(-x));  dy/dx = y (1 - y)   (claim C1)
constexpr ActivationFormulas kSigmoidFormulas{
    .forward =
        [](double x, const Attrs&) {
          // Written per sign so that exp never overflows (sigmoid(-800) = 0).
          if (x >= 0) return 1.0 / (1.0 + std::exp(-x));
          const double e = std::exp(x);
          return e / (1.0 + e);
        },
    .derivative = [](double, double y, const Attrs&) { return y * (1.0 - y); },
    .generic = Generic([](auto x, const Attrs&) {
      using std::exp;
      using T = decltype(x);
      if (x >= 0) return T(1 / (1 + exp(-x)));
      const T e = exp(x);
      return T(e / (1 + e));
    }),
};

Tensor SigmoidForward(ForwardContext& ctx) {
  return MapForward</*kComputeHeavy=*/true>(ctx, [](const auto& x, auto y, auto t) {
    if constexpr (std::is_same_v<decltype(t), float>) {
      internal::LogisticFloat(x.data(), y.data(), x.size());  // within 3 ulps
    } else {
      y = internal::Logistic(x);
    }
  });
}
void SigmoidBackward(BackwardContext& ctx) {
  ctx.set_dx(
      0, MapBackward(ctx, ctx.saved_output(), [](const auto& dy, const auto& y, auto dx, auto t) {
        using T = decltype(t);
        // 1 - y is exact where y nears 1; what is left is y's own error, which
        // moves y (1 - y) by |1 - 2y| times it: |1 - 2y| |y| u for a correctly
        // rounded y (the oracle allows 4 ulps of y, the forward's contract).
        dx = dy * y * (T{1} - y);
      }));
}

// -------------------------------------------------------------------- tanh
// y = tanh(x);  dy/dx = 1 - y^2   (claim C2)
constexpr ActivationFormulas kTanhFormulas{
    .forward = [](double x, const Attrs&) { return std::tanh(x); },
    .derivative = [](double, double y, const Attrs&) { return 1.0 - y * y; },
    .generic = Generic([](auto x, const Attrs&) {
      using std::tanh;
      return tanh(x);
    }),
};

Tensor TanhForward(ForwardContext& ctx) {
  return MapForward</*kComputeHeavy=*/true>(ctx, [](const auto& x, auto y, auto t) {
    if constexpr (std::is_same_v<decltype(t), float>) {
      internal::TanhFloat(x.data(), y.data(), x.size());  // within 4 ulps, not clamped
    } else {
      y = x.tanh();
    }
  });
}
void TanhBackward(BackwardContext& ctx) {
  ctx.set_dx(
      0, MapBackward(ctx, ctx.saved_output(), [](const auto& dy, const auto& y, auto dx, auto t) {
        using T = decltype(t);
        // (1 - y)(1 + y): 1 - y is exact where y nears 1, so the one error
        // left is y's own, times |2y|: 2 y^2 u for a correctly rounded y (the
        // oracle allows 4 ulps of y, the forward's contract).
        dx = dy * ((T{1} - y) * (T{1} + y));
      }));
}

// -------------------------------------------------------------------- relu
// y = max(0, x);  dy/dx = 1 (x > 0), 0 (x < 0), grad_at_zero (x = 0)   (claim C3)
constexpr ActivationFormulas kReluFormulas{
    .forward = [](double x, const Attrs&) { return x < 0.0 ? 0.0 : x; },
    .derivative = [](double x, double,
                     const Attrs& a) { return x > 0.0 ? 1.0 : (x < 0.0 ? 0.0 : a.grad_at_zero); },
    .generic = Generic([](auto x, const Attrs&) { return x < 0 ? decltype(x)(0) : x; }),
};

// The piecewise kernels below are plain unrolled loops that GCC vectorizes
// (Eigen 3.4's select() stays scalar). Each is written as dy times a factor
// chosen between constants, by bits (ops/pick.h; with `?:` AVX2 builds
// stay scalar): a choice between dy and 0 becomes a masked load under
// AVX-512, which runs at two thirds of the memory bandwidth here. So a NaN
// or infinite dy stays NaN where the factor is 0, instead of turning 0.
template <typename Fn>
void ForEach(int64_t n, Fn fn) {
#pragma GCC unroll 4
  for (int64_t i = 0; i < n; ++i) fn(i);
}

// The output is saved, not the input: y > 0 exactly where x > 0, and the
// output is what the next layer keeps anyway, so the input can be freed.
// Only a non-zero derivative at exactly 0 needs x itself (x = 0 and x < 0
// both give y = 0); the input is then kept as well.
Tensor ReluForward(ForwardContext& ctx) {
  if (ctx.attrs().grad_at_zero != 0.0) ctx.SaveExtra(ctx.input(0));
  return MapForward(ctx, [](const auto& x, auto y, auto t) {
    using T = decltype(t);
    const T* px = x.data();
    T* py = y.data();
    // Written so that NaN passes through (NaN < 0 is false).
    ForEach(x.size(), [&](int64_t i) { py[i] = px[i] < T{0} ? T{0} : px[i]; });
  });
}
void ReluBackward(BackwardContext& ctx) {
  const double at_zero = ctx.attrs().grad_at_zero;
  const Tensor& s = at_zero == 0.0 ? ctx.saved_output() : ctx.extra(0);
  ctx.set_dx(0, MapBackward(ctx, s, [at_zero](const auto& dy, const auto& s, auto dx, auto t) {
               using T = decltype(t);
               const T* pdy = dy.data();
               const T* ps = s.data();
               T* pdx = dx.data();
               const T kink = T(at_zero);
               if (at_zero == 0.0) {
                 ForEach(s.size(), [&](int64_t i) {
                   pdx[i] = pdy[i] * internal::Pick(ps[i] > T{0}, T{1}, T{0});
                 });
               } else {
                 ForEach(s.size(), [&](int64_t i) {
                   pdx[i] = pdy[i] * internal::Pick(ps[i] > T{0}, T{1},
                                                    internal::Pick(ps[i] == T{0}, kink, T{0}));
                 });
               }
             }));
}

constexpr AttrSpec kReluAttrs[] = {
    {.name = "grad_at_zero",
     .meaning = "derivative reported at exactly x = 0 (0 or 1)",
     .real = &Attrs::grad_at_zero,
     .low = 0,
     .high = 1},
};

// -------------------------------------------------------------- leaky_relu
// y = x (x > 0), alpha x (x <= 0);  dy/dx = 1 (x > 0), alpha (x <= 0)   (claim C4)
constexpr ActivationFormulas kLeakyReluFormulas{
    .forward = [](double x, const Attrs& a) { return x > 0.0 ? x : a.alpha * x; },
    .derivative = [](double x, double, const Attrs& a) { return x > 0.0 ? 1.0 : a.alpha; },
    .generic = Generic([](auto x, const Attrs& a) { return x > 0 ? x : decltype(x)(a.alpha * x); }),
};

// As for relu, the output is saved: with alpha > 0 it has the sign of x.
// Other slopes keep the input as well.
Tensor LeakyReluForward(ForwardContext& ctx) {
  const double alpha = ctx.attrs().alpha;
  ACTGRAD_REQUIRE(std::isfinite(alpha), ctx.location(), "leaky_relu: alpha is ", alpha,
                  "; it must be a finite slope");
  if (alpha <= 0.0) ctx.SaveExtra(ctx.input(0));
  return MapForward(ctx, [alpha](const auto& x, auto y, auto t) {
    using T = decltype(t);
    const T* px = x.data();
    T* py = y.data();
    const T slope = T(alpha);
    ForEach(x.size(),
            [&](int64_t i) { py[i] = px[i] * internal::Pick(px[i] > T{0}, T{1}, slope); });
  });
}
void LeakyReluBackward(BackwardContext& ctx) {
  const double alpha = ctx.attrs().alpha;
  const Tensor& s = alpha > 0.0 ? ctx.saved_output() : ctx.extra(0);
  ctx.set_dx(0, MapBackward(ctx, s, [alpha](const auto& dy, const auto& s, auto dx, auto t) {
               using T = decltype(t);
               const T* pdy = dy.data();
               const T* ps = s.data();
               T* pdx = dx.data();
               const T slope = T(alpha);
               ForEach(s.size(), [&](int64_t i) {
                 pdx[i] = pdy[i] * internal::Pick(ps[i] > T{0}, T{1}, slope);
               });
             }));
}

constexpr AttrSpec kLeakyReluAttrs[] = {
    {.name = "alpha", .meaning = "slope for x <= 0", .real = &Attrs::alpha, .low = 0, .high = 1},
};

// ------------------------------------------------------ recorded backwards
// Written with ops, for BackwardOptions::create_graph; y is back in the
// graph there, so these differentiate again.
void SigmoidBackwardGraph(BackwardContext& ctx) {
  const Tensor& y = ctx.saved_output();
  ctx.set_dx(0, ctx.dy() * (y * (1.0 - y)));
}
void TanhBackwardGraph(BackwardContext& ctx) {
  ctx.set_dx(0, ctx.dy() * (1.0 - Square(ctx.saved_output())));
}
// Piecewise-linear: dy times a constant factor.
void ReluBackwardGraph(BackwardContext& ctx) {
  const double at_zero = ctx.attrs().grad_at_zero;
  const Tensor& s = at_zero == 0.0 ? ctx.saved_output() : ctx.extra(0);
  ctx.set_dx(0, ctx.dy() * internal::MapValues(s, [at_zero](double v) {
                  return v > 0 ? 1.0 : (v == 0 ? at_zero : 0.0);
                }));
}
void LeakyReluBackwardGraph(BackwardContext& ctx) {
  const double alpha = ctx.attrs().alpha;
  const Tensor& s = alpha > 0.0 ? ctx.saved_output() : ctx.extra(0);
  ctx.set_dx(0,
             ctx.dy() * internal::MapValues(s, [alpha](double v) { return v > 0 ? 1.0 : alpha; }));
}

// ------------------------------------------------------------------ gains
// Initializer gains as PyTorch's torch.nn.init.calculate_gain gives them.
double TanhGain(const Attrs&) { return 5.0 / 3.0; }
double ReluGain(const Attrs&) { return std::numbers::sqrt2; }
double LeakyReluGain(const Attrs& a) { return std::sqrt(2.0 / (1.0 + a.alpha * a.alpha)); }

// ------------------------------------------------------ softmax, log_softmax
// Both are computed along `axis` after subtracting the maximum m, so logits
// in the thousands stay finite. The maximum's own term is exactly 1, so the
// sum is 1 + rest with rest the other terms, accumulated in double: then
// log_softmax = (x - m) - log1p(rest) keeps its digits at logits of 1e4,
// where m + log(sum) would be rounded to 1e-3 in float32 before x was
// subtracted from it.
template <typename T, bool kLog>
void SoftmaxKernel(const T* x, T* y, const internal::AxisSplit& s) {
  if (s.extent == 0) return;  // nothing to normalize, and nothing to read
  for (int64_t o = 0; o < s.outer; ++o) {
    for (int64_t i = 0; i < s.inner; ++i) {
      const T* xr = x + o * s.extent * s.inner + i;
      T* yr = y + o * s.extent * s.inner + i;
      int64_t largest = 0;
      for (int64_t k = 1; k < s.extent; ++k) {
        if (xr[k * s.inner] > xr[largest * s.inner]) largest = k;
      }
      const double m = xr[largest * s.inner];
      double rest = 0;
      for (int64_t k = 0; k < s.extent; ++k) {
        // float inputs subtract exactly in double.
        const double e = std::exp(double(xr[k * s.inner]) - m);
        if constexpr (!kLog) yr[k * s.inner] = T(e);
        if (k != largest) rest += e;
      }
      if constexpr (kLog) {
        const double log_sum = std::log1p(rest);
        for (int64_t k = 0; k < s.extent; ++k) {
          yr[k * s.inner] = T((double(xr[k * s.inner]) - m) - log_sum);
        }
      } else {
        const double inv = 1 / (1 + rest);
        for (int64_t k = 0; k < s.extent; ++k) yr[k * s.inner] = T(double(yr[k * s.inner]) * inv);
      }
    }
  }
}

template <bool kLog>
Tensor SoftmaxForward(ForwardContext& ctx) {
  internal::RequireSameFloatingDType(ctx);
  const Tensor& x = ctx.input(0);
  ACTGRAD_REQUIRE(x.rank() >= 1, ctx.location(), ctx.op().name,
                  ": needs at least one dimension, got a scalar");
  const internal::AxisSplit split =
      internal::SplitAt(x.shape(), internal::AxisOrThrow(ctx, x.rank()));
  Tensor y = EmptyLike(x);
  DispatchFloating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    SoftmaxKernel<T, kLog>(static_cast<const T*>(x.raw_data()), static_cast<T*>(y.raw_data()),
                           split);
  });
  return y;
}

template <bool kLog>
void SoftmaxBackwardGraph(BackwardContext& ctx) {
  const Tensor& y = ctx.saved_output();
  const Tensor& dy = ctx.dy();
  const int64_t axis = ctx.attrs().axis;
  if (kLog) {
    ctx.set_dx(0, dy - Exp(y) * Sum(dy, axis, /*keepdim=*/true));
  } else {
    ctx.set_dx(0, y * (dy - Sum(dy * y, axis, /*keepdim=*/true)));
  }
}

// softmax: dx = y (dy - sum(dy y));  log_softmax: dx = dy - exp(y) sum(dy)
template <bool kLog>
void SoftmaxBackward(BackwardContext& ctx) {
  const Tensor& y = ctx.saved_output();
  const Tensor& dy = ctx.dy();
  const int axis = *NormalizeAxis(ctx.attrs().axis, y.rank());
  const internal::AxisSplit s = internal::SplitAt(y.shape(), axis);
  Tensor dx = EmptyLike(dy);
  DispatchFloating(dy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* py = static_cast<const T*>(y.raw_data());
    const T* pdy = static_cast<const T*>(dy.raw_data());
    T* pdx = static_cast<T*>(dx.raw_data());
    for (int64_t o = 0; o < s.outer; ++o) {
      for (int64_t i = 0; i < s.inner; ++i) {
        const int64_t base = o * s.extent * s.inner + i;
        T dot = 0;
        for (int64_t k = 0; k < s.extent; ++k) {
          const int64_t at = base + k * s.inner;
          dot += kLog ? pdy[at] : pdy[at] * py[at];
        }
        for (int64_t k = 0; k < s.extent; ++k) {
          const int64_t at = base + k * s.inner;
          pdx[at] = kLog ? pdy[at] - std::exp(py[at]) * dot : py[at] * (pdy[at] - dot);
        }
      }
    }
  });
  ctx.set_dx(0, std::move(dx));
}

constexpr AttrSpec kAxisAttrs[] = {
    {"axis", "the axis to normalize over (default -1)", nullptr, &Attrs::axis},
};

std::vector<GradCheckCase> SoftmaxCases(Generator& gen) {
  std::vector<GradCheckCase> cases;
  Attrs last;
  cases.push_back({{internal::RandomDouble({3, 5}, -3, 3, gen)}, last, "[3,5] axis -1", {}});
  Attrs first;
  first.axis = 0;
  cases.push_back({{internal::RandomDouble({4, 3}, -3, 3, gen)}, first, "[4,3] axis 0", {}});
  Attrs middle;
  middle.axis = 1;
  cases.push_back({{internal::RandomDouble({2, 3, 2}, -3, 3, gen)}, middle, "[2,3,2] axis 1", {}});
  return cases;
}

}  // namespace

const OpDef kIdentity{
    .name = "identity",
    .formula = "y = x;  dy/dx = 1",
    .kind = OpKind::kActivation,
    .forward = &IdentityForward,
    .backward = &IdentityBackward,
    .backward_graph = &IdentityBackward,
    .formulas = &kIdentityFormulas,
    .check_cases = &ActivationCases,
};

const OpDef kSigmoid{
    .name = "sigmoid",
    .formula = "y = 1 / (1 + exp(-x));  dy/dx = y (1 - y)",
    .kind = OpKind::kActivation,
    .saves = kSaveOutput,
    .forward = &SigmoidForward,
    .backward = &SigmoidBackward,
    .backward_graph = &SigmoidBackwardGraph,
    .formulas = &kSigmoidFormulas,
    .check_cases = &ActivationCases,
};

const OpDef kTanh{
    .name = "tanh",
    .formula = "y = tanh(x);  dy/dx = 1 - y^2",
    .kind = OpKind::kActivation,
    .saves = kSaveOutput,
    .forward = &TanhForward,
    .backward = &TanhBackward,
    .backward_graph = &TanhBackwardGraph,
    .gain = &TanhGain,
    .formulas = &kTanhFormulas,
    .recommended_init = InitFamily::kXavier,
    .recommended_input_range = InputRange::kSymmetric,  // claim C19
    .check_cases = &ActivationCases,
};

const OpDef kRelu{
    .name = "relu",
    .formula = "y = max(0, x);  dy/dx = 1 (x > 0), 0 (x < 0), grad_at_zero (x = 0)",
    .kind = OpKind::kActivation,
    .saves = kSaveOutput,
    .forward = &ReluForward,
    .backward = &ReluBackward,
    .backward_graph = &ReluBackwardGraph,
    .attrs = kReluAttrs,
    .kinks = kKinkAtZero,
    .gain = &ReluGain,
    .formulas = &kReluFormulas,
    .recommended_init = InitFamily::kHe,  // claim C20
    .check_cases = &ReluCases,
};

const OpDef kLeakyRelu{
    .name = "leaky_relu",
    .formula = "y = x (x > 0), alpha x (x <= 0);  dy/dx = 1 (x > 0), alpha (x <= 0)",
    .kind = OpKind::kActivation,
    .saves = kSaveOutput,
    .forward = &LeakyReluForward,
    .backward = &LeakyReluBackward,
    .backward_graph = &LeakyReluBackwardGraph,
    .attrs = kLeakyReluAttrs,
    .kinks = kKinkAtZero,
    .gain = &LeakyReluGain,
    .formulas = &kLeakyReluFormulas,
    .recommended_init = InitFamily::kHe,
    .check_cases = &LeakyReluCases,
};

const OpDef kSoftmax{
    .name = "softmax",
    .formula = "y_i = exp(x_i) / sum_j exp(x_j) along axis;  dx = y (dy - sum(dy y))",
    .kind = OpKind::kNormalize,
    .saves = kSaveOutput,
    .forward = &SoftmaxForward<false>,
    .backward = &SoftmaxBackward<false>,
    .backward_graph = &SoftmaxBackwardGraph<false>,
    .attrs = kAxisAttrs,
    .check_cases = &SoftmaxCases,
};

const OpDef kLogSoftmax{
    .name = "log_softmax",
    .formula = "y_i = x_i - log sum_j exp(x_j) along axis;  dx = dy - exp(y) sum(dy)",
    .kind = OpKind::kNormalize,
    .saves = kSaveOutput,
    .forward = &SoftmaxForward<true>,
    .backward = &SoftmaxBackward<true>,
    .backward_graph = &SoftmaxBackwardGraph<true>,
    .attrs = kAxisAttrs,
    .check_cases = &SoftmaxCases,
};

}  // namespace ops
}  // namespace actgrad
