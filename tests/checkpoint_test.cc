// A trained model saved, loaded and applied gives the same predictions; a
// file that does not fit is refused, never half-loaded.

#include <gtest/gtest.h>

#include <filesystem>

#include "actgrad.h"
#include "io/safetensors.h"
#include "nn/nn.h"
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

std::string TempPath(const std::string& name) {
  return (std::filesystem::path(::testing::TempDir()) / name).string();
}

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
}

}  // namespace
}  // namespace actgrad
