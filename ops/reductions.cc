// Reductions: sum and mean over all elements or one axis, max over an axis.

#include <limits>

#include "ops/builtin_ops.h"
#include "ops/check_cases.h"
#include "ops/functional.h"
#include "ops/jvp_rules.h"
#include "ops/kernels.h"

namespace actgrad {
namespace ops {

namespace {

using internal::AsArray;

// Where a reduction goes: the split of the input around the reduced axis, the
// output shape, and the output shape with the axis kept as 1 (for backward).
struct ReductionPlan {
  internal::AxisSplit split;
  Shape out_shape;
  Shape kept_shape;
};

ReductionPlan PlanReduction(const Shape& in, const Attrs& attrs) {
  ReductionPlan plan;
  if (attrs.axis == Attrs::kAllAxes) {
    plan.split = {1, in.NumElements(), 1};
    for (int d = 0; d < in.rank(); ++d) plan.kept_shape.PushBack(1);
    return plan;
  }
  const int axis = *NormalizeAxis(attrs.axis, in.rank());
  plan.split = internal::SplitAt(in, axis);
  for (int d = 0; d < in.rank(); ++d) {
    plan.kept_shape.PushBack(d == axis ? 1 : in[d]);
    if (d != axis) {
      plan.out_shape.PushBack(in[d]);
    } else if (attrs.keepdim) {
      plan.out_shape.PushBack(1);
    }
  }
  return plan;
}

ReductionPlan PlanOrThrow(const ForwardContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (ctx.attrs().axis != Attrs::kAllAxes) {
    internal::AxisOrThrow(ctx, x.rank());
  }
  return PlanReduction(x.shape(), ctx.attrs());
}

template <typename T>
void SumAlong(const T* x, T* out, const internal::AxisSplit& s, T scale) {
  for (int64_t o = 0; o < s.outer; ++o) {
    const T* block = x + o * s.extent * s.inner;
    T* row = out + o * s.inner;
    if (s.inner == 1) {
      // Rows after the first start anywhere, so this view is unaligned.
      row[0] = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(block, s.extent).sum() * scale;
      continue;
    }
    for (int64_t i = 0; i < s.inner; ++i) row[i] = 0;
    for (int64_t k = 0; k < s.extent; ++k) {
      const T* src = block + k * s.inner;
      for (int64_t i = 0; i < s.inner; ++i) row[i] += src[i];
    }
    for (int64_t i = 0; i < s.inner; ++i) row[i] *= scale;
  }
}

template <bool kMean>
Tensor SumForward(ForwardContext& ctx) {
  internal::RequireSameFloatingDType(ctx);
  const Tensor& x = ctx.input(0);
  const ReductionPlan plan = PlanOrThrow(ctx);
  Tensor y = internal::Empty(plan.out_shape, x.dtype());
  DispatchFloating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T scale = kMean ? T(1) / T(plan.split.extent) : T(1);
    if (plan.split.outer == 1 && plan.split.inner == 1) {
      *static_cast<T*>(y.raw_data()) = AsArray<T>(x).sum() * scale;
    } else {
      SumAlong<T>(static_cast<const T*>(x.raw_data()), static_cast<T*>(y.raw_data()), plan.split,
                  scale);
    }
  });
  return y;
}

// A view of `t` with another shape of the same element count.
Tensor Reshaped(const Tensor& t, const Shape& shape) {
  internal::TensorImpl* impl = t.impl();
  impl->storage->Ref();
  return Tensor(internal::TensorImpl::Make(impl->storage, shape, impl->dtype));
}

// dx = dy (scaled), repeated along the reduced axis.
template <bool kMean>
void SumBackward(BackwardContext& ctx) {
  const Shape& in = ctx.input_shape(0);
  const ReductionPlan plan = PlanReduction(in, ctx.attrs());
  Tensor dx = internal::BroadcastToShape(Reshaped(ctx.dy(), plan.kept_shape), in);
  if (kMean) {
    if (dx.impl() == ctx.dy().impl() || dx.impl()->storage == ctx.dy().impl()->storage) {
      dx = dx.Clone();
    }
    DispatchFloating(dx.dtype(), [&](auto tag) {
      using T = decltype(tag);
      AsArray<T>(dx) *= T(1) / T(plan.split.extent);
    });
  }
  ctx.set_dx(0, std::move(dx));
}

// ------------------------------------------------------------------ max
Tensor MaxForward(ForwardContext& ctx) {
  internal::RequireSameFloatingDType(ctx);
  const Tensor& x = ctx.input(0);
  ACTGRAD_REQUIRE(x.numel() > 0, ctx.location(), "max: the input ", x.shape().ToString(),
                  " is empty");
  const ReductionPlan plan = PlanOrThrow(ctx);
  Tensor y = internal::Empty(plan.out_shape, x.dtype());
  Tensor argmax = internal::Empty(plan.out_shape, DType::kInt64);
  const internal::AxisSplit& s = plan.split;
  DispatchFloating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = static_cast<const T*>(x.raw_data());
    T* py = static_cast<T*>(y.raw_data());
    int64_t* pa = argmax.data<int64_t>();
    for (int64_t o = 0; o < s.outer; ++o) {
      for (int64_t i = 0; i < s.inner; ++i) {
        const T* base = px + o * s.extent * s.inner + i;
        int64_t best = 0;
        for (int64_t k = 1; k < s.extent; ++k) {
          if (base[k * s.inner] > base[best * s.inner]) best = k;
        }
        py[o * s.inner + i] = base[best * s.inner];
        pa[o * s.inner + i] = best;
      }
    }
  });
  ctx.SaveExtra(std::move(argmax));
  return y;
}

// The gradient goes to the first maximal element of each slice.
void MaxBackward(BackwardContext& ctx) {
  const Shape& in = ctx.input_shape(0);
  const ReductionPlan plan = PlanReduction(in, ctx.attrs());
  const internal::AxisSplit& s = plan.split;
  Tensor dx = internal::ZerosOf(in, ctx.dy().dtype());
  const int64_t* pa = ctx.extra(0).data<int64_t>();
  DispatchFloating(dx.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pdy = static_cast<const T*>(ctx.dy().raw_data());
    T* pdx = static_cast<T*>(dx.raw_data());
    for (int64_t o = 0; o < s.outer; ++o) {
      for (int64_t i = 0; i < s.inner; ++i) {
        const int64_t r = o * s.inner + i;
        pdx[o * s.extent * s.inner + pa[r] * s.inner + i] = pdy[r];
      }
    }
  });
  ctx.set_dx(0, std::move(dx));
}

std::vector<int64_t> Dims(const Shape& shape) {
  return std::vector<int64_t>(shape.dims().begin(), shape.dims().end());
}

// The recorded forms: dy repeated along the reduced axis (scaled for mean;
// routed to the maximum for max).
template <bool kMean>
void SumBackwardGraph(BackwardContext& ctx) {
  const Shape& in = ctx.input_shape(0);
  const ReductionPlan plan = PlanReduction(in, ctx.attrs());
  Tensor dx = BroadcastTo(Reshape(ctx.dy(), Dims(plan.kept_shape)), in);
  if (kMean) dx = dx * (1.0 / double(plan.split.extent));
  ctx.set_dx(0, dx);
}

void MaxBackwardGraph(BackwardContext& ctx) {
  const Shape& in = ctx.input_shape(0);
  const ReductionPlan plan = PlanReduction(in, ctx.attrs());
  const internal::AxisSplit& s = plan.split;
  Tensor mask = internal::ZerosOf(in, ctx.dy().dtype());
  const int64_t* pa = ctx.extra(0).data<int64_t>();
  DispatchFloating(mask.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* pm = static_cast<T*>(mask.raw_data());
    for (int64_t o = 0; o < s.outer; ++o) {
      for (int64_t i = 0; i < s.inner; ++i) {
        pm[o * s.extent * s.inner + pa[o * s.inner + i] * s.inner + i] = T(1);
      }
    }
  });
  ctx.set_dx(0, BroadcastTo(Reshape(ctx.dy(), Dims(plan.kept_shape)), in) * mask);
}

// ------------------------------------------------------ sum_to, broadcast_to
Shape CheckedTarget(const ForwardContext& ctx, bool to_smaller) {
  const Shape& from = ctx.input(0).shape();
  const Shape& to = ctx.attrs().shape;
  const std::optional<Shape> joint = BroadcastShapes(from, to);
  ACTGRAD_REQUIRE(joint.has_value() && *joint == (to_smaller ? from : to), ctx.location(),
                  ctx.op().name, ": ", from.ToString(), " cannot be ",
                  to_smaller ? "summed down to " : "broadcast to ", to.ToString());
  return to;
}

Tensor SumToForward(ForwardContext& ctx) {
  internal::RequireSameFloatingDType(ctx);
  Tensor y = internal::SumToShape(ctx.input(0), CheckedTarget(ctx, true));
  return y.impl() == ctx.input(0).impl() ? y.Clone() : y;
}
void SumToBackward(BackwardContext& ctx) {
  ctx.set_dx(0, internal::BroadcastToShape(ctx.dy(), ctx.input_shape(0)));
}
void SumToBackwardGraph(BackwardContext& ctx) {
  ctx.set_dx(0, BroadcastTo(ctx.dy(), ctx.input_shape(0)));
}

Tensor BroadcastToForward(ForwardContext& ctx) {
  internal::RequireSameFloatingDType(ctx);
  Tensor y = internal::BroadcastToShape(ctx.input(0), CheckedTarget(ctx, false));
  return y.impl() == ctx.input(0).impl() ? y.Clone() : y;
}
void BroadcastToBackward(BackwardContext& ctx) {
  ctx.set_dx(0, internal::SumToShape(ctx.dy(), ctx.input_shape(0)));
}
void BroadcastToBackwardGraph(BackwardContext& ctx) {
  ctx.set_dx(0, SumTo(ctx.dy(), ctx.input_shape(0)));
}

std::vector<GradCheckCase> SumToCases(Generator& gen) {
  Attrs to_row, to_column, to_scalar;
  to_row.shape = Shape{4};
  to_column.shape = Shape{3, 1};
  to_scalar.shape = Shape{};
  return {{{internal::RandomDouble({3, 4}, -1, 1, gen)}, to_row, "[3,4] -> [4]", {}},
          {{internal::RandomDouble({3, 4}, -1, 1, gen)}, to_column, "[3,4] -> [3,1]", {}},
          {{internal::RandomDouble({2, 3}, -1, 1, gen)}, to_scalar, "[2,3] -> []", {}}};
}

std::vector<GradCheckCase> BroadcastToCases(Generator& gen) {
  Attrs grid;
  grid.shape = Shape{3, 4};
  Attrs cube;
  cube.shape = Shape{2, 3, 4};
  return {{{internal::RandomDouble({4}, -1, 1, gen)}, grid, "[4] -> [3,4]", {}},
          {{internal::RandomDouble({3, 1}, -1, 1, gen)}, cube, "[3,1] -> [2,3,4]", {}}};
}

std::vector<GradCheckCase> ReductionCases(Generator& gen) {
  std::vector<GradCheckCase> cases;
  Attrs all;
  all.axis = Attrs::kAllAxes;
  cases.push_back({{internal::RandomDouble({3, 4}, -2, 2, gen)}, all, "[3,4] all", {}});
  for (int64_t axis : {0, 1, -1}) {
    for (bool keepdim : {false, true}) {
      Attrs a;
      a.axis = axis;
      a.keepdim = keepdim;
      cases.push_back({{internal::RandomDouble({2, 3, 4}, -2, 2, gen)},
                       a,
                       absl::StrCat("[2,3,4] axis ", axis, keepdim ? " keepdim" : ""),
                       {}});
    }
  }
  return cases;
}

constexpr AttrSpec kReductionAttrs[] = {
    {"axis", "the axis to reduce (all axes when unset)", nullptr, &Attrs::axis},
};

}  // namespace

const OpDef kSum{
    .name = "sum",
    .formula = "y = sum of x over all elements or one axis;  dx = dy repeated",
    .kind = OpKind::kReduction,
    .forward = &SumForward<false>,
    .backward = &SumBackward<false>,
    .backward_graph = &SumBackwardGraph<false>,
    .jvp = &internal::LinearJvp,
    .attrs = kReductionAttrs,
    .check_cases = &ReductionCases,
};

const OpDef kMean{
    .name = "mean",
    .formula = "y = mean of x over all elements or one axis;  dx = dy / n repeated",
    .kind = OpKind::kReduction,
    .forward = &SumForward<true>,
    .backward = &SumBackward<true>,
    .backward_graph = &SumBackwardGraph<true>,
    .jvp = &internal::LinearJvp,
    .attrs = kReductionAttrs,
    .check_cases = &ReductionCases,
};

const OpDef kMax{
    .name = "max",
    .formula = "y = max of x along an axis;  dx = dy at the (first) maximum, 0 elsewhere",
    .kind = OpKind::kReduction,
    .forward = &MaxForward,
    .backward = &MaxBackward,
    .backward_graph = &MaxBackwardGraph,
    .attrs = kReductionAttrs,
    .check_cases = &ReductionCases,
};

const OpDef kSumTo{
    .name = "sum_to",
    .formula = "y = x summed down to a shape it broadcasts to;  dx = dy broadcast back",
    .kind = OpKind::kReduction,
    .forward = &SumToForward,
    .backward = &SumToBackward,
    .backward_graph = &SumToBackwardGraph,
    .jvp = &internal::LinearJvp,
    .check_cases = &SumToCases,
};

const OpDef kBroadcastTo{
    .name = "broadcast_to",
    .formula = "y = x repeated up to a broadcast shape;  dx = dy summed back",
    .kind = OpKind::kShape,
    .forward = &BroadcastToForward,
    .backward = &BroadcastToBackward,
    .backward_graph = &BroadcastToBackwardGraph,
    .jvp = &internal::LinearJvp,
    .check_cases = &BroadcastToCases,
};

}  // namespace ops
}  // namespace actgrad
