// A custom network built against the installed package: two branches with
// different activations (tanh and ReLU, claim C7) read the same inputs, their
// features are joined, and a sigmoid output (claim C8) is trained by the
// library's training loop, with SGD and early stopping, on a binary CSV data
// set.
//
//   custom_network data/breast_cancer.csv

#include <cmath>
#include <iostream>
#include <memory>

#include "actgrad.h"
#include "io/csv.h"
#include "nn/nn.h"

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

  // The library's loop trains any module with any loss: here binary
  // cross-entropy on the logits, a tenth of the training rows held out for
  // early stopping, and the best epoch's weights kept.
  auto as_rows = [](const Tensor& x, const std::vector<double>& y) {
    return nn::TensorData{.inputs = x,
                          .targets = FromValues(y, Shape{static_cast<int64_t>(y.size()), 1})};
  };
  const nn::Loss loss = [](const Tensor& logits, const nn::TensorData& batch) {
    return BinaryCrossEntropyWithLogits(logits, batch.targets);
  };
  nn::TrainOptions options;
  options.epochs = 100;
  options.sgd = {.learning_rate = 0.05, .momentum = 0.9};
  options.validation_fraction = 0.1;
  options.early_stopping = {.patience = 10};
  options.metrics = {nn::AccuracyMetric(/*threshold=*/0.0)};  // on logits
  options.on_epoch = [](const nn::EpochReport& r) {
    if ((r.epoch + 1) % 10 == 0) {
      std::cout << "epoch " << r.epoch + 1 << "  loss " << r.train_loss << "  validation loss "
                << r.validation->loss << "\n";
    }
  };
  const nn::TrainResult result = nn::Train(net, loss, as_rows(x_train, train.y), options);
  if (!result.stopped.empty()) std::cout << result.stopped << "\n";

  const nn::Scores scores = nn::Evaluate(net, loss, as_rows(x_test, test.y), options.metrics);
  const double accuracy = scores.metrics[0];
  std::cout << "test accuracy " << accuracy << " on " << test.rows << " rows\n";
  return accuracy > 0.9 ? 0 : 1;
}
