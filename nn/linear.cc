#include "nn/linear.h"

#include "absl/strings/str_cat.h"
#include "graph/factories.h"
#include "ops/functional.h"

namespace actgrad::nn {

Linear::Linear(const LinearOptions& options, Generator& gen, std::source_location location)
    : options_(options) {
  ACTGRAD_REQUIRE(options.in > 0 && options.out > 0, location,
                  "Linear: sizes must be positive, got ", options.in, " -> ", options.out);
  weight_ = Zeros({options.out, options.in}, options.dtype);
  options.weight_init.Fill(weight_, gen);
  RegisterParameter("weight", &weight_, location);
  if (options.bias) {
    bias_ = Zeros({options.out}, options.dtype);
    options.bias_init.Fill(bias_, gen);
    RegisterParameter("bias", &bias_, location);
  }
}

Tensor Linear::Forward(const Tensor& x) { return actgrad::Linear(x, weight_, bias_); }

ModuleConfig Linear::Config() const {
  return ModuleConfig()
      .Set("in", options_.in)
      .Set("out", options_.out)
      .Set("bias", options_.bias)
      .Set("dtype", DTypeName(options_.dtype))
      .Set("weight_init", options_.weight_init.ToString())
      .Set("bias_init", options_.bias_init.ToString());
}

std::string Linear::ToString() const {
  return absl::StrCat(
      "Linear(", options_.in, " -> ", options_.out, ", weight=", options_.weight_init.ToString(),
      options_.bias ? absl::StrCat(", bias=", options_.bias_init.ToString()) : ", no bias", ")");
}

}  // namespace actgrad::nn
