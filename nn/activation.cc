#include "nn/activation.h"

#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "ops/registry.h"

namespace actgrad::nn {

absl::StatusOr<std::unique_ptr<Activation>> Activation::Named(absl::string_view name,
                                                              const Attrs& attrs) {
  absl::StatusOr<const OpDef*> op = OpRegistry::Global().Find(name);
  if (!op.ok()) return op.status();
  if (!IsActivationLike(**op)) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", name, "\" is an op but not an activation (nor softmax / log_softmax)"));
  }
  return std::make_unique<Activation>(**op, attrs);
}

std::string FormatAttrs(const OpDef& op, const Attrs& attrs) {
  std::vector<std::string> parts;
  Attrs resolved = WithDefaults(op, attrs);
  for (const AttrSpec& spec : op.attrs) {
    if (const double* slot = RealSlot(spec, resolved)) {
      parts.push_back(absl::StrFormat("%s=%.17g", spec.name, *slot));
    }
  }
  return absl::StrJoin(parts, ",");
}

absl::Status ParseAttrs(const OpDef& op, absl::string_view text, Attrs* attrs) {
  if (text.empty()) return absl::OkStatus();
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    const std::vector<absl::string_view> kv = absl::StrSplit(part, absl::MaxSplits('=', 1));
    bool found = false;
    for (const AttrSpec& spec : op.attrs) {
      double* slot = RealSlot(spec, *attrs);
      if (kv.size() == 2 && spec.name == kv[0] && slot != nullptr) {
        found = absl::SimpleAtod(kv[1], slot);
      }
    }
    if (!found) {
      std::vector<std::string> names;
      for (const AttrSpec& spec : op.attrs) names.emplace_back(spec.name);
      return absl::InvalidArgumentError(absl::StrCat(
          "attribute \"", part, "\" does not fit ", op.name,
          " (its attributes: ", names.empty() ? "none" : absl::StrJoin(names, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ActivationSpec> ParseActivationSpec(absl::string_view spec) {
  const std::vector<absl::string_view> parts = absl::StrSplit(spec, absl::MaxSplits(':', 1));
  absl::StatusOr<std::unique_ptr<Activation>> named = Activation::Named(parts[0]);
  if (!named.ok()) return named.status();
  ActivationSpec parsed{.op = &(*named)->op()};
  if (parts.size() == 2) {
    if (absl::Status s = ParseAttrs(*parsed.op, parts[1], &parsed.attrs); !s.ok()) return s;
  }
  return parsed;
}

absl::StatusOr<std::unique_ptr<Activation>> Activation::Parse(absl::string_view spec) {
  absl::StatusOr<ActivationSpec> parsed = ParseActivationSpec(spec);
  if (!parsed.ok()) return parsed.status();
  return std::make_unique<Activation>(*parsed->op, parsed->attrs);
}

bool IsActivationLike(const OpDef& op) {
  return op.min_inputs == 1 && (op.kind == OpKind::kActivation || op.kind == OpKind::kNormalize);
}

Tensor Activation::Forward(const Tensor& x) { return Apply(*op_, {x}, attrs_); }

ModuleConfig Activation::Config() const {
  ModuleConfig config;
  Attrs attrs = attrs_;
  for (const AttrSpec& spec : op_->attrs) {
    if (spec.integer != nullptr) {
      config.Set(std::string(spec.name), attrs.*spec.integer);
    } else {
      const double value = *RealSlot(spec, attrs);
      // A formula parameter left at its row's default is stored as NaN.
      config.Set(std::string(spec.name), std::isnan(value) ? spec.default_value : value);
    }
  }
  return config;
}

std::string Activation::ToString() const {
  std::string settings;
  Attrs resolved = WithDefaults(*op_, attrs_);
  for (const AttrSpec& spec : op_->attrs) {
    if (const double* slot = RealSlot(spec, resolved)) {
      absl::StrAppendFormat(&settings, ", %s=%g", spec.name, *slot);
    }
  }
  return absl::StrCat("Activation(", op_->name, settings, ")");
}

}  // namespace actgrad::nn
