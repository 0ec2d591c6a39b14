// The fused row linear_activation: y = f(x W^T + b) as one op node, for the
// activations whose derivative the output alone determines. Forward is the
// linear row's product (bias folded in) followed by f in place, while the
// rows are still in cache; backward computes dz = dy f'(y) and the bias
// gradient (column sums of dz) in one pass over dy and y, then the two
// products. A Linear layer followed by an Activation and the same two ops
// computed separately give the same values (fused_ops_test); the fused node
// saves one tensor, one node and two passes over memory.

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>

#include "ops/builtin_ops.h"
#include "ops/check_cases.h"
#include "ops/functional.h"
#include "ops/kernels.h"
#include "ops/linear_kernels.h"
#include "ops/logistic.h"
#include "ops/pick.h"

namespace actgrad {

namespace {

enum class Fused { kIdentity, kSigmoid, kTanh, kRelu, kLeakyRelu };

std::optional<Fused> FusedKind(const OpDef* activation, const Attrs& attrs) {
  if (activation == &ops::kIdentity) return Fused::kIdentity;
  if (activation == &ops::kSigmoid) return Fused::kSigmoid;
  if (activation == &ops::kTanh) return Fused::kTanh;
  // relu's derivative at exactly 0 and leaky_relu's with a slope <= 0 need
  // the input, which the fused node does not keep.
  if (activation == &ops::kRelu && attrs.grad_at_zero == 0.0) return Fused::kRelu;
  if (activation == &ops::kLeakyRelu && attrs.alpha > 0.0 && std::isfinite(attrs.alpha)) {
    return Fused::kLeakyRelu;
  }
  return std::nullopt;
}

Fused KindOrThrow(const ForwardContext& ctx) {
  const OpDef* target = ctx.attrs().target;
  const std::optional<Fused> kind = FusedKind(target, ctx.attrs());
  ACTGRAD_REQUIRE(kind.has_value(), ctx.location(), ctx.op().name,
                  ": the activation must be identity, sigmoid, tanh, relu (grad_at_zero 0) or "
                  "leaky_relu (alpha > 0), got ",
                  target == nullptr ? "none" : std::string(target->name),
                  "; apply Linear and the activation separately instead");
  return *kind;
}

template <typename T>
using Row = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <typename T>
using ConstRow = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

// y = f(y) in place; NaN stays NaN.
template <typename T>
void ActivateInPlace(Fused kind, T alpha, T* y, int64_t n) {
  Row<T> v(y, n);
  switch (kind) {
    case Fused::kIdentity:
      return;
    case Fused::kSigmoid:
      if constexpr (std::is_same_v<T, float>) {
        internal::LogisticFloat(y, y, n);  // within 3 ulps (ops/logistic.h)
      } else {
        v = internal::Logistic(v);
      }
      return;
    case Fused::kTanh:
      if constexpr (std::is_same_v<T, float>) {
        internal::TanhFloat(y, y, n);
      } else {
        v = v.tanh();
      }
      return;
    case Fused::kRelu:
      for (int64_t i = 0; i < n; ++i) y[i] = y[i] < T{0} ? T{0} : y[i];
      return;
    case Fused::kLeakyRelu:
      for (int64_t i = 0; i < n; ++i) y[i] = y[i] * internal::Pick(y[i] > T{0}, T{1}, alpha);
      return;
  }
}

Tensor LinearActivationForward(ForwardContext& ctx) {
  const Fused kind = KindOrThrow(ctx);
  Tensor y = internal::LinearValues(ctx);
  DispatchFloating(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    ActivateInPlace(kind, T(ctx.attrs().alpha), static_cast<T*>(y.raw_data()), y.numel());
  });
  return y;
}

// dz = dy f'(y) row by row, with db += dz on the same pass. For identity
// dz is dy itself, and only db is computed (dz may be null).
template <typename T>
void ActivationGradientAndBiasSum(Fused kind, T alpha, const T* dy, const T* y, T* dz, T* db,
                                  int64_t rows, int64_t out) {
  for (int64_t r = 0; r < rows; ++r) {
    const ConstRow<T> g(dy + r * out, out), v(y + r * out, out);
    if (kind == Fused::kIdentity) {
      if (db != nullptr) Row<T>(db, out) += g;
      continue;
    }
    Row<T> d(dz + r * out, out);
    switch (kind) {
      case Fused::kIdentity:
        break;
      case Fused::kSigmoid:
        d = g * v * (T{1} - v);
        break;
      case Fused::kTanh:
        d = g * ((T{1} - v) * (T{1} + v));  // 1 - v exact near saturation
        break;
      case Fused::kRelu:
        for (int64_t j = 0; j < out; ++j) d[j] = g[j] * internal::Pick(v[j] > T{0}, T{1}, T{0});
        break;
      case Fused::kLeakyRelu:
        for (int64_t j = 0; j < out; ++j) d[j] = g[j] * internal::Pick(v[j] > T{0}, T{1}, alpha);
        break;
    }
    if (db != nullptr) Row<T>(db, out) += d;
  }
}

void LinearActivationBackward(BackwardContext& ctx) {
  const Fused kind = *FusedKind(ctx.attrs().target, ctx.attrs());
  const Tensor& y = ctx.saved_output();
  const Tensor& dy = ctx.dy();
  const int64_t out = y.dim(y.rank() - 1), rows = y.numel() / std::max<int64_t>(out, 1);
  const bool bias_grad = ctx.num_inputs() == 3 && ctx.needs_grad(2);
  const bool identity = kind == Fused::kIdentity;
  const Tensor dz = identity ? dy : internal::Empty(y.shape(), y.dtype());
  // The bias gradient is summed straight into the leaf's where it may be.
  const Tensor* bias_into = bias_grad ? ctx.gradient_to_add_into(2) : nullptr;
  Tensor db = !bias_grad             ? Tensor()
              : bias_into != nullptr ? *bias_into
                                     : internal::ZerosOf(Shape{out}, y.dtype());
  DispatchFloating(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    ActivationGradientAndBiasSum(kind, T(ctx.attrs().alpha), static_cast<const T*>(dy.raw_data()),
                                 static_cast<const T*>(y.raw_data()),
                                 identity ? nullptr : static_cast<T*>(dz.raw_data()),
                                 bias_grad ? static_cast<T*>(db.raw_data()) : nullptr, rows, out);
  });
  internal::LinearProductGradients(ctx, dz);
  if (bias_into != nullptr) {
    ctx.set_dx_added(2);
  } else if (bias_grad) {
    ctx.set_dx(2, std::move(db));
  }
}

// The same with recorded ops, for BackwardOptions::create_graph; y is the
// node's output, so second derivatives follow through it.
void LinearActivationBackwardGraph(BackwardContext& ctx) {
  const Fused kind = *FusedKind(ctx.attrs().target, ctx.attrs());
  const Tensor& y = ctx.saved_output();
  const int64_t out = y.dim(y.rank() - 1);
  const double alpha = ctx.attrs().alpha;
  Tensor dz;
  switch (kind) {
    case Fused::kIdentity:
      dz = ctx.dy();
      break;
    case Fused::kSigmoid:
      dz = ctx.dy() * (y * (1.0 - y));
      break;
    case Fused::kTanh:
      dz = ctx.dy() * (1.0 - Square(y));
      break;
    case Fused::kRelu:
      dz = ctx.dy() * internal::MapValues(y, [](double v) { return v > 0 ? 1.0 : 0.0; });
      break;
    case Fused::kLeakyRelu:
      dz = ctx.dy() * internal::MapValues(y, [alpha](double v) { return v > 0 ? 1.0 : alpha; });
      break;
  }
  dz = Reshape(dz, {-1, out});
  internal::LinearProductGradientsGraph(ctx, dz);
  if (ctx.num_inputs() == 3 && ctx.needs_grad(2)) ctx.set_dx(2, Sum(dz, 0));
}

// Inputs for a check of the fused row with a kinked activation (relu,
// leaky_relu): redrawn until every pre-activation x W^T + b is at least
// kKinkMargin from the kink at 0 and some are positive. A finite-difference
// stencil (steps of 1e-3) that crossed the kink would measure the wrong
// side's slope, and an all-negative relu case would have gradients that are
// all zero, which prove nothing; the kink itself is the activation's own
// check's business.
constexpr double kKinkMargin = 0.05;

std::vector<Tensor> AwayFromKink(Generator& gen, const Shape& x_shape, const Shape& w_shape,
                                 bool bias) {
  for (;;) {
    std::vector<Tensor> in = {internal::RandomDouble(x_shape, -1, 1, gen),
                              internal::RandomDouble(w_shape, -1, 1, gen)};
    if (bias) in.push_back(internal::RandomDouble({w_shape[0]}, -1, 1, gen));
    const std::vector<double> x = in[0].ToVector(), w = in[1].ToVector();
    const std::vector<double> b = bias ? in[2].ToVector() : std::vector<double>(w_shape[0], 0.0);
    const int64_t k = w_shape[1];
    bool clear = true, some_positive = false;
    for (size_t row = 0; row < x.size() / k; ++row) {
      for (int64_t out = 0; out < w_shape[0]; ++out) {
        double z = b[out];
        for (int64_t j = 0; j < k; ++j) z += x[row * k + j] * w[out * k + j];
        clear &= std::abs(z) >= kKinkMargin;
        some_positive |= z > 0;
      }
    }
    if (clear && some_positive) return in;
  }
}

std::vector<GradCheckCase> LinearActivationCases(Generator& gen) {
  auto r = [&](const Shape& s) { return internal::RandomDouble(s, -1, 1, gen); };
  std::vector<GradCheckCase> cases;
  const struct {
    const OpDef* op;
    double alpha;
  } activations[] = {{&ops::kIdentity, 0.01},
                     {&ops::kSigmoid, 0.01},
                     {&ops::kTanh, 0.01},
                     {&ops::kRelu, 0.01},
                     {&ops::kLeakyRelu, 0.2}};
  for (const auto& [op, alpha] : activations) {
    Attrs attrs;
    attrs.target = op;
    attrs.alpha = alpha;
    const std::string name(op->name);
    if (!op->kinks.empty()) {
      cases.push_back({AwayFromKink(gen, {4, 3}, {2, 3}, /*bias=*/true),
                       attrs,
                       "[4,3] by [2,3] + [2], " + name,
                       {}});
      cases.push_back({AwayFromKink(gen, {5, 3}, {4, 3}, /*bias=*/false),
                       attrs,
                       "[5,3] by [4,3], no bias, " + name,
                       {}});
      continue;
    }
    cases.push_back({{r({4, 3}), r({2, 3}), r({2})}, attrs, "[4,3] by [2,3] + [2], " + name, {}});
    cases.push_back({{r({5, 3}), r({4, 3})}, attrs, "[5,3] by [4,3], no bias, " + name, {}});
  }
  Attrs tanh;
  tanh.target = &ops::kTanh;
  cases.push_back(
      {{r({2, 3, 3}), r({2, 3}), r({2})}, tanh, "[2,3,3] by [2,3] + [2] (leading dims), tanh", {}});
  return cases;
}

}  // namespace

namespace ops {

const OpDef kLinearActivation{
    .name = "linear_activation",
    .formula =
        "Y = f(X W^T + b) for f in identity, sigmoid, tanh, relu, leaky_relu;  "
        "dZ = dY f'(Y), dX = dZ W, dW = dZ^T X, db = sum_rows(dZ)",
    .kind = OpKind::kLinalg,
    .min_inputs = 2,
    .max_inputs = 3,
    .saves = kSaveInput0 | kSaveInput1 | kSaveOutput,
    .forward = &LinearActivationForward,
    .backward = &LinearActivationBackward,
    .backward_graph = &LinearActivationBackwardGraph,
    .check_cases = &LinearActivationCases,
    .forward_flops = &internal::LinearFlops,
};

}  // namespace ops

bool CanFuseWithLinear(const OpDef& activation, const Attrs& attrs) {
  return FusedKind(&activation, attrs).has_value();
}

Tensor LinearActivation(const Tensor& x, const Tensor& weight, const Tensor& bias,
                        const OpDef& activation, const Attrs& attrs, Location location) {
  Attrs fused = attrs;
  fused.target = &activation;
  if (!bias.defined()) return Apply(ops::kLinearActivation, {x, weight}, fused, location);
  return Apply(ops::kLinearActivation, {x, weight, bias}, fused, location);
}

}  // namespace actgrad
