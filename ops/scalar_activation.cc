#include "ops/scalar_activation.h"

#include <cmath>
#include <deque>
#include <exception>
#include <mutex>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "graph/parallel.h"
#include "ops/builtin_ops.h"
#include "ops/check_cases.h"
#include "ops/crash_report.h"
#include "ops/float_evaluation.h"
#include "ops/functional.h"
#include "ops/kernels.h"
#include "ops/registry.h"

namespace actgrad {

namespace {

// A definition and the row made from it, kept together so that the row's
// string views and spans stay valid.
struct OwnedActivation {
  ActivationDefinition definition;
  std::vector<AttrSpec> attr_specs;
  ActivationFormulas formulas;
  OpDef row;
};

std::deque<OwnedActivation>& OwnedRows() {
  static auto* rows = new std::deque<OwnedActivation>();
  return *rows;
}

std::mutex& OwnedRowsMutex() {
  static auto* mutex = new std::mutex();
  return *mutex;
}

}  // namespace

namespace internal {

namespace {

// The row's generic formula where the row's function for `order` (0 forward,
// 1 derivative, 2 second derivative) is the generic one: its kernels then
// run on packets instead of calling the function per element.
const GenericFormula* GenericFor(const ActivationFormulas& f, int order) {
  const GenericFormula* g = f.generic;
  if (g == nullptr || g->map_float == nullptr) return nullptr;
  const bool same = order == 0   ? f.forward == g->forward
                    : order == 1 ? f.derivative == g->derivative
                                 : f.second_derivative == g->second_derivative;
  return same ? g : nullptr;
}

// f^(order)(x), times dy where given, through the generic formula's map:
// for float32, evaluated in float where that has been measured to be as
// accurate as the built-in kernels (ops/float_evaluation.h), else in
// double. A formula may throw; ParallelFor's ranges must not, so the first
// exception is carried out of them and thrown here.
Tensor MapGeneric(const GenericFormula& g, int order, const Tensor& x, const Tensor* dy,
                  const Attrs& attrs) {
  const auto map_float = x.dtype() == DType::kFloat32 && EvaluatesInFloat(g, order, attrs)
                             ? g.map_float_in_float
                             : g.map_float;
  Tensor out(NewUninitialized(x.shape(), x.dtype()));
  std::exception_ptr error;
  std::mutex error_mutex;
  DispatchFloating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = static_cast<const T*>(x.raw_data());
    const T* pdy = dy == nullptr ? nullptr : static_cast<const T*>(dy->raw_data());
    T* po = static_cast<T*>(out.raw_data());
    ParallelFor(x.numel(), [&](int64_t begin, int64_t end) {
      try {
        if constexpr (std::is_same_v<T, float>) {
          map_float(order, px + begin, pdy == nullptr ? nullptr : pdy + begin, po + begin,
                    end - begin, attrs);
        } else {
          g.map_double(order, px + begin, pdy == nullptr ? nullptr : pdy + begin, po + begin,
                       end - begin, attrs);
        }
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
      }
    });
  });
  if (error) std::rethrow_exception(error);
  return out;
}

}  // namespace

// User and plugin formulas may throw; what they throw becomes an Error that
// names the activation, instead of an unexplained exception.
Tensor ScalarActivationForward(ForwardContext& ctx) {
  const FormulaScope running(ctx.op(), "forward");
  try {
    if (const GenericFormula* g = GenericFor(*ctx.op().formulas, 0)) {
      RequireSameFloatingDType(ctx);
      return MapGeneric(*g, 0, ctx.input(0), nullptr, WithDefaults(ctx.op(), ctx.attrs()));
    }
    return MapScalar(ctx, ctx.op().formulas->forward);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    ACTGRAD_THROW(ctx.location(), ctx.op().name, ": its forward formula threw: ", e.what());
  }
}

void ScalarActivationBackward(BackwardContext& ctx) {
  const FormulaScope running(ctx.op(), "derivative");
  try {
    if (const GenericFormula* g = GenericFor(*ctx.op().formulas, 1)) {
      ctx.set_dx(
          0, MapGeneric(*g, 1, ctx.saved_input(0), &ctx.dy(), WithDefaults(ctx.op(), ctx.attrs())));
      return;
    }
    MapScalarDerivative(ctx, ctx.op().formulas->derivative);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    ACTGRAD_THROW(ctx.location(), ctx.op().name, ": its derivative formula threw: ", e.what());
  }
}

void ScalarActivationBackwardGraph(BackwardContext& ctx) {
  Attrs attrs = ctx.attrs();
  attrs.target = &ctx.op();
  ctx.set_dx(0, Apply(ops::kActivationDerivative, {ctx.saved_input(0)}, attrs) * ctx.dy());
}

std::vector<GradCheckCase> ScalarActivationCases(Generator& gen) {
  std::vector<GradCheckCase> cases = UnaryCases(gen, -3.0, 3.0);
  cases.push_back({{FromValues({-20.0, -5.0, -2.0, -1.0, -0.5, 0.25, 0.5, 1.0, 2.0, 5.0, 20.0},
                               DType::kFloat64)},
                   {},
                   "grid",
                   {}});
  return cases;
}

}  // namespace internal

namespace {

const ActivationFormulas& TargetFormulas(const Attrs& attrs, const std::source_location& location) {
  ACTGRAD_REQUIRE(attrs.target != nullptr && attrs.target->formulas != nullptr, location,
                  "activation_derivative: needs the activation whose derivative it is");
  return *attrs.target->formulas;
}

// y = f'(x), from the target activation's formulas.
Tensor DerivativeForward(ForwardContext& ctx) {
  const OpDef& target = *ctx.attrs().target;
  const ActivationFormulas& f = TargetFormulas(ctx.attrs(), ctx.location());
  const Attrs attrs = WithDefaults(target, ctx.attrs());
  const internal::FormulaScope running(target, "derivative");
  if (const GenericFormula* g = internal::GenericFor(f, 1)) {
    return internal::MapGeneric(*g, 1, ctx.input(0), nullptr, attrs);
  }
  return internal::MapValues(ctx.input(0),
                             [&](double x) { return f.derivative(x, f.forward(x, attrs), attrs); });
}

// dx = dy f''(x): the second derivative from the row. It enters as a
// constant, so derivatives beyond the second are not available.
void DerivativeBackward(BackwardContext& ctx) {
  const OpDef& target = *ctx.attrs().target;
  const ActivationFormulas& f = TargetFormulas(ctx.attrs(), ctx.location());
  ACTGRAD_REQUIRE(f.second_derivative != nullptr, ctx.location(), "activation ", target.name,
                  " has no second-derivative formula, so it cannot be differentiated twice; "
                  "add .second_derivative to its definition");
  const Attrs attrs = WithDefaults(target, ctx.attrs());
  const internal::FormulaScope running(target, "second-derivative");
  const GenericFormula* g = internal::GenericFor(f, 2);
  const Tensor second = g != nullptr
                            ? internal::MapGeneric(*g, 2, ctx.saved_input(0), nullptr, attrs)
                            : internal::MapValues(ctx.saved_input(0), [&](double x) {
                                return f.second_derivative(x, f.forward(x, attrs), attrs);
                              });
  ctx.set_dx(0, ctx.dy() * second);
}

}  // namespace

namespace ops {

const OpDef kActivationDerivative{
    .name = "activation_derivative",
    .formula = "y = f'(x) for the activation f named by its attributes;  dx = dy f''(x)",
    .kind = OpKind::kElementwise,
    .saves = kSaveInput0,
    .forward = &DerivativeForward,
    .backward = &DerivativeBackward,
    .backward_graph = &DerivativeBackward,
};

}  // namespace ops

namespace {

// Whatever the definition leaves out, its generic formula gives.
void CompleteFromGeneric(ActivationDefinition& d) {
  if (d.generic == nullptr) return;
  if (d.forward == nullptr) d.forward = d.generic->forward;
  if (d.derivative == nullptr) d.derivative = d.generic->derivative;
  if (d.second_derivative == nullptr) d.second_derivative = d.generic->second_derivative;
}

}  // namespace

std::vector<AttrSpec> ParamAttrSpecs(const std::vector<ActivationParam>& params) {
  std::vector<AttrSpec> specs;
  specs.reserve(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    specs.push_back({.name = params[i].name,
                     .meaning = params[i].meaning,
                     .param = static_cast<int>(i),
                     .default_value = params[i].default_value,
                     .low = params[i].low,
                     .high = params[i].high});
  }
  return specs;
}

const OpDef& MakeActivation(ActivationDefinition definition, std::source_location location) {
  CompleteFromGeneric(definition);
  ACTGRAD_REQUIRE(
      !definition.name.empty() && definition.forward != nullptr && definition.derivative != nullptr,
      location, "MakeActivation: \"", definition.name,
      "\" needs a name, and a generic formula or a forward formula and a derivative");
  ACTGRAD_REQUIRE(definition.params.size() <= static_cast<size_t>(Attrs::kMaxParams), location,
                  "MakeActivation: ", definition.name, " has ", definition.params.size(),
                  " parameters; at most ", Attrs::kMaxParams, " are supported");
  std::lock_guard<std::mutex> lock(OwnedRowsMutex());
  OwnedActivation& owned = OwnedRows().emplace_back();
  owned.definition = std::move(definition);
  const ActivationDefinition& d = owned.definition;
  owned.attr_specs = ParamAttrSpecs(d.params);
  owned.formulas = {d.forward, d.derivative, d.second_derivative, d.generic};
  owned.row = OpDef{
      .name = d.name,
      .formula = d.formula,
      .kind = OpKind::kActivation,
      // Both values are kept: the derivative may read either.
      .saves = kSaveInput0 | kSaveOutput,
      .forward = &internal::ScalarActivationForward,
      .backward = &internal::ScalarActivationBackward,
      .backward_graph = &internal::ScalarActivationBackwardGraph,
      .attrs = owned.attr_specs,
      .kinks = d.kinks,
      .gain = d.gain,
      .formulas = &owned.formulas,
      .recommended_init = d.recommended_init,
      .recommended_input_range = d.recommended_input_range,
      .check_cases = &internal::ScalarActivationCases,
  };
  return owned.row;
}

absl::StatusOr<const OpDef*> DefineActivation(ActivationDefinition definition) {
  CompleteFromGeneric(definition);
  if (definition.name.empty() || definition.forward == nullptr ||
      definition.derivative == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("activation \"", definition.name,
                     "\" needs a name, and a generic formula or a forward formula and a "
                     "derivative"));
  }
  if (definition.params.size() > static_cast<size_t>(Attrs::kMaxParams)) {
    return absl::InvalidArgumentError(
        absl::StrCat("activation \"", definition.name, "\" has ", definition.params.size(),
                     " parameters; at most ", Attrs::kMaxParams, " are supported"));
  }
  if (OpRegistry::Global().Find(definition.name).ok()) {
    return absl::AlreadyExistsError(
        absl::StrCat("an op named \"", definition.name, "\" is already registered"));
  }
  const OpDef& row = MakeActivation(std::move(definition));
  if (absl::Status s = OpRegistry::Global().Register(row); !s.ok()) return s;
  return &row;
}

}  // namespace actgrad
