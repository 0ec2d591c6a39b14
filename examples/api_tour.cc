// A tour of the API: tensors, the graph, layers, initializers, the optimizer
// and a training loop. The README quotes this file; a test keeps the two equal.

#include <iostream>
#include <sstream>

#include "actgrad.h"
#include "nn/nn.h"
#include "optim/sgd.h"

using namespace actgrad;

int main() {
  // Tensors: row-major, float32 by default, float64 on request.
  Generator gen(42);
  Tensor a = FromValues({1, 2, 3, 4, 5, 6}, Shape{2, 3});
  Tensor b = Normal({3}, 0.0, 1.0, gen, DType::kFloat32);
  std::cout << a + b << "\n";  // broadcasting: [2,3] + [3]

  // The graph: leaves that require gradients, Backward(), hooks.
  Tensor w = Uniform({3, 2}, -1.0, 1.0, gen).set_requires_grad(true);
  Tensor h = Tanh(Matmul(a, w));
  h.RegisterHook([](const Tensor& grad) {
    std::cout << "gradient at h: " << grad.shape().ToString() << "\n";
    return Tensor();  // keep it as it is
  });
  Tensor loss = Mean(Square(h));
  loss.Backward();
  std::cout << "dloss/dw = " << w.grad() << "\n";
  std::ostringstream dot;
  WriteDot(loss, dot);  // GraphViz text of the recorded graph
  {
    NoGradGuard no_grad;  // evaluation: nothing is recorded
    std::cout << "requires_grad under NoGradGuard: " << Tanh(Matmul(a, w)).requires_grad() << "\n";
  }

  // Layers and initializers: the MLP builder picks He in front of ReLU,
  // Xavier in front of sigmoid and tanh; any choice can be overridden.
  auto model = nn::Mlp({.inputs = 2,
                        .hidden = {8},
                        .outputs = 1,
                        .hidden_activation = &ops::kRelu,
                        .output_activation = &ops::kSigmoid},
                       gen);
  std::cout << model->ToString() << "\n";

  // A training loop on XOR, with the loss computed from the logits.
  const Tensor x = FromValues({0, 0, 0, 1, 1, 0, 1, 1}, Shape{4, 2});
  const Tensor y = FromValues({0, 1, 1, 0}, Shape{4, 1});
  optim::Sgd sgd(model->Parameters(), {.learning_rate = 0.5, .momentum = 0.9});
  for (int epoch = 0; epoch < 300; ++epoch) {
    sgd.ZeroGrad();
    Tensor xor_loss = BinaryCrossEntropyWithLogits(model->Logits(x), y);
    xor_loss.Backward();
    sgd.Step();
  }
  NoGradGuard no_grad;
  std::cout << "XOR predictions: " << model->Forward(x) << "\n";

  // The gradient checker works on any function of tensors, in float64.
  GradCheckReport report =
      GradCheck([](std::span<const Tensor> in) { return Sigmoid(in[0]) * in[0]; },
                {FromValues({-1.5, 0.2, 3.0}, DType::kFloat64)});
  std::cout << report.ToString();
  return report.passed ? 0 : 1;
}
