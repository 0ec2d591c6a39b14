// Any network, any loss, one call: a residual network of its own on the
// bundled digits, with a loss of its own, Adam without weight decay on the
// biases, a progress bar, a checkpoint every 10 epochs, and early stopping
// that keeps the best epoch's weights.
//
//   train_any_module data/digits.csv

#include <iostream>

#include "actgrad.h"
#include "io/csv.h"
#include "nn/nn.h"
#include "optim/adam.h"

using namespace actgrad;

class ResidualMlp : public nn::Module {
 public:
  ResidualMlp(int64_t inputs, int64_t width, int64_t classes, Generator& gen)
      : in_({.in = inputs, .out = width}, gen),
        fc1_({.in = width, .out = width}, gen),
        fc2_({.in = width, .out = width}, gen),
        head_({.in = width, .out = classes}, gen) {
    RegisterModule("in", &in_);
    RegisterModule("fc1", &fc1_);
    RegisterModule("fc2", &fc2_);
    RegisterModule("head", &head_);
  }
  Tensor Forward(const Tensor& x) override {
    const Tensor h = Tanh(in_(x));
    return head_(h + fc2_(Relu(fc1_(h))));  // logits
  }
  std::string ToString() const override { return "ResidualMlp"; }

 private:
  nn::Linear in_, fc1_, fc2_, head_;
};

int main(int argc, char** argv) {
  absl::StatusOr<io::Dataset> data = io::ReadCsv(argc > 1 ? argv[1] : "data/digits.csv");
  if (!data.ok()) {
    std::cerr << data.status().message() << "\n";
    return 1;
  }
  const io::Split split = io::StratifiedSplit(data->y, 0.2, /*seed=*/0);
  const io::Dataset train = data->Subset(split.train), test = data->Subset(split.test);
  const nn::Scaler scaler = nn::Scaler::Fit(nn::Scaling::kUnit, train.Features());
  const nn::TensorData train_rows{.inputs = scaler.Transform(train.Features()),
                                  .targets = train.Targets(DType::kInt64)};
  const nn::TensorData test_rows{.inputs = scaler.Transform(test.Features()),
                                 .targets = test.Targets(DType::kInt64)};

  Generator gen(1);
  ResidualMlp model(data->features, 64, 10, gen);
  // Cross-entropy with a small penalty on confident logits.
  const nn::Loss loss = [](const Tensor& logits, const nn::TensorData& batch) {
    return CrossEntropy(logits, batch.targets) + 1e-3 * Mean(Square(logits));
  };
  nn::TrainOptions options;
  options.epochs = 100;
  options.make_optimizer = [](nn::Module& m) {
    return std::make_unique<optim::Adam>(nn::SplitDecay(m, {"bias"}),
                                         optim::AdamOptions{.weight_decay = 1e-4});
  };
  options.validation_fraction = 0.1;
  options.metrics = {nn::AccuracyMetric()};
  options.early_stopping = {.patience = 5};
  options.checkpoint_every = 10;
  options.on_checkpoint = [&](const nn::TrainState& state) {
    if (absl::Status saved = nn::SaveCheckpoint("digits.checkpoint", model, state); !saved.ok()) {
      std::cerr << saved.message() << "\n";
    }
  };
  nn::ProgressBar bar(std::cerr, nn::ProgressBar::StderrIsInteractive(), options.epochs);
  bar.AttachTo(options);
  const nn::TrainResult result = nn::Train(model, loss, train_rows, options);
  if (!result.stopped.empty()) std::cout << result.stopped << "\n";

  const nn::Scores scores = nn::Evaluate(model, loss, test_rows, options.metrics);
  std::cout << "test accuracy " << scores.metrics[0] << " on " << test.rows << " rows\n";
  return scores.metrics[0] > 0.9 ? 0 : 1;
}
