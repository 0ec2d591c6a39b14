#include "nn/dropout.h"

#include "absl/strings/str_cat.h"
#include "ops/layer_ops.h"

namespace actgrad::nn {

Dropout::Dropout(double p, Generator& gen, std::source_location location)
    : p_(p), seeds_(gen.engine()()) {
  RegisterRandomStream(&seeds_);
  ACTGRAD_REQUIRE(p >= 0 && p <= 1, location, "dropout: p must be in [0, 1], got ", p);
}

Tensor Dropout::Forward(const Tensor& x) {
  if (!is_training() || p_ == 0) return x;
  return actgrad::Dropout(x, p_, seeds_.engine()());
}

std::string Dropout::ToString() const { return absl::StrCat("Dropout(p=", p_, ")"); }

ModuleConfig Dropout::Config() const { return ModuleConfig().Set("p", p_); }

}  // namespace actgrad::nn
