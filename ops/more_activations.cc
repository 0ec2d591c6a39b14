// Activations beyond the article's five, each defined by its scalar formulas
// (the same mechanism users and plugins use, ops/scalar_activation.h), with
// direct calls in the kernels: elu, selu, gelu (erf and tanh forms),
// softplus, silu, swish, mish, hardtanh, hardsigmoid, softsign; and prelu,
// whose slope is a learnable input.

#include <cmath>
#include <numbers>

#include "graph/parallel.h"
#include "ops/builtin_ops.h"
#include "ops/check_cases.h"
#include "ops/formula_kernels.h"
#include "ops/functional.h"
#include "ops/generic_formula.h"
#include "ops/kernels.h"
#include "ops/scalar_activation.h"
#include "ops/streaming.h"

namespace actgrad {
namespace ops {

namespace {

// The logistic function and log(1 + e^x), for any number type, written per
// sign so that exp never overflows.
template <typename T>
T Logistic(T x) {
  using std::exp;
  if (x >= 0) return T(1) / (1 + exp(-x));
  const T e = exp(x);
  return e / (1 + e);
}
template <typename T>
T Softplus1(T x) {
  using std::exp;
  using std::log1p;
  return x > 0 ? T(x + log1p(exp(-x))) : T(log1p(exp(x)));
}

// Row kernels (F is a struct of static functions): float32 tensors go to the
// vectorized kernels of ops/formula_kernels.h, float64 to the formulas in
// double precision, called directly.
template <typename F>
Tensor Forward(ForwardContext& ctx) {
  internal::RequireSameFloatingDType(ctx);
  const Tensor& x = ctx.input(0);
  if (x.dtype() == DType::kFloat32) {
    Tensor y = internal::EmptyLike(x);
    const float* in = static_cast<const float*>(x.raw_data());
    float* out = static_cast<float*>(y.raw_data());
    const Attrs attrs = WithDefaults(ctx.op(), ctx.attrs());
    internal::ParallelFor(x.numel(), [&](int64_t begin, int64_t end) {
      F::ForwardFloat(in + begin, out + begin, end - begin, attrs);
    });
    return y;
  }
  return internal::MapScalar(ctx, [](double x, const Attrs& a) { return F::Forward(x, a); });
}
template <typename F>
void Backward(BackwardContext& ctx) {
  if (ctx.dy().dtype() == DType::kFloat32) {
    // The kernels write each dx[i] after reading dy[i], so dx may be dy.
    Tensor dx = ctx.TakeDyForDx(0);
    const bool over_dy = dx.defined();
    if (!over_dy) dx = internal::EmptyLike(ctx.dy());
    const float* x = static_cast<const float*>(ctx.saved_input(0).raw_data());
    const float* y = static_cast<const float*>(ctx.saved_output().raw_data());
    const float* upstream =
        static_cast<const float*>(over_dy ? dx.raw_data() : ctx.dy().raw_data());
    float* out = static_cast<float*>(dx.raw_data());
    const Attrs attrs = WithDefaults(ctx.op(), ctx.attrs());
    internal::ParallelFor(dx.numel(), [&](int64_t begin, int64_t end) {
      internal::StreamedOutput(out + begin, end - begin, over_dy,
                               [&](int64_t at, int64_t n, float* block) {
                                 const int64_t i = begin + at;
                                 F::BackwardFloat(x + i, y + i, upstream + i, block, n, attrs);
                               });
    });
    ctx.set_dx(0, std::move(dx));
    return;
  }
  internal::MapScalarDerivative(
      ctx, [](double x, double y, const Attrs& a) { return F::Derivative(x, y, a); });
}
// F's generic forward as a callable, for Generic().
template <typename F>
struct ForwardOf {
  template <typename T>
  T operator()(T x, const Attrs& a) const {
    return F::Forward(x, a);
  }
};
template <typename F>
constexpr ActivationFormulas kFormulas{&F::template Forward<double>, &F::Derivative, &F::Second,
                                       &kGenericFormula<ForwardOf<F>>};

// y = x (x > 0), alpha (e^x - 1) (x <= 0)
struct Elu {
  static constexpr auto ForwardFloat = &internal::EluForwardFloat;
  static constexpr auto BackwardFloat = &internal::EluBackwardFloat;
  template <typename T>
  static T Forward(T x, const Attrs& a) {
    using std::expm1;
    return x > 0 ? x : T(PrimalOf<T>(a.params[0]) * expm1(x));
  }
  static double Derivative(double x, double, const Attrs& a) {
    return x > 0 ? 1.0 : a.params[0] * std::exp(x);
  }
  static double Second(double x, double, const Attrs& a) {
    return x > 0 ? 0.0 : a.params[0] * std::exp(x);
  }
};

// y = scale * elu(x) with the self-normalizing constants.
struct Selu {
  static constexpr auto ForwardFloat = &internal::SeluForwardFloat;
  static constexpr auto BackwardFloat = &internal::SeluBackwardFloat;
  static constexpr long double kAlpha = 1.6732632423543772848170429916717L;
  static constexpr long double kScale = 1.0507009873554804934193349852946L;
  template <typename T>
  static T Forward(T x, const Attrs&) {
    using std::expm1;
    using P = PrimalOf<T>;
    return P(kScale) * (x > 0 ? x : T(P(kAlpha) * expm1(x)));
  }
  static double Derivative(double x, double, const Attrs&) {
    return kScale * (x > 0 ? 1.0 : kAlpha * std::exp(x));
  }
  static double Second(double x, double, const Attrs&) {
    return x > 0 ? 0.0 : kScale * kAlpha * std::exp(x);
  }
};

// y = x Phi(x), Phi the standard normal CDF.
struct Gelu {
  static constexpr auto ForwardFloat = &internal::GeluForwardFloat;
  static constexpr auto BackwardFloat = &internal::GeluBackwardFloat;
  static double Pdf(double x) { return std::exp(-0.5 * x * x) / std::sqrt(2 * std::numbers::pi); }
  template <typename T>
  static T Forward(T x, const Attrs&) {
    using std::erfc;
    using P = PrimalOf<T>;
    return P(0.5) * x * erfc(-x / std::numbers::sqrt2_v<P>);
  }
  static double Derivative(double x, double, const Attrs&) {
    return 0.5 * std::erfc(-x / std::numbers::sqrt2) + x * Pdf(x);
  }
  // Past |x| = 38.6 the density underflows to 0 while x^2 may overflow.
  static double Second(double x, double, const Attrs&) {
    const double pdf = Pdf(x);
    return pdf == 0 ? 0.0 : pdf * (2 - x * x);
  }
};

// y = x (1 + tanh(u)) / 2, u = c (x + k x^3), c = sqrt(2 / pi), k = 0.044715,
// computed as x s with s = sigmoid(2u) = (1 + tanh(u)) / 2: 1 + tanh(u)
// would cancel to 0 for x below -7.5, where y is still 3e-18.
struct GeluTanh {
  static constexpr auto ForwardFloat = &internal::GeluTanhForwardFloat;
  static constexpr auto BackwardFloat = &internal::GeluTanhBackwardFloat;
  static constexpr double kK = 0.044715;
  static double C() { return std::sqrt(2.0 / std::numbers::pi); }
  template <typename T>
  static T Forward(T x, const Attrs&) {
    using std::sqrt;
    using P = PrimalOf<T>;
    const P c = sqrt(P(2) / std::numbers::pi_v<P>);
    return x * Logistic(T(2 * c * (x + P(0.044715L) * x * x * x)));
  }
  // With w = s (1 - s), both factors from the logistic without cancelling:
  // y' = s + 2 x w u',  y'' = 4 w u' + 2 x w (2 (1 - 2s) u'^2 + u'').
  // Where w underflows to 0 the terms it multiplies are 0 (x^3 may be inf).
  static double Derivative(double x, double, const Attrs&) {
    const double u = C() * (x + kK * x * x * x);
    const double s = Logistic(2 * u), w = s * Logistic(-2 * u);
    const double du = C() * (1 + 3 * kK * x * x);
    return w == 0 ? s : s + 2 * x * w * du;
  }
  static double Second(double x, double, const Attrs&) {
    const double u = C() * (x + kK * x * x * x);
    const double s = Logistic(2 * u), w = s * Logistic(-2 * u);
    if (w == 0) return 0.0;
    const double du = C() * (1 + 3 * kK * x * x);
    const double d2u = C() * 6 * kK * x;
    const double factor = 4 * du + 2 * x * (2 * (1 - 2 * s) * du * du + d2u);
    // Far out w = e^(-2|u|) is subnormal and has lost digits that the large
    // factor would show: the product is taken through logarithms.
    if (std::abs(u) > 300) {
      return std::copysign(std::exp(std::log(std::abs(factor)) - 2 * std::abs(u)), factor);
    }
    return w * factor;
  }
};

// y = log(1 + exp(beta x)) / beta
struct Softplus {
  static constexpr auto ForwardFloat = &internal::SoftplusForwardFloat;
  static constexpr auto BackwardFloat = &internal::SoftplusBackwardFloat;
  // For beta x > 0 as x + log(1 + e^(-beta x)) / beta: beta x itself may
  // overflow where the result, about x, does not.
  template <typename T>
  static T Forward(T x, const Attrs& a) {
    using std::exp;
    using std::log1p;
    const PrimalOf<T> beta = a.params[0];
    const T scaled = beta * x;
    if (scaled > 0) return x + log1p(exp(-scaled)) / beta;
    return log1p(exp(scaled)) / beta;
  }
  static double Derivative(double x, double, const Attrs& a) { return Logistic(a.params[0] * x); }
  static double Second(double x, double, const Attrs& a) {
    const double beta = a.params[0];
    return beta * Logistic(beta * x) * Logistic(-beta * x);
  }
};

// y = x sigmoid(beta x); silu is beta = 1.
struct Swish {
  static constexpr auto ForwardFloat = &internal::SwishForwardFloat;
  static constexpr auto BackwardFloat = &internal::SwishBackwardFloat;
  static double Beta(const Attrs& a) { return std::isnan(a.params[0]) ? 1.0 : a.params[0]; }
  template <typename T>
  static T Forward(T x, const Attrs& a) {
    return x * Logistic(T(PrimalOf<T>(Beta(a)) * x));
  }
  // s (1 - s) as s sigmoid(-b x): 1 - s cancels for large b x.
  static double Derivative(double x, double, const Attrs& a) {
    const double b = Beta(a), s = Logistic(b * x), w = s * Logistic(-b * x);
    return w == 0 ? s : s + b * x * w;
  }
  static double Second(double x, double, const Attrs& a) {
    const double b = Beta(a), s = Logistic(b * x), q = Logistic(-b * x), w = s * q;
    return w == 0 ? 0.0 : b * w * (2 + b * x * (q - s));
  }
};

// y = x tanh(softplus(x))
struct Mish {
  static constexpr auto ForwardFloat = &internal::MishForwardFloat;
  static constexpr auto BackwardFloat = &internal::MishBackwardFloat;
  template <typename T>
  static T Forward(T x, const Attrs&) {
    using std::tanh;
    return x * tanh(Softplus1(x));
  }
  // 1 - t^2 = 1 / cosh^2(sp), which does not cancel where t rounds to 1.
  static double Derivative(double x, double, const Attrs&) {
    const double sp = Softplus1(x), t = std::tanh(sp), c = std::cosh(sp);
    return t + x / c / c * Logistic(x);
  }
  static double Second(double x, double, const Attrs&) {
    const double sp = Softplus1(x), t = std::tanh(sp), c = std::cosh(sp), s = Logistic(x);
    const double sech2 = 1 / c / c;
    return sech2 == 0 ? 0.0 : sech2 * s * (2 + x * (Logistic(-x) - 2 * t * s));
  }
};

// y = min(max(x, min_val), max_val)
struct Hardtanh {
  static constexpr auto ForwardFloat = &internal::HardtanhForwardFloat;
  static constexpr auto BackwardFloat = &internal::HardtanhBackwardFloat;
  // NaN passes through: both comparisons are false.
  template <typename T>
  static T Forward(T x, const Attrs& a) {
    return x < a.params[0] ? T(a.params[0]) : (x > a.params[1] ? T(a.params[1]) : x);
  }
  static double Derivative(double x, double, const Attrs& a) {
    return x > a.params[0] && x < a.params[1] ? 1.0 : 0.0;
  }
  static double Second(double, double, const Attrs&) { return 0.0; }
};

// y = min(max(x / 6 + 1/2, 0), 1)
struct Hardsigmoid {
  static constexpr auto ForwardFloat = &internal::HardsigmoidForwardFloat;
  static constexpr auto BackwardFloat = &internal::HardsigmoidBackwardFloat;
  // (x + 3) / 6 rather than x / 6 + 1/2, which cancels next to x = -3.
  template <typename T>
  static T Forward(T x, const Attrs&) {
    const T v = (x + 3) / 6;
    return v < 0 ? T(0) : (v > 1 ? T(1) : v);
  }
  static double Derivative(double x, double, const Attrs&) {
    return x > -3 && x < 3 ? 1.0 / 6 : 0.0;
  }
  static double Second(double, double, const Attrs&) { return 0.0; }
};

// y = x / (1 + |x|)
struct Softsign {
  static constexpr auto ForwardFloat = &internal::SoftsignForwardFloat;
  static constexpr auto BackwardFloat = &internal::SoftsignBackwardFloat;
  // Written per range so that its dual-number derivative does not cancel:
  // differentiating x / (1 + |x|) subtracts |x| / (1 + |x|) from 1, which
  // loses every digit for |x| beyond 2^64 in long double.
  template <typename T>
  static T Forward(T x, const Attrs&) {
    using std::abs;
    if (abs(x) <= 1) return x / (1 + abs(x));
    const T tail = 1 - 1 / (1 + abs(x));
    return x < 0 ? T(-tail) : tail;
  }
  // Divided step by step: d^2 overflows for |x| beyond 1.3e154, d^3 beyond
  // 5.6e102, where the results are still (subnormal) numbers.
  static double Derivative(double x, double, const Attrs&) {
    const double d = 1 + std::abs(x);
    return 1 / d / d;
  }
  static double Second(double x, double, const Attrs&) {
    const double d = 1 + std::abs(x);
    return -2 * (x > 0 ? 1 : x < 0 ? -1 : 0) / d / d / d;
  }
};

// Mostly inside the linear part, where the derivative is not zero.
std::vector<GradCheckCase> HardtanhCases(Generator& gen) {
  std::vector<GradCheckCase> cases = internal::UnaryCases(gen, -1.5, 1.5);
  cases.push_back(
      {{FromValues({-3.0, -0.9, -0.5, 0.0, 0.5, 0.9, 3.0}, DType::kFloat64)}, {}, "grid", {}});
  return cases;
}

constexpr double kKinkAtZero[] = {0.0};
constexpr double kHardtanhKinks[] = {-1.0, 1.0};
// The bounds are params 0 and 1 (NaN until defaults are filled in).
std::vector<double> HardtanhKinksAt(const Attrs& attrs) {
  return {std::isnan(attrs.params[0]) ? -1.0 : attrs.params[0],
          std::isnan(attrs.params[1]) ? 1.0 : attrs.params[1]};
}
constexpr double kHardsigmoidKinks[] = {-3.0, 3.0};

constexpr AttrSpec kEluAttrs[] = {{.name = "alpha",
                                   .meaning = "value approached for x -> -inf, negated",
                                   .param = 0,
                                   .default_value = 1.0,
                                   .low = 0.05,
                                   .high = 5}};
constexpr AttrSpec kSoftplusAttrs[] = {{.name = "beta",
                                        .meaning = "sharpness",
                                        .param = 0,
                                        .default_value = 1.0,
                                        .low = 0.1,
                                        .high = 10}};
constexpr AttrSpec kSwishAttrs[] = {{.name = "beta",
                                     .meaning = "sharpness of the gate",
                                     .param = 0,
                                     .default_value = 1.0,
                                     .low = 0,
                                     .high = 10}};
constexpr AttrSpec kHardtanhAttrs[] = {{.name = "min_val",
                                        .meaning = "lower bound",
                                        .param = 0,
                                        .default_value = -1.0,
                                        .low = -5,
                                        .high = -0.1},
                                       {.name = "max_val",
                                        .meaning = "upper bound",
                                        .param = 1,
                                        .default_value = 1.0,
                                        .low = 0.1,
                                        .high = 5}};

// He in front of the ReLU-like family, as for relu itself.
double EluGain(const Attrs&) { return std::numbers::sqrt2; }
double SeluGain(const Attrs&) { return 0.75; }  // PyTorch's calculate_gain("selu")

// ------------------------------------------------------------------ prelu
// y = x (x > 0), a x (x <= 0), with the slope a an input: one value, or one
// per channel (dimension 1), as torch.nn.PReLU.
Tensor PreluForward(ForwardContext& ctx) {
  internal::RequireSameFloatingDType(ctx);
  const Tensor& x = ctx.input(0);
  const Tensor& a = ctx.input(1);
  const int64_t channels = a.numel();
  ACTGRAD_REQUIRE(a.rank() == 1 && (channels == 1 || (x.rank() >= 2 && x.dim(1) == channels)),
                  ctx.location(), "prelu: the slope ", a.shape().ToString(),
                  " must hold one value or one per channel (dimension 1) of ",
                  x.shape().ToString());
  const internal::AxisSplit s =
      channels == 1 ? internal::AxisSplit{1, 1, x.numel()} : internal::SplitAt(x.shape(), 1);
  Tensor y = internal::EmptyLike(x);
  DispatchFloating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = static_cast<const T*>(x.raw_data());
    const T* pa = static_cast<const T*>(a.raw_data());
    T* py = static_cast<T*>(y.raw_data());
    for (int64_t o = 0; o < s.outer; ++o) {
      for (int64_t c = 0; c < s.extent; ++c) {
        const int64_t base = (o * s.extent + c) * s.inner;
        for (int64_t i = 0; i < s.inner; ++i) {
          const T v = px[base + i];
          py[base + i] = v > T(0) ? v : pa[c] * v;
        }
      }
    }
  });
  return y;
}

// dx = dy (x > 0), a dy (x <= 0);  da = sum of x dy where x <= 0
void PreluBackward(BackwardContext& ctx) {
  const Tensor& x = ctx.saved_input(0);
  const Tensor& a = ctx.saved_input(1);
  const Tensor& dy = ctx.dy();
  const int64_t channels = a.numel();
  const internal::AxisSplit s =
      channels == 1 ? internal::AxisSplit{1, 1, x.numel()} : internal::SplitAt(x.shape(), 1);
  Tensor dx = internal::EmptyLike(x);
  Tensor da = internal::ZerosOf(a.shape(), a.dtype());
  DispatchFloating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = static_cast<const T*>(x.raw_data());
    const T* pa = static_cast<const T*>(a.raw_data());
    const T* pdy = static_cast<const T*>(dy.raw_data());
    T* pdx = static_cast<T*>(dx.raw_data());
    T* pda = static_cast<T*>(da.raw_data());
    for (int64_t o = 0; o < s.outer; ++o) {
      for (int64_t c = 0; c < s.extent; ++c) {
        const int64_t base = (o * s.extent + c) * s.inner;
        for (int64_t i = 0; i < s.inner; ++i) {
          const T v = px[base + i], g = pdy[base + i];
          pdx[base + i] = v > T(0) ? g : pa[c] * g;
          if (v <= T(0)) pda[c] += v * g;
        }
      }
    }
  });
  if (ctx.needs_grad(0)) ctx.set_dx(0, std::move(dx));
  if (ctx.needs_grad(1)) ctx.set_dx(1, std::move(da));
}

// dx = dy (a where x <= 0, else 1);  da = sum over non-channel axes of
// dy x where x <= 0. The slope enters as an op so that it differentiates.
void PreluBackwardGraph(BackwardContext& ctx) {
  const Tensor& x = ctx.saved_input(0);
  const Tensor& a = ctx.saved_input(1);
  const Tensor& dy = ctx.dy();
  const int64_t channels = a.numel();
  const Tensor negative = internal::MapValues(x, [](double v) { return v > 0 ? 0.0 : 1.0; });
  // The slope shaped to broadcast along dimension 1: [1, C, 1, ...].
  std::vector<int64_t> slope_dims(x.rank(), 1);
  if (channels > 1) slope_dims[1] = channels;
  const Shape slope_shape{std::span<const int64_t>(slope_dims)};
  const Tensor slope = Reshape(a, slope_dims);
  if (ctx.needs_grad(0)) ctx.set_dx(0, dy * ((1.0 - negative) + negative * slope));
  if (ctx.needs_grad(1)) {
    ctx.set_dx(1, Reshape(SumTo(dy * x * negative, slope_shape), {channels}));
  }
}

std::vector<GradCheckCase> PreluCases(Generator& gen) {
  auto r = [&](const Shape& shape, double lo, double hi) {
    return internal::RandomDouble(shape, lo, hi, gen);
  };
  return {
      {{r({6}, -3, 3), r({1}, 0.05, 0.5)}, {}, "[6] with one slope", {0.0}},
      {{r({4, 3}, -3, 3), r({3}, 0.05, 0.5)}, {}, "[4,3] with a slope per channel", {0.0}},
      {{r({2, 3, 2}, -3, 3), r({3}, 0.05, 0.5)}, {}, "[2,3,2] with a slope per channel", {0.0}},
  };
}

}  // namespace

#define ACTGRAD_FORMULA_ROW(F)                      \
  .forward = &Forward<F>, .backward = &Backward<F>, \
  .backward_graph = &internal::ScalarActivationBackwardGraph

const OpDef kElu{
    .name = "elu",
    .formula = "y = x (x > 0), alpha (e^x - 1) (x <= 0);  dy/dx = 1 (x > 0), alpha e^x",
    .kind = OpKind::kActivation,
    .saves = kSaveInput0 | kSaveOutput,
    ACTGRAD_FORMULA_ROW(Elu),
    .attrs = kEluAttrs,
    .kinks = kKinkAtZero,
    .gain = &EluGain,
    .formulas = &kFormulas<Elu>,
    .recommended_init = InitFamily::kHe,
    .check_cases = &internal::ScalarActivationCases,
};

const OpDef kSelu{
    .name = "selu",
    .formula = "y = 1.0507 (x (x > 0), 1.6733 (e^x - 1) (x <= 0))",
    .kind = OpKind::kActivation,
    .saves = kSaveInput0 | kSaveOutput,
    ACTGRAD_FORMULA_ROW(Selu),
    .kinks = kKinkAtZero,
    .gain = &SeluGain,
    .formulas = &kFormulas<Selu>,
    .check_cases = &internal::ScalarActivationCases,
};

const OpDef kGelu{
    .name = "gelu",
    .formula = "y = x Phi(x) (erf form);  dy/dx = Phi(x) + x phi(x)",
    .kind = OpKind::kActivation,
    .saves = kSaveInput0 | kSaveOutput,
    ACTGRAD_FORMULA_ROW(Gelu),
    .formulas = &kFormulas<Gelu>,
    .recommended_init = InitFamily::kHe,
    .check_cases = &internal::ScalarActivationCases,
};

const OpDef kGeluTanh{
    .name = "gelu_tanh",
    .formula = "y = x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2",
    .kind = OpKind::kActivation,
    .saves = kSaveInput0 | kSaveOutput,
    ACTGRAD_FORMULA_ROW(GeluTanh),
    .formulas = &kFormulas<GeluTanh>,
    .recommended_init = InitFamily::kHe,
    .check_cases = &internal::ScalarActivationCases,
};

const OpDef kSoftplus{
    .name = "softplus",
    .formula = "y = log(1 + exp(beta x)) / beta;  dy/dx = sigmoid(beta x)",
    .kind = OpKind::kActivation,
    .saves = kSaveInput0 | kSaveOutput,
    ACTGRAD_FORMULA_ROW(Softplus),
    .attrs = kSoftplusAttrs,
    .formulas = &kFormulas<Softplus>,
    .check_cases = &internal::ScalarActivationCases,
};

const OpDef kSilu{
    .name = "silu",
    .formula = "y = x sigmoid(x);  dy/dx = s (1 + x (1 - s)), s = sigmoid(x)",
    .kind = OpKind::kActivation,
    .saves = kSaveInput0 | kSaveOutput,
    ACTGRAD_FORMULA_ROW(Swish),
    .formulas = &kFormulas<Swish>,
    .recommended_init = InitFamily::kHe,
    .check_cases = &internal::ScalarActivationCases,
};

const OpDef kSwish{
    .name = "swish",
    .formula = "y = x sigmoid(beta x);  dy/dx = s + beta x s (1 - s), s = sigmoid(beta x)",
    .kind = OpKind::kActivation,
    .saves = kSaveInput0 | kSaveOutput,
    ACTGRAD_FORMULA_ROW(Swish),
    .attrs = kSwishAttrs,
    .formulas = &kFormulas<Swish>,
    .recommended_init = InitFamily::kHe,
    .check_cases = &internal::ScalarActivationCases,
};

const OpDef kMish{
    .name = "mish",
    .formula = "y = x tanh(softplus(x))",
    .kind = OpKind::kActivation,
    .saves = kSaveInput0 | kSaveOutput,
    ACTGRAD_FORMULA_ROW(Mish),
    .formulas = &kFormulas<Mish>,
    .recommended_init = InitFamily::kHe,
    .check_cases = &internal::ScalarActivationCases,
};

const OpDef kHardtanh{
    .name = "hardtanh",
    .formula = "y = min(max(x, min_val), max_val);  dy/dx = 1 inside, 0 outside",
    .kind = OpKind::kActivation,
    .saves = kSaveInput0 | kSaveOutput,
    ACTGRAD_FORMULA_ROW(Hardtanh),
    .attrs = kHardtanhAttrs,
    .kinks = kHardtanhKinks,
    .kinks_at = &HardtanhKinksAt,
    .formulas = &kFormulas<Hardtanh>,
    .recommended_input_range = InputRange::kSymmetric,
    .check_cases = &HardtanhCases,
};

const OpDef kHardsigmoid{
    .name = "hardsigmoid",
    .formula = "y = min(max(x / 6 + 1/2, 0), 1);  dy/dx = 1/6 for |x| < 3, else 0",
    .kind = OpKind::kActivation,
    .saves = kSaveInput0 | kSaveOutput,
    ACTGRAD_FORMULA_ROW(Hardsigmoid),
    .kinks = kHardsigmoidKinks,
    .formulas = &kFormulas<Hardsigmoid>,
    .check_cases = &internal::ScalarActivationCases,
};

const OpDef kSoftsign{
    .name = "softsign",
    .formula = "y = x / (1 + |x|);  dy/dx = 1 / (1 + |x|)^2",
    .kind = OpKind::kActivation,
    .saves = kSaveInput0 | kSaveOutput,
    ACTGRAD_FORMULA_ROW(Softsign),
    .formulas = &kFormulas<Softsign>,
    .recommended_input_range = InputRange::kSymmetric,
    .check_cases = &internal::ScalarActivationCases,
};

#undef ACTGRAD_FORMULA_ROW

const OpDef kPrelu{
    .name = "prelu",
    .formula =
        "y = x (x > 0), a x (x <= 0), slope a learned;  dx = dy or a dy, da = sum x dy (x <= 0)",
    .kind = OpKind::kElementwise,
    .min_inputs = 2,
    .max_inputs = 2,
    .saves = kSaveInput0 | kSaveInput1,
    .forward = &PreluForward,
    .backward = &PreluBackward,
    .backward_graph = &PreluBackwardGraph,
    .check_cases = &PreluCases,
};

}  // namespace ops
}  // namespace actgrad
