// A custom network built against the installed package: two branches with
// different activations (tanh and ReLU, claim C7) read the same inputs, their
// features are joined, and a sigmoid output (claim C8) is trained with SGD on
// a binary CSV data set.
//
//   custom_network data/breast_cancer.csv

#include <cmath>
#include <iostream>
#include <memory>

#include "actgrad.h"
#include "io/csv.h"
#include "nn/nn.h"
#include "optim/sgd.h"

using namespace actgrad;

// Two branches over the same input, joined before the output layer.
class TwoBranchNet : public nn::Module {
 public:
  TwoBranchNet(int64_t inputs, Generator& gen)
      : smooth_({.in = inputs, .out = 16, .weight_init = nn::RecommendedInitializer(ops::kTanh)},
                gen),
        sparse_({.in = inputs, .out = 16, .weight_init = nn::RecommendedInitializer(ops::kRelu)},
                gen),
        head_({.in = 32, .out = 1}, gen) {
    // Registered children are what Parameters(), StateDict() and saving see.
    RegisterModule("smooth", &smooth_);
    RegisterModule("sparse", &sparse_);
    RegisterModule("head", &head_);
  }

  // Logits; the loss applies the sigmoid itself, stably.
  Tensor Forward(const Tensor& x) override {
    const Tensor joined = Concatenate({Tanh(smooth_(x)), Relu(sparse_(x))}, /*axis=*/1);
    return head_(joined);
  }

  std::string ToString() const override {
    return "TwoBranchNet(\n  smooth: " + smooth_.ToString() +
           " + tanh\n  sparse: " + sparse_.ToString() + " + relu\n  head: " + head_.ToString() +
           " + sigmoid\n)";
  }

 private:
  nn::Linear smooth_, sparse_, head_;
};

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: custom_network DATA.csv\n";
    return 2;
  }
  absl::StatusOr<io::Dataset> data = io::ReadCsv(argv[1]);
  if (!data.ok()) {
    std::cerr << data.status().message() << "\n";
    return 1;
  }
  const io::Split split = io::StratifiedSplit(data->y, 0.2, /*seed=*/0);
  const io::Dataset train = data->Subset(split.train);
  const io::Dataset test = data->Subset(split.test);
  const nn::Scaler scaler = nn::Scaler::Fit(nn::Scaling::kUnit, train.Features());
  const Tensor x_train = scaler.Transform(train.Features());
  const Tensor x_test = scaler.Transform(test.Features());

  Generator gen(1);
  TwoBranchNet net(data->features, gen);
  std::cout << net.ToString() << "\n";
  optim::Sgd sgd(net.Parameters(), {.learning_rate = 0.05, .momentum = 0.9});

  std::vector<int64_t> rows(split.train.size());
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<int64_t>(i);
  for (int epoch = 0; epoch < 50; ++epoch) {
    for (const std::vector<int64_t>& batch : io::ShuffledBatches(rows, 32, gen)) {
      std::vector<double> targets;
      for (int64_t r : batch) targets.push_back(train.y[r]);
      sgd.ZeroGrad();
      const Tensor loss = BinaryCrossEntropyWithLogits(
          net(nn::GatherRows(x_train, batch)),
          FromValues(targets, Shape{static_cast<int64_t>(batch.size()), 1}));
      loss.Backward();
      sgd.Step();
    }
  }

  NoGradGuard no_grad;
  const std::vector<double> p = Sigmoid(net(x_test)).ToVector();
  int correct = 0;
  for (size_t i = 0; i < p.size(); ++i) correct += (p[i] >= 0.5) == (test.y[i] == 1.0);
  const double accuracy = double(correct) / double(p.size());
  std::cout << "test accuracy " << accuracy << " on " << p.size() << " rows\n";
  return accuracy > 0.9 ? 0 : 1;
}
