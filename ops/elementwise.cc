// Elementwise arithmetic: add, sub, mul, div (NumPy broadcasting), neg, exp,
// log, sqrt, square, pow, abs, clamp.

#include <cmath>

#include "ops/builtin_ops.h"
#include "ops/check_cases.h"
#include "ops/functional.h"
#include "ops/jvp_rules.h"
#include "ops/kernels.h"

namespace actgrad {
namespace ops {

namespace {

using internal::AsArray;
using internal::EmptyLike;
using internal::SumToShape;

// z = f(a, b) with broadcasting; Fn provides Array(a, b) and Scalar(a, b).
template <typename Fn>
Tensor BroadcastMap(const Tensor& a, const Tensor& b, const Shape& shape) {
  Tensor z = internal::Empty(shape, a.dtype());
  DispatchFloating(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    internal::BroadcastBinary<T>(
        a, b, z, [](const auto& x, const auto& y) { return Fn::Array(x, y); },
        [](T x, T y) { return Fn::Scalar(x, y); });
  });
  return z;
}

template <typename Fn>
Tensor BinaryForward(ForwardContext& ctx) {
  internal::RequireSameFloatingDType(ctx);
  return BroadcastMap<Fn>(ctx.input(0), ctx.input(1), internal::BroadcastOrThrow(ctx));
}

#define ACTGRAD_BINARY_FN(Name, expr)           \
  struct Name {                                 \
    template <typename A, typename B>           \
    static auto Array(const A& a, const B& b) { \
      return expr;                              \
    }                                           \
    template <typename T>                       \
    static T Scalar(T a, T b) {                 \
      return expr;                              \
    }                                           \
  }
ACTGRAD_BINARY_FN(AddFn, a + b);
ACTGRAD_BINARY_FN(SubFn, a - b);
ACTGRAD_BINARY_FN(MulFn, a* b);
ACTGRAD_BINARY_FN(DivFn, a / b);
#undef ACTGRAD_BINARY_FN

// Fills dx for a one-input elementwise op from dy and the saved tensor `s`.
template <typename Fn>
void UnaryBackward(BackwardContext& ctx, const Tensor& s, Fn fn) {
  Tensor dx = EmptyLike(ctx.dy());
  DispatchFloating(dx.dtype(), [&](auto tag) {
    using T = decltype(tag);
    AsArray<T>(dx) = fn(AsArray<T>(ctx.dy()), AsArray<T>(s), T{});
  });
  ctx.set_dx(0, std::move(dx));
}

template <typename Fn>
Tensor UnaryForward(ForwardContext& ctx, Fn fn) {
  internal::RequireSameFloatingDType(ctx);
  const Tensor& x = ctx.input(0);
  Tensor y = EmptyLike(x);
  DispatchFloating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    AsArray<T>(y) = fn(AsArray<T>(x), T{});
  });
  return y;
}

Tensor Negated(const Tensor& t) {
  Tensor out = EmptyLike(t);
  DispatchFloating(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    AsArray<T>(out) = -AsArray<T>(t);
  });
  return out;
}

// ------------------------------------------------------------ add, sub
void AddBackward(BackwardContext& ctx) {
  for (int i = 0; i < 2; ++i) {
    if (ctx.needs_grad(i)) ctx.set_dx(i, SumToShape(ctx.dy(), ctx.input_shape(i)));
  }
}

void SubBackward(BackwardContext& ctx) {
  if (ctx.needs_grad(0)) ctx.set_dx(0, SumToShape(ctx.dy(), ctx.input_shape(0)));
  if (ctx.needs_grad(1)) ctx.set_dx(1, SumToShape(Negated(ctx.dy()), ctx.input_shape(1)));
}

// ------------------------------------------------------------ mul, div
// d(a b) = b da + a db;  d(a / b) = da / b - (a / b^2) db = (da - y db) / b
void MulBackward(BackwardContext& ctx) {
  const Tensor& dy = ctx.dy();
  if (ctx.needs_grad(0)) {
    ctx.set_dx(
        0, SumToShape(BroadcastMap<MulFn>(dy, ctx.saved_input(1), dy.shape()), ctx.input_shape(0)));
  }
  if (ctx.needs_grad(1)) {
    ctx.set_dx(
        1, SumToShape(BroadcastMap<MulFn>(dy, ctx.saved_input(0), dy.shape()), ctx.input_shape(1)));
  }
}

void DivBackward(BackwardContext& ctx) {
  const Tensor& dy = ctx.dy();
  const Tensor dy_over_b = BroadcastMap<DivFn>(dy, ctx.saved_input(1), dy.shape());
  if (ctx.needs_grad(0)) ctx.set_dx(0, SumToShape(dy_over_b, ctx.input_shape(0)));
  if (ctx.needs_grad(1)) {
    const Tensor& y = ctx.saved_output();
    Tensor db = EmptyLike(dy_over_b);
    DispatchFloating(db.dtype(), [&](auto tag) {
      using T = decltype(tag);
      AsArray<T>(db) = -AsArray<T>(dy_over_b) * AsArray<T>(y);
    });
    ctx.set_dx(1, SumToShape(db, ctx.input_shape(1)));
  }
}

// ------------------------------------------------ recorded backwards
void AddBackwardGraph(BackwardContext& ctx) {
  for (int i = 0; i < 2; ++i) {
    if (ctx.needs_grad(i)) ctx.set_dx(i, SumTo(ctx.dy(), ctx.input_shape(i)));
  }
}
void SubBackwardGraph(BackwardContext& ctx) {
  if (ctx.needs_grad(0)) ctx.set_dx(0, SumTo(ctx.dy(), ctx.input_shape(0)));
  if (ctx.needs_grad(1)) ctx.set_dx(1, SumTo(-ctx.dy(), ctx.input_shape(1)));
}
void MulBackwardGraph(BackwardContext& ctx) {
  if (ctx.needs_grad(0)) ctx.set_dx(0, SumTo(ctx.dy() * ctx.saved_input(1), ctx.input_shape(0)));
  if (ctx.needs_grad(1)) ctx.set_dx(1, SumTo(ctx.dy() * ctx.saved_input(0), ctx.input_shape(1)));
}
void DivBackwardGraph(BackwardContext& ctx) {
  const Tensor dy_over_b = ctx.dy() / ctx.saved_input(1);
  if (ctx.needs_grad(0)) ctx.set_dx(0, SumTo(dy_over_b, ctx.input_shape(0)));
  if (ctx.needs_grad(1)) {
    ctx.set_dx(1, SumTo(-(dy_over_b * ctx.saved_output()), ctx.input_shape(1)));
  }
}

std::vector<GradCheckCase> AnyBinaryCases(Generator& gen) {
  return internal::BinaryBroadcastCases(gen, -2.0, 2.0, -2.0, 2.0);
}
std::vector<GradCheckCase> DivCases(Generator& gen) {
  return internal::BinaryBroadcastCases(gen, -2.0, 2.0, 0.5, 2.0);
}

// ------------------------------------------------------------ unary
Tensor NegForward(ForwardContext& ctx) {
  return UnaryForward(ctx, [](const auto& x, auto) { return -x; });
}
void NegBackward(BackwardContext& ctx) { ctx.set_dx(0, Negated(ctx.dy())); }

Tensor ExpForward(ForwardContext& ctx) {
  return UnaryForward(ctx, [](const auto& x, auto) { return x.exp(); });
}
void ExpBackward(BackwardContext& ctx) {
  UnaryBackward(ctx, ctx.saved_output(),
                [](const auto& dy, const auto& y, auto) { return dy * y; });
}

Tensor LogForward(ForwardContext& ctx) {
  return UnaryForward(ctx, [](const auto& x, auto) { return x.log(); });
}
void LogBackward(BackwardContext& ctx) {
  UnaryBackward(ctx, ctx.saved_input(0),
                [](const auto& dy, const auto& x, auto) { return dy / x; });
}

Tensor SqrtForward(ForwardContext& ctx) {
  return UnaryForward(ctx, [](const auto& x, auto) { return x.sqrt(); });
}
void SqrtBackward(BackwardContext& ctx) {
  UnaryBackward(ctx, ctx.saved_output(), [](const auto& dy, const auto& y, auto t) {
    using T = decltype(t);
    return dy / (T{2} * y);
  });
}

Tensor SquareForward(ForwardContext& ctx) {
  return UnaryForward(ctx, [](const auto& x, auto) { return x.square(); });
}
void SquareBackward(BackwardContext& ctx) {
  UnaryBackward(ctx, ctx.saved_input(0), [](const auto& dy, const auto& x, auto t) {
    using T = decltype(t);
    return T{2} * x * dy;
  });
}

Tensor PowForward(ForwardContext& ctx) {
  const double p = ctx.attrs().exponent;
  return UnaryForward(ctx, [p](const auto& x, auto t) {
    using T = decltype(t);
    return x.pow(T(p));
  });
}
void PowBackward(BackwardContext& ctx) {
  const double p = ctx.attrs().exponent;
  UnaryBackward(ctx, ctx.saved_input(0), [p](const auto& dy, const auto& x, auto t) {
    using T = decltype(t);
    return dy * T(p) * x.pow(T(p - 1));
  });
}

Tensor AbsForward(ForwardContext& ctx) {
  return UnaryForward(ctx, [](const auto& x, auto) { return x.abs(); });
}
void AbsBackward(BackwardContext& ctx) {
  const double at_zero = ctx.attrs().grad_at_zero;
  UnaryBackward(ctx, ctx.saved_input(0), [at_zero](const auto& dy, const auto& x, auto t) {
    using T = decltype(t);
    return (x > T{0}).select(dy, (x < T{0}).select(-dy, dy * T(at_zero)));
  });
}

Tensor ClampForward(ForwardContext& ctx) {
  const Attrs& a = ctx.attrs();
  ACTGRAD_REQUIRE(a.min <= a.max, ctx.location(), "clamp: min ", a.min, " exceeds max ", a.max);
  return UnaryForward(ctx, [&a](const auto& x, auto t) {
    using T = decltype(t);
    return x.max(T(a.min)).min(T(a.max));
  });
}
// The gradient passes where min <= x <= max, as in PyTorch.
void ClampBackward(BackwardContext& ctx) {
  const Attrs& a = ctx.attrs();
  UnaryBackward(ctx, ctx.saved_input(0), [&a](const auto& dy, const auto& x, auto t) {
    using T = decltype(t);
    return (x >= T(a.min) && x <= T(a.max)).select(dy, T{0});
  });
}

void NegBackwardGraph(BackwardContext& ctx) { ctx.set_dx(0, -ctx.dy()); }
void ExpBackwardGraph(BackwardContext& ctx) { ctx.set_dx(0, ctx.dy() * ctx.saved_output()); }
void LogBackwardGraph(BackwardContext& ctx) { ctx.set_dx(0, ctx.dy() / ctx.saved_input(0)); }
void SqrtBackwardGraph(BackwardContext& ctx) {
  ctx.set_dx(0, ctx.dy() / (2.0 * ctx.saved_output()));
}
void SquareBackwardGraph(BackwardContext& ctx) {
  ctx.set_dx(0, ctx.dy() * (2.0 * ctx.saved_input(0)));
}
void PowBackwardGraph(BackwardContext& ctx) {
  const double p = ctx.attrs().exponent;
  ctx.set_dx(0, ctx.dy() * (p * Pow(ctx.saved_input(0), p - 1)));
}
// Piecewise-linear ops: dy times a constant factor (the second derivative
// is zero away from the kinks).
void AbsBackwardGraph(BackwardContext& ctx) {
  const double at_zero = ctx.attrs().grad_at_zero;
  ctx.set_dx(0, ctx.dy() * internal::MapValues(ctx.saved_input(0), [at_zero](double x) {
                  return x > 0 ? 1.0 : (x < 0 ? -1.0 : at_zero);
                }));
}
void ClampBackwardGraph(BackwardContext& ctx) {
  const Attrs& a = ctx.attrs();
  ctx.set_dx(0, ctx.dy() * internal::MapValues(ctx.saved_input(0), [&a](double x) {
                  return x >= a.min && x <= a.max ? 1.0 : 0.0;
                }));
}

std::vector<GradCheckCase> AnyUnaryCases(Generator& gen) {
  return internal::UnaryCases(gen, -3.0, 3.0);
}
std::vector<GradCheckCase> PositiveCases(Generator& gen) {
  return internal::UnaryCases(gen, 0.2, 4.0);
}
std::vector<GradCheckCase> PowCases(Generator& gen) {
  std::vector<GradCheckCase> cases;
  for (double p : {3.0, 2.5, -1.5, 0.5}) {
    Attrs attrs;
    attrs.exponent = p;
    for (GradCheckCase& c : internal::UnaryCases(gen, 0.3, 2.5, attrs)) {
      c.description += absl::StrCat(" exponent ", p);
      cases.push_back(std::move(c));
    }
  }
  return cases;
}
std::vector<GradCheckCase> ClampCases(Generator& gen) {
  Attrs attrs;
  attrs.min = -1.0;
  attrs.max = 1.5;
  // Mostly inside the bounds (where the gradient is not zero), plus a grid
  // on both sides of each.
  std::vector<GradCheckCase> cases = internal::UnaryCases(gen, -1.5, 2.0, attrs);
  cases.push_back({{FromValues({-2.5, -1.2, -0.5, 0.3, 1.2, 1.7, 3.0}, DType::kFloat64)},
                   attrs,
                   "grid around the bounds",
                   {}});
  for (GradCheckCase& c : cases) c.kinks = {attrs.min, attrs.max};
  return cases;
}

constexpr double kKinkAtZero[] = {0.0};

constexpr AttrSpec kPowAttrs[] = {
    {"exponent", "the power p in x^p", &Attrs::exponent},
};
constexpr AttrSpec kClampAttrs[] = {
    {"min", "lower bound", &Attrs::min},
    {"max", "upper bound", &Attrs::max},
};
constexpr AttrSpec kAbsAttrs[] = {
    {.name = "grad_at_zero",
     .meaning = "derivative reported at exactly x = 0",
     .real = &Attrs::grad_at_zero,
     .low = -1,
     .high = 1},
};

}  // namespace

const OpDef kAdd{
    .name = "add",
    .formula = "y = a + b (broadcasting);  da = sum_to(dy), db = sum_to(dy)",
    .min_inputs = 2,
    .max_inputs = 2,
    .forward = &BinaryForward<AddFn>,
    .backward = &AddBackward,
    .backward_graph = &AddBackwardGraph,
    .jvp = &internal::LinearJvp,
    .check_cases = &AnyBinaryCases,
};

const OpDef kSub{
    .name = "sub",
    .formula = "y = a - b (broadcasting);  da = sum_to(dy), db = -sum_to(dy)",
    .min_inputs = 2,
    .max_inputs = 2,
    .forward = &BinaryForward<SubFn>,
    .backward = &SubBackward,
    .backward_graph = &SubBackwardGraph,
    .jvp = &internal::LinearJvp,
    .check_cases = &AnyBinaryCases,
};

const OpDef kMul{
    .name = "mul",
    .formula = "y = a b (broadcasting);  da = sum_to(dy b), db = sum_to(dy a)",
    .min_inputs = 2,
    .max_inputs = 2,
    .saves = kSaveInput0 | kSaveInput1,
    .forward = &BinaryForward<MulFn>,
    .backward = &MulBackward,
    .backward_graph = &MulBackwardGraph,
    .jvp = &internal::ProductJvp,
    .check_cases = &AnyBinaryCases,
};

const OpDef kDiv{
    .name = "div",
    .formula = "y = a / b (broadcasting);  da = sum_to(dy / b), db = -sum_to(dy y / b)",
    .min_inputs = 2,
    .max_inputs = 2,
    .saves = kSaveInput1 | kSaveOutput,
    .forward = &BinaryForward<DivFn>,
    .backward = &DivBackward,
    .backward_graph = &DivBackwardGraph,
    .jvp = &internal::DivJvp,
    .check_cases = &DivCases,
};

const OpDef kNeg{
    .name = "neg",
    .formula = "y = -x;  dx = -dy",
    .forward = &NegForward,
    .backward = &NegBackward,
    .backward_graph = &NegBackwardGraph,
    .check_cases = &AnyUnaryCases,
};

const OpDef kExp{
    .name = "exp",
    .formula = "y = exp(x);  dx = dy y",
    .saves = kSaveOutput,
    .forward = &ExpForward,
    .backward = &ExpBackward,
    .backward_graph = &ExpBackwardGraph,
    .check_cases = &AnyUnaryCases,
};

const OpDef kLog{
    .name = "log",
    .formula = "y = log(x);  dx = dy / x",
    .saves = kSaveInput0,
    .forward = &LogForward,
    .backward = &LogBackward,
    .backward_graph = &LogBackwardGraph,
    .check_cases = &PositiveCases,
};

const OpDef kSqrt{
    .name = "sqrt",
    .formula = "y = sqrt(x);  dx = dy / (2 y)",
    .saves = kSaveOutput,
    .forward = &SqrtForward,
    .backward = &SqrtBackward,
    .backward_graph = &SqrtBackwardGraph,
    .check_cases = &PositiveCases,
};

const OpDef kSquare{
    .name = "square",
    .formula = "y = x^2;  dx = 2 x dy",
    .saves = kSaveInput0,
    .forward = &SquareForward,
    .backward = &SquareBackward,
    .backward_graph = &SquareBackwardGraph,
    .check_cases = &AnyUnaryCases,
};

const OpDef kPow{
    .name = "pow",
    .formula = "y = x^p (scalar p);  dx = p x^(p-1) dy",
    .saves = kSaveInput0,
    .forward = &PowForward,
    .backward = &PowBackward,
    .backward_graph = &PowBackwardGraph,
    .attrs = kPowAttrs,
    .check_cases = &PowCases,
};

const OpDef kAbs{
    .name = "abs",
    .formula = "y = |x|;  dx = sign(x) dy, grad_at_zero dy at x = 0",
    .saves = kSaveInput0,
    .forward = &AbsForward,
    .backward = &AbsBackward,
    .backward_graph = &AbsBackwardGraph,
    .attrs = kAbsAttrs,
    .kinks = kKinkAtZero,
    .check_cases = &AnyUnaryCases,
};

const OpDef kClamp{
    .name = "clamp",
    .formula = "y = min(max(x, min), max);  dx = dy where min <= x <= max, else 0",
    .saves = kSaveInput0,
    .forward = &ClampForward,
    .backward = &ClampBackward,
    .backward_graph = &ClampBackwardGraph,
    .attrs = kClampAttrs,
    .check_cases = &ClampCases,
};

}  // namespace ops
}  // namespace actgrad
