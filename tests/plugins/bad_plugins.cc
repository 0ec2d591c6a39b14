// Plugins that must be refused, one per compile definition:
//   WRONG_ABI       claims an ABI version this library does not speak
//   THROWS          its registration throws
//   CLASHING_NAME   defines an op named like a built-in one
//   CRASHES         loads fine, but its forward formula dereferences null
//   ATTRIBUTE_BUG   y = p x with dy/dx = 1: right only at the default p = 1

#include <stdexcept>

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
#endif
