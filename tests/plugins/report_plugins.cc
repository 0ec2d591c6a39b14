// Activations that exercise what `actgrad gradcheck` reports, one plugin:
//   gate_above_two   max(x - 2, 0)^2: right, but flat below 2, so a random
//                    case drawn from [-3, 3] is often flat throughout
//   wrong_second     x + sin(x)^2 with a right f' and f'' = 2 sin(2x)
//                    (right: 2 cos(2x))
//   nan_derivative   x |x| with f' written 2 x^2 / x: NaN at x = 0 only

#include <cmath>

#include "ops/plugin.h"

namespace {

using actgrad::Attrs;

void Register(actgrad::PluginRegistrar& registrar) {
  registrar.Add({
      .name = "gate_above_two",
      .formula = "y = max(x - 2, 0)^2;  dy/dx = 2 max(x - 2, 0)",
      .forward = [](double x, const Attrs&) { return x > 2 ? (x - 2) * (x - 2) : 0.0 * x; },
      .derivative = [](double x, double, const Attrs&) { return x > 2 ? 2 * (x - 2) : 0.0 * x; },
      .second_derivative = [](double x, double, const Attrs&) { return x > 2 ? 2.0 : 0.0; },
      .kinks = {2.0},
  });
  registrar.Add({
      .name = "wrong_second",
      .formula = "y = x + sin(x)^2;  dy/dx = 1 + sin(2x);  d2y/dx2 = 2 sin(2x) (wrong)",
      .forward = [](double x, const Attrs&) { return x + std::sin(x) * std::sin(x); },
      .derivative = [](double x, double, const Attrs&) { return 1 + std::sin(2 * x); },
      .second_derivative = [](double x, double, const Attrs&) { return 2 * std::sin(2 * x); },
  });
  registrar.Add({
      .name = "nan_derivative",
      .formula = "y = x |x|;  dy/dx = 2 x^2 / x (NaN at 0)",
      .forward = [](double x, const Attrs&) { return x * std::abs(x); },
      .derivative = [](double x, double, const Attrs&) { return 2 * x * x / std::abs(x); },
  });
}

}  // namespace

ACTGRAD_PLUGIN(Register)
