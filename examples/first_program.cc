// A first program: a small two-layer network on random data, one backward
// pass, and the gradient checker run on a composite function. The README
// quotes this file.

#include <iostream>
#include <vector>

#include "actgrad.h"

using namespace actgrad;

int main() {
  Generator gen(0);
  Tensor w = Normal({30, 8}, 0.0, 0.2, gen).set_requires_grad(true);
  Tensor b = Zeros({8}).set_requires_grad(true);
  Tensor x = Uniform({32, 30}, 0.0, 1.0, gen);
  Tensor labels = Labels(std::vector<int64_t>(32, 1));

  Tensor logits = Matmul(Relu(Matmul(x, w) + b), Normal({8, 2}, 0.0, 0.5, gen));
  Tensor loss = CrossEntropy(logits, labels);
  loss.Backward();
  std::cout << loss << "\n" << b.grad() << "\n";

  GradCheckReport report = GradCheck([](std::span<const Tensor> in) { return Tanh(in[0]) * in[1]; },
                                     {FromValues({0.3, -1.2}), FromValues({2.0, 0.5})});
  std::cout << report.ToString();
  return report.passed ? 0 : 1;
}
