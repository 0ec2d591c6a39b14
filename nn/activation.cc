#include "nn/activation.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ops/registry.h"

namespace actgrad::nn {

absl::StatusOr<Activation> Activation::Named(absl::string_view name, const Attrs& attrs) {
  absl::StatusOr<const OpDef*> op = OpRegistry::Global().Find(name);
  if (!op.ok()) return op.status();
  if (!IsActivationLike(**op)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", name, "\" is an op but not an activation (nor softmax / log_softmax)"));
  }
  return Activation(**op, attrs);
}

bool IsActivationLike(const OpDef& op) {
  return op.min_inputs == 1 && (op.kind == OpKind::kActivation || op.kind == OpKind::kNormalize);
}

Tensor Activation::Forward(const Tensor& x) { return Apply(*op_, {x}, attrs_); }

std::string Activation::ToString() const {
  std::string settings;
  for (const AttrSpec& spec : op_->attrs) {
    if (spec.real != nullptr) {
      absl::StrAppendFormat(&settings, "%s%s=%g", settings.empty() ? ", " : ", ", spec.name,
                            attrs_.*spec.real);
    }
  }
  return absl::StrCat("Activation(", op_->name, settings, ")");
}

}  // namespace actgrad::nn
