// Models that describe themselves: any registered module saves with its
// architecture and loads from the file alone, with the same outputs; every
// way a description can be wrong is refused naming the field, before
// anything is allocated.

#include "nn/model_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "nn/nn.h"
#include "tests/residual_net.h"
#include "tests/test_util.h"

ACTGRAD_REGISTER_MODULE_KIND(actgrad::test_nets::ResidualNet, "residual_net");

namespace actgrad {
namespace {

using ::testing::HasSubstr;

using testing::TempPath;

// A file with `tensors` and the description `json`, as a hostile or broken
// writer could make it.
std::string WriteRaw(const std::string& name, const nn::NamedTensors& tensors,
                     const std::string& json) {
  const std::string path = TempPath(name);
  EXPECT_TRUE(io::SaveSafetensors(path, tensors, {{"actgrad", json}}).ok());
  return path;
}

std::string LoadError(const std::string& path) {
  absl::StatusOr<nn::SavedModel> model = nn::Load(path);
  return model.ok() ? "" : std::string(model.status().message());
}

TEST(ModelFileTest, AnMlpWithItsPreprocessingRoundTrips) {
  Generator gen(1);
  absl::StatusOr<nn::ActivationSpec> leaky = nn::ParseActivationSpec("leaky_relu:alpha=0.2");
  ASSERT_TRUE(leaky.ok());
  auto mlp = nn::Mlp({.inputs = 3,
                      .hidden = {5, 4},
                      .outputs = 3,
                      .hidden_activation = leaky->op,
                      .hidden_attrs = leaky->attrs,
                      .output_activation = &ops::kSoftmax},
                     gen);
  const Tensor raw = Uniform({6, 3}, 0, 10, gen);
  nn::ModelInfo info{.task = nn::Task::kMulticlass,
                     .output = nn::ModelOutput::kProbabilities,
                     .scaler = nn::Scaler::Fit(nn::Scaling::kUnit, raw),
                     .feature_names = {"a", "b", "c"},
                     .target_name = "species",
                     .labels = {"setosa", "versicolor", "virginica"}};
  const std::string path = TempPath("mlp.safetensors");
  ASSERT_TRUE(nn::Save(path, *mlp, info).ok());

  absl::StatusOr<nn::SavedModel> loaded = nn::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->module->ToString(), mlp->ToString());
  EXPECT_EQ(loaded->info.task, nn::Task::kMulticlass);
  EXPECT_EQ(loaded->info.labels, info.labels);
  EXPECT_EQ(loaded->info.feature_names, info.feature_names);
  EXPECT_EQ(loaded->info.target_name, "species");
  EXPECT_EQ(loaded->info.scaler.Serialize(), info.scaler.Serialize());
  NoGradGuard no_grad;
  EXPECT_EQ(loaded->Outputs(raw).ToVector(), mlp->Forward(info.scaler.Transform(raw)).ToVector());
  const nn::Predictions p = loaded->Predict(raw);
  ASSERT_EQ(p.probabilities.size(), 6u);
  for (size_t r = 0; r < 6; ++r) {
    EXPECT_NEAR(p.probabilities[r][0] + p.probabilities[r][1] + p.probabilities[r][2], 1, 1e-6);
  }
  EXPECT_EQ(loaded->LabelOf(2), "virginica");
}

TEST(ModelFileTest, AUserModuleJoinsWithOneRegistrationAndPredictsFromLogits) {
  Generator gen(2);
  test_nets::ResidualNet net(4, 6, 3, gen, DType::kFloat64);
  const std::string path = TempPath("residual.safetensors");
  ASSERT_TRUE(
      nn::Save(path, net, {.task = nn::Task::kMulticlass, .output = nn::ModelOutput::kLogits})
          .ok());
  absl::StatusOr<nn::SavedModel> loaded = nn::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->module->Kind(), "residual_net");
  const Tensor x = Normal({5, 4}, 0, 1, gen, DType::kFloat64);
  NoGradGuard no_grad;
  const Tensor logits = net(x);
  EXPECT_EQ(loaded->Outputs(x).ToVector(), logits.ToVector());
  const nn::Predictions p = loaded->Predict(x);
  const std::vector<double> expected = Softmax(logits, 1).ToVector();
  for (int r = 0; r < 5; ++r) {
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(p.probabilities[r][c], expected[r * 3 + c], 1e-15);
  }
  EXPECT_EQ(loaded->LabelOf(1), "1");  // no names given
}

TEST(ModelFileTest, AnLstmCellAndABinaryLogitModelRoundTrip) {
  Generator gen(3);
  nn::Sequential model;
  model.Add(std::make_unique<nn::LstmCell>(nn::LstmCellOptions{.input = 3, .hidden = 4}, gen));
  model.Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 4, .out = 1, .bias = false}, gen));
  const std::string path = TempPath("lstm.safetensors");
  ASSERT_TRUE(
      nn::Save(path, model, {.task = nn::Task::kBinary, .output = nn::ModelOutput::kLogits}).ok());
  absl::StatusOr<nn::SavedModel> loaded = nn::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const Tensor x = Normal({4, 3}, 0, 1, gen);
  NoGradGuard no_grad;
  const std::vector<double> logits = model(x).ToVector();
  const nn::Predictions p = loaded->Predict(x);
  for (int r = 0; r < 4; ++r) {
    const double p1 = 1 / (1 + std::exp(-logits[r]));
    EXPECT_NEAR(p.probabilities[r][1], p1, 1e-6);
    EXPECT_NEAR(p.probabilities[r][0], 1 - p1, 1e-6);
    EXPECT_EQ(p.classes[r], p1 >= 0.5 ? 1 : 0);
  }
}

TEST(ModelFileTest, FilesOfTheMlpFormatLoadToo) {
  Generator gen(4);
  nn::MlpModel mlp;
  mlp.options = {.inputs = 2, .hidden = {3}, .outputs = 1, .output_activation = &ops::kSigmoid};
  mlp.task = nn::Task::kBinary;
  mlp.network = nn::Mlp(mlp.options, gen);
  mlp.feature_names = {"x", "y"};
  mlp.scaler = nn::Scaler::Fit(nn::Scaling::kStandard, Normal({10, 2}, 1, 3, gen));
  mlp.target_name = "t";
  const std::string path = TempPath("v1.safetensors");
  ASSERT_TRUE(nn::SaveMlpModel(path, mlp).ok());
  absl::StatusOr<nn::SavedModel> loaded = nn::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->info.output, nn::ModelOutput::kProbabilities);
  EXPECT_EQ(loaded->info.feature_names, mlp.feature_names);
  const Tensor x = Normal({3, 2}, 0, 1, gen);
  EXPECT_EQ(loaded->Outputs(x).ToVector(), mlp.Predict(x).ToVector());
}

// A module whose kind nothing could rebuild.
class Unregistered : public nn::Module {
 public:
  Tensor Forward(const Tensor& x) override { return x; }
  std::string ToString() const override { return "Unregistered"; }
};

TEST(ModelFileTest, SavingAnUnregisteredKindIsRefusedAndWritesNothing) {
  Unregistered module;
  const std::string path = TempPath("unregistered.safetensors");
  const absl::Status saved = nn::Save(path, module);
  EXPECT_THAT(std::string(saved.message()),
              HasSubstr("is of kind \"module\", which is not registered"));
  EXPECT_THAT(std::string(saved.message()), HasSubstr("ACTGRAD_REGISTER_MODULE_KIND"));
  EXPECT_FALSE(std::filesystem::exists(path));
}

const char kLinear23[] =
    R"({"format": "actgrad.model.v1", "architecture": {"kind": "linear", "options": )";

TEST(ModelFileTest, BrokenDescriptionsAreRefusedNamingTheField) {
  const nn::NamedTensors weights = {{"weight", Zeros({3, 2})}, {"bias", Zeros({3})}};
  auto linear = [&](const std::string& options, const std::string& name) {
    return LoadError(WriteRaw(name, weights, kLinear23 + options + ", \"children\": []}}"));
  };
  EXPECT_EQ(linear(R"({"in": 2, "out": 3})", "ok.safetensors"), "");
  EXPECT_THAT(LoadError(WriteRaw("malformed.safetensors", weights, R"({"format": )")),
              HasSubstr("metadata \"actgrad\": byte 11: Invalid value"));
  EXPECT_THAT(
      linear(R"({"in": 2, "out": "3"})", "type.safetensors"),
      HasSubstr("architecture (the root, linear): options.out: expected an integer, found text"));
  EXPECT_THAT(linear(R"({"in": 2, "out": 3, "outs": 4})", "unknown_option.safetensors"),
              HasSubstr("options.outs: not an option of this kind (it takes in, out, bias, dtype, "
                        "weight_init, bias_init)"));
  EXPECT_THAT(linear(R"({"in": 2, "out": 3, "dtype": "int8"})", "dtype.safetensors"),
              HasSubstr("dtype: \"int8\" is not float32 or float64"));
  // Sizes are compared with the file before anything is built: this would
  // be 10 PB of weights.
  EXPECT_THAT(linear(R"({"in": 50000000, "out": 50000000})", "huge.safetensors"),
              HasSubstr("its options need tensor \"weight\" to be [50000000,50000000]; the file "
                        "holds [3,2]"));
  EXPECT_THAT(linear(R"({"in": 2, "out": 3, "bias": false})", "extra.safetensors"),
              HasSubstr("Unexpected key(s) in state_dict: \"bias\""));
  EXPECT_THAT(LoadError(WriteRaw("kind.safetensors", weights,
                                 R"({"format": "actgrad.model.v1", "architecture": {"kind": )"
                                 R"("frobnicator"}})")),
              HasSubstr("no module kind \"frobnicator\" is registered (known: "));
  EXPECT_THAT(LoadError(WriteRaw("format.safetensors", weights, R"({"format": "v9"})")),
              HasSubstr("format: expected \"actgrad.model.v1\""));
  EXPECT_THAT(LoadError(WriteRaw("field.safetensors", weights,
                                 R"({"format": "actgrad.model.v1", "architecture": {"kind": )"
                                 R"("linear", "optoins": {}}})")),
              HasSubstr("architecture.optoins: not a field of a module (kind, options, children)"));
  std::string deep = R"({"format": "actgrad.model.v1", "architecture": )";
  for (int i = 0; i < 40; ++i)
    deep += R"({"kind": "sequential", "children": [{"name": "0", "module": )";
  EXPECT_THAT(LoadError(WriteRaw("deep.safetensors", weights, deep)),
              HasSubstr("nested deeper than 64"));
  const nn::NamedTensors infinite = {{"weight", Full({3, 2}, INFINITY)}, {"bias", Zeros({3})}};
  EXPECT_THAT(LoadError(WriteRaw("inf.safetensors", infinite,
                                 std::string(kLinear23) + R"({"in": 2, "out": 3}}})")),
              HasSubstr("tensor \"weight\" holds inf"));
  EXPECT_THAT(
      LoadError(WriteRaw("task.safetensors", weights,
                         std::string(kLinear23) + R"({"in": 2, "out": 3}}, "task": "rank"})")),
      HasSubstr("task: "));
}

TEST(ModelFileTest, ConvolutionalDescriptionsAreBoundedBeforeAnythingIsBuilt) {
  const nn::NamedTensors conv = {{"weight", Zeros({4, 1, 3, 3})}, {"bias", Zeros({4})}};
  auto load = [&](const std::string& kind, const std::string& options, const std::string& name,
                  const nn::NamedTensors& tensors) {
    return LoadError(WriteRaw(name, tensors,
                              R"({"format": "actgrad.model.v1", "architecture": {"kind": ")" +
                                  kind + R"(", "options": )" + options + "}}"));
  };
  EXPECT_EQ(load("conv2d", R"({"in_channels": 1, "out_channels": 4, "kernel": [3, 3]})",
                 "conv_ok.safetensors", conv),
            "");
  EXPECT_THAT(
      load("conv2d", R"({"in_channels": 1, "out_channels": 4, "kernel": [3, 3], "groups": 3})",
           "conv_groups.safetensors", conv),
      HasSubstr("groups: 3 does not divide the channels 1 -> 4"));
  EXPECT_THAT(load("conv2d", R"({"in_channels": 1, "out_channels": 4, "kernel": [3, 100000]})",
                   "conv_kernel.safetensors", conv),
              HasSubstr("kernel: 100000 is outside [1, 65536]"));
  // A kernel the options allow but the file does not hold: refused before
  // the weight is allocated.
  EXPECT_THAT(load("conv2d", R"({"in_channels": 2000000000, "out_channels": 4, "kernel": [3, 3]})",
                   "conv_huge.safetensors", conv),
              HasSubstr("the file holds [4,1,3,3]"));
  EXPECT_THAT(load("unflatten", R"({"dim": 1, "sizes": [2000000000, 2000000000, 2000000000]})",
                   "unflatten.safetensors", {}),
              HasSubstr("sizes: their product does not fit in 64 bits"));
  EXPECT_THAT(
      load("max_pool2d", R"({"window": [2, 2], "padding": [2, 2]})", "pool.safetensors", {}),
      HasSubstr("padding: 2 is more than half the window 2"));
}

TEST(ModelFileTest, AUserModuleWhoseDescriptionDisagreesIsRefused) {
  Generator gen(5);
  test_nets::ResidualNet net(4, 6, 3, gen);
  // Another width in the options than the tensors were saved with.
  const std::string json =
      R"({"format": "actgrad.model.v1", "architecture": {"kind": "residual_net", "options": )"
      R"({"inputs": 4, "width": 7, "classes": 3, "dtype": "float32"}, "children": []}})";
  EXPECT_THAT(LoadError(WriteRaw("disagree.safetensors", net.StateDict(), json)),
              HasSubstr("the description lists the children [] but the rebuilt module has [in, "
                        "block1, block2, head]"));
}

TEST(ModuleConfigTest, TypedReadsNameTheKeyAndKeepLiteralTypes) {
  nn::ModuleConfig config;
  config.Set("width", 8).Set("bias", true).Set("rate", 0.5).Set("name", "block");
  config.Set("sizes", std::vector<int64_t>{2, 3}).Set("empty", std::vector<std::string>{});
  config.Set("width", 16);  // replaces, keeping its place
  EXPECT_EQ(config.entries().front().first, "width");
  EXPECT_EQ(*config.Int("width"), 16);
  EXPECT_EQ(*config.Number("width"), 16.0);  // an integer reads as a number
  EXPECT_TRUE(*config.Bool("bias"));
  EXPECT_EQ(*config.String("name"), "block");
  EXPECT_EQ(*config.Numbers("sizes"), (std::vector<double>{2, 3}));
  EXPECT_TRUE(config.Ints("empty")->empty());  // an empty list has no element type
  EXPECT_EQ(*config.Int("missing", 7), 7);
  EXPECT_THAT(std::string(config.Int("bias").status().message()),
              HasSubstr("bias: expected an integer, found a boolean"));
  EXPECT_THAT(std::string(config.String("width").status().message()),
              HasSubstr("width: expected text, found an integer"));
  EXPECT_THAT(std::string(config.Int("absent").status().message()), HasSubstr("absent: missing"));
  EXPECT_THAT(std::string(config.IntInRange("width", 1, 10).status().message()),
              HasSubstr("width: 16 is outside [1, 10]"));
  EXPECT_THAT(std::string(config.OnlyKeys({"width", "bias"}).message()),
              HasSubstr("rate: not an option of this kind (it takes width, bias)"));
}

}  // namespace
}  // namespace actgrad
