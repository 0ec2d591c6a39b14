// A plugin with four activations of its own, each defined in one place:
//
//   sin_plus       y = x + sin(x)^2            a periodic ripple on the identity
//   squareplus     y = (x + sqrt(x^2 + b)) / 2 a smooth ReLU with no exp()
//   mish_by_hand   y = x tanh(softplus(x))     from its forward alone: both
//                                              derivatives by dual numbers,
//                                              softplus written per sign
//   mish_softplus  the same with the library's softplus (ops/softplus.h):
//                                              no branch, so no pass per sign
//
//   actgrad gradcheck --plugin build/release/examples/libexample_activations.so
//   actgrad train --plugin build/release/examples/libexample_activations.so --activation squareplus

#include <cmath>

#include "ops/plugin.h"
#include "ops/softplus.h"

namespace {

using actgrad::Attrs;

// Generic in its number type, so the library can evaluate it on dual
// numbers, and on packets of doubles for float32 tensors. softplus is
// written per sign so that e^x never overflows.
constexpr auto kMishByHand = [](auto x, const Attrs&) {
  using std::exp, std::log1p, std::tanh;
  using T = decltype(x);
  const T softplus = x > 0 ? T(x + log1p(exp(-x))) : T(log1p(exp(x)));
  return x * tanh(softplus);
};

constexpr auto kMishSoftplus = [](auto x, const Attrs&) {
  using actgrad::softplus;
  using std::tanh;
  return x * tanh(softplus(x));
};

void Register(actgrad::PluginRegistrar& registrar) {
  registrar.Add({
      .name = "sin_plus",
      .formula = "y = x + sin(x)^2;  dy/dx = 1 + sin(2x);  d2y/dx2 = 2 cos(2x)",
      .forward = [](double x, const Attrs&) { return x + std::sin(x) * std::sin(x); },
      .derivative = [](double x, double, const Attrs&) { return 1 + std::sin(2 * x); },
      .second_derivative = [](double x, double, const Attrs&) { return 2 * std::cos(2 * x); },
  });
  registrar.Add({
      .name = "squareplus",
      .formula = "y = (x + sqrt(x^2 + b)) / 2;  dy/dx = (1 + x / sqrt(x^2 + b)) / 2",
      .forward = [](double x, const Attrs& a) { return (x + std::sqrt(x * x + a.params[0])) / 2; },
      .derivative = [](double x, double,
                       const Attrs& a) { return (1 + x / std::sqrt(x * x + a.params[0])) / 2; },
      .second_derivative =
          [](double x, double, const Attrs& a) {
            const double r = std::sqrt(x * x + a.params[0]);
            return a.params[0] / (2 * r * r * r);
          },
      .params = {{.name = "b", .default_value = 4.0, .meaning = "smoothness at 0"}},
      .recommended_init = actgrad::InitFamily::kHe,
  });
  registrar.Add({
      .name = "mish_by_hand",
      .formula = "y = x tanh(softplus(x)), derivatives by dual numbers",
      .generic = actgrad::Generic(kMishByHand),
      .recommended_init = actgrad::InitFamily::kHe,
  });
  registrar.Add({
      .name = "mish_softplus",
      .formula = "y = x tanh(softplus(x)), derivatives by dual numbers",
      .generic = actgrad::Generic(kMishSoftplus),
      .recommended_init = actgrad::InitFamily::kHe,
  });
}

}  // namespace

ACTGRAD_PLUGIN(Register)
