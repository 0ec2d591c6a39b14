// -----------------------------------------------------------------------------
// File: plugin.h
// -----------------------------------------------------------------------------
//
// Activations in a shared library of their own, loaded at run time by
// `actgrad gradcheck --plugin PATH` (and train, predict, plot, profile). A
// plugin is built with the CMake function `actgrad_add_plugin(NAME SOURCES
// ...)` that the installed package provides, and defines its entry points
// with ACTGRAD_PLUGIN. Loading checks the plugin's ABI version, refuses
// names that clash with registered ops (registering none of the plugin's
// ops then), and reports every failure as a Status, never a crash. Plugins
// stay loaded until the process exits.
//
// Example (the plugin's source):
//
//   #include "ops/plugin.h"
//
//   void Register(actgrad::PluginRegistrar& registrar) {
//     registrar.Add({
//         .name = "my_mish",
//         .formula = "y = x tanh(log(1 + e^x))",
//         .generic = actgrad::Generic([](auto x, const actgrad::Attrs&) {
//           using std::exp, std::log1p, std::tanh;
//           return x * tanh(log1p(exp(x)));
//         }),
//     });
//     registrar.Add({
//         .name = "sin_plus",
//         .formula = "y = x + sin(x)^2;  dy/dx = 1 + sin(2x)",
//         .forward = [](double x, const actgrad::Attrs&) { return x + std::sin(x) * std::sin(x); },
//         .derivative = [](double x, double, const actgrad::Attrs&) { return 1 + std::sin(2 * x);
//         },
//     });
//   }
//   ACTGRAD_PLUGIN(Register)
//
// and the program that loads it:
//
//   absl::StatusOr<std::vector<const actgrad::OpDef*>> ops =
//       actgrad::LoadPlugin("libmy_activations.so");

#ifndef ACTGRAD_OPS_PLUGIN_H_
#define ACTGRAD_OPS_PLUGIN_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ops/scalar_activation.h"

namespace actgrad {

// Bumped whenever ActivationDefinition, Attrs or the registrar change shape.
inline constexpr int kPluginAbiVersion = 3;

// Collects a plugin's definitions; the loader checks and registers them.
class PluginRegistrar {
 public:
  void Add(ActivationDefinition definition) { definitions_.push_back(std::move(definition)); }
  std::vector<ActivationDefinition>& definitions() { return definitions_; }

 private:
  std::vector<ActivationDefinition> definitions_;
};

// Loads the plugin at `path` and registers its ops. Errors: kNotFound (no
// such file), kInvalidArgument (not a shared library, a missing entry
// point, a definition without formulas), kFailedPrecondition (ABI version
// mismatch), kAlreadyExists (a name clash), kInternal (the plugin threw).
absl::StatusOr<std::vector<const OpDef*>> LoadPlugin(const std::string& path);

}  // namespace actgrad

// Defines the plugin's entry points around `register_function`, a function
// taking an `actgrad::PluginRegistrar&`.
#define ACTGRAD_PLUGIN(register_function)                                              \
  extern "C" __attribute__((visibility("default"))) int actgrad_plugin_abi_version() { \
    return ::actgrad::kPluginAbiVersion;                                               \
  }                                                                                    \
  extern "C" __attribute__((visibility("default"))) void actgrad_plugin_register(      \
      ::actgrad::PluginRegistrar* registrar) {                                         \
    register_function(*registrar);                                                     \
  }

#endif  // ACTGRAD_OPS_PLUGIN_H_
