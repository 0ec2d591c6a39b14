#include "nn/residual.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "ops/functional.h"

namespace actgrad::nn {

Residual::Residual(std::unique_ptr<Module> body, std::unique_ptr<Module> shortcut,
                   std::source_location location)
    : body_(std::move(body)), shortcut_(std::move(shortcut)) {
  ACTGRAD_REQUIRE(body_ != nullptr, location, "Residual: the body must be a module");
  RegisterModule("body", body_.get(), location);
  if (shortcut_ != nullptr) RegisterModule("shortcut", shortcut_.get(), location);
}

Tensor Residual::Forward(const Tensor& x) {
  const Tensor skip = shortcut_ != nullptr ? (*shortcut_)(x) : x;
  return (*body_)(x) + skip;
}

std::string Residual::ToString() const {
  const std::string body = absl::StrReplaceAll(body_->ToString(), {{"\n", "\n  "}});
  if (shortcut_ == nullptr) return absl::StrCat("Residual(x + ", body, ")");
  return absl::StrCat("Residual(", shortcut_->ToString(), " + ", body, ")");
}

}  // namespace actgrad::nn
