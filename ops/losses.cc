// Losses, each the mean over its elements (or over the batch for
// cross_entropy): mse_loss, binary_cross_entropy (on probabilities),
// binary_cross_entropy_with_logits and cross_entropy (softmax on logits with
// int64 class labels).
//
// float32 inputs are computed on in double, element by element, and summed
// in double: the loss and the gradient keep float32's relative accuracy at
// logits up to +-1e4, where float arithmetic would cancel (logsumexp minus
// the label's logit, sigmoid(z) - 1, a softmax probability minus 1) or round
// a large intermediate (m + log(sum) at m = 1e4 is 1e-3 coarse).
// tests/float32_accuracy_test.cc holds them to long double references.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "ops/builtin_ops.h"
#include "ops/check_cases.h"
#include "ops/functional.h"
#include "ops/kernels.h"
#include "ops/prefetch.h"

namespace actgrad {
namespace ops {

namespace {

using internal::AsArray;

// log(p) is clamped below at -100, as PyTorch does, so probabilities of
// exactly 0 or 1 give a large finite loss instead of Inf.
constexpr double kLogFloor = -100.0;
// The denominator p (1 - p) of the BCE gradient is kept above this.
constexpr double kBceGradEps = 1e-12;

Tensor ScalarOut(DType dtype, double value) {
  Tensor y = internal::Empty(Shape(), dtype);
  DispatchFloating(dtype, [&](auto tag) {
    using T = decltype(tag);
    *static_cast<T*>(y.raw_data()) = static_cast<T>(value);
  });
  return y;
}

// dy of a scalar loss, as double.
double UpstreamScalar(const BackwardContext& ctx) { return ctx.dy().item(); }

void RequireNonEmpty(const ForwardContext& ctx) {
  ACTGRAD_REQUIRE(ctx.input(0).numel() > 0, ctx.location(), ctx.op().name, ": the input is empty");
}

// ------------------------------------------------------------------- mse
// sum (p - t)^2 in double, over kLanes independent partial sums: a single
// running sum is one long chain of dependent adds, which the compiler may not
// reorder, and made this loss 2 % of a 16-layer training step.
template <typename T>
double SumOfSquaredDifferences(const T* p, const T* t, int64_t n) {
  constexpr int kLanes = 8;
  double lanes[kLanes] = {};
  int64_t i = 0;
  // Two rounds of the lanes per step (a line of floats), adding in the same
  // order as one; the conversions to double are slow enough that the loop
  // asks for its lines itself (ops/prefetch.h: W8's loss, 165 -> 120 us).
  for (; i + 2 * kLanes <= n; i += 2 * kLanes) {
    internal::PrefetchAheadOf(p + i, 2 * kLanes);
    internal::PrefetchAheadOf(t + i, 2 * kLanes);
    for (int l = 0; l < 2 * kLanes; ++l) {
      const double d = double(p[i + l]) - double(t[i + l]);
      lanes[l % kLanes] += d * d;
    }
  }
  for (; i + kLanes <= n; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) {
      const double d = double(p[i + l]) - double(t[i + l]);
      lanes[l] += d * d;
    }
  }
  for (int l = 0; i < n; ++i, ++l) {
    const double d = double(p[i]) - double(t[i]);
    lanes[l] += d * d;
  }
  double sum = 0;
  for (double lane : lanes) sum += lane;
  return sum;
}

// y = mean((p - t)^2);  dp = 2 (p - t) dy / n, dt = -dp
Tensor MseForward(ForwardContext& ctx) {
  internal::RequireSameFloatingDType(ctx);
  internal::RequireSameShape(ctx);
  RequireNonEmpty(ctx);
  const Tensor& p = ctx.input(0);
  double loss = 0;
  DispatchFloating(p.dtype(), [&](auto tag) {
    using T = decltype(tag);
    loss = SumOfSquaredDifferences(static_cast<const T*>(p.raw_data()),
                                   static_cast<const T*>(ctx.input(1).raw_data()), p.numel()) /
           static_cast<double>(p.numel());
  });
  return ScalarOut(p.dtype(), loss);
}

void MseBackward(BackwardContext& ctx) {
  const Tensor& p = ctx.saved_input(0);
  const Tensor& t = ctx.saved_input(1);
  Tensor dp = internal::EmptyLike(p);
  const double scale = 2.0 * UpstreamScalar(ctx) / static_cast<double>(p.numel());
  DispatchFloating(p.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pv = static_cast<const T*>(p.raw_data());
    const T* tv = static_cast<const T*>(t.raw_data());
    T* out = static_cast<T*>(dp.raw_data());
    // In double, as the forward; asking for the lines ahead as it does
    // (W8's, 150 -> 110 us).
    constexpr int64_t kStep = 16;
    const int64_t n = p.numel();
    for (int64_t i = 0; i < n; i += kStep) {
      internal::PrefetchAheadOf(pv + i, kStep);
      internal::PrefetchAheadOf(tv + i, kStep);
      const int64_t len = std::min(kStep, n - i);
      for (int64_t l = 0; l < len; ++l) {
        out[i + l] = T((double(pv[i + l]) - double(tv[i + l])) * scale);
      }
    }
  });
  if (ctx.needs_grad(1)) {
    Tensor dt = internal::EmptyLike(dp);
    DispatchFloating(p.dtype(), [&](auto tag) {
      using T = decltype(tag);
      AsArray<T>(dt) = -AsArray<T>(dp);
    });
    ctx.set_dx(1, std::move(dt));
  }
  if (ctx.needs_grad(0)) ctx.set_dx(0, std::move(dp));
}

// The recorded forms of the four losses' gradients, with dy the (recorded)
// scalar upstream gradient.
void MseBackwardGraph(BackwardContext& ctx) {
  const Tensor& p = ctx.saved_input(0);
  const Tensor dp = ctx.dy() * ((p - ctx.saved_input(1)) * (2.0 / double(p.numel())));
  if (ctx.needs_grad(0)) ctx.set_dx(0, dp);
  if (ctx.needs_grad(1)) ctx.set_dx(1, -dp);
}

// ẏ = 2 mean((p - t)(ṗ - ṫ)).
Tensor MseJvp(JvpContext& ctx) {
  const Tensor& p = ctx.input(0);
  Tensor direction = ctx.has_tangent(0) ? ctx.tangent(0) : Tensor();
  if (ctx.has_tangent(1)) {
    direction = direction.defined() ? direction - ctx.tangent(1) : -ctx.tangent(1);
  }
  const Tensor sum = Sum((p - ctx.input(1)) * direction) * (2.0 / double(p.numel()));
  return Reshape(sum, std::vector<int64_t>(ctx.output().shape().dims().begin(),
                                           ctx.output().shape().dims().end()));
}

std::vector<GradCheckCase> MseCases(Generator& gen) {
  auto r = [&](const Shape& s) { return internal::RandomDouble(s, -2, 2, gen); };
  return {{{r({4, 3}), r({4, 3})}, {}, "[4,3]", {}}, {{r({5}), r({5})}, {}, "[5]", {}}};
}

// ------------------------------------------------- binary_cross_entropy
// y = -mean(t log p + (1 - t) log(1 - p))
// dp = (p - t) / max(p (1 - p), eps) dy / n;  dt = (log(1 - p) - log p) dy / n
Tensor BceForward(ForwardContext& ctx) {
  internal::RequireSameFloatingDType(ctx);
  internal::RequireSameShape(ctx);
  RequireNonEmpty(ctx);
  const Tensor& p = ctx.input(0);
  double loss = 0;
  DispatchFloating(p.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const auto pa = AsArray<T>(p).template cast<double>();
    const auto ta = AsArray<T>(ctx.input(1)).template cast<double>();
    const auto log_p = pa.log().max(kLogFloor);
    const auto log_1mp = (-pa).log1p().max(kLogFloor);
    loss = -(ta * log_p + (1.0 - ta) * log_1mp).sum() / static_cast<double>(p.numel());
  });
  return ScalarOut(p.dtype(), loss);
}

void BceBackward(BackwardContext& ctx) {
  const Tensor& p = ctx.saved_input(0);
  const Tensor& t = ctx.saved_input(1);
  const double scale = UpstreamScalar(ctx) / static_cast<double>(p.numel());
  DispatchFloating(p.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const auto pa = AsArray<T>(p).template cast<double>();
    const auto ta = AsArray<T>(t).template cast<double>();
    if (ctx.needs_grad(0)) {
      Tensor dp = internal::EmptyLike(p);
      AsArray<T>(dp) = ((pa - ta) / (pa * (1.0 - pa)).max(kBceGradEps) * scale).template cast<T>();
      ctx.set_dx(0, std::move(dp));
    }
    if (ctx.needs_grad(1)) {
      Tensor dt = internal::EmptyLike(t);
      AsArray<T>(dt) =
          (((-pa).log1p().max(kLogFloor) - pa.log().max(kLogFloor)) * scale).template cast<T>();
      ctx.set_dx(1, std::move(dt));
    }
  });
}

void BceBackwardGraph(BackwardContext& ctx) {
  const Tensor& p = ctx.saved_input(0);
  const Tensor& t = ctx.saved_input(1);
  const double n = double(p.numel());
  if (ctx.needs_grad(0)) {
    const Tensor denominator = Clamp(p * (1.0 - p), kBceGradEps, HUGE_VAL);
    ctx.set_dx(0, ctx.dy() * ((p - t) / denominator * (1.0 / n)));
  }
  if (ctx.needs_grad(1)) {
    const Tensor log_1mp = Clamp(Log(1.0 - p), kLogFloor, HUGE_VAL);
    const Tensor log_p = Clamp(Log(p), kLogFloor, HUGE_VAL);
    ctx.set_dx(1, ctx.dy() * ((log_1mp - log_p) * (1.0 / n)));
  }
}

std::vector<GradCheckCase> BceCases(Generator& gen) {
  auto prob = [&](const Shape& s) { return internal::RandomDouble(s, 0.05, 0.95, gen); };
  return {{{prob({4, 3}), prob({4, 3})}, {}, "[4,3]", {}}, {{prob({6}), prob({6})}, {}, "[6]", {}}};
}

// ------------------------------------- binary_cross_entropy_with_logits
// y = mean(max(z, 0) - z t + log(1 + exp(-|z|)))   (stable for |z| ~ 100)
// dz = (sigmoid(z) - t) dy / n;  dt = -z dy / n
Tensor BceLogitsForward(ForwardContext& ctx) {
  internal::RequireSameFloatingDType(ctx);
  internal::RequireSameShape(ctx);
  RequireNonEmpty(ctx);
  const Tensor& z = ctx.input(0);
  double loss = 0;
  DispatchFloating(z.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pz = static_cast<const T*>(z.raw_data());
    const T* pt = static_cast<const T*>(ctx.input(1).raw_data());
    for (int64_t i = 0; i < z.numel(); ++i) {
      const double v = pz[i];
      loss += (v > 0 ? v : 0.0) - v * double(pt[i]) + std::log1p(std::exp(-std::abs(v)));
    }
    loss /= static_cast<double>(z.numel());
  });
  return ScalarOut(z.dtype(), loss);
}

void BceLogitsBackward(BackwardContext& ctx) {
  const Tensor& z = ctx.saved_input(0);
  const Tensor& t = ctx.saved_input(1);
  const double scale = UpstreamScalar(ctx) / static_cast<double>(z.numel());
  DispatchFloating(z.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (ctx.needs_grad(0)) {
      // sigmoid(z) - t as (1 - t) - sigmoid(-z) for z >= 0: sigmoid(20) is 1
      // in float, and sigmoid(20) - 1 would be 0 instead of -2e-9.
      Tensor dz = internal::EmptyLike(z);
      const T* pz = static_cast<const T*>(z.raw_data());
      const T* pt = static_cast<const T*>(t.raw_data());
      T* out = static_cast<T*>(dz.raw_data());
      for (int64_t i = 0; i < z.numel(); ++i) {
        const double v = pz[i], target = pt[i];
        const double e = std::exp(-std::abs(v)), q = e / (1.0 + e);  // sigmoid(-|z|)
        out[i] = T((v >= 0 ? (1.0 - target) - q : q - target) * scale);
      }
      ctx.set_dx(0, std::move(dz));
    }
    if (ctx.needs_grad(1)) {
      Tensor dt = internal::EmptyLike(t);
      AsArray<T>(dt) = -AsArray<T>(z) * T(scale);
      ctx.set_dx(1, std::move(dt));
    }
  });
}

void BceLogitsBackwardGraph(BackwardContext& ctx) {
  const Tensor& z = ctx.saved_input(0);
  const Tensor& t = ctx.saved_input(1);
  const double n = double(z.numel());
  if (ctx.needs_grad(0)) ctx.set_dx(0, ctx.dy() * ((Sigmoid(z) - t) * (1.0 / n)));
  if (ctx.needs_grad(1)) ctx.set_dx(1, ctx.dy() * (z * (-1.0 / n)));
}

std::vector<GradCheckCase> BceLogitsCases(Generator& gen) {
  return {{{internal::RandomDouble({4, 3}, -4, 4, gen), internal::RandomDouble({4, 3}, 0, 1, gen)},
           {},
           "[4,3]",
           {}},
          {{FromValues({-100.0, -20.0, 0.5, 20.0, 100.0}, DType::kFloat64),
            FromValues({1.0, 0.0, 0.5, 1.0, 0.0}, DType::kFloat64)},
           {},
           "saturated logits",
           {}}};
}

// --------------------------------------------------------- cross_entropy
// y = mean_i(logsumexp(z_i) - z_i[label_i]);  dz = (softmax(z) - onehot) dy / N
Tensor CrossEntropyForward(ForwardContext& ctx) {
  const Tensor& z = ctx.input(0);
  const Tensor& labels = ctx.input(1);
  ACTGRAD_REQUIRE(IsFloating(z.dtype()), ctx.location(),
                  "cross_entropy: logits must be float32 or float64, got ", DTypeName(z.dtype()));
  ACTGRAD_REQUIRE(labels.dtype() == DType::kInt64, ctx.location(),
                  "cross_entropy: labels must be int64 class indices, got ",
                  DTypeName(labels.dtype()), " (make them with Labels())");
  ACTGRAD_REQUIRE(z.rank() == 2 && labels.rank() == 1 && labels.dim(0) == z.dim(0), ctx.location(),
                  "cross_entropy: needs logits [batch, classes] and labels [batch], got ",
                  internal::DescribeShapes(ctx.inputs()));
  const int64_t batch = z.dim(0), classes = z.dim(1);
  ACTGRAD_REQUIRE(batch > 0 && classes > 0, ctx.location(), "cross_entropy: empty logits ",
                  z.shape().ToString());
  const int64_t* pl = labels.data<int64_t>();
  for (int64_t i = 0; i < batch; ++i) {
    ACTGRAD_REQUIRE(pl[i] >= 0 && pl[i] < classes, ctx.location(), "cross_entropy: label ", pl[i],
                    " at row ", i, " is outside [0, ", classes, ")");
  }
  // The softmax is kept for backward (the fused gradient needs nothing else).
  Tensor probabilities = internal::EmptyLike(z);
  double loss = 0;
  DispatchFloating(z.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pz = static_cast<const T*>(z.raw_data());
    T* pp = static_cast<T*>(probabilities.raw_data());
    // In double: z - m is exact for float logits, and the loss is
    // (m - z[label]) + log1p(rest), rest the sum of exp(z - m) over all but
    // the largest logit: two terms that do not cancel, and no 1 + rest
    // rounded before its logarithm (1e-13 losses keep their digits).
    // Each exp(z - m) once per row, kept in double for both the sum and the
    // probabilities (exp is most of this op's time).
    std::vector<double> shifted(classes);
    for (int64_t i = 0; i < batch; ++i) {
      const T* row = pz + i * classes;
      T* prob = pp + i * classes;
      int64_t top = 0;
      for (int64_t c = 1; c < classes; ++c) top = row[c] > row[top] ? c : top;
      const double m = row[top];
      double rest = 0;
      for (int64_t c = 0; c < classes; ++c) {
        shifted[c] = std::exp(double(row[c]) - m);
        rest += c == top ? 0.0 : shifted[c];
      }
      const double inv = 1.0 / (1.0 + rest);
      for (int64_t c = 0; c < classes; ++c) prob[c] = T(shifted[c] * inv);
      loss += (m - double(row[pl[i]])) + std::log1p(rest);
    }
  });
  ctx.SaveExtra(std::move(probabilities));
  return ScalarOut(z.dtype(), loss / static_cast<double>(batch));
}

void CrossEntropyBackward(BackwardContext& ctx) {
  const Tensor& probabilities = ctx.extra(0);
  const Tensor& labels = ctx.saved_input(1);
  const int64_t batch = probabilities.dim(0), classes = probabilities.dim(1);
  const double scale = UpstreamScalar(ctx) / static_cast<double>(batch);
  Tensor dz = internal::EmptyLike(probabilities);
  DispatchFloating(dz.dtype(), [&](auto tag) {
    using T = decltype(tag);
    AsArray<T>(dz) = (AsArray<T>(probabilities).template cast<double>() * scale).template cast<T>();
    const T* pp = static_cast<const T*>(probabilities.raw_data());
    T* pdz = static_cast<T*>(dz.raw_data());
    const int64_t* pl = labels.data<int64_t>();
    for (int64_t i = 0; i < batch; ++i) {
      // p - 1 at the label; where p nears 1 that cancels, and it is minus
      // the other classes' probabilities instead.
      const T* prob = pp + i * classes;
      const int64_t label = pl[i];
      double d = double(prob[label]) - 1.0;
      if (prob[label] >= T(0.5)) {
        d = 0;
        for (int64_t c = 0; c < classes; ++c) d -= c == label ? 0.0 : double(prob[c]);
      }
      pdz[i * classes + label] = T(d * scale);
    }
  });
  ctx.set_dx(0, std::move(dz));
}

// dz = (softmax(z) - onehot) dy / N, with softmax recomputed as an op on
// the saved logits so that it differentiates again.
void CrossEntropyBackwardGraph(BackwardContext& ctx) {
  const Tensor& z = ctx.saved_input(0);
  const Tensor& labels = ctx.saved_input(1);
  const int64_t batch = z.dim(0), classes = z.dim(1);
  Tensor onehot = internal::ZerosOf(z.shape(), z.dtype());
  DispatchFloating(z.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* po = static_cast<T*>(onehot.raw_data());
    const int64_t* pl = labels.data<int64_t>();
    for (int64_t i = 0; i < batch; ++i) po[i * classes + pl[i]] = T(1);
  });
  ctx.set_dx(0, ctx.dy() * ((Softmax(z, -1) - onehot) * (1.0 / double(batch))));
}

std::vector<GradCheckCase> CrossEntropyCases(Generator& gen) {
  return {{{internal::RandomDouble({4, 5}, -3, 3, gen), Labels({0, 4, 2, 2})}, {}, "[4,5]", {}},
          {{FromValues({1000.0, -1000.0, 0.0, 999.0, 1001.0, 998.0}, Shape{2, 3}, DType::kFloat64),
            Labels({1, 2})},
           {},
           "logits in the thousands",
           {}}};
}

}  // namespace

const OpDef kMseLoss{
    .name = "mse_loss",
    .formula = "y = mean((p - t)^2);  dp = 2 (p - t) dy / n, dt = -dp",
    .kind = OpKind::kLoss,
    .min_inputs = 2,
    .max_inputs = 2,
    .saves = kSaveInput0 | kSaveInput1,
    .forward = &MseForward,
    .backward = &MseBackward,
    .backward_graph = &MseBackwardGraph,
    .jvp = &MseJvp,
    .check_cases = &MseCases,
};

const OpDef kBinaryCrossEntropy{
    .name = "binary_cross_entropy",
    .formula =
        "y = -mean(t log p + (1 - t) log(1 - p)), log clamped at -100;  "
        "dp = (p - t) / max(p (1 - p), 1e-12) dy / n",
    .kind = OpKind::kLoss,
    .min_inputs = 2,
    .max_inputs = 2,
    .saves = kSaveInput0 | kSaveInput1,
    .forward = &BceForward,
    .backward = &BceBackward,
    .backward_graph = &BceBackwardGraph,
    .check_cases = &BceCases,
};

const OpDef kBinaryCrossEntropyWithLogits{
    .name = "binary_cross_entropy_with_logits",
    .formula = "y = mean(max(z, 0) - z t + log(1 + exp(-|z|)));  dz = (sigmoid(z) - t) dy / n",
    .kind = OpKind::kLoss,
    .min_inputs = 2,
    .max_inputs = 2,
    .saves = kSaveInput0 | kSaveInput1,
    .forward = &BceLogitsForward,
    .backward = &BceLogitsBackward,
    .backward_graph = &BceLogitsBackwardGraph,
    .check_cases = &BceLogitsCases,
};

const OpDef kCrossEntropy{
    .name = "cross_entropy",
    .formula = "y = mean_i(logsumexp(z_i) - z_i[label_i]);  dz = (softmax(z) - onehot) dy / N",
    .kind = OpKind::kLoss,
    .min_inputs = 2,
    .max_inputs = 2,
    // The logits too: the recorded backward recomputes softmax from them.
    .saves = kSaveInput0 | kSaveInput1,
    .non_differentiable = 1u << 1,
    .forward = &CrossEntropyForward,
    .backward = &CrossEntropyBackward,
    .backward_graph = &CrossEntropyBackwardGraph,
    .check_cases = &CrossEntropyCases,
};

}  // namespace ops
}  // namespace actgrad
