#include "nn/lstm.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "graph/factories.h"
#include "nn/init.h"
#include "ops/functional.h"

namespace actgrad::nn {

LstmCell::LstmCell(const LstmCellOptions& options, Generator& gen, std::source_location location)
    : options_(options) {
  ACTGRAD_REQUIRE(options.input > 0 && options.hidden > 0, location,
                  "LstmCell: sizes must be positive, got input ", options.input, ", hidden ",
                  options.hidden);
  const double bound = 1.0 / std::sqrt(double(options.hidden));
  const Initializer init = Initializer::Uniform(-bound, bound);
  auto make = [&](const char* name, Tensor* t, const Shape& shape) {
    *t = Zeros(shape, options.dtype);
    init.Fill(*t, gen);
    RegisterParameter(name, t, location);
  };
  const int64_t gates = 4 * options.hidden;
  make("weight_ih", &weight_ih_, {gates, options.input});
  make("weight_hh", &weight_hh_, {gates, options.hidden});
  if (options.bias) {
    make("bias_ih", &bias_ih_, {gates});
    make("bias_hh", &bias_hh_, {gates});
  }
}

LstmState LstmCell::InitialState(int64_t batch) const {
  return {Zeros({batch, options_.hidden}, options_.dtype),
          Zeros({batch, options_.hidden}, options_.dtype)};
}

LstmState LstmCell::Step(const Tensor& x, const LstmState& state) {
  const int64_t h = options_.hidden;
  const Tensor gates = Linear(x, weight_ih_, bias_ih_) + Linear(state.h, weight_hh_, bias_hh_);
  const Tensor input_gate = Sigmoid(Slice(gates, 1, 0, h));
  const Tensor forget_gate = Sigmoid(Slice(gates, 1, h, 2 * h));
  const Tensor candidate = Tanh(Slice(gates, 1, 2 * h, 3 * h));
  const Tensor output_gate = Sigmoid(Slice(gates, 1, 3 * h, 4 * h));
  const Tensor c = forget_gate * state.c + input_gate * candidate;
  return {output_gate * Tanh(c), c};
}

Tensor LstmCell::Forward(const Tensor& x) { return Step(x, InitialState(x.dim(0))).h; }

ModuleConfig LstmCell::Config() const {
  return ModuleConfig()
      .Set("input", options_.input)
      .Set("hidden", options_.hidden)
      .Set("bias", options_.bias)
      .Set("dtype", DTypeName(options_.dtype));
}

std::string LstmCell::ToString() const {
  return absl::StrCat("LstmCell(", options_.input, " -> ", options_.hidden,
                      ", gates sigmoid/tanh, init uniform(+-1/sqrt(", options_.hidden, "))",
                      options_.bias ? "" : ", no bias", ")");
}

}  // namespace actgrad::nn
