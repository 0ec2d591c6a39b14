// -----------------------------------------------------------------------------
// File: plugin.h
// -----------------------------------------------------------------------------
//
// Ops in a shared library of their own, loaded at run time by `actgrad
// gradcheck --plugin PATH` (and train, predict, plot, profile). A plugin
// adds elementwise activations from their scalar formulas
// (`ActivationDefinition`) and tensor ops (`TensorOpDefinition`: a pooling,
// a normalization) from a shape rule, a forward and a backward written with
// actgrad ops. A plugin is built with the CMake function
// `actgrad_add_plugin(NAME SOURCES ...)` that the installed package
// provides, and defines its entry points with ACTGRAD_PLUGIN. Loading checks
// the plugin's ABI version, refuses names that clash with registered ops,
// has every tensor op verified before anything is registered (the CLI
// gradient-checks each to second order, tools/plugins.h), registers none of
// the plugin's ops when any of this fails, and reports every failure as a
// Status, never a crash. Plugins stay loaded until the process exits.
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
//     registrar.AddTensorOp({
//         .name = "rms_norm",
//         .formula = "y = x / sqrt(mean(x^2) + eps) over the last axis",
//         .shape = &SameShape,  // [..., F] -> [..., F]
//         .forward = &RmsNormForward,
//         .backward = &RmsNormBackward,  // with ops: also differentiates twice
//         .jvp = &RmsNormJvp,
//         .params = {{.name = "eps", .default_value = 1e-5}},
//         .example_shapes = {{actgrad::Shape{4, 6}}, {actgrad::Shape{2, 3, 5}}},
//     });
//   }
//   ACTGRAD_PLUGIN(Register)
//
// and the program that loads it:
//
//   absl::StatusOr<std::vector<const actgrad::OpDef*>> ops = actgrad::LoadPlugin(
//       "libmy_ops.so", {.verify_tensor_op = &MyGradientCheck});

#ifndef ACTGRAD_OPS_PLUGIN_H_
#define ACTGRAD_OPS_PLUGIN_H_

#include <functional>
#include <source_location>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "graph/shape.h"
#include "ops/scalar_activation.h"

namespace actgrad {

// Bumped whenever ActivationDefinition, TensorOpDefinition, OpDef, Attrs or
// the registrar change shape.
inline constexpr int kPluginAbiVersion = 6;

// A tensor op's output shape from its input shapes and attributes (params
// at their defaults where unset), or why the inputs do not fit, in words the
// op's error repeats after naming the op and the shapes ("the last axis has
// 5 entries, not a multiple of kernel = 2").
using ShapeRule = absl::StatusOr<Shape> (*)(std::span<const Shape> inputs, const Attrs& attrs);

// A tensor op in one definition. Its row saves every input and the output,
// takes `num_inputs` floating inputs of one dtype, all differentiable, and
// runs the shape rule before `forward`, so that a misfit is an `Error`
// naming the op, the shapes and the caller's line. `backward` written with
// actgrad ops (Mul, Sum, Reshape, ...) serves as the row's backward and,
// recorded, as its `backward_graph`: second derivatives come with it.
//
// Attributes reach forward, backward and jvp as the caller gave them;
// WithDefaults(ctx.op(), ctx.attrs()) fills in the params' defaults.
struct TensorOpDefinition {
  std::string name;     // snake_case, unique in the registry
  std::string formula;  // one line for reports
  int num_inputs = 1;   // 1 to kMaxSavedInputs
  ShapeRule shape = nullptr;
  // The output from ctx.inputs(), which the shape rule accepted; its shape
  // must be the rule's.
  Tensor (*forward)(ForwardContext& ctx) = nullptr;
  // ctx.set_dx(i, ...) for every input with ctx.needs_grad(i), from
  // ctx.dy(), ctx.saved_input(i) and ctx.saved_output().
  void (*backward)(BackwardContext& ctx) = nullptr;
  // Optional: the output's tangent from the inputs' (forward mode); rows
  // without it get theirs from the backward.
  Tensor (*jvp)(JvpContext& ctx) = nullptr;
  std::vector<ActivationParam> params;  // in Attrs::params, in this order
  // Input shapes the op is meant for, one list per call (a shape per
  // input). The check runs on these and on shapes drawn near them that the
  // shape rule accepts; with none, random shapes of rank 1 to 3.
  std::vector<std::vector<Shape>> example_shapes;
  // The range of the random check inputs, and input values where the op is
  // not differentiable.
  double check_low = -2.0;
  double check_high = 2.0;
  std::vector<double> kinks;
};

// Collects a plugin's definitions; the loader checks and registers them.
class PluginRegistrar {
 public:
  void Add(ActivationDefinition definition) { definitions_.push_back(std::move(definition)); }
  void AddTensorOp(TensorOpDefinition definition) { tensor_ops_.push_back(std::move(definition)); }
  std::vector<ActivationDefinition>& definitions() { return definitions_; }
  std::vector<TensorOpDefinition>& tensor_ops() { return tensor_ops_; }

 private:
  std::vector<ActivationDefinition> definitions_;
  std::vector<TensorOpDefinition> tensor_ops_;
};

// At most this many tensor op rows per process (refused plugins' included).
inline constexpr int kMaxTensorOps = 64;

// A row built from `definition`, owned for the rest of the process, not
// registered. Throws `Error` for an incomplete definition (no name, shape
// rule, forward or backward; a bad input count; too many params) and once
// kMaxTensorOps rows exist.
const OpDef& MakeTensorOp(TensorOpDefinition definition,
                          std::source_location location = std::source_location::current());

// MakeTensorOp, then registers the row. kAlreadyExists when the name is
// taken; kInvalidArgument for an incomplete definition.
absl::StatusOr<const OpDef*> DefineTensorOp(TensorOpDefinition definition);

// The definition `op` was made from, or nullptr for any other row.
const TensorOpDefinition* TensorOpDefinitionOf(const OpDef& op);

// The output shape of `op`, a tensor op row, for `inputs`: its shape rule
// at `attrs` with the params' defaults filled in.
absl::StatusOr<Shape> TensorOpOutputShape(const OpDef& op, std::span<const Shape> inputs,
                                          const Attrs& attrs = {});

struct PluginLoadOptions {
  // Decides whether a tensor op's row (made, not yet registered) may be
  // registered: OK, or why not. The first error refuses the whole plugin.
  // Without one, a plugin that has tensor ops is refused: an unchecked
  // backward must not reach training. tools/plugins.h has the CLI's, which
  // gradient-checks to second order.
  std::function<absl::Status(const OpDef& op)> verify_tensor_op;
};

// Loads the plugin at `path` and registers its ops. Errors: kNotFound (no
// such file), kInvalidArgument (not a shared library, a missing entry
// point, an incomplete definition), kFailedPrecondition (ABI version
// mismatch; tensor ops and no verifier), kAlreadyExists (a name clash),
// kInternal (the plugin threw), and the verifier's own.
absl::StatusOr<std::vector<const OpDef*>> LoadPlugin(const std::string& path,
                                                     const PluginLoadOptions& options = {});

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
