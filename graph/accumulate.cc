#include "graph/accumulate.h"

#include "graph/eigen_views.h"
#include "graph/error.h"
#include "graph/factories.h"
#include "graph/parallel.h"

namespace actgrad::internal {

void AddInPlace(const Tensor& acc, const Tensor& x) {
  DispatchFloating(acc.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* pa = static_cast<T*>(acc.raw_data());
    const T* px = static_cast<const T*>(x.raw_data());
    ParallelFor(acc.numel(), [&](int64_t begin, int64_t end) {
      ArrayMap<T>(pa + begin, end - begin) += ConstArrayMap<T>(px + begin, end - begin);
    });
  });
}

namespace {

Tensor GradAccumulateForward(ForwardContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  ACTGRAD_REQUIRE(
      IsFloating(a.dtype()) && a.dtype() == b.dtype() && a.shape() == b.shape(), ctx.location(),
      ctx.op().name, ": sums two gradients of one shape and floating dtype, got ",
      DescribeShapes(ctx.inputs()), " (", DTypeName(a.dtype()), " and ", DTypeName(b.dtype()), ")");
  Tensor y = a.Clone();
  AddInPlace(y, b);
  return y;
}

// Linear in both inputs: the gradient passes through unchanged, and the same
// code serves the recorded backward (dy is then in the graph).
void GradAccumulateBackward(BackwardContext& ctx) {
  for (int i = 0; i < 2; ++i) {
    if (ctx.needs_grad(i)) ctx.set_dx(i, ctx.dy());
  }
}

// Linear: the tangents summed, as the values are.
Tensor GradAccumulateJvp(JvpContext& ctx) {
  if (!ctx.has_tangent(0)) return ctx.tangent(1);
  if (!ctx.has_tangent(1)) return ctx.tangent(0);
  return Apply(ctx.op(), ctx.tangents(), {}, ctx.location());
}

std::vector<GradCheckCase> GradAccumulateCases(Generator& gen) {
  std::vector<GradCheckCase> cases;
  for (const Shape& shape : {Shape{5}, Shape{3, 4}}) {
    cases.push_back({.inputs = {Uniform(shape, -2, 2, gen, DType::kFloat64),
                                Uniform(shape, -2, 2, gen, DType::kFloat64)},
                     .description = shape.ToString() + " + " + shape.ToString()});
  }
  return cases;
}

}  // namespace

const OpDef kGradAccumulate{
    .name = "grad_accumulate",
    .formula = "y = a + b (one shape, the engine's gradient sum);  da = dy, db = dy",
    .min_inputs = 2,
    .max_inputs = 2,
    .forward = &GradAccumulateForward,
    .backward = &GradAccumulateBackward,
    .backward_graph = &GradAccumulateBackward,
    .jvp = &GradAccumulateJvp,
    .check_cases = &GradAccumulateCases,
};

}  // namespace actgrad::internal
