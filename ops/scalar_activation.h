// -----------------------------------------------------------------------------
// File: scalar_activation.h
// -----------------------------------------------------------------------------
//
// An activation defined in one place from its scalar formulas: name, forward,
// derivative (from the input and/or the saved output), optionally the second
// derivative, kinks and parameters. `DefineActivation` turns the definition
// into a first-class op row and registers it, so it works in graphs and
// layers and is picked up by every registry-driven test, benchmark and CLI
// command (`actgrad gradcheck`, `train --activation`, `plot`). Plugins
// (ops/plugin.h) register their activations the same way.
//
// The formulas run in double precision element by element; for float32
// tensors each value is widened and the result narrowed. Derivatives taken
// from a generic formula run on dual numbers, element by element too.
//
// Example, from the forward alone (derivatives by dual numbers):
//
//   absl::StatusOr<const actgrad::OpDef*> op = actgrad::DefineActivation({
//       .name = "my_mish",
//       .formula = "y = x tanh(log(1 + e^x))",
//       .generic = actgrad::Generic([](auto x, const actgrad::Attrs&) {
//         using std::exp, std::log1p, std::tanh;
//         return x * tanh(log1p(exp(x)));
//       }),
//   });
//
// or with hand-written formulas:
//
//   absl::StatusOr<const actgrad::OpDef*> op = actgrad::DefineActivation({
//       .name = "softsign2",
//       .formula = "y = x / (1 + |x|);  dy/dx = 1 / (1 + |x|)^2",
//       .forward = [](double x, const actgrad::Attrs&) { return x / (1 + std::abs(x)); },
//       .derivative = [](double x, double, const actgrad::Attrs&) {
//         return 1 / ((1 + std::abs(x)) * (1 + std::abs(x)));
//       },
//   });
//   actgrad::Tensor y = actgrad::Apply(**op, {x});

#ifndef ACTGRAD_OPS_SCALAR_ACTIVATION_H_
#define ACTGRAD_OPS_SCALAR_ACTIVATION_H_

#include <source_location>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/op_def.h"
#include "ops/generic_formula.h"

namespace actgrad {

// A named parameter of an activation; it lives in Attrs::params, in the
// order the definition lists them.
struct ActivationParam {
  std::string name;
  double default_value = 0.0;
  std::string meaning;
  // The values it is meant for; the checker tests the ends and between.
  double low = std::numeric_limits<double>::quiet_NaN();
  double high = std::numeric_limits<double>::quiet_NaN();
};

// The attribute specs of `params`, in Attrs::params in this order; they
// point into `params`, which must outlive them.
std::vector<AttrSpec> ParamAttrSpecs(const std::vector<ActivationParam>& params);

struct ActivationDefinition {
  std::string name;     // snake_case, unique in the registry
  std::string formula;  // one line for reports, e.g. "y = x + sin(x)^2"
  // The forward written once for any number type (Generic(), ops/
  // generic_formula.h). With it alone the row is complete: forward and both
  // derivatives come from it. Formulas given below as well take precedence,
  // and `actgrad gradcheck` checks them against it.
  const GenericFormula* generic = nullptr;
  double (*forward)(double x, const Attrs& attrs) = nullptr;
  double (*derivative)(double x, double y, const Attrs& attrs) = nullptr;
  double (*second_derivative)(double x, double y, const Attrs& attrs) = nullptr;
  std::vector<double> kinks;
  std::vector<ActivationParam> params;
  // The initializer gain; nullptr lets reports estimate the variance-
  // preserving gain by Monte Carlo.
  double (*gain)(const Attrs& attrs) = nullptr;
  InitFamily recommended_init = InitFamily::kXavier;
  InputRange recommended_input_range = InputRange::kUnit;
};

// A row built from `definition`, owned for the rest of the process (rows
// must outlive the registry). Throws `Error` for a definition without a
// name, or without a generic formula and without a forward and derivative,
// or with more than Attrs::kMaxParams params.
const OpDef& MakeActivation(ActivationDefinition definition,
                            std::source_location location = std::source_location::current());

// MakeActivation, then registers the row. kAlreadyExists when the name is
// taken; kInvalidArgument for an incomplete definition.
absl::StatusOr<const OpDef*> DefineActivation(ActivationDefinition definition);

namespace internal {

// y = f(x, attrs) element by element, in double precision, for one input;
// attrs has the row's param defaults filled in.
template <typename Fn>
Tensor MapScalar(ForwardContext& ctx, Fn f);
// dx = dy * d(x, y, attrs) from the saved input and output.
template <typename Fn>
void MapScalarDerivative(BackwardContext& ctx, Fn d);

// The kernels of a formula-defined row: they read the formulas from the row
// itself (ctx.op().formulas), so one pair serves every such activation.
Tensor ScalarActivationForward(ForwardContext& ctx);
void ScalarActivationBackward(BackwardContext& ctx);
// dy times the derivative as an op (activation_derivative), whose own
// backward uses the row's second derivative: double backward works.
void ScalarActivationBackwardGraph(BackwardContext& ctx);
// Sample inputs for the gradient check: random points and a fixed grid.
std::vector<GradCheckCase> ScalarActivationCases(Generator& gen);

// ----------------------------------------------------------------------------
// Implementation details.

void RequireSameFloatingDType(const ForwardContext& ctx);

template <typename Fn>
Tensor MapScalar(ForwardContext& ctx, Fn f) {
  RequireSameFloatingDType(ctx);
  const Attrs attrs = WithDefaults(ctx.op(), ctx.attrs());
  const Tensor& x = ctx.input(0);
  Tensor y(NewUninitialized(x.shape(), x.dtype()));
  DispatchFloating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = static_cast<const T*>(x.raw_data());
    T* py = static_cast<T*>(y.raw_data());
    for (int64_t i = 0; i < x.numel(); ++i) py[i] = static_cast<T>(f(double(px[i]), attrs));
  });
  return y;
}

template <typename Fn>
void MapScalarDerivative(BackwardContext& ctx, Fn d) {
  const Attrs attrs = WithDefaults(ctx.op(), ctx.attrs());
  const Tensor& x = ctx.saved_input(0);
  const Tensor& y = ctx.saved_output();
  const Tensor& dy = ctx.dy();
  Tensor dx(NewUninitialized(dy.shape(), dy.dtype()));
  DispatchFloating(dy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = static_cast<const T*>(x.raw_data());
    const T* py = static_cast<const T*>(y.raw_data());
    const T* pdy = static_cast<const T*>(dy.raw_data());
    T* pdx = static_cast<T*>(dx.raw_data());
    for (int64_t i = 0; i < dy.numel(); ++i) {
      pdx[i] = static_cast<T>(double(pdy[i]) * d(double(px[i]), double(py[i]), attrs));
    }
  });
  ctx.set_dx(0, std::move(dx));
}

}  // namespace internal
}  // namespace actgrad

#endif  // ACTGRAD_OPS_SCALAR_ACTIVATION_H_
