#include "nn/module_hooks.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "graph/anomaly.h"
#include "graph/error.h"
#include "graph/grad_mode.h"
#include "graph/profile_hooks.h"
#include "nn/module.h"
#include "ops/functional.h"

namespace actgrad {
namespace internal {

std::atomic<int> live_module_hooks{0};

namespace {

using ModuleHookRecords = std::vector<std::shared_ptr<ModuleHookRecord>>;

ModuleHookRecords& GlobalModuleHookRecords() {
  static ModuleHookRecords* records = new ModuleHookRecords();
  return *records;
}

}  // namespace

bool AnyGlobalModuleHooks() { return !GlobalModuleHookRecords().empty(); }

}  // namespace internal

namespace nn {
namespace {

using HookRecord = internal::ModuleHookRecord;
using Records = std::vector<std::shared_ptr<HookRecord>>;

// "linear \"1.fc\"", or the kind alone for a root.
std::string Describe(const Module& module) {
  const std::string path = module.Path();
  return path.empty() ? module.Kind() : absl::StrCat(module.Kind(), " \"", path, "\"");
}

// A recorded view of `t` with its own node, where gradient hooks of this pass
// can attach (on a leaf they would stay for every later pass).
Tensor HookPoint(const Tensor& t) {
  const Shape& shape = t.shape();
  return Reshape(t, std::vector<int64_t>(shape.dims().begin(), shape.dims().end()));
}

void CheckGradient(const std::optional<Tensor>& replaced, const Tensor& grad, const char* what,
                   const HookRecord& record, const Module& module) {
  ACTGRAD_REQUIRE(
      replaced->defined() && replaced->shape() == grad.shape() && replaced->dtype() == grad.dtype(),
      record.location, Describe(module), ": the ", what, " registered here returned ",
      replaced->defined()
          ? absl::StrCat(replaced->shape().ToString(), " ", DTypeName(replaced->dtype()))
          : std::string("an undefined tensor"),
      " for a gradient of ", grad.shape().ToString(), " ", DTypeName(grad.dtype()),
      "; a replaced gradient keeps its shape and dtype");
}

// What the gradient hooks of one hooked module call share.
struct BackwardState {
  std::weak_ptr<Module> module;
  Records records;  // those with a backward or backward pre hook
  bool input_hooked = false;
  Tensor grad_output;  // from the output's hook until the input's
};

// The gradient with respect to the output is complete.
Tensor OnGradOutput(BackwardState& state, const Tensor& grad) {
  const std::shared_ptr<Module> module = state.module.lock();
  if (module == nullptr) return Tensor();
  Tensor g = grad;
  bool replaced = false;
  for (const std::shared_ptr<HookRecord>& record : state.records) {
    if (record->removed || !record->hooks.backward_pre) continue;
    if (std::optional<Tensor> r = record->hooks.backward_pre(*module, g)) {
      CheckGradient(r, g, "backward pre hook", *record, *module);
      g = *std::move(r);
      replaced = true;
    }
  }
  if (state.input_hooked) {
    state.grad_output = g;
  } else {
    // No gradient will arrive for the input: PyTorch's full backward hooks
    // fire now, with no grad_input.
    for (const std::shared_ptr<HookRecord>& record : state.records) {
      if (record->removed || !record->hooks.backward) continue;
      ACTGRAD_REQUIRE(!record->hooks.backward(*module, Tensor(), g).has_value(), record->location,
                      Describe(*module),
                      ": the backward hook registered here returned a gradient, but the input "
                      "does not require one, so grad_input is undefined and there is nothing "
                      "to replace");
    }
  }
  return replaced ? g : Tensor();
}

// The gradient with respect to the input is complete.
Tensor OnGradInput(BackwardState& state, const Tensor& grad) {
  const std::shared_ptr<Module> module = state.module.lock();
  if (module == nullptr) return Tensor();
  // Taken, not copied: the state outlives the pass, the gradient need not.
  const Tensor grad_output = std::move(state.grad_output);
  Tensor g = grad;
  bool replaced = false;
  for (const std::shared_ptr<HookRecord>& record : state.records) {
    if (record->removed || !record->hooks.backward) continue;
    if (std::optional<Tensor> r = record->hooks.backward(*module, g, grad_output)) {
      CheckGradient(r, g, "backward hook", *record, *module);
      g = *std::move(r);
      replaced = true;
    }
  }
  return replaced ? g : Tensor();
}

}  // namespace

void HookHandle::Remove() {
  const std::shared_ptr<HookRecord> record = record_.lock();
  record_.reset();
  if (record == nullptr || record->removed) return;
  record->removed = true;
  internal::live_module_hooks.fetch_sub(1, std::memory_order_relaxed);
  Records& list =
      record->owner != nullptr ? record->owner->hooks_ : internal::GlobalModuleHookRecords();
  std::erase(list, record);
}

bool HookHandle::active() const {
  const std::shared_ptr<HookRecord> record = record_.lock();
  return record != nullptr && !record->removed;
}

HookHandle RegisterGlobalModuleHooks(ModuleHooks hooks, std::source_location location) {
  ACTGRAD_REQUIRE(hooks.forward_pre || hooks.forward || hooks.backward_pre || hooks.backward,
                  location,
                  "RegisterGlobalModuleHooks: all four hooks are empty; set at least one of "
                  ".forward_pre, .forward, .backward_pre, .backward");
  auto record = std::make_shared<HookRecord>(
      HookRecord{.hooks = std::move(hooks), .owner = nullptr, .location = location});
  internal::GlobalModuleHookRecords().push_back(record);
  internal::live_module_hooks.fetch_add(1, std::memory_order_relaxed);
  return HookHandle(record);
}

HookHandle Module::AddHook(ModuleHooks hooks, const std::source_location& location) {
  auto record = std::make_shared<HookRecord>(
      HookRecord{.hooks = std::move(hooks), .owner = this, .location = location});
  hooks_.push_back(record);
  internal::live_module_hooks.fetch_add(1, std::memory_order_relaxed);
  return HookHandle(record);
}

HookHandle Module::RegisterForwardPreHook(ForwardPreHook hook, std::source_location location) {
  ACTGRAD_REQUIRE(hook != nullptr, location, Describe(*this),
                  ": RegisterForwardPreHook: the hook is null");
  return AddHook({.forward_pre = std::move(hook)}, location);
}

HookHandle Module::RegisterForwardHook(ForwardHook hook, std::source_location location) {
  ACTGRAD_REQUIRE(hook != nullptr, location, Describe(*this),
                  ": RegisterForwardHook: the hook is null");
  return AddHook({.forward = std::move(hook)}, location);
}

HookHandle Module::RegisterBackwardPreHook(BackwardPreHook hook, std::source_location location) {
  ACTGRAD_REQUIRE(hook != nullptr, location, Describe(*this),
                  ": RegisterBackwardPreHook: the hook is null");
  return AddHook({.backward_pre = std::move(hook)}, location);
}

HookHandle Module::RegisterBackwardHook(BackwardHook hook, std::source_location location) {
  ACTGRAD_REQUIRE(hook != nullptr, location, Describe(*this),
                  ": RegisterBackwardHook: the hook is null");
  return AddHook({.backward = std::move(hook)}, location);
}

Tensor Module::CallWithHooks(const Tensor& x) {
  std::optional<LayerScope> scope;
  if ((IsProfiling() || IsAnomalyDetectionEnabled()) && !name_.empty()) {
    scope.emplace(absl::StrCat(name_, ".", Kind()));
  }
  const Records& globals = internal::GlobalModuleHookRecords();
  if (globals.empty() && hooks_.empty()) return Forward(x);
  // A copy: hooks may register and remove hooks. Removed ones are skipped
  // below; added ones wait for the next call.
  Records records;
  records.reserve(globals.size() + hooks_.size());
  records.insert(records.end(), globals.begin(), globals.end());
  records.insert(records.end(), hooks_.begin(), hooks_.end());

  Tensor input = x;
  for (const std::shared_ptr<HookRecord>& record : records) {
    if (record->removed || !record->hooks.forward_pre) continue;
    if (std::optional<Tensor> r = record->hooks.forward_pre(*this, input)) {
      ACTGRAD_REQUIRE(r->defined(), record->location, Describe(*this),
                      ": the forward pre hook registered here returned an undefined input");
      input = *std::move(r);
    }
  }

  std::shared_ptr<BackwardState> state;
  if (IsGradEnabled()) {
    Records backward;
    for (const std::shared_ptr<HookRecord>& record : records) {
      if (record->hooks.backward_pre || record->hooks.backward) backward.push_back(record);
    }
    if (!backward.empty()) {
      if (weak_anchor_ == nullptr) weak_anchor_ = std::shared_ptr<Module>(this, [](Module*) {});
      state = std::make_shared<BackwardState>(
          BackwardState{.module = weak_anchor_, .records = std::move(backward)});
      if (input.defined() && input.requires_grad()) {
        input = HookPoint(input);
        input.RegisterHook([state](const Tensor& grad) { return OnGradInput(*state, grad); });
        state->input_hooked = true;
      }
    }
  }

  Tensor output = Forward(input);
  for (const std::shared_ptr<HookRecord>& record : records) {
    if (record->removed || !record->hooks.forward) continue;
    if (std::optional<Tensor> r = record->hooks.forward(*this, input, output)) {
      ACTGRAD_REQUIRE(r->defined(), record->location, Describe(*this),
                      ": the forward hook registered here returned an undefined output");
      output = *std::move(r);
    }
  }

  if (state != nullptr && output.defined() && output.requires_grad()) {
    output = HookPoint(output);
    output.RegisterHook([state](const Tensor& grad) { return OnGradOutput(*state, grad); });
  }
  return output;
}

}  // namespace nn
}  // namespace actgrad
