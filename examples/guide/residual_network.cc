// The program docs/cpp-guide.md builds step by step: a residual network of
// its own on the bundled digits, a loss of its own, Adam with parameter
// groups, validation and early stopping, saving, loading, predicting and
// profiling. The guide quotes the parts between the [START x] and [END x]
// markers; a test checks that it quotes them as they are.
//
//   residual_network data/digits.csv model.safetensors

// [START includes]
#include <iostream>

#include "actgrad.h"
#include "io/csv.h"
#include "nn/nn.h"
#include "optim/adam.h"
#include "profile/export.h"
#include "profile/profiler.h"

using namespace actgrad;
// [END includes]

// [START module]
// x + fc2(relu(fc1(x))): a residual block, registered so that files can
// rebuild it.
class ResidualBlock : public nn::Module {
 public:
  explicit ResidualBlock(int64_t width, Generator& gen)
      : width_(width),
        fc1_({.in = width, .out = width}, gen),
        fc2_({.in = width, .out = width}, gen) {
    RegisterModule("fc1", &fc1_);
    RegisterModule("fc2", &fc2_);
  }
  Tensor Forward(const Tensor& x) override { return x + fc2_(Relu(fc1_(x))); }
  std::string ToString() const override { return absl::StrCat("ResidualBlock(", width_, ")"); }
  std::string Kind() const override { return "residual_block"; }
  nn::ModuleConfig Config() const override { return nn::ModuleConfig().Set("width", width_); }
  static absl::StatusOr<std::unique_ptr<ResidualBlock>> FromConfig(const nn::ModuleConfig& config) {
    absl::StatusOr<int64_t> width = config.IntInRange("width", 1, 1 << 16);
    if (!width.ok()) return width.status();
    Generator unused(0);  // the saved weights replace these
    return std::make_unique<ResidualBlock>(*width, unused);
  }

 private:
  int64_t width_;
  nn::Linear fc1_, fc2_;
};
ACTGRAD_REGISTER_MODULE_KIND(ResidualBlock, "residual_block");
// [END module]

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: residual_network DATA.csv MODEL.safetensors\n";
    return 2;
  }
  // [START data]
  absl::StatusOr<io::Dataset> data = io::ReadCsv(argv[1]);
  if (!data.ok()) {
    std::cerr << data.status().message() << "\n";
    return 1;
  }
  const io::Split split = io::StratifiedSplit(data->y, /*test_fraction=*/0.2, /*seed=*/0);
  const io::Dataset train = data->Subset(split.train), test = data->Subset(split.test);
  const nn::Scaler scaler = nn::Scaler::Fit(nn::Scaling::kUnit, train.Features());
  const nn::TensorData train_rows{.inputs = scaler.Transform(train.Features()),
                                  .targets = train.Targets(DType::kInt64)};
  // [END data]

  // [START network]
  Generator gen(1);
  nn::Sequential model;
  model.Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = data->features, .out = 64}, gen));
  model.Add(std::make_unique<nn::Activation>(ops::kTanh));
  model.Add(std::make_unique<ResidualBlock>(64, gen));
  model.Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 64, .out = 10}, gen));
  std::cout << model.ToString() << "\n";
  // [END network]

  // [START loss]
  // Cross-entropy on the logits plus a small penalty on their size; any
  // callable of (output, batch) returning a scalar is a loss.
  const nn::Loss loss = [](const Tensor& logits, const nn::TensorData& batch) {
    return CrossEntropy(logits, batch.targets) + 1e-3 * Mean(Square(logits));
  };
  // [END loss]

  // [START train]
  nn::TrainOptions options;
  options.epochs = 100;
  options.batch = 32;
  options.make_optimizer = [](nn::Module& m) {
    // Weight decay on the weights, none on the biases.
    return std::make_unique<optim::Adam>(
        nn::SplitDecay(m, {"bias"}),
        optim::AdamOptions{.learning_rate = 1e-3, .weight_decay = 1e-4});
  };
  options.validation_fraction = 0.1;
  options.metrics = {nn::AccuracyMetric()};
  options.early_stopping = {.patience = 5};
  nn::ProgressBar bar(std::cerr, nn::ProgressBar::StderrIsInteractive(), options.epochs);
  bar.AttachTo(options);
  const nn::TrainResult result = nn::Train(model, loss, train_rows, options);
  std::cout << result.stopped << "; kept epoch " << result.restored_epoch + 1 << "\n";
  // [END train]

  // [START save]
  nn::ModelInfo info{.task = nn::Task::kMulticlass,
                     .output = nn::ModelOutput::kLogits,
                     .scaler = scaler,
                     .feature_names = data->feature_names,
                     .target_name = data->target_name};
  if (absl::Status saved = nn::Save(argv[2], model, info); !saved.ok()) {
    std::cerr << saved.message() << "\n";
    return 1;
  }
  // [END save]

  // [START load]
  absl::StatusOr<nn::SavedModel> loaded = nn::Load(argv[2]);
  if (!loaded.ok()) {
    std::cerr << loaded.status().message() << "\n";
    return 1;
  }
  const nn::Predictions predictions = loaded->Predict(test.Features());
  int correct = 0;
  for (int64_t r = 0; r < test.rows; ++r) {
    correct += loaded->LabelOf(predictions.classes[r]) == absl::StrCat(test.y[r]);
  }
  std::cout << "test accuracy " << double(correct) / test.rows << "; row 0 is "
            << loaded->LabelOf(predictions.classes[0]) << " with probability "
            << predictions.probabilities[0][predictions.classes[0]] << "\n";
  // [END load]

  // [START profile]
  Profile profile;
  {
    Profiler profiler(&profile);
    const nn::TensorData batch = train_rows.Rows(std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7});
    loss(model(batch.inputs), batch).Backward();
  }
  std::cout << FormatGroupTable(profile.ByLayer(), profile, "layer");
  // [END profile]
  return double(correct) / test.rows > 0.9 ? 0 : 1;
}
