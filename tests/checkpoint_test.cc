// A trained model saved, loaded and applied gives the same predictions; a
// file that does not fit is refused, never half-loaded.

#include <gtest/gtest.h>

#include <filesystem>

#include "actgrad.h"
#include "io/safetensors.h"
#include "nn/nn.h"
#include "optim/factory.h"
#include "tests/test_util.h"

namespace actgrad {
namespace {

using ::testing::HasSubstr;

nn::MlpModel SmallModel(const OpDef& hidden, const Attrs& attrs = {}) {
  Generator gen(4);
  nn::MlpModel model;
  model.options = {.inputs = 3,
                   .hidden = {5, 4},
                   .outputs = 3,
                   .hidden_activation = &hidden,
                   .hidden_attrs = attrs,
                   .output_activation = &ops::kSoftmax};
  model.task = nn::Task::kMulticlass;
  model.feature_names = {"a", "b", "c"};
  model.target_name = "label";
  model.scaler = nn::Scaler::Fit(nn::Scaling::kSymmetric, Uniform({10, 3}, -5, 5, gen));
  model.network = nn::Mlp(model.options, gen);
  return model;
}

using testing::TempPath;

TEST(CheckpointTest, SavedModelPredictsTheSame) {
  const nn::MlpModel model = SmallModel(ops::kLeakyRelu, {.alpha = 0.2});
  const std::string path = TempPath("model.safetensors");
  ASSERT_TRUE(nn::SaveMlpModel(path, model).ok());
  absl::StatusOr<nn::MlpModel> loaded = nn::LoadMlpModel(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  Generator gen(8);
  const Tensor x = Uniform({6, 3}, -5, 5, gen);
  EXPECT_EQ(loaded->Predict(x).ToVector(), model.Predict(x).ToVector());
  EXPECT_EQ(loaded->options.hidden_attrs.alpha, 0.2);
  EXPECT_EQ(loaded->feature_names, model.feature_names);
  EXPECT_EQ(loaded->network->ToString().find("leaky_relu, alpha=0.2") != std::string::npos, true);
}

TEST(CheckpointTest, UsesPyTorchNamesAndRecordsTheArchitecture) {
  const nn::MlpModel model = SmallModel(ops::kTanh);
  const std::string path = TempPath("names.safetensors");
  ASSERT_TRUE(nn::SaveMlpModel(path, model).ok());
  absl::StatusOr<io::SafetensorsFile> file = io::LoadSafetensors(path);
  ASSERT_TRUE(file.ok());
  std::vector<std::string> names;
  for (const auto& [name, t] : file->tensors) names.push_back(name);
  EXPECT_THAT(names, ::testing::ElementsAre("0.bias", "0.weight", "2.bias", "2.weight", "4.bias",
                                            "4.weight"));
  EXPECT_EQ(file->tensors[1].second.shape(), Shape({5, 3}));  // [out, in]
  EXPECT_EQ(file->metadata.at("hidden_activation"), "tanh");
  EXPECT_EQ(file->metadata.at("hidden"), "5,4");
  EXPECT_THAT(file->metadata.at("initializers"), HasSubstr("0.weight=xavier_uniform(gain=1.667)"));
  EXPECT_THAT(file->metadata.at("scaler"), HasSubstr("symmetric|scale="));
}

TEST(CheckpointTest, RefusesFilesThatDoNotFit) {
  const nn::MlpModel model = SmallModel(ops::kRelu);
  const std::string good = TempPath("good.safetensors");
  ASSERT_TRUE(nn::SaveMlpModel(good, model).ok());
  absl::StatusOr<io::SafetensorsFile> file = io::LoadSafetensors(good);
  ASSERT_TRUE(file.ok());

  auto write_variant = [&](const std::string& name, auto edit) {
    io::SafetensorsFile copy = *file;
    edit(copy);
    const std::string path = TempPath(name);
    EXPECT_TRUE(io::SaveSafetensors(path, copy.tensors, copy.metadata).ok());
    return nn::LoadMlpModel(path).status();
  };
  EXPECT_THAT(std::string(write_variant("missing.safetensors",
                                        [](auto& f) { f.tensors.erase(f.tensors.begin()); })
                              .message()),
              HasSubstr("\"0.bias\" is missing"));
  EXPECT_THAT(
      std::string(write_variant("extra.safetensors",
                                [](auto& f) { f.tensors.emplace_back("9.weight", Ones({1})); })
                      .message()),
      HasSubstr("\"9.weight\" is not part of the architecture"));
  EXPECT_THAT(std::string(write_variant("shape.safetensors",
                                        [](auto& f) {
                                          f.tensors[1].second = Ones({3, 5});
                                        })
                              .message()),
              HasSubstr("[3,5]"));
  EXPECT_THAT(
      std::string(write_variant("nan.safetensors",
                                [](auto& f) { f.tensors[0].second = Full({5}, std::nan("")); })
                      .message()),
      HasSubstr("nan"));
  EXPECT_THAT(std::string(write_variant("activation.safetensors",
                                        [](auto& f) { f.metadata["hidden_activation"] = "swoosh"; })
                              .message()),
              HasSubstr("no op named \"swoosh\""));
  EXPECT_THAT(
      std::string(write_variant("format.safetensors", [](auto& f) { f.metadata.erase("format"); })
                      .message()),
      HasSubstr("format"));
  // A few bytes of metadata asking for a 50M-wide layer are refused against
  // the tensors the file holds, before the network is built (it would take
  // 2.5 PB).
  EXPECT_THAT(std::string(write_variant("huge.safetensors",
                                        [](auto& f) { f.metadata["hidden"] = "50000000,50000000"; })
                              .message()),
              HasSubstr("the architecture needs [50000000,3]"));
}

}  // namespace
}  // namespace actgrad

namespace actgrad {
namespace {

TEST(CheckpointTest, TrainingWithAdamGroupsResumesBitwiseFromTheSavedState) {
  // Adam with no decay on biases, trained 6 epochs straight or 3 + 3 with a
  // checkpoint between: the weights agree to the bit.
  Generator data_gen(11);
  const Tensor x = Uniform({40, 3}, -1, 1, data_gen);
  std::vector<double> y;
  for (int i = 0; i < 40; ++i) y.push_back(i % 3);
  auto make_adam = [](nn::Module& model) -> std::unique_ptr<optim::Optimizer> {
    auto made = optim::MakeOptimizer({.name = "adam", .learning_rate = 0.01, .weight_decay = 0.1},
                                     nn::SplitDecay(model, {"bias"}));
    EXPECT_TRUE(made.ok()) << made.status();
    return *std::move(made);
  };
  nn::TrainOptions options{.epochs = 6, .batch = 8, .make_optimizer = make_adam, .seed = 3};
  nn::MlpModel straight = SmallModel(ops::kTanh);
  nn::Train(straight.task, *straight.network, x, y, Tensor(), {}, options);

  nn::MlpModel first = SmallModel(ops::kTanh);
  nn::TrainState saved;
  options.epochs = 3;
  options.checkpoint_every = 3;
  options.on_checkpoint = [&](const nn::TrainState& state) {
    ASSERT_TRUE(nn::SaveCheckpoint(TempPath("adam.ck.safetensors"), first, state).ok());
  };
  nn::Train(first.task, *first.network, x, y, Tensor(), {}, options);
  absl::StatusOr<nn::Checkpoint> checkpoint = nn::LoadCheckpoint(TempPath("adam.ck.safetensors"));
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_EQ(checkpoint->state.optimizer, "Adam");
  ASSERT_EQ(checkpoint->state.optimizer_state.size(), 6u);  // weights first, then biases
  EXPECT_EQ(checkpoint->state.optimizer_state[0].first, "0.weight");
  EXPECT_EQ(checkpoint->state.optimizer_state[3].first, "0.bias");
  EXPECT_EQ(checkpoint->state.optimizer_state[0].second.step, 3 * 5);  // 40 rows / 8
  EXPECT_TRUE(checkpoint->state.optimizer_state[0].second.buffer("exp_avg_sq").defined());

  options.epochs = 6;
  options.checkpoint_every = 0;
  options.resume_from = &checkpoint->state;
  nn::Train(checkpoint->model.task, *checkpoint->model.network, x, y, Tensor(), {}, options);
  const std::vector<nn::NamedParameter> a = straight.network->NamedParameters();
  const std::vector<nn::NamedParameter> b = checkpoint->model.network->NamedParameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].tensor->ToVector(), b[i].tensor->ToVector()) << a[i].name;
  }
}

TEST(CheckpointTest, CheckpointsWithSgdMomentumOfTheEarlierFormatStillLoad) {
  const nn::MlpModel model = SmallModel(ops::kRelu);
  const std::string path = TempPath("old.ck.safetensors");
  std::vector<std::pair<std::string, Tensor>> tensors = model.network->StateDict();
  tensors.emplace_back("momentum.0.weight", Full({5, 3}, 0.5));
  ASSERT_TRUE(nn::SaveMlpModel(path, model).ok());
  absl::StatusOr<io::SafetensorsFile> file = io::LoadSafetensors(path);
  ASSERT_TRUE(file.ok());
  std::map<std::string, std::string> metadata = file->metadata;
  metadata["epochs_done"] = "2";
  metadata["batch_order"] = Generator(1).SaveState();
  ASSERT_TRUE(io::SaveSafetensors(path, tensors, metadata).ok());
  absl::StatusOr<nn::Checkpoint> checkpoint = nn::LoadCheckpoint(path);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_EQ(checkpoint->state.optimizer, "SGD");
  ASSERT_EQ(checkpoint->state.optimizer_state.size(), 1u);
  EXPECT_EQ(checkpoint->state.optimizer_state[0].first, "0.weight");
  EXPECT_EQ(checkpoint->state.optimizer_state[0].second.buffer("momentum_buffer").ToVector(),
            std::vector<double>(15, 0.5));
}

}  // namespace
}  // namespace actgrad
