#include "nn/module.h"

#include <cstring>
#include <map>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/anomaly.h"
#include "graph/error.h"
#include "graph/grad_mode.h"
#include "graph/profile_hooks.h"

namespace actgrad::nn {

namespace {

std::string Quoted(const std::vector<std::string>& keys) {
  return absl::StrJoin(keys, ", ", [](std::string* out, const std::string& key) {
    absl::StrAppend(out, "\"", key, "\"");
  });
}

std::string Describe(const Tensor& t) {
  return absl::StrCat(t.shape().ToString(), " ", DTypeName(t.dtype()));
}

}  // namespace

std::string LoadReport::ToString() const {
  if (AllMatched()) return "<All keys matched successfully>";
  std::vector<std::string> parts;
  if (!missing_keys.empty()) {
    parts.push_back(absl::StrCat("Missing key(s) in state_dict: ", Quoted(missing_keys), "."));
  }
  if (!unexpected_keys.empty()) {
    parts.push_back(
        absl::StrCat("Unexpected key(s) in state_dict: ", Quoted(unexpected_keys), "."));
  }
  return absl::StrJoin(parts, " ");
}

void Module::CheckName(const std::string& name, const std::source_location& location) const {
  ACTGRAD_REQUIRE(!name.empty() && name.find('.') == std::string::npos, location, Kind(),
                  ": cannot register \"", name,
                  "\": a name must be non-empty and contain no \".\" (dots join the names "
                  "of nested modules)");
  bool taken = false;
  for (const Slot& slot : slots_) taken |= slot.name == name;
  for (const auto& [child_name, child] : children_) taken |= child_name == name;
  ACTGRAD_REQUIRE(!taken, location, Kind(), ": \"", name,
                  "\" is registered already; each parameter, buffer and child needs a name of "
                  "its own");
}

Tensor& Module::RegisterParameter(std::string name, Tensor* tensor, std::source_location location) {
  ACTGRAD_REQUIRE(tensor != nullptr, location, Kind(), ": parameter \"", name, "\" is null");
  CheckName(name, location);
  if (tensor->defined()) tensor->set_requires_grad(true);
  slots_.push_back({std::move(name), tensor, SlotKind::kParameter});
  return *tensor;
}

Tensor& Module::RegisterBuffer(std::string name, Tensor* tensor, std::source_location location) {
  ACTGRAD_REQUIRE(tensor != nullptr, location, Kind(), ": buffer \"", name, "\" is null");
  CheckName(name, location);
  slots_.push_back({std::move(name), tensor, SlotKind::kBuffer});
  return *tensor;
}

Module::~Module() {
  for (const std::shared_ptr<internal::ModuleHookRecord>& record : hooks_) {
    record->removed = true;
    internal::live_module_hooks.fetch_sub(1, std::memory_order_relaxed);
  }
}

std::string Module::Path() const {
  std::vector<const std::string*> names;
  for (const Module* m = this; m->parent_ != nullptr; m = m->parent_) names.push_back(&m->name_);
  std::string path;
  for (auto it = names.rbegin(); it != names.rend(); ++it) {
    absl::StrAppend(&path, path.empty() ? "" : ".", **it);
  }
  return path;
}

Tensor Module::operator()(const Tensor& x) {
  if (internal::AnyModuleHooks()) [[unlikely]] {
    return CallWithHooks(x);
  }
  if ((!IsProfiling() && !IsAnomalyDetectionEnabled()) || name_.empty()) [[likely]] {
    return Forward(x);
  }
  LayerScope scope(absl::StrCat(name_, ".", Kind()));
  return Forward(x);
}

void Module::RegisterChild(std::string name, Module* child, const std::source_location& location) {
  ACTGRAD_REQUIRE(child != nullptr, location, Kind(), ": child module \"", name, "\" is null");
  ACTGRAD_REQUIRE(child != this && child->parent_ == nullptr, location, Kind(),
                  ": cannot register \"", name, "\" (", child->Kind(),
                  "): it is this module or belongs to another parent already");
  CheckName(name, location);
  child->parent_ = this;
  child->name_ = name;
  child->Train(training_);
  children_.emplace_back(std::move(name), child);
}

void Module::CollectSlots(std::initializer_list<SlotKind> kinds, const std::string& prefix,
                          std::vector<NamedTensor>* out) const {
  for (SlotKind kind : kinds) {
    for (const Slot& slot : slots_) {
      if (slot.kind == kind && slot.tensor->defined()) {
        out->push_back({prefix + slot.name, slot.tensor});
      }
    }
  }
  for (const auto& [name, child] : children_) {
    child->CollectSlots(kinds, absl::StrCat(prefix, name, "."), out);
  }
}

std::vector<NamedTensor> Module::Unique(std::vector<NamedTensor> all) const {
  absl::flat_hash_set<const internal::TensorImpl*> seen;
  std::vector<NamedTensor> out;
  for (NamedTensor& t : all) {
    if (seen.insert(t.tensor->impl()).second) out.push_back(std::move(t));
  }
  return out;
}

std::vector<NamedParameter> Module::NamedParameters() {
  std::vector<NamedTensor> all;
  CollectSlots({SlotKind::kParameter}, "", &all);
  return Unique(std::move(all));
}

std::vector<Tensor> Module::Parameters() {
  std::vector<Tensor> out;
  for (const NamedParameter& p : NamedParameters()) out.push_back(*p.tensor);
  return out;
}

int64_t Module::NumParameters() {
  int64_t n = 0;
  for (const NamedParameter& p : NamedParameters()) n += p.tensor->numel();
  return n;
}

std::vector<NamedBuffer> Module::NamedBuffers() {
  std::vector<NamedTensor> all;
  CollectSlots({SlotKind::kBuffer}, "", &all);
  return Unique(std::move(all));
}

std::vector<Tensor> Module::Buffers() {
  std::vector<Tensor> out;
  for (const NamedBuffer& b : NamedBuffers()) out.push_back(*b.tensor);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::NamedChildren() { return children_; }

std::vector<std::pair<std::string, Module*>> Module::NamedModules() {
  std::vector<std::pair<std::string, Module*>> out = {{"", this}};
  for (const auto& [name, child] : children_) {
    for (auto& [sub_name, sub] : child->NamedModules()) {
      out.emplace_back(sub_name.empty() ? name : absl::StrCat(name, ".", sub_name), sub);
    }
  }
  return out;
}

NamedTensors Module::StateDict() const {
  std::vector<NamedTensor> all;
  CollectSlots({SlotKind::kParameter, SlotKind::kBuffer}, "", &all);
  NamedTensors out;
  out.reserve(all.size());
  for (const NamedTensor& t : all) out.emplace_back(t.name, t.tensor->Detach());
  return out;
}

absl::StatusOr<LoadReport> Module::LoadStateDict(const NamedTensors& state, bool strict) {
  std::map<std::string, const Tensor*> given;
  std::vector<std::string> errors;
  for (const auto& [key, value] : state) {
    if (!given.emplace(key, &value).second) {
      errors.push_back(absl::StrCat("key \"", key, "\" is given more than once"));
    }
  }
  std::vector<NamedTensor> wanted;
  CollectSlots({SlotKind::kParameter, SlotKind::kBuffer}, "", &wanted);
  LoadReport report;
  std::vector<std::pair<Tensor*, const Tensor*>> copies;
  absl::flat_hash_set<std::string> known;
  for (const NamedTensor& slot : wanted) {
    known.insert(slot.name);
    auto it = given.find(slot.name);
    if (it == given.end()) {
      report.missing_keys.push_back(slot.name);
      continue;
    }
    const Tensor& value = *it->second;
    if (!value.defined() || value.shape() != slot.tensor->shape() ||
        value.dtype() != slot.tensor->dtype()) {
      errors.push_back(absl::StrCat("size mismatch for ", slot.name, ": copying ",
                                    value.defined() ? Describe(value) : "an undefined tensor",
                                    " from the state, the module holds ", Describe(*slot.tensor)));
      continue;
    }
    copies.emplace_back(slot.tensor, &value);
  }
  for (const auto& [key, value] : state) {
    if (!known.contains(key)) report.unexpected_keys.push_back(key);
  }
  if (strict && !report.AllMatched()) errors.push_back(report.ToString());
  if (!errors.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("Error(s) in loading state_dict for ", Kind(),
                                                   ": ", absl::StrJoin(errors, "; ")));
  }
  NoGradGuard no_grad;
  for (const auto& [target, value] : copies) {
    if (target->raw_data() == value->raw_data()) continue;
    std::memcpy(target->raw_data(), value->raw_data(),
                static_cast<size_t>(target->numel()) * DTypeSize(target->dtype()));
  }
  return report;
}

void Module::Train(bool on) {
  training_ = on;
  for (const auto& [name, child] : children_) child->Train(on);
}

std::vector<Generator*> Module::RandomStreams() {
  std::vector<Generator*> out = streams_;
  for (const auto& [name, child] : children_) {
    for (Generator* stream : child->RandomStreams()) out.push_back(stream);
  }
  return out;
}

void Module::ZeroGrad() {
  for (const NamedParameter& p : NamedParameters()) p.tensor->ZeroGrad();
}

}  // namespace actgrad::nn
