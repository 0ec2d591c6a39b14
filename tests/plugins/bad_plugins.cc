// Plugins that must be refused, one per compile definition:
//   WRONG_ABI       claims an ABI version this library does not speak
//   THROWS          its registration throws
//   CLASHING_NAME   defines an op named like a built-in one
//   CRASHES         loads fine, but its forward formula dereferences null
//   ATTRIBUTE_BUG   y = p x with dy/dx = 1: right only at the default p = 1
//   WRONG_TENSOR_BACKWARD  a tensor op (an RMS norm) whose backward drops the
//                          normalizer's own derivative: refused at load
//   WRONG_TENSOR_JVP       the same op with a right backward and a JVP of the
//                          wrong sign: refused at load

#include <stdexcept>

#include "ops/functional.h"
#include "ops/plugin.h"

#if defined(WRONG_ABI)
extern "C" __attribute__((visibility("default"))) int actgrad_plugin_abi_version() {
  return actgrad::kPluginAbiVersion + 100;
}
extern "C" __attribute__((visibility("default"))) void actgrad_plugin_register(
    actgrad::PluginRegistrar*) {}
#elif defined(THROWS)
void Register(actgrad::PluginRegistrar&) { throw std::runtime_error("out of coffee"); }
ACTGRAD_PLUGIN(Register)
#elif defined(CLASHING_NAME)
void Register(actgrad::PluginRegistrar& registrar) {
  registrar.Add({
      .name = "tanh",
      .forward = [](double x, const actgrad::Attrs&) { return x; },
      .derivative = [](double, double, const actgrad::Attrs&) { return 1.0; },
  });
}
ACTGRAD_PLUGIN(Register)
#elif defined(CRASHES)
// A real crash in every build: the undefined-behaviour sanitizer would
// otherwise stop at the null load before it faults.
__attribute__((no_sanitize("undefined"))) double CrashingForward(double x, const actgrad::Attrs&) {
  volatile double* nowhere = nullptr;
  return x + *nowhere;
}
void Register(actgrad::PluginRegistrar& registrar) {
  registrar.Add({
      .name = "crashy",
      .formula = "y = *nullptr",
      .forward = &CrashingForward,
      .derivative = [](double, double, const actgrad::Attrs&) { return 1.0; },
  });
}
ACTGRAD_PLUGIN(Register)
#elif defined(ATTRIBUTE_BUG)
void Register(actgrad::PluginRegistrar& registrar) {
  registrar.Add({
      .name = "scaled_identity",
      .formula = "y = p x;  dy/dx = 1 (wrong unless p = 1)",
      .forward = [](double x, const actgrad::Attrs& a) { return a.params[0] * x; },
      .derivative = [](double, double, const actgrad::Attrs&) { return 1.0; },
      .params = {{.name = "p", .default_value = 1.0, .meaning = "slope", .low = 0.5, .high = 2}},
  });
}
ACTGRAD_PLUGIN(Register)
#elif defined(WRONG_TENSOR_BACKWARD) || defined(WRONG_TENSOR_JVP)
actgrad::Tensor InverseRms(const actgrad::Tensor& x) {
  return 1.0 / actgrad::Sqrt(actgrad::Mean(actgrad::Square(x), -1, true) + 1e-5);
}
void Register(actgrad::PluginRegistrar& registrar) {
  registrar.AddTensorOp({
    .name = "bad_rms_norm", .formula = "y = x / sqrt(mean(x^2) + eps)",
    .shape = [](std::span<const actgrad::Shape> in,
                const actgrad::Attrs&) -> absl::StatusOr<actgrad::Shape> { return in[0]; },
    .forward = [](actgrad::ForwardContext& ctx) { return ctx.input(0) * InverseRms(ctx.input(0)); },
#if defined(WRONG_TENSOR_BACKWARD)
    .backward =
        [](actgrad::BackwardContext& ctx) {
          ctx.set_dx(0, ctx.dy() * InverseRms(ctx.saved_input(0)));
        },
#else
    .backward =
        [](actgrad::BackwardContext& ctx) {
          const actgrad::Tensor r = InverseRms(ctx.saved_input(0));
          const actgrad::Tensor y = ctx.saved_input(0) * r;
          ctx.set_dx(0, r * (ctx.dy() - y * actgrad::Mean(ctx.dy() * y, -1, true)));
        },
    .jvp =
        [](actgrad::JvpContext& ctx) {
          const actgrad::Tensor r = InverseRms(ctx.input(0));
          return -(r * (ctx.tangent(0) -
                        ctx.output() * actgrad::Mean(ctx.tangent(0) * ctx.output(), -1, true)));
        },
#endif
    .example_shapes = {{actgrad::Shape{3, 4}}},
  });
}
ACTGRAD_PLUGIN(Register)
#endif
