// A program outside the project, built against the installed package.

#include <cmath>
#include <cstdio>

#include "actgrad.h"

int main() {
  actgrad::Tensor x = actgrad::FromValues({0.5}).set_requires_grad(true);
  actgrad::Tensor y = actgrad::Sum(actgrad::Tanh(x));
  y.Backward();
  const double expected = 1.0 - std::tanh(0.5) * std::tanh(0.5);
  const double got = x.grad().item();
  std::printf("d tanh(0.5) / dx = %.6f (expected %.6f)\n", got, expected);
  return std::abs(got - expected) < 1e-6 ? 0 : 1;
}
