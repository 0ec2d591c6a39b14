#include "ops/jvp_rules.h"

#include <vector>

#include "graph/factories.h"
#include "ops/functional.h"

namespace actgrad::internal {

namespace {

bool IsDifferentiableInput(const OpDef& op, int i) {
  return i >= 32 || ((op.non_differentiable >> i) & 1u) == 0;
}

Tensor TangentOrZeros(const JvpContext& ctx, int i) {
  return ctx.has_tangent(i) ? ctx.tangent(i) : Zeros(ctx.input(i).shape(), ctx.input(i).dtype());
}

Tensor Sum(Tensor a, const Tensor& b, const std::source_location& location) {
  return a.defined() ? Add(a, b, location) : b;
}

}  // namespace

Tensor LinearJvp(JvpContext& ctx) {
  std::vector<Tensor> args;
  args.reserve(ctx.num_inputs());
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    args.push_back(IsDifferentiableInput(ctx.op(), i) && IsFloating(ctx.input(i).dtype())
                       ? TangentOrZeros(ctx, i)
                       : ctx.input(i));
  }
  return Apply(ctx.op(), args, ctx.attrs(), ctx.location());
}

Tensor PadJvp(JvpContext& ctx) {
  Attrs attrs = ctx.attrs();
  attrs.params[0] = 0.0;  // the fill value, a constant
  return Apply(ctx.op(), {ctx.tangent(0)}, attrs, ctx.location());
}

Tensor ProductJvp(JvpContext& ctx) {
  Tensor result;
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_tangent(i)) continue;
    std::vector<Tensor> args(ctx.inputs().begin(), ctx.inputs().end());
    args[i] = ctx.tangent(i);
    result = Sum(result, Apply(ctx.op(), args, ctx.attrs(), ctx.location()), ctx.location());
  }
  return result;
}

Tensor ProductWithBiasJvp(JvpContext& ctx) {
  const bool has_bias = ctx.num_inputs() == 3;
  Tensor result;
  if (ctx.has_tangent(0) || (has_bias && ctx.has_tangent(2))) {
    std::vector<Tensor> args = {TangentOrZeros(ctx, 0), ctx.input(1)};
    if (has_bias && ctx.has_tangent(2)) args.push_back(ctx.tangent(2));
    result = Apply(ctx.op(), args, ctx.attrs(), ctx.location());
  }
  if (ctx.has_tangent(1)) {
    result =
        Sum(result, Apply(ctx.op(), {ctx.input(0), ctx.tangent(1)}, ctx.attrs(), ctx.location()),
            ctx.location());
  }
  return result;
}

Tensor DivJvp(JvpContext& ctx) {
  const Tensor& b = ctx.input(1);
  Tensor result;
  if (ctx.has_tangent(0)) result = Div(ctx.tangent(0), b, ctx.location());
  if (ctx.has_tangent(1)) {
    const Tensor term = Div(Mul(ctx.output(), ctx.tangent(1), ctx.location()), b, ctx.location());
    result = result.defined() ? Sub(result, term, ctx.location()) : Neg(term, ctx.location());
  }
  return result;
}

}  // namespace actgrad::internal
