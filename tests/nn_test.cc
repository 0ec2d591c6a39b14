// Layers, initializers, scalers and tasks: every layer gradient-checks in
// float64 (weights, bias, input), initializers follow their formulas, the
// article's defaults are applied and visible, and small problems are learned.

#include "nn/nn.h"

#include <gtest/gtest.h>

#include <cmath>

#include "actgrad.h"
#include "optim/sgd.h"
#include "tests/test_util.h"

namespace actgrad {
namespace {

using ::testing::HasSubstr;

// Checks d module(x) / d (x, every parameter), swapping float64 copies in.
GradCheckReport CheckModule(nn::Module& module, const Tensor& x) {
  std::vector<nn::NamedParameter> params = module.NamedParameters();
  std::vector<Tensor> inputs = {x};
  std::vector<Tensor> originals;
  for (const nn::NamedParameter& p : params) {
    inputs.push_back(*p.tensor);
    originals.push_back(*p.tensor);
  }
  GradCheckReport report = GradCheck(
      [&](std::span<const Tensor> in) {
        for (size_t k = 0; k < params.size(); ++k) *params[k].tensor = in[k + 1];
        return module.Forward(in[0]);
      },
      inputs);
  for (size_t k = 0; k < params.size(); ++k) *params[k].tensor = originals[k];
  return report;
}

TEST(LinearTest, GradientChecksForWeightBiasAndInput) {
  Generator gen(1);
  nn::Linear fc(
      {.in = 3, .out = 4, .bias_init = nn::Initializer::Normal(0, 0.1), .dtype = DType::kFloat64},
      gen);
  const GradCheckReport report = CheckModule(fc, Normal({5, 3}, 0, 1, gen, DType::kFloat64));
  EXPECT_TRUE(report.passed) << report.ToString();
  EXPECT_EQ(report.checked, 5 * 3 + 4 * 3 + 4);
}

TEST(LinearTest, StoresWeightsOutByInAndNamesThemLikePyTorch) {
  Generator gen(1);
  nn::Linear fc({.in = 3, .out = 4}, gen);
  EXPECT_EQ(fc.weight().shape(), Shape({4, 3}));
  const std::vector<nn::NamedParameter> params = fc.NamedParameters();
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0].name, "weight");
  EXPECT_EQ(params[1].name, "bias");
  EXPECT_EQ(fc(Ones({2, 3})).shape(), Shape({2, 4}));
}

TEST(MlpTest, GradientChecksEveryLayerForEachActivation) {
  for (const OpDef* act : {&ops::kTanh, &ops::kSigmoid, &ops::kRelu, &ops::kLeakyRelu}) {
    Generator gen(2);
    auto mlp = nn::Mlp({.inputs = 3,
                        .hidden = {4, 3},
                        .outputs = 2,
                        .hidden_activation = act,
                        .output_activation = &ops::kSoftmax,
                        .dtype = DType::kFloat64},
                       gen);
    const GradCheckReport report = CheckModule(*mlp, Uniform({4, 3}, -1, 1, gen, DType::kFloat64));
    EXPECT_TRUE(report.passed) << act->name << "\n" << report.ToString();
  }
}

TEST(MlpTest, NamesParametersAndShowsInitializers) {
  Generator gen(3);
  auto mlp = nn::Mlp({.inputs = 30,
                      .hidden = {64, 32},
                      .outputs = 1,
                      .hidden_activation = &ops::kRelu,
                      .output_activation = &ops::kSigmoid},
                     gen);
  std::vector<std::string> names;
  for (const nn::NamedParameter& p : mlp->NamedParameters()) names.push_back(p.name);
  EXPECT_THAT(names, ::testing::ElementsAre("0.weight", "0.bias", "2.weight", "2.bias", "4.weight",
                                            "4.bias"));
  const std::string text = mlp->ToString();
  EXPECT_THAT(text, HasSubstr("(0): Linear(30 -> 64, weight=he_normal(gain=1.414, fan_in)"));
  EXPECT_THAT(text, HasSubstr("(1): Activation(relu"));
  EXPECT_THAT(text, HasSubstr("(4): Linear(32 -> 1, weight=xavier_uniform(gain=1)"));
  EXPECT_THAT(text, HasSubstr("(5): Activation(sigmoid)"));
  EXPECT_EQ(mlp->NumParameters(), 30 * 64 + 64 + 64 * 32 + 32 + 32 + 1);
}

TEST(MlpTest, InitializersCanBeOverridden) {
  Generator gen(3);
  auto mlp = nn::Mlp({.inputs = 2,
                      .hidden = {3},
                      .outputs = 1,
                      .hidden_activation = &ops::kTanh,
                      .hidden_init = nn::Initializer::LeCunNormal()},
                     gen);
  EXPECT_THAT(mlp->ToString(), HasSubstr("weight=lecun_normal(gain=1)"));
}

TEST(MlpTest, LogitsSkipTheOutputActivation) {
  Generator gen(4);
  auto mlp =
      nn::Mlp({.inputs = 2, .hidden = {3}, .outputs = 1, .output_activation = &ops::kSigmoid}, gen);
  const Tensor x = Ones({2, 2});
  EXPECT_EQ(Sigmoid(mlp->Logits(x)).ToVector(), mlp->Forward(x).ToVector());
}

TEST(LstmCellTest, GradientChecksThroughTwoSteps) {
  Generator gen(5);
  nn::LstmCell cell({.input = 3, .hidden = 2, .dtype = DType::kFloat64}, gen);
  std::vector<nn::NamedParameter> params = cell.NamedParameters();
  ASSERT_EQ(params.size(), 4u);
  EXPECT_EQ(params[0].name, "weight_ih");
  EXPECT_EQ(params[0].tensor->shape(), Shape({8, 3}));
  EXPECT_EQ(params[1].tensor->shape(), Shape({8, 2}));
  std::vector<Tensor> inputs = {Normal({2, 3}, 0, 1, gen, DType::kFloat64),
                                Normal({2, 3}, 0, 1, gen, DType::kFloat64)};
  for (const nn::NamedParameter& p : params) inputs.push_back(*p.tensor);
  const GradCheckReport report = GradCheck(
      [&](std::span<const Tensor> in) {
        for (size_t k = 0; k < params.size(); ++k) *params[k].tensor = in[k + 2];
        nn::LstmState state = cell.InitialState(2);
        state = cell.Step(in[0], state);
        state = cell.Step(in[1], state);
        return Concatenate({state.h, state.c}, 1);
      },
      inputs);
  EXPECT_TRUE(report.passed) << report.ToString();
}

struct InitCase {
  nn::Initializer init;
  double expected_std;  // from the formula, for a [400, 300] weight
  double expected_mean;
};

TEST(InitializerTest, SampleMeanAndDeviationMatchTheFormulas) {
  const double in = 300, out = 400;
  const InitCase cases[] = {
      {nn::Initializer::XavierUniform(), std::sqrt(2 / (in + out)), 0},
      {nn::Initializer::XavierNormal(5.0 / 3), 5.0 / 3 * std::sqrt(2 / (in + out)), 0},
      {nn::Initializer::HeUniform(std::sqrt(2.0)), std::sqrt(2.0) / std::sqrt(in), 0},
      {nn::Initializer::HeNormal(std::sqrt(2.0)), std::sqrt(2.0) / std::sqrt(in), 0},
      {nn::Initializer::HeNormal(1.0, nn::FanMode::kFanOut), 1 / std::sqrt(out), 0},
      {nn::Initializer::LeCunNormal(), 1 / std::sqrt(in), 0},
      {nn::Initializer::Uniform(-0.3, 0.5), 0.8 / std::sqrt(12.0), 0.1},
      {nn::Initializer::Normal(0.2, 0.05), 0.05, 0.2},
      {nn::Initializer::Constant(0.7), 0, 0.7},
      {nn::Initializer::Zeros(), 0, 0},
  };
  for (const InitCase& c : cases) {
    Generator gen(9);
    Tensor w = Zeros({400, 300}, DType::kFloat64);
    c.init.Fill(w, gen);
    const std::vector<double> v = w.ToVector();
    double mean = 0, var = 0;
    for (double x : v) mean += x / v.size();
    for (double x : v) var += (x - mean) * (x - mean) / v.size();
    EXPECT_NEAR(c.init.StdDev(w.shape()), c.expected_std, 1e-12) << c.init.ToString();
    EXPECT_NEAR(std::sqrt(var), c.expected_std, 0.02 * c.expected_std + 1e-12) << c.init.ToString();
    EXPECT_NEAR(mean, c.expected_mean, 0.01 * c.expected_std + 1e-12) << c.init.ToString();
  }
}

TEST(InitializerTest, ParsesNames) {
  EXPECT_EQ((*nn::Initializer::Parse("he_uniform", 2.0)).ToString(), "he_uniform(gain=2, fan_in)");
  EXPECT_EQ((*nn::Initializer::Parse("constant:0.5")).ToString(), "constant(0.5)");
  EXPECT_FALSE(nn::Initializer::Parse("glorot").ok());
  EXPECT_FALSE(nn::Initializer::Parse("uniform:1").ok());
}

TEST(DefaultsTest, FollowTheArticlePerActivation) {
  // Claims C18-C20: Xavier for sigmoid and tanh, He for the ReLU family.
  EXPECT_EQ(nn::RecommendedInitializer(ops::kSigmoid).ToString(), "xavier_uniform(gain=1)");
  EXPECT_EQ(nn::RecommendedInitializer(ops::kTanh).ToString(), "xavier_uniform(gain=1.667)");
  EXPECT_EQ(nn::RecommendedInitializer(ops::kRelu).ToString(), "he_normal(gain=1.414, fan_in)");
  EXPECT_EQ(nn::RecommendedInitializer(ops::kLeakyRelu).ToString(),
            "he_normal(gain=1.414, fan_in)");
  EXPECT_EQ(nn::RecommendedScaling(ops::kSigmoid), nn::Scaling::kUnit);
  EXPECT_EQ(nn::RecommendedScaling(ops::kTanh), nn::Scaling::kSymmetric);
  EXPECT_EQ(nn::RecommendedScaling(ops::kRelu), nn::Scaling::kUnit);
  EXPECT_EQ(&nn::DefaultOutputActivation(nn::Task::kBinary), &ops::kSigmoid);
  EXPECT_EQ(&nn::DefaultOutputActivation(nn::Task::kMulticlass), &ops::kSoftmax);
  EXPECT_EQ(&nn::DefaultOutputActivation(nn::Task::kRegression), &ops::kIdentity);
}

TEST(ScalerTest, FitsOnTrainingDataAndRoundTrips) {
  const Tensor train = FromValues({0, 10, 2, 20, 4, 30}, Shape{3, 2}, DType::kFloat64);
  const Tensor test = FromValues({1, 40}, Shape{1, 2}, DType::kFloat64);
  const nn::Scaler unit = nn::Scaler::Fit(nn::Scaling::kUnit, train);
  EXPECT_THAT(unit.Transform(train).ToVector(),
              testing::ElementsAreNear({0, 0, 0.5, 0.5, 1, 1}, 1e-12));
  EXPECT_THAT(unit.Transform(test).ToVector(), testing::ElementsAreNear({0.25, 1.5}, 1e-12));
  const nn::Scaler symmetric = nn::Scaler::Fit(nn::Scaling::kSymmetric, train);
  EXPECT_THAT(symmetric.Transform(train).ToVector(),
              testing::ElementsAreNear({-1, -1, 0, 0, 1, 1}, 1e-12));
  const nn::Scaler standard = nn::Scaler::Fit(nn::Scaling::kStandard, train);
  const std::vector<double> z = standard.Transform(train).ToVector();
  EXPECT_NEAR(z[0] + z[2] + z[4], 0, 1e-12);
  EXPECT_NEAR(z[0] * z[0] + z[2] * z[2] + z[4] * z[4], 3, 1e-12);
  for (const nn::Scaler* s : {&unit, &symmetric, &standard}) {
    const absl::StatusOr<nn::Scaler> back = nn::Scaler::Deserialize(s->Serialize());
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->scaling(), s->scaling());
    EXPECT_EQ(back->scale(), s->scale());  // bit-exact
    EXPECT_EQ(back->shift(), s->shift());
  }
  EXPECT_FALSE(nn::Scaler::Deserialize("unit|scale=1,x|shift=0,0").ok());
  EXPECT_FALSE(nn::Scaler::Deserialize("cubic|scale=1|shift=0").ok());
}

TEST(TaskTest, DetectsTheTaskFromTargets) {
  EXPECT_EQ(nn::DetectTask(std::vector<double>{0, 1, 1, 0}), nn::Task::kBinary);
  EXPECT_EQ(nn::DetectTask(std::vector<double>{0, 2, 1, 9}), nn::Task::kMulticlass);
  EXPECT_EQ(nn::DetectTask(std::vector<double>{0.5, 1, 2}), nn::Task::kRegression);
  EXPECT_EQ(nn::OutputWidth(nn::Task::kMulticlass, std::vector<double>{0, 2, 1, 9}), 10);
  EXPECT_FALSE(nn::CheckOutputActivation(nn::Task::kBinary, ops::kTanh).ok());
  EXPECT_TRUE(nn::CheckOutputActivation(nn::Task::kRegression, ops::kTanh).ok());
}

// XOR is not linearly separable; a tanh or ReLU hidden layer learns it.
TEST(TrainingTest, LearnsXor) {
  const std::vector<double> targets = {0, 1, 1, 0};
  for (const OpDef* act : {&ops::kTanh, &ops::kRelu}) {
    Generator gen(7);
    auto model = nn::Mlp({.inputs = 2,
                          .hidden = {8},
                          .outputs = 1,
                          .hidden_activation = act,
                          .output_activation = &ops::kSigmoid},
                         gen);
    const Tensor x = FromValues({0, 0, 0, 1, 1, 0, 1, 1}, Shape{4, 2});
    const Tensor y = nn::TargetTensor(nn::Task::kBinary, targets, DType::kFloat32);
    optim::Sgd sgd(model->Parameters(), {.learning_rate = 0.5, .momentum = 0.9});
    double loss = 0;
    for (int epoch = 0; epoch < 300; ++epoch) {
      sgd.ZeroGrad();
      const Tensor l = nn::TaskLoss(nn::Task::kBinary, *model, x, y);
      l.Backward();
      sgd.Step();
      loss = l.item();
    }
    EXPECT_LT(loss, 0.05) << act->name;
    EXPECT_EQ(nn::Accuracy(nn::Task::kBinary, model->Forward(x), targets), 1.0) << act->name;
  }
}

}  // namespace
}  // namespace actgrad
