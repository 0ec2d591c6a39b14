// -----------------------------------------------------------------------------
// File: module.h
// -----------------------------------------------------------------------------
//
// `Module` is the base of every layer: a function of one tensor that
// registers what it holds. Parameters (trained), buffers (saved but not
// trained, such as a norm layer's running statistics) and child modules are
// registered once, in the constructor, under a local name; everything that
// walks a model — NamedParameters(), the optimizers, StateDict(),
// LoadStateDict(), saving, data-parallel training — walks the registered
// tree, so a layer cannot forget to list a tensor. Names are PyTorch's
// dotted state_dict names ("0.weight", "encoder.fc.bias"), so saved weights
// load into the equivalent PyTorch model and back.
//
// A module registers pointers to its own members, so modules are neither
// copied nor moved: they live where they are built, or in a unique_ptr.
// Loading copies values into the registered tensors, never rebinds them, so
// an optimizer built on Parameters() keeps working after a load.
//
// Example:
//
//   class Residual : public actgrad::nn::Module {
//    public:
//     Residual(int64_t width, actgrad::Generator& gen)
//         : fc_({.in = width, .out = width}, gen) {
//       RegisterModule("fc", &fc_);
//       scale_ = actgrad::Ones({width});
//       RegisterParameter("scale", &scale_);
//     }
//     actgrad::Tensor Forward(const actgrad::Tensor& x) override { return x + scale_ * fc_(x); }
//     std::string ToString() const override { return "Residual(" + fc_.ToString() + ")"; }
//     std::string Kind() const override { return "residual"; }
//
//    private:
//     actgrad::nn::Linear fc_;
//     actgrad::Tensor scale_;
//   };
//
//   Residual block(8, gen);  // parameters "fc.weight", "fc.bias", "scale"
//   actgrad::nn::NamedTensors state = block.StateDict();

#ifndef ACTGRAD_NN_MODULE_H_
#define ACTGRAD_NN_MODULE_H_

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <source_location>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/generator.h"
#include "graph/tensor.h"
#include "nn/module_config.h"
#include "nn/module_hooks.h"

namespace actgrad::nn {

// A registered tensor and its dotted name; the pointer is the module's own
// member, so loaders and tests can read and replace it.
struct NamedTensor {
  std::string name;
  Tensor* tensor;
};
using NamedParameter = NamedTensor;
using NamedBuffer = NamedTensor;

// Tensors under dotted names, in order: what StateDict() returns and
// LoadStateDict() and io::SaveSafetensors take.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// What LoadStateDict() found besides the keys that matched.
struct LoadReport {
  std::vector<std::string> missing_keys;     // the module has them, the state does not
  std::vector<std::string> unexpected_keys;  // the state has them, the module does not
  bool AllMatched() const { return missing_keys.empty() && unexpected_keys.empty(); }
  // "<All keys matched successfully>", or the keys as PyTorch lists them.
  std::string ToString() const;
};

class Module {
 public:
  Module() = default;
  // Unregisters this module's hooks, so that their handles do nothing.
  virtual ~Module();
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  virtual Tensor Forward(const Tensor& x) = 0;
  // Forward(x); under a Profiler (or anomaly detection) a registered child
  // names its ops as a layer, "<name>.<kind>" ("block1.residual.fc1.linear"),
  // so the profile's layer table covers modules of one's own too. Runs the
  // global hooks and this module's own (nn/module_hooks.h) around Forward().
  Tensor operator()(const Tensor& x);

  // Hooks on this module, run by operator() (nn/module_hooks.h says when
  // each fires and what a returned tensor replaces). They run after the
  // global hooks, in registration order. A null hook throws `Error` naming
  // the module and the caller.
  HookHandle RegisterForwardPreHook(
      ForwardPreHook hook, std::source_location location = std::source_location::current());
  HookHandle RegisterForwardHook(ForwardHook hook,
                                 std::source_location location = std::source_location::current());
  HookHandle RegisterBackwardPreHook(
      BackwardPreHook hook, std::source_location location = std::source_location::current());
  HookHandle RegisterBackwardHook(BackwardHook hook,
                                  std::source_location location = std::source_location::current());
  // Whether hooks of this module's own (not global ones) are registered.
  bool has_hooks() const { return !hooks_.empty(); }

  // The dotted path from the root of the tree ("encoder.layers.0.attention"),
  // the prefix of this module's state_dict names; "" for the root.
  std::string Path() const;

  // A description of the module and its settings, one line per layer.
  virtual std::string ToString() const = 0;
  // A short lowercase kind, used to name the layer in profiles ("linear")
  // and, when registered in nn/module_kinds.h, to rebuild it from a file.
  virtual std::string Kind() const { return "module"; }
  // The options that rebuild this module with its kind's factory (none by
  // default): what a saved model records for each layer.
  virtual ModuleConfig Config() const { return {}; }

  // Parameters of this module and its descendants: own first, then each
  // child's in registration order. A tensor registered twice (tied weights)
  // appears once, under its first name. Undefined tensors (an optional bias
  // left out) are skipped.
  std::vector<NamedParameter> NamedParameters();
  std::vector<Tensor> Parameters();
  int64_t NumParameters();
  // Buffers, in the same order and under the same rules.
  std::vector<NamedBuffer> NamedBuffers();
  std::vector<Tensor> Buffers();
  // The direct children, and every module of the tree ("" for this one).
  std::vector<std::pair<std::string, Module*>> NamedChildren();
  std::vector<std::pair<std::string, Module*>> NamedModules();

  // Parameters and buffers under their dotted names, as PyTorch orders
  // state_dict(): own parameters, own buffers, then each child's; tied
  // tensors appear under every name. Values are detached and share storage.
  NamedTensors StateDict() const;
  // Copies `state` into the registered tensors, without recording. Refuses
  // (kInvalidArgument, nothing changed) a key given twice, a value whose
  // shape or dtype differs ("size mismatch for 0.weight: ..."), and, when
  // `strict`, any missing or unexpected key; otherwise reports them.
  absl::StatusOr<LoadReport> LoadStateDict(const NamedTensors& state, bool strict = true);

  // Training mode (the default) or evaluation mode, for this module and all
  // its descendants; layers such as dropout read is_training(). A child
  // registered later takes its parent's mode.
  void Train(bool on = true);
  void Eval() { Train(false); }
  bool is_training() const { return training_; }

  // Zeroes the gradients of all parameters (keeping their buffers).
  void ZeroGrad();

  // The random streams this module and its descendants draw from in
  // Forward() (dropout's masks), own first: what an activation checkpoint
  // (nn/activation_checkpoint.h) rewinds so that its recomputed forward
  // draws the same masks.
  std::vector<Generator*> RandomStreams();

 protected:
  // Registration, for a module's constructor. `name` is local ("weight"),
  // non-empty, without "."; a name used twice in one module, a null pointer
  // or a child registered under two parents throws `Error` naming the module
  // and the caller. Parameters are set to require gradients.
  Tensor& RegisterParameter(std::string name, Tensor* tensor,
                            std::source_location location = std::source_location::current());
  Tensor& RegisterBuffer(std::string name, Tensor* tensor,
                         std::source_location location = std::source_location::current());
  // A generator Forward() draws from; it must outlive the module.
  void RegisterRandomStream(Generator* stream) { streams_.push_back(stream); }
  template <typename M>
  M& RegisterModule(std::string name, M* module,
                    std::source_location location = std::source_location::current()) {
    RegisterChild(std::move(name), module, location);
    return *module;
  }

 private:
  enum class SlotKind { kParameter, kBuffer };
  struct Slot {
    std::string name;
    Tensor* tensor;
    SlotKind kind;
  };

  void RegisterChild(std::string name, Module* child, const std::source_location& location);
  void CheckName(const std::string& name, const std::source_location& location) const;
  // Appends (prefix + name, tensor) of every defined slot in the tree: in
  // each module, its slots of the first kind, then of the next, then its
  // children's (state_dict's order with both kinds).
  void CollectSlots(std::initializer_list<SlotKind> kinds, const std::string& prefix,
                    std::vector<NamedTensor>* out) const;
  std::vector<NamedTensor> Unique(std::vector<NamedTensor> all) const;
  HookHandle AddHook(ModuleHooks hooks, const std::source_location& location);
  // operator() while any hook is registered (nn/module_hooks.cc).
  Tensor CallWithHooks(const Tensor& x);

  friend class HookHandle;

  std::vector<Slot> slots_;
  std::vector<std::pair<std::string, Module*>> children_;
  std::vector<Generator*> streams_;
  Module* parent_ = nullptr;
  std::string name_;  // under the parent; empty for a root
  bool training_ = true;
  // Own hooks in registration order, without the removed ones.
  std::vector<std::shared_ptr<internal::ModuleHookRecord>> hooks_;
  // Shares this module without owning it, made on the first call that sets
  // up backward hooks: they hold it weakly, so that a module destroyed
  // before Backward() is not called.
  std::shared_ptr<Module> weak_anchor_;
};

}  // namespace actgrad::nn

#endif  // ACTGRAD_NN_MODULE_H_
