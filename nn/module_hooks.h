// -----------------------------------------------------------------------------
// File: module_hooks.h
// -----------------------------------------------------------------------------
//
// Module hooks let code that did not write a layer watch, or adjust, what
// flows through it, as PyTorch's module hooks do: activation statistics per
// layer, gradient norms per layer, one layer's gradient clipped, without
// editing the layer. A hook is registered on one module
// (`Module::RegisterForwardHook()` and its three siblings, nn/module.h) or
// on every module at once (`RegisterGlobalModuleHooks()`, below); each
// registration returns a `HookHandle` whose Remove() takes it back.
// `Module::Path()` names the module a hook is called for ("1.fc", its
// state_dict prefix).
//
// Where they fire: in `Module::operator()`, the way a parent calls a child,
// and in `Sequential` for each of its layers (a Linear and the activation it
// fuses with then run apart, so each sees its own input and output). A
// direct call of `Forward()` runs no hook of that module. Global hooks run
// before the module's own; each group in registration order.
//
//   forward:  forward pre hooks (input), Forward(), forward hooks (input, output)
//   backward: backward pre hooks (grad_output) once the gradient with respect
//             to the module's output is complete, before any op the module
//             recorded runs backward; then backward hooks (grad_input,
//             grad_output) once the gradient with respect to its input is
//             complete, after all of them.
//
// Backward hooks fire once per Backward() (or Grad()) whose gradient reaches
// the module's output; they never fire for a call whose output did not
// require a gradient (run under NoGradGuard, or with neither the input nor a
// parameter requiring one). When the input does not require a gradient
// (data, for a first layer), they follow PyTorch's full backward hooks: the
// backward hooks fire with an undefined grad_input right after the backward
// pre hooks, when the gradient with respect to the output is complete.
//
// Replacing values: every hook returns std::optional<Tensor>. std::nullopt
// keeps the value; a tensor replaces it for the hooks after it and for the
// rest of the pass: a forward pre hook replaces the input Forward()
// receives, a forward hook the output the caller gets, a backward pre hook
// the gradient that flows into the module's ops, a backward hook the one
// that flows on from its input. A replaced gradient keeps its shape and
// dtype, and a backward hook called with an undefined grad_input has
// nothing to replace; either mistake throws `Error` naming the module and
// where the hook was registered.
//
// Cost: with no hook registered anywhere a module call pays one branch (a
// count of live hooks is zero). While backward hooks apply to a call, its
// input (when it requires a gradient) and its output pass through a
// recorded no-copy view ("reshape" to the same shape, seen in profiles):
// the gradient hooks attach to those nodes, which belong to this pass, so
// that nothing attaches to a leaf, whose hooks would outlive it.
//
// Threads: register and remove hooks while no forward or backward pass runs
// (a hook may remove hooks, itself included; what it registers applies from
// the next call). Hooks run on the thread that runs the pass. The backward
// hooks of a module destroyed before Backward() do not fire.
//
// Example:
//
//   std::map<std::string, double> mean_abs;  // by module path
//   actgrad::nn::HookHandle watch = actgrad::nn::RegisterGlobalModuleHooks(
//       {.forward = [&](actgrad::nn::Module& m, const actgrad::Tensor& in,
//                       const actgrad::Tensor& out) -> std::optional<actgrad::Tensor> {
//         actgrad::NoGradGuard no_grad;
//         mean_abs[m.Path()] = actgrad::Mean(actgrad::Abs(out)).item();
//         return std::nullopt;
//       }});
//   actgrad::nn::HookHandle clip = model->layer(0).RegisterBackwardHook(
//       [](actgrad::nn::Module&, const actgrad::Tensor& grad_input,
//          const actgrad::Tensor& grad_output) -> std::optional<actgrad::Tensor> {
//         if (!grad_input.defined()) return std::nullopt;
//         return actgrad::Clamp(grad_input, -1.0, 1.0);
//       });
//   (*model)(x);
//   watch.Remove();

#ifndef ACTGRAD_NN_MODULE_HOOKS_H_
#define ACTGRAD_NN_MODULE_HOOKS_H_

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <source_location>
#include <utility>

#include "graph/tensor.h"

namespace actgrad::nn {

class Module;

// What each kind of hook is called with; see the file comment for when, and
// for what returning a tensor replaces.
using ForwardPreHook = std::function<std::optional<Tensor>(Module& module, const Tensor& input)>;
using ForwardHook =
    std::function<std::optional<Tensor>(Module& module, const Tensor& input, const Tensor& output)>;
using BackwardPreHook =
    std::function<std::optional<Tensor>(Module& module, const Tensor& grad_output)>;
using BackwardHook = std::function<std::optional<Tensor>(Module& module, const Tensor& grad_input,
                                                         const Tensor& grad_output)>;

// Hooks for every module: any of them may be left empty, not all of them.
struct ModuleHooks {
  ForwardPreHook forward_pre;
  ForwardHook forward;
  BackwardPreHook backward_pre;
  BackwardHook backward;
};

}  // namespace actgrad::nn

namespace actgrad::internal {

// One registration. Remove() erases it from its list at once; the calls in
// flight that still hold it check `removed`, so that a removed hook never
// runs again.
struct ModuleHookRecord {
  nn::ModuleHooks hooks;
  nn::Module* owner = nullptr;  // null for global hooks; valid while !removed
  std::source_location location;
  bool removed = false;
};

// Hooks registered and not removed, global and per module: zero keeps every
// module call on its plain path.
extern std::atomic<int> live_module_hooks;
inline bool AnyModuleHooks() { return live_module_hooks.load(std::memory_order_relaxed) != 0; }
bool AnyGlobalModuleHooks();

}  // namespace actgrad::internal

namespace actgrad::nn {

class HookHandle;

// Hooks that fire for every module call, before the module's own hooks.
// Throws `Error` when all four are empty.
HookHandle RegisterGlobalModuleHooks(
    ModuleHooks hooks, std::source_location location = std::source_location::current());

// Takes back the hook it was returned for. Dropping a handle leaves the hook
// in place; copies remove the same hook.
class HookHandle {
 public:
  HookHandle() = default;

  // The hook never runs again, not even for a forward already recorded.
  // Removing twice, or after the module is gone, does nothing.
  void Remove();
  // Whether the hook is registered still.
  bool active() const;

 private:
  friend class Module;
  friend HookHandle RegisterGlobalModuleHooks(ModuleHooks hooks, std::source_location location);
  explicit HookHandle(std::weak_ptr<internal::ModuleHookRecord> record)
      : record_(std::move(record)) {}

  std::weak_ptr<internal::ModuleHookRecord> record_;
};

}  // namespace actgrad::nn

#endif  // ACTGRAD_NN_MODULE_HOOKS_H_
