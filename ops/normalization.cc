// Normalization rows: batch_norm, layer_norm and group_norm. All three
// normalize a view [outer, mid, inner] of the input with one mean and
// variance per `mid` index, taken over `outer` x `inner`, and then apply a
// per-channel (or per-element) scale and shift:
//
//   batch_norm  x [N, C, *]: outer N, mid C, inner the rest; affine per C
//   layer_norm  x [..., D*]: outer 1, mid the leading part, inner D*; affine per D*
//   group_norm  x [N, C, *]: outer 1, mid N*G, inner C/G * the rest; affine per C
//
// Statistics are accumulated in double, mean first and then the squared
// deviations, so float32 inputs with a large mean keep their variance.

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "graph/parallel.h"
#include "ops/builtin_ops.h"
#include "ops/check_cases.h"
#include "ops/functional.h"
#include "ops/kernels.h"
#include "ops/layer_ops.h"
#include "ops/packet.h"

namespace actgrad {
namespace ops {

namespace {

enum class AffineBy { kMid, kInner, kGroupChannel };

struct NormPlan {
  int64_t outer = 1, mid = 1, inner = 1;
  AffineBy affine_by = AffineBy::kMid;
  int64_t groups = 1, group_channels = 1, plane = 1;  // group_norm
  bool has_weight = false, has_bias = false;

  int64_t Count() const { return outer * inner; }  // values per statistic
  int64_t AffineIndex(int64_t m, int64_t i) const {
    switch (affine_by) {
      case AffineBy::kMid:
        return m;
      case AffineBy::kInner:
        return i;
      case AffineBy::kGroupChannel:
        return (m % groups) * group_channels + i / plane;
    }
    return 0;
  }
  int64_t AffineSize() const {
    switch (affine_by) {
      case AffineBy::kMid:
        return mid;
      case AffineBy::kInner:
        return inner;
      case AffineBy::kGroupChannel:
        return groups * group_channels;
    }
    return 0;
  }
};

bool IsBatchNorm(const OpDef& op) { return &op == &kBatchNorm; }
bool IsGroupNorm(const OpDef& op) { return &op == &kGroupNorm; }

// The row parameters: eps (all three rows) and batch_norm's momentum.
double Eps(const OpDef& op, const Attrs& attrs) { return WithDefaults(op, attrs).params[0]; }
double Momentum(const OpDef& op, const Attrs& attrs) { return WithDefaults(op, attrs).params[1]; }

// The plan of `op` on `x`; validates the attributes and the affine inputs.
NormPlan PlanNorm(const OpDef& op, const Shape& x, const Attrs& a, std::span<const Shape> affine,
                  const Location& location) {
  NormPlan p;
  const absl::string_view name = op.name;
  const double eps = Eps(op, a);
  ACTGRAD_REQUIRE(eps > 0 && std::isfinite(eps), location, name,
                  ": eps must be a finite number > 0, got ", eps);
  Shape affine_shape;
  if (IsBatchNorm(op) || IsGroupNorm(op)) {
    ACTGRAD_REQUIRE(x.rank() >= 2, location, name, ": the input must be [N, C, ...], got ",
                    x.ToString());
    const int64_t n = x[0], c = x[1], rest = x.NumElements() / std::max<int64_t>(1, n * c);
    affine_shape = Shape{c};
    if (IsBatchNorm(op)) {
      p.outer = n;
      p.mid = c;
      p.inner = rest;
      p.affine_by = AffineBy::kMid;
    } else {
      ACTGRAD_REQUIRE(a.Layer().groups >= 1 && c % a.Layer().groups == 0, location, name,
                      ": groups ", a.Layer().groups, " must divide the channels ", c);
      p.groups = a.Layer().groups;
      p.group_channels = c / a.Layer().groups;
      p.plane = rest;
      p.mid = n * a.Layer().groups;
      p.inner = p.group_channels * rest;
      p.affine_by = AffineBy::kGroupChannel;
    }
  } else {
    const Shape& normalized = a.shape;
    ACTGRAD_REQUIRE(normalized.rank() >= 1 && normalized.rank() <= x.rank(), location, name,
                    ": normalized_shape ", normalized.ToString(), " must be 1 to ", x.rank(),
                    " trailing dimensions of the input ", x.ToString());
    for (int i = 0; i < normalized.rank(); ++i) {
      ACTGRAD_REQUIRE(x[x.rank() - normalized.rank() + i] == normalized[i], location, name,
                      ": normalized_shape ", normalized.ToString(),
                      " is not the trailing part of the input ", x.ToString());
    }
    p.inner = normalized.NumElements();
    p.mid = x.NumElements() / std::max<int64_t>(1, p.inner);
    p.affine_by = AffineBy::kInner;
    affine_shape = normalized;
  }
  for (size_t k = 0; k < affine.size(); ++k) {
    ACTGRAD_REQUIRE(affine[k] == affine_shape, location, name, ": the ", k == 0 ? "weight" : "bias",
                    " ", affine[k].ToString(), " must be ", affine_shape.ToString());
  }
  p.has_weight = !affine.empty();
  p.has_bias = affine.size() >= 2;
  return p;
}

// The rows of the [outer, mid, inner] view that statistic `m` covers, cut
// into segments that share one affine index: a batch-norm row is one
// segment of channel m, a group-norm row one segment per channel of the
// group, and a layer-norm row one segment whose affine index runs with the
// element (channel -1).
template <typename Fn>
void ForEachSegment(const NormPlan& p, int64_t m, Fn fn) {
  for (int64_t o = 0; o < p.outer; ++o) {
    const int64_t base = (o * p.mid + m) * p.inner;
    switch (p.affine_by) {
      case AffineBy::kMid:
        fn(base, p.inner, m);
        break;
      case AffineBy::kInner:
        fn(base, p.inner, int64_t{-1});
        break;
      case AffineBy::kGroupChannel:
        for (int64_t k = 0; k < p.group_channels; ++k) {
          fn(base + k * p.plane, p.plane, (m % p.groups) * p.group_channels + k);
        }
        break;
    }
  }
}

template <typename T>
using ConstRow = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
template <typename T>
using Row = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;

// x - mean, with the mean as a rounded value plus its rounding error, so a
// mean large against the spread cancels neither against the shift nor
// through its own rounding.
template <typename T>
struct Centering {
  explicit Centering(double mu) : center(T(mu)), residual(T(mu - double(T(mu)))) {}
  template <typename Array>
  auto Of(const Array& x) const {
    return (x - center) - residual;
  }
  T center, residual;
};

// sum(f(i)) over [0, n) for an Eigen expression maker f(begin, length):
// vectorized float sums over blocks of 1024, added up in double, so long
// rows keep their digits without converting every element.
template <typename BlockSum>
double SumInBlocks(int64_t n, BlockSum block_sum) {
  constexpr int64_t kBlock = 1024;
  double total = 0;
  for (int64_t b = 0; b < n; b += kBlock) total += double(block_sum(b, std::min(kBlock, n - b)));
  return total;
}

// Runs body(m) for every statistic m, split over the threads when the work
// is large enough to pay for waking them and `independent` says the
// statistics touch disjoint outputs (their affine gradients included).
template <typename Fn>
void ForEachStatistic(const NormPlan& p, bool independent, Fn body) {
  auto range = [&](int64_t begin, int64_t end) {
    for (int64_t m = begin; m < end; ++m) body(m);
  };
  if (independent && p.mid > 1 && p.mid * p.Count() >= internal::kParallelMinElements) {
    internal::ParallelForItems(p.mid, range);
  } else {
    range(0, p.mid);
  }
}

// mean and 1/sqrt(var + eps) per mid index; var is the biased one. Also
// returns the unbiased variance for running statistics.
template <typename T>
void Moments(const NormPlan& p, const T* x, double eps, std::vector<double>& mean,
             std::vector<double>& rstd, std::vector<double>* unbiased) {
  mean.assign(size_t(p.mid), 0.0);
  rstd.assign(size_t(p.mid), 0.0);
  if (unbiased != nullptr) unbiased->assign(size_t(p.mid), 0.0);
  const double count = double(p.Count());
  ForEachStatistic(p, true, [&](int64_t m) {
    // Summed relative to one of the values: float sums of values far from
    // zero would lose the mean's digits, sums of differences keep them.
    const T shift = p.Count() > 0 ? x[m * p.inner] : T(0);
    double sum = 0;
    for (int64_t o = 0; o < p.outer; ++o) {
      const T* row = x + (o * p.mid + m) * p.inner;
      sum += SumInBlocks(
          p.inner, [&](int64_t b, int64_t n) { return (ConstRow<T>(row + b, n) - shift).sum(); });
    }
    const double mu = double(shift) + sum / count;
    const Centering<T> centered(mu);
    double squares = 0;
    for (int64_t o = 0; o < p.outer; ++o) {
      const T* row = x + (o * p.mid + m) * p.inner;
      squares += SumInBlocks(p.inner, [&](int64_t b, int64_t n) {
        return centered.Of(ConstRow<T>(row + b, n)).square().sum();
      });
    }
    mean[size_t(m)] = mu;
    rstd[size_t(m)] = 1.0 / std::sqrt(squares / count + eps);
    if (unbiased != nullptr) (*unbiased)[size_t(m)] = count > 1 ? squares / (count - 1) : NAN;
  });
}

// y = (x - mean) * rstd * weight + bias.
template <typename T>
void Normalize(const NormPlan& p, const T* x, const std::vector<double>& mean,
               const std::vector<double>& rstd, const T* weight, const T* bias, T* y) {
  ForEachStatistic(p, true, [&](int64_t m) {
    const Centering<T> centered(mean[size_t(m)]);
    const double rs = rstd[size_t(m)];
    ForEachSegment(p, m, [&](int64_t begin, int64_t n, int64_t channel) {
      const auto in = centered.Of(ConstRow<T>(x + begin, n));
      Row<T> out(y + begin, n);
      if (weight == nullptr) {
        out = in * T(rs);
      } else if (channel >= 0) {
        out = in * T(rs * double(weight[channel])) + (bias != nullptr ? bias[channel] : T(0));
      } else if (bias != nullptr) {
        out = in * T(rs) * ConstRow<T>(weight, n) + ConstRow<T>(bias, n);
      } else {
        out = in * T(rs) * ConstRow<T>(weight, n);
      }
    });
  });
}

#if ACTGRAD_HAS_PACKETS
constexpr bool kHasFloatRows = true;
#else
constexpr bool kHasFloatRows = false;
#endif

// sum(g) and sum(g (x - mean)) over one row whose affine index runs with the
// element (layer norm), g = dy * weight, in double.
struct ElementSums {
  double g = 0, gc = 0;
};

// The first pass of layer norm's backward over a float row of n values: the
// sums above, and the affine gradients added into dw += rs dy (x - mean) and
// db += dy, all in double, a register of floats at a time (each widened
// into two of doubles). weight (in double) may be null for 1. The rows
// converted into Eigen arrays of doubles first took 1.5x as long (layer
// norm's backward on [1024, 256]: 180 against 120 us).
ElementSums LayerNormRowSums(int64_t n, const float* dy, const float* x, float center,
                             float residual, double rs, const double* weight, double* dw,
                             double* db) {
  ElementSums sums;
#if ACTGRAD_HAS_PACKETS
  using internal::FloatLanes;
  using internal::PacketLanes;
  constexpr int64_t kFloats = internal::kFloatRegisterLanes;
  constexpr int64_t kDoubles = internal::kRegisterLanes;
  auto load_floats = [](const float* p) {
    FloatLanes v;
    std::memcpy(&v, p, sizeof v);
    return v;
  };
  auto load_doubles = [](const double* p) {
    PacketLanes v;
    std::memcpy(&v, p, sizeof v);
    return v;
  };
  auto store = [](double* p, PacketLanes v) { std::memcpy(p, &v, sizeof v); };
  PacketLanes sum_g = internal::Splat(0.0), sum_gc = internal::Splat(0.0);
  const PacketLanes scale = internal::Splat(rs);
  int64_t j = 0;
  for (; j + kFloats <= n; j += kFloats) {
    const FloatLanes d = load_floats(dy + j);
    const FloatLanes dc = d * ((load_floats(x + j) - center) - residual);
    for (int64_t half = 0; half < 2; ++half) {
      const int64_t at = j + half * kDoubles;
      const PacketLanes dd = half == 0 ? internal::WidenLow(d) : internal::WidenHigh(d);
      const PacketLanes dcd = half == 0 ? internal::WidenLow(dc) : internal::WidenHigh(dc);
      const PacketLanes w = weight != nullptr ? load_doubles(weight + at) : internal::Splat(1.0);
      sum_g += dd * w;
      sum_gc += dcd * w;
      store(dw + at, load_doubles(dw + at) + scale * dcd);
      store(db + at, load_doubles(db + at) + dd);
    }
  }
  for (int64_t l = 0; l < kDoubles; ++l) {
    sums.g += sum_g[l];
    sums.gc += sum_gc[l];
  }
#else
  int64_t j = 0;
#endif
  for (; j < n; ++j) {
    const double dd = dy[j], dcd = double(dy[j] * ((x[j] - center) - residual));
    const double w = weight != nullptr ? weight[j] : 1.0;
    sums.g += dd * w;
    sums.gc += dcd * w;
    dw[j] += rs * dcd;
    db[j] += dd;
  }
  return sums;
}

// Gradients of Normalize. With batch statistics, x also moves the mean and
// variance: dx = rstd (g - mean(g) - xhat mean(g xhat)), g = dy * weight.
// With given statistics (batch_norm in evaluation), dmean and dvar are their
// gradients: -rstd sum(g) and -rstd^2 sum(g xhat) / 2.
template <typename T>
void NormalizeBackward(const NormPlan& p, bool batch_statistics, const T* x, const T* dy,
                       const std::vector<double>& mean, const std::vector<double>& rstd,
                       const T* weight, T* dx, T* dweight, T* dbias, T* dmean, T* dvar) {
  using Doubles = Eigen::Array<double, Eigen::Dynamic, 1>;
  Doubles dw = Doubles::Zero(p.AffineSize()), db = Doubles::Zero(p.AffineSize());
  const double count = double(p.Count());
  Doubles weight_in_double;
  if (weight != nullptr && p.affine_by == AffineBy::kInner) {
    weight_in_double = ConstRow<T>(weight, p.AffineSize()).template cast<double>();
  }
  ForEachStatistic(p, p.affine_by == AffineBy::kMid, [&](int64_t m) {
    const Centering<T> centered(mean[size_t(m)]);
    const double rs = rstd[size_t(m)];
    // sum(g) and sum(g * (x - mean)), and the affine gradients on the way.
    double sum_g = 0, sum_gc = 0;
    ForEachSegment(p, m, [&](int64_t begin, int64_t n, int64_t channel) {
      const T* d = dy + begin;
      const T* xs = x + begin;
      if (channel >= 0) {
        const double dy_sum =
            SumInBlocks(n, [&](int64_t b, int64_t k) { return ConstRow<T>(d + b, k).sum(); });
        const double dc_sum = SumInBlocks(n, [&](int64_t b, int64_t k) {
          return (ConstRow<T>(d + b, k) * centered.Of(ConstRow<T>(xs + b, k))).sum();
        });
        const double w = weight != nullptr ? double(weight[channel]) : 1.0;
        sum_g += w * dy_sum;
        sum_gc += w * dc_sum;
        dw[channel] += rs * dc_sum;
        db[channel] += dy_sum;
      } else if constexpr (std::is_same_v<T, float> && kHasFloatRows) {
        const ElementSums sums = LayerNormRowSums(
            n, d, xs, centered.center, centered.residual, rs,
            weight != nullptr ? weight_in_double.data() : nullptr, dw.data(), db.data());
        sum_g += sums.g;
        sum_gc += sums.gc;
      } else {
        // In double arrays first: Eigen sums a product of float-to-double
        // casts one element at a time, and layer norm's backward took five
        // times its forward.
        thread_local Doubles dd, dc;
        dd = ConstRow<T>(d, n).template cast<double>();
        dc = (ConstRow<T>(d, n) * centered.Of(ConstRow<T>(xs, n))).template cast<double>();
        if (weight != nullptr) {
          sum_g += (dd * weight_in_double).sum();
          sum_gc += (dc * weight_in_double).sum();
        } else {
          sum_g += dd.sum();
          sum_gc += dc.sum();
        }
        dw += rs * dc;
        db += dd;
      }
    });
    if (dmean != nullptr) dmean[m] = T(-rs * sum_g);
    if (dvar != nullptr) dvar[m] = T(-0.5 * rs * rs * rs * sum_gc);
    if (dx == nullptr) return;
    // dx = rs w dy - rs mean(g) - rs^2 mean(g xhat) (x - mean), per element.
    const T shift = T(batch_statistics ? -rs * sum_g / count : 0.0);
    const T slope = T(batch_statistics ? -rs * rs * rs * sum_gc / count : 0.0);
    ForEachSegment(p, m, [&](int64_t begin, int64_t n, int64_t channel) {
      const ConstRow<T> d(dy + begin, n);
      const auto c = centered.Of(ConstRow<T>(x + begin, n));
      Row<T> out(dx + begin, n);
      if (channel >= 0 || weight == nullptr) {
        const double w = weight != nullptr ? double(weight[channel]) : 1.0;
        out = d * T(rs * w) + c * slope + shift;
      } else {
        out = d * ConstRow<T>(weight, n) * T(rs) + c * slope + shift;
      }
    });
  });
  if (dweight != nullptr) {
    for (int64_t c = 0; c < dw.size(); ++c) dweight[c] = T(dw[c]);
  }
  if (dbias != nullptr) {
    for (int64_t c = 0; c < db.size(); ++c) dbias[c] = T(db[c]);
  }
}

std::vector<Shape> AffineShapes(std::span<const Tensor> affine) {
  std::vector<Shape> shapes;
  for (const Tensor& t : affine) shapes.push_back(t.shape());
  return shapes;
}

Tensor VectorTensor(const std::vector<double>& values, DType dtype) {
  return FromValues(values, Shape{int64_t(values.size())}, dtype);
}

// Inputs: x, then weight and bias where given, then (batch_norm) the running
// mean and variance.
Tensor NormForward(ForwardContext& ctx) {
  internal::RequireSameFloatingDType(ctx);
  const OpDef& op = ctx.op();
  const Tensor& x = ctx.input(0);
  const Attrs& a = ctx.attrs();
  const int num_affine = IsBatchNorm(op) ? 2 : int(ctx.inputs().size()) - 1;
  ACTGRAD_REQUIRE(!IsBatchNorm(op) || ctx.inputs().size() == 3 || ctx.inputs().size() == 5,
                  ctx.location(),
                  "batch_norm: takes x, weight, bias and optionally running_mean and running_var, "
                  "got ",
                  ctx.inputs().size(), " inputs");
  const std::vector<Shape> affine = AffineShapes(ctx.inputs().subspan(1, size_t(num_affine)));
  const NormPlan p = PlanNorm(op, x.shape(), a, affine, ctx.location());
  const bool has_running = IsBatchNorm(op) && ctx.inputs().size() == 5;
  const bool batch_statistics = !IsBatchNorm(op) || a.Layer().training || !has_running;
  if (has_running) {
    for (int k = 3; k < 5; ++k) {
      ACTGRAD_REQUIRE(ctx.input(k).shape() == Shape{p.mid}, ctx.location(), "batch_norm: running ",
                      k == 3 ? "mean " : "var ", ctx.input(k).shape().ToString(), " must be [",
                      p.mid, "]");
    }
  }
  const double eps = Eps(op, a), momentum = IsBatchNorm(op) ? Momentum(op, a) : 0.0;
  if (IsBatchNorm(op) && batch_statistics) {
    ACTGRAD_REQUIRE(p.Count() > 1, ctx.location(),
                    "batch_norm: training needs more than one value per channel, got input ",
                    x.shape().ToString());
    ACTGRAD_REQUIRE(momentum >= 0 && momentum <= 1, ctx.location(),
                    "batch_norm: momentum must be in [0, 1], got ", momentum);
  }
  Tensor y = internal::EmptyLike(x);
  std::vector<double> mean, rstd, unbiased;
  DispatchFloating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = static_cast<const T*>(x.raw_data());
    if (batch_statistics) {
      Moments<T>(p, px, eps, mean, rstd, has_running ? &unbiased : nullptr);
      if (has_running && a.Layer().training) {
        T* running_mean = static_cast<T*>(ctx.input(3).raw_data());
        T* running_var = static_cast<T*>(ctx.input(4).raw_data());
        for (int64_t c = 0; c < p.mid; ++c) {
          running_mean[c] = T((1 - momentum) * running_mean[c] + momentum * mean[size_t(c)]);
          running_var[c] = T((1 - momentum) * running_var[c] + momentum * unbiased[size_t(c)]);
        }
      }
    } else {
      const T* running_mean = static_cast<const T*>(ctx.input(3).raw_data());
      const T* running_var = static_cast<const T*>(ctx.input(4).raw_data());
      for (int64_t c = 0; c < p.mid; ++c) {
        mean.push_back(running_mean[c]);
        rstd.push_back(1.0 / std::sqrt(double(running_var[c]) + eps));
      }
    }
    const T* weight = p.has_weight ? static_cast<const T*>(ctx.input(1).raw_data()) : nullptr;
    const T* bias = p.has_bias ? static_cast<const T*>(ctx.input(2).raw_data()) : nullptr;
    Normalize<T>(p, px, mean, rstd, weight, bias, static_cast<T*>(y.raw_data()));
  });
  if (batch_statistics) {
    // Kept in double: the backward kernels recompute xhat from them.
    ctx.SaveExtra(VectorTensor(mean, DType::kFloat64));
    ctx.SaveExtra(VectorTensor(rstd, DType::kFloat64));
  } else {
    // The running statistics themselves, which the output depends on.
    ctx.SaveExtra(ctx.input(3));
    ctx.SaveExtra(ctx.input(4));
  }
  return y;
}

bool UsesBatchStatistics(const BackwardContext& ctx) {
  return !IsBatchNorm(ctx.op()) || ctx.attrs().Layer().training || ctx.num_inputs() == 3;
}

int NumAffine(const BackwardContext& ctx) {
  return IsBatchNorm(ctx.op()) ? 2 : ctx.num_inputs() - 1;
}

// The weight's and bias's shapes, from the saved weight: the forward checked
// that both have it, and an input that needs no gradient (a frozen or
// constant weight) has no shape recorded for backward.
std::vector<Shape> AffineShapesOf(const BackwardContext& ctx, int num_affine) {
  if (num_affine == 0) return {};
  return std::vector<Shape>(size_t(num_affine), ctx.saved_input(1).shape());
}

void NormBackward(BackwardContext& ctx) {
  const Tensor& x = ctx.saved_input(0);
  const int num_affine = NumAffine(ctx);
  const std::vector<Shape> affine = AffineShapesOf(ctx, num_affine);
  const NormPlan p = PlanNorm(ctx.op(), x.shape(), ctx.attrs(), affine, ctx.location());
  const bool batch_statistics = UsesBatchStatistics(ctx);
  const std::vector<double> mean = ctx.extra(0).ToVector();
  std::vector<double> rstd = ctx.extra(1).ToVector();
  if (!batch_statistics) {
    const double eps = Eps(ctx.op(), ctx.attrs());
    for (double& v : rstd) v = 1.0 / std::sqrt(v + eps);
  }
  // dx may be written over dy: each statistic's elements are read for its
  // sums, then each element of dx is written after the same one of dy is read.
  const void* dy = ctx.dy().raw_data();
  Tensor dx, dweight, dbias, dmean, dvar;
  if (!batch_statistics && ctx.needs_grad(3)) dmean = internal::Empty(Shape{p.mid}, x.dtype());
  if (!batch_statistics && ctx.needs_grad(4)) dvar = internal::Empty(Shape{p.mid}, x.dtype());
  if (ctx.needs_grad(0)) {
    dx = ctx.TakeDyForDx(0);
    if (!dx.defined()) dx = internal::EmptyLike(x);
  }
  if (num_affine >= 1 && ctx.needs_grad(1)) dweight = internal::Empty(affine[0], x.dtype());
  if (num_affine >= 2 && ctx.needs_grad(2)) dbias = internal::Empty(affine[1], x.dtype());
  DispatchFloating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto ptr = [](Tensor& t) { return t.defined() ? static_cast<T*>(t.raw_data()) : nullptr; };
    const T* weight =
        num_affine >= 1 ? static_cast<const T*>(ctx.saved_input(1).raw_data()) : nullptr;
    NormalizeBackward<T>(p, batch_statistics, static_cast<const T*>(x.raw_data()),
                         static_cast<const T*>(dy), mean, rstd, weight, ptr(dx), ptr(dweight),
                         ptr(dbias), ptr(dmean), ptr(dvar));
  });
  if (dmean.defined()) ctx.set_dx(3, std::move(dmean));
  if (dvar.defined()) ctx.set_dx(4, std::move(dvar));
  if (dx.defined()) ctx.set_dx(0, std::move(dx));
  if (dweight.defined()) ctx.set_dx(1, std::move(dweight));
  if (dbias.defined()) ctx.set_dx(2, std::move(dbias));
}

// ---------------------------------------------------------- recorded backward
// The shape an affine parameter broadcasts to against x.
std::vector<int64_t> AffineBroadcastDims(const OpDef& op, const Shape& x, const Shape& affine) {
  if (!IsBatchNorm(op) && !IsGroupNorm(op)) {
    return std::vector<int64_t>(affine.dims().begin(), affine.dims().end());
  }
  std::vector<int64_t> dims(size_t(x.rank()), 1);
  dims[1] = x[1];
  return dims;
}

// Mean over the outer and inner axes of a [outer, mid, inner] view.
Tensor StatMean(const Tensor& v) { return Mean(Mean(v, 2, true), 0, true); }

void NormBackwardGraph(BackwardContext& ctx) {
  const OpDef& op = ctx.op();
  const Tensor& x = ctx.saved_input(0);
  const Attrs& a = ctx.attrs();
  const int num_affine = NumAffine(ctx);
  const std::vector<Shape> affine = AffineShapesOf(ctx, num_affine);
  const NormPlan p = PlanNorm(op, x.shape(), a, affine, ctx.location());
  const Tensor& dy = ctx.dy();
  const std::vector<int64_t> view = {p.outer, p.mid, p.inner};
  const std::vector<int64_t> x_dims(x.shape().dims().begin(), x.shape().dims().end());
  const Tensor xv = Reshape(x, view);
  Tensor xhat, rstd;
  if (UsesBatchStatistics(ctx)) {
    const Tensor centered = xv - StatMean(xv);
    rstd = 1.0 / Sqrt(StatMean(Square(centered)) + Eps(op, a));
    xhat = centered * rstd;
  } else {
    const Tensor mean = Reshape(ctx.extra(0), {1, p.mid, 1});
    rstd = 1.0 / Sqrt(Reshape(ctx.extra(1), {1, p.mid, 1}) + Eps(op, a));
    xhat = (xv - mean) * rstd;
  }
  const Tensor xhat_native = Reshape(xhat, x_dims);
  Tensor g = dy;
  if (num_affine >= 1) {
    g = dy * Reshape(ctx.saved_input(1), AffineBroadcastDims(op, x.shape(), affine[0]));
  }
  if (ctx.needs_grad(0)) {
    const Tensor gv = Reshape(g, view);
    Tensor dxv = gv * rstd;
    if (UsesBatchStatistics(ctx)) dxv = rstd * (gv - StatMean(gv) - xhat * StatMean(gv * xhat));
    ctx.set_dx(0, Reshape(dxv, x_dims));
  }
  if (!UsesBatchStatistics(ctx) && (ctx.needs_grad(3) || ctx.needs_grad(4))) {
    const Tensor gv = Reshape(g, view);
    const Tensor rs = Reshape(rstd, {p.mid});
    if (ctx.needs_grad(3)) ctx.set_dx(3, -(Sum(Sum(gv, 2), 0) * rs));
    if (ctx.needs_grad(4)) ctx.set_dx(4, Sum(Sum(gv * xhat, 2), 0) * Square(rs) * -0.5);
  }
  auto reduce_to_affine = [&](const Tensor& t, const Shape& shape) {
    const std::vector<int64_t> dims = AffineBroadcastDims(op, x.shape(), shape);
    const Tensor summed = SumTo(t, Shape(std::span<const int64_t>(dims)));
    return Reshape(summed, std::vector<int64_t>(shape.dims().begin(), shape.dims().end()));
  };
  if (num_affine >= 1 && ctx.needs_grad(1))
    ctx.set_dx(1, reduce_to_affine(dy * xhat_native, affine[0]));
  if (num_affine >= 2 && ctx.needs_grad(2)) ctx.set_dx(2, reduce_to_affine(dy, affine[1]));
}

double NormFlops(std::span<const Tensor> inputs, const Tensor& output) {
  return 5.0 * double(output.numel());
}

// -------------------------------------------------------------- check cases
std::vector<GradCheckCase> BatchNormCases(Generator& gen) {
  auto r = [&](const Shape& s, double lo, double hi) {
    return internal::RandomDouble(s, lo, hi, gen);
  };
  Attrs training;
  Attrs eval;
  eval.MutableLayer().training = false;
  return {
      {{r({4, 3, 2, 2}, -2, 2), r({3}, 0.5, 1.5), r({3}, -1, 1), r({3}, -0.5, 0.5), r({3}, 0.5, 2)},
       training,
       "[4,3,2,2] training, with running statistics",
       {}},
      {{r({5, 2}, -2, 2), r({2}, 0.5, 1.5), r({2}, -1, 1)},
       training,
       "[5,2] batch statistics only",
       {}},
      {{r({3, 2, 4}, -2, 2), r({2}, 0.5, 1.5), r({2}, -1, 1), r({2}, -0.5, 0.5), r({2}, 0.5, 2)},
       eval,
       "[3,2,4] evaluation (running statistics)",
       {}},
  };
}

std::vector<GradCheckCase> LayerNormCases(Generator& gen) {
  auto r = [&](const Shape& s) { return internal::RandomDouble(s, -1, 1, gen); };
  Attrs last;
  last.shape = Shape{5};
  Attrs last_two;
  last_two.shape = Shape{2, 3};
  // Rows longer than a register of floats, with a remainder: the float
  // kernels' vector and scalar paths both.
  Attrs long_rows;
  long_rows.shape = Shape{37};
  return {
      {{r({3, 5}), r({5}), r({5})}, last, "[3,5] over [5], weight and bias", {}},
      {{r({2, 2, 3})}, last_two, "[2,2,3] over [2,3], no affine", {}},
      {{r({3, 37}), r({37}), r({37})}, long_rows, "[3,37] over [37], weight and bias", {}},
      {{r({2, 37})}, long_rows, "[2,37] over [37], no affine", {}},
  };
}

std::vector<GradCheckCase> GroupNormCases(Generator& gen) {
  auto r = [&](const Shape& s) { return internal::RandomDouble(s, -1, 1, gen); };
  Attrs two;
  two.MutableLayer().groups = 2;
  return {
      {{r({2, 4, 2, 2}), r({4}), r({4})}, two, "[2,4,2,2] in 2 groups, weight and bias", {}},
      {{r({3, 6, 3})}, two, "[3,6,3] in 2 groups, no affine", {}},
  };
}

constexpr AttrSpec kBatchNormAttrs[] = {
    {"eps", "added to the variance", nullptr, nullptr, 0, 1e-5},
    {"momentum", "weight of the batch in the running statistics", nullptr, nullptr, 1, 0.1},
};
constexpr AttrSpec kEpsAttrs[] = {
    {"eps", "added to the variance", nullptr, nullptr, 0, 1e-5},
};

}  // namespace

const OpDef kBatchNorm{
    .name = "batch_norm",
    .formula =
        "Y = (X - mean_c) / sqrt(var_c + eps) * w_c + b_c over N and space (training: the "
        "batch's, updating the running statistics; eval: the running ones, which then get "
        "gradients too)",
    .kind = OpKind::kLayer,
    .min_inputs = 3,
    .max_inputs = 5,
    .saves = kSaveInput0 | kSaveInput1,
    .forward = &NormForward,
    .backward = &NormBackward,
    .backward_graph = &NormBackwardGraph,
    .attrs = kBatchNormAttrs,
    .check_cases = &BatchNormCases,
    .forward_flops = &NormFlops,
};

const OpDef kLayerNorm{
    .name = "layer_norm",
    .formula = "Y = (X - mean) / sqrt(var + eps) * w + b over the trailing normalized_shape",
    .kind = OpKind::kLayer,
    .min_inputs = 1,
    .max_inputs = 3,
    .saves = kSaveInput0 | kSaveInput1,
    .forward = &NormForward,
    .backward = &NormBackward,
    .backward_graph = &NormBackwardGraph,
    .attrs = kEpsAttrs,
    .check_cases = &LayerNormCases,
    .forward_flops = &NormFlops,
};

const OpDef kGroupNorm{
    .name = "group_norm",
    .formula = "Y = (X - mean_g) / sqrt(var_g + eps) * w_c + b_c per sample and channel group",
    .kind = OpKind::kLayer,
    .min_inputs = 1,
    .max_inputs = 3,
    .saves = kSaveInput0 | kSaveInput1,
    .forward = &NormForward,
    .backward = &NormBackward,
    .backward_graph = &NormBackwardGraph,
    .attrs = kEpsAttrs,
    .check_cases = &GroupNormCases,
    .forward_flops = &NormFlops,
};

}  // namespace ops

Tensor BatchNorm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                 const Tensor& running_mean, const Tensor& running_var,
                 const BatchNormOptions& options, std::source_location location) {
  Attrs a;
  a.MutableLayer().training = options.training;
  a.params[0] = options.eps;
  a.params[1] = options.momentum;
  ACTGRAD_REQUIRE(running_mean.defined() == running_var.defined(), location,
                  "batch_norm: give both running statistics or neither");
  ACTGRAD_REQUIRE(x.defined() && x.rank() >= 2, location,
                  "batch_norm: the input must be [N, C, ...]");
  const int64_t channels = x.dim(1);
  const Tensor w = weight.defined() ? weight : Ones(Shape{channels}, x.dtype());
  const Tensor b = bias.defined() ? bias : Zeros(Shape{channels}, x.dtype());
  if (running_mean.defined()) {
    return Apply(ops::kBatchNorm, {x, w, b, running_mean, running_var}, a, location);
  }
  return Apply(ops::kBatchNorm, {x, w, b}, a, location);
}

Tensor LayerNorm(const Tensor& x, const std::vector<int64_t>& normalized_shape,
                 const Tensor& weight, const Tensor& bias, double eps,
                 std::source_location location) {
  Attrs a;
  a.shape = Shape(std::span<const int64_t>(normalized_shape), location);
  a.params[0] = eps;
  ACTGRAD_REQUIRE(weight.defined() || !bias.defined(), location,
                  "layer_norm: a bias needs a weight (pass ones)");
  if (bias.defined()) return Apply(ops::kLayerNorm, {x, weight, bias}, a, location);
  if (weight.defined()) return Apply(ops::kLayerNorm, {x, weight}, a, location);
  return Apply(ops::kLayerNorm, {x}, a, location);
}

Tensor GroupNorm(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias,
                 double eps, std::source_location location) {
  Attrs a;
  a.MutableLayer().groups = groups;
  a.params[0] = eps;
  ACTGRAD_REQUIRE(weight.defined() || !bias.defined(), location,
                  "group_norm: a bias needs a weight (pass ones)");
  if (bias.defined()) return Apply(ops::kGroupNorm, {x, weight, bias}, a, location);
  if (weight.defined()) return Apply(ops::kGroupNorm, {x, weight}, a, location);
  return Apply(ops::kGroupNorm, {x}, a, location);
}

}  // namespace actgrad
