// The convolutional layers as modules: PyTorch's parameter and buffer names
// and initial values, training and evaluation modes, residual blocks, the
// layer-spec builder, and saving and loading every layer kind.

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "actgrad.h"
#include "nn/nn.h"
#include "tests/test_util.h"

namespace actgrad {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> Names(const std::vector<nn::NamedTensor>& named) {
  std::vector<std::string> names;
  for (const nn::NamedTensor& t : named) names.push_back(t.name);
  return names;
}

TEST(ConvModuleTest, NamesShapesAndPyTorchsDefaultInitialization) {
  Generator gen(0);
  nn::Conv2d conv({.in_channels = 4, .out_channels = 6, .kernel = {3, 2}, .groups = 2}, gen);
  EXPECT_EQ(conv.weight().shape(), (Shape{6, 2, 3, 2}));
  EXPECT_EQ(conv.bias().shape(), (Shape{6}));
  EXPECT_THAT(Names(conv.NamedParameters()), ElementsAre("weight", "bias"));
  // U(+-1/sqrt(fan_in)), fan_in = 2 * 3 * 2 = 12, for the weight and the bias.
  const double bound = 1 / std::sqrt(12.0);
  for (const Tensor* t : {&conv.weight(), &conv.bias()}) {
    for (double v : t->ToVector()) EXPECT_LE(std::abs(v), bound);
  }
  nn::ConvTranspose2d up({.in_channels = 4, .out_channels = 6, .kernel = {2, 2}, .groups = 2}, gen);
  EXPECT_EQ(up.weight().shape(), (Shape{4, 3, 2, 2}));
  nn::Conv1d line({.in_channels = 3, .out_channels = 5, .kernel = {1, 4}}, gen);
  EXPECT_EQ(line.weight().shape(), (Shape{5, 3, 4}));
  EXPECT_EQ(line(Ones({2, 3, 10})).shape(), (Shape{2, 5, 7}));
}

TEST(ConvModuleTest, RefusesOptionsThatDescribeNoLayer) {
  Generator gen(0);
  EXPECT_THAT(
      testing::ErrorMessageOf(
          [&] { nn::Conv2d({.in_channels = 3, .out_channels = 4, .groups = 2}, gen); }),
      HasSubstr(
          "conv2d: channels must be positive and divisible by groups, got 3 -> 4 in 2 groups"));
  EXPECT_THAT(
      testing::ErrorMessageOf([&] {
        nn::Conv2d({.in_channels = 1, .out_channels = 1, .stride = {2, 2}, .same = true}, gen);
      }),
      HasSubstr("padding \"same\" needs stride 1"));
}

TEST(BatchNormModuleTest, KeepsPyTorchsBuffersAndModes) {
  nn::BatchNorm2d bn({.num_features = 2, .dtype = DType::kFloat64});
  EXPECT_THAT(Names(bn.NamedParameters()), ElementsAre("weight", "bias"));
  EXPECT_THAT(Names(bn.NamedBuffers()),
              ElementsAre("running_mean", "running_var", "num_batches_tracked"));
  Generator gen(1);
  const Tensor x = Normal({4, 2, 3, 3}, 5.0, 2.0, gen, DType::kFloat64);
  bn(x);
  bn(x);
  const nn::NamedTensors state = bn.StateDict();
  EXPECT_EQ(state[4].first, "num_batches_tracked");
  EXPECT_EQ(state[4].second.item(), 2);
  EXPECT_GT(bn.running_mean().ToVector()[0], 0.5);  // moved toward 5 twice: 0.95
  bn.Eval();
  const Tensor y = bn(x);
  const double expected = (x.ToVector()[0] - bn.running_mean().ToVector()[0]) /
                          std::sqrt(bn.running_var().ToVector()[0] + 1e-5);
  EXPECT_NEAR(y.ToVector()[0], expected, 1e-12);
  EXPECT_EQ(bn.StateDict()[4].second.item(), 2);  // evaluation does not count
}

TEST(BatchNormModuleTest, TrainsWithoutAffineParametersAndWithFrozenOnes) {
  // The weight and bias are then constants the graph does not record.
  // Without affine parameters, and with frozen ones (weight 1, bias 0), x
  // gets the gradient the trained layer gives it.
  Generator gen(2);
  Tensor x = Normal({4, 3, 2, 2}, 0, 1, gen, DType::kFloat64).set_requires_grad(true);
  const Tensor probe = Normal({4, 3, 2, 2}, 0, 1, gen, DType::kFloat64);
  nn::BatchNorm2d trained({.num_features = 3, .dtype = DType::kFloat64});
  Sum(trained(x) * probe).Backward();
  const std::vector<double> expected = x.grad().ToVector();
  nn::BatchNorm2d plain({.num_features = 3, .affine = false, .dtype = DType::kFloat64});
  x.ClearGrad();
  Sum(plain(x) * probe).Backward();
  EXPECT_THAT(x.grad().ToVector(), testing::ElementsAreNear(expected, 1e-12));
  nn::BatchNorm2d frozen({.num_features = 3, .dtype = DType::kFloat64});
  frozen.weight().set_requires_grad(false);
  frozen.bias().set_requires_grad(false);
  x.ClearGrad();
  Sum(frozen(x) * probe).Backward();
  EXPECT_THAT(x.grad().ToVector(), testing::ElementsAreNear(expected, 1e-12));
}

TEST(DropoutModuleTest, DropsOnlyInTrainingAndDrawsAFreshMaskEachCall) {
  Generator gen(3);
  nn::Dropout drop(0.5, gen);
  const Tensor x = Ones({256});
  const std::vector<double> first = drop(x).ToVector(), second = drop(x).ToVector();
  EXPECT_NE(first, second);
  drop.Eval();
  EXPECT_EQ(drop(x).ToVector(), x.ToVector());
  // The same generator seed gives the same masks.
  Generator again(3);
  nn::Dropout twin(0.5, again);
  EXPECT_EQ(twin(x).ToVector(), first);
}

TEST(ResidualModuleTest, AddsTheBodyToTheShortcut) {
  Generator gen(4);
  auto body = std::make_unique<nn::Sequential>();
  body->Add(std::make_unique<nn::Conv2d>(
      nn::ConvOptions{.in_channels = 2, .out_channels = 2, .same = true, .dtype = DType::kFloat64},
      gen));
  nn::Sequential* inner = body.get();
  nn::Residual block(std::move(body));
  const Tensor x = Normal({1, 2, 4, 4}, 0, 1, gen, DType::kFloat64);
  const std::vector<double> got = block(x).ToVector();
  const std::vector<double> convolved = (*inner)(x).ToVector();
  for (size_t i = 0; i < got.size(); ++i) EXPECT_DOUBLE_EQ(got[i], convolved[i] + x.ToVector()[i]);
  EXPECT_THAT(Names(block.NamedParameters()), ElementsAre("body.0.weight", "body.0.bias"));
}

// Every layer kind in one network, saved and loaded back: the same outputs
// and the same description.
std::unique_ptr<nn::Sequential> EveryKind(Generator& gen) {
  auto net = std::make_unique<nn::Sequential>();
  net->Add(std::make_unique<nn::Unflatten>(1, std::vector<int64_t>{2, 6, 6}));
  net->Add(std::make_unique<nn::Conv2d>(
      nn::ConvOptions{.in_channels = 2, .out_channels = 4, .kernel = {3, 3}, .same = true}, gen));
  net->Add(std::make_unique<nn::BatchNorm2d>(nn::BatchNormOptions{.num_features = 4}));
  net->Add(std::make_unique<nn::Activation>(ops::kRelu));
  net->Add(std::make_unique<nn::GroupNorm>(nn::GroupNormOptions{.groups = 2, .channels = 4}));
  net->Add(std::make_unique<nn::ConvTranspose2d>(
      nn::ConvOptions{.in_channels = 4, .out_channels = 2, .kernel = {2, 2}, .stride = {2, 2}},
      gen));
  net->Add(std::make_unique<nn::MaxPool2d>(nn::PoolOptions{.window = {2, 2}}));
  net->Add(std::make_unique<nn::AvgPool2d>(
      nn::PoolOptions{.window = {3, 3}, .stride = {1, 1}, .padding = {1, 1}}));
  net->Add(std::make_unique<nn::AdaptiveAvgPool2d>(nn::PoolOptions{.window = {3, 3}}));
  auto body = std::make_unique<nn::Sequential>();
  body->Add(std::make_unique<nn::Conv2d>(
      nn::ConvOptions{.in_channels = 2, .out_channels = 2, .kernel = {1, 1}}, gen));
  net->Add(std::make_unique<nn::Residual>(std::move(body)));
  net->Add(std::make_unique<nn::Flatten>(2));  // [N, 2, 9]
  net->Add(std::make_unique<nn::Conv1d>(
      nn::ConvOptions{.in_channels = 2, .out_channels = 3, .kernel = {1, 2}}, gen));
  net->Add(std::make_unique<nn::BatchNorm1d>(nn::BatchNormOptions{.num_features = 3}));
  net->Add(std::make_unique<nn::MaxPool1d>(nn::PoolOptions{.window = {1, 2}}));
  net->Add(std::make_unique<nn::AvgPool1d>(nn::PoolOptions{.window = {1, 2}, .stride = {1, 1}}));
  net->Add(std::make_unique<nn::LayerNorm>(nn::LayerNormOptions{.normalized_shape = {3, 3}}));
  net->Add(std::make_unique<nn::Flatten>());
  net->Add(std::make_unique<nn::Dropout>(0.3, gen));
  net->Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 9, .out = 3}, gen));
  return net;
}

TEST(ConvModelFileTest, EveryLayerKindSavesAndLoadsWithEqualOutputs) {
  Generator gen(5);
  std::unique_ptr<nn::Sequential> net = EveryKind(gen);
  const Tensor x = Normal({5, 72}, 0, 1, gen);
  (*net)(x);  // one training step's statistics in the batch norms
  net->Eval();
  const std::vector<double> expected = (*net)(x).ToVector();
  const std::string path = testing::TempPath("every_kind.safetensors");
  ASSERT_TRUE(nn::Save(path, *net).ok());
  absl::StatusOr<nn::SavedModel> loaded = nn::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->module->ToString(), net->ToString());
  EXPECT_EQ(loaded->Outputs(x).ToVector(), expected);
  std::filesystem::remove(path);
}

TEST(LayerSpecTest, BuildsTracksShapesAndInitializesForTheNextActivation) {
  Generator gen(0);
  absl::StatusOr<nn::BuiltNetwork> built =
      nn::BuildFromLayerSpec("conv2d:8:3:pad=same,batchnorm,tanh,maxpool:2,conv1d:4:2",
                             {.input_shape = {1, 8, 8}, .outputs = 3}, gen);
  ASSERT_FALSE(built.ok());
  EXPECT_THAT(std::string(built.status().message()),
              HasSubstr("layer 5 (\"conv1d:4:2\"): needs [C, L] samples, and the shape that "
                        "reaches it is [8,4,4]"));
  built = nn::BuildFromLayerSpec("conv2d:8:3:pad=same,batchnorm,tanh,maxpool:2,dropout:0.1",
                                 {.input_shape = {1, 8, 8}, .outputs = 3}, gen);
  ASSERT_TRUE(built.ok()) << built.status();
  const std::string text = built->network->ToString();
  EXPECT_THAT(
      text,
      HasSubstr("Conv2d(1 -> 8, kernel 3x3, padding same, weight=xavier_uniform(gain=1.667)"));
  EXPECT_THAT(text, HasSubstr("(6): Flatten"));
  EXPECT_THAT(text, HasSubstr("Linear(128 -> 3"));
  EXPECT_EQ(built->first_activation, &ops::kTanh);
  EXPECT_EQ((*built->network)(Ones({2, 64})).shape(), (Shape{2, 3}));
}

TEST(LayerSpecTest, EveryLayerNameBuildsAndTracksTheShape) {
  Generator gen(0);
  absl::StatusOr<nn::BuiltNetwork> built = nn::BuildFromLayerSpec(
      "conv2d:4:3x2:pad=1:stride=2:dilation=1:groups=1:bias=0,groupnorm:2,"
      "conv_transpose2d:4:2:stride=2:output_padding=1,avg_pool2d:3:stride=1:pad=1:count_pad=0,"
      "adaptive_avgpool:4x3,layernorm,max_pool2d:2:ceil=1,batch_norm,flatten,dropout:0.2,"
      "linear:6,elu:alpha=0.5",
      {.input_shape = {2, 9, 8}, .outputs = 3}, gen);
  ASSERT_TRUE(built.ok()) << built.status();
  const std::string text = built->network->ToString();
  for (const char* layer :
       {"Conv2d(2 -> 4, kernel 3x2, stride 2x2, padding 1x1", "GroupNorm(2 groups, 4 channels",
        "ConvTranspose2d(4 -> 4, kernel 2x2, stride 2x2, output_padding 1x1",
        "AvgPool2d(window 3x3, stride 1x1, padding 1x1, padding not counted",
        "AdaptiveAvgPool2d(output 4x3)", "LayerNorm([4, 4, 3]", "MaxPool2d(window 2x2", "ceil_mode",
        "BatchNorm2d(4", "Dropout(p=0.2)", "Linear(16 -> 6", "elu"}) {
    EXPECT_THAT(text, HasSubstr(layer));
  }
  EXPECT_EQ((*built->network)(Ones({5, 144})).shape(), (Shape{5, 3}));
  // Sequences: conv1d, the 1-D pools and batch norm take their 1-D forms.
  built = nn::BuildFromLayerSpec("conv1d:3:3:pad=same,maxpool:2,avgpool:2,batchnorm,relu",
                                 {.input_shape = {2, 12}, .outputs = 2}, gen);
  ASSERT_TRUE(built.ok()) << built.status();
  const std::string sequence = built->network->ToString();
  for (const char* layer : {"Conv1d(2 -> 3, kernel 3, padding same", "MaxPool1d(window 2",
                            "AvgPool1d(window 2", "BatchNorm1d(3", "Linear(9 -> 2"}) {
    EXPECT_THAT(sequence, HasSubstr(layer));
  }
}

TEST(LayerSpecTest, RefusesBadLayersNamingThem) {
  Generator gen(0);
  auto message = [&](const std::string& spec, nn::LayerSpecOptions options) {
    absl::StatusOr<nn::BuiltNetwork> built = nn::BuildFromLayerSpec(spec, options, gen);
    return built.ok() ? std::string() : std::string(built.status().message());
  };
  const nn::LayerSpecOptions images{.input_shape = {1, 8, 8}, .outputs = 2};
  EXPECT_THAT(message("conv2d:4:3,blah", images),
              HasSubstr("layer 2 (\"blah\"): is neither a layer"));
  EXPECT_THAT(message("conv2d:4:x", images), HasSubstr("the kernel \"x\" is not a whole number"));
  EXPECT_THAT(message("conv2d:4:3:padd=1", images),
              HasSubstr("has no option \"padd\" (it takes stride, pad, dilation, groups, bias)"));
  EXPECT_THAT(message("conv2d:4:9", images), HasSubstr("does not fit the shape [1,8,8]"));
  EXPECT_THAT(message("linear:4", images), HasSubstr("put flatten before it"));
  EXPECT_THAT(message("conv2d:4:3,,relu", images), HasSubstr("layer 2 is empty"));
  nn::LayerSpecOptions small = images;
  small.memory_limit = 1e6;
  EXPECT_THAT(message("conv2d:4096:3:pad=1", small), HasSubstr("over the limit"));
}

}  // namespace
}  // namespace actgrad
