// Adam, AdamW, RMSprop and Adagrad against torch.optim's update rules: three
// steps of every variant pinned to values computed by hand from the
// formulas in their headers (double precision, on L = sum(c * p^2) with
// c = [1, 0.5, -0.25] from p = [0.5, -1, 2]); parameter groups; refusals;
// saved state that resumes bitwise; the same bits on one thread and two.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actgrad.h"
#include "optim/adagrad.h"
#include "optim/adam.h"
#include "optim/rmsprop.h"
#include "tests/test_util.h"

namespace actgrad {
namespace {

using ::actgrad::testing::ErrorMessageOf;
using optim::Optimizer;
using optim::ParamGroup;
using ::testing::HasSubstr;

using Factory = std::function<std::unique_ptr<Optimizer>(std::vector<ParamGroup>)>;

struct PinnedCase {
  std::string name;
  Factory make;
  std::vector<std::vector<double>> expected;  // p after steps 1, 2, 3
};

void PrintTo(const PinnedCase& c, std::ostream* out) { *out << c.name; }

std::vector<PinnedCase> PinnedCases() {
  auto adam = [](optim::AdamOptions o) -> Factory {
    return [o](std::vector<ParamGroup> g) { return std::make_unique<optim::Adam>(g, o); };
  };
  auto adamw = [](optim::AdamWOptions o) -> Factory {
    return [o](std::vector<ParamGroup> g) { return std::make_unique<optim::AdamW>(g, o); };
  };
  auto rmsprop = [](optim::RmsPropOptions o) -> Factory {
    return [o](std::vector<ParamGroup> g) { return std::make_unique<optim::RmsProp>(g, o); };
  };
  auto adagrad = [](optim::AdagradOptions o) -> Factory {
    return [o](std::vector<ParamGroup> g) { return std::make_unique<optim::Adagrad>(g, o); };
  };
  return {
      {"adam_default",
       adam({}),
       {{0.49900000001, -0.99900000001, 2.0009999999899999},
        {0.4980000527045228, -0.99800002622383666, 2.0020000129783404},
        {0.49700019321514971, -0.9970000960801475, 2.0030000475898069}}},
      {"adam_decay_amsgrad",
       adam({.learning_rate = 0.1,
             .beta1 = 0.8,
             .beta2 = 0.9,
             .weight_decay = 0.1,
             .amsgrad = true}),
       {{0.40000000095238097, -0.90000000090909094, 2.09999999875},
        {0.30126664178428642, -0.80044681625957792, 2.2001128328706607},
        {0.20523003275344648, -0.70171922813897902, 2.3004055881544563}}},
      {"adam_maximize",
       adam({.learning_rate = 0.05, .maximize = true}),
       {{0.5499999995, -1.0499999995, 1.9500000005},
        {0.60006738739115995, -1.1000486890248793, 1.9000369984199503},
        {0.65024502616089175, -1.1501761965514503, 1.8501369234981375}}},
      {"adamw_default",
       adamw({}),
       {{0.49899500001000002, -0.99899000001000005, 2.0009799999900002},
        {0.49799006302073029, -0.99798003658727186, 2.0019600029190503},
        {0.49698522434065778, -0.99697012734540191, 2.0029400172398564}}},
      {"adamw_amsgrad",
       adamw({.learning_rate = 0.1,
              .beta1 = 0.8,
              .beta2 = 0.9,
              .weight_decay = 0.5,
              .amsgrad = true}),
       {{0.37500000099999997, -0.85000000099999995, 1.9999999989999999},
        {0.25810051003451367, -0.70830360757258737, 1.9999999980485379},
        {0.15101348942912252, -0.57519069709147486, 1.9999999971423386}}},
      {"rmsprop_default",
       rmsprop({}),
       {{0.40000000999999907, -0.90000000999999907, 2.099999990000001},
        {0.33733917795749252, -0.83291797526505928, 2.1725866034496764},
        {0.2904332263210434, -0.77998228198235409, 2.2328284086411343}}},
      {"rmsprop_centered_momentum_decay",
       rmsprop({.learning_rate = 0.05,
                .alpha = 0.9,
                .weight_decay = 0.1,
                .momentum = 0.9,
                .centered = true}),
       {{0.33333333862433845, -0.83333333838383816, 2.1666666597222224},
        {0.082783848938153215, -0.56750319508839775, 2.4488099524138867},
        {-0.16903214386367754, -0.24969137040063394, 2.8261767258086663}}},
      {"rmsprop_maximize",
       rmsprop({.maximize = true}),
       {{0.59999999000000093, -1.099999990000001, 1.900000009999999},
        {0.67698002043097583, -1.174161969567568, 1.830943340232126},
        {0.74274260053995067, -1.2364216714342475, 1.775349459094733}}},
      {"adagrad_default",
       adagrad({}),
       {{0.49000000000100002, -0.99000000000099997, 2.0099999999990001},
        {0.48300071417789608, -0.98296455402229532, 2.0170886793541873},
        {0.47732184825032731, -0.97723793949142979, 2.0228853068698891}}},
      {"adagrad_decays",
       adagrad({.learning_rate = 0.1,
                .lr_decay = 0.5,
                .weight_decay = 0.2,
                .initial_accumulator_value = 0.1}),
       {{0.40389255377568278, -0.90330124432474657, 2.0884651736798947},
        {0.36301031756838076, -0.85944414781894996, 2.1337024910395606},
        {0.33887533424858024, -0.83291628357114067, 2.1621893743564033}}},
  };
}

// One step on L = sum(c * p^2).
void Descend(Optimizer& optimizer, Tensor& p) {
  optimizer.ZeroGrad();
  const Tensor c = FromValues({1.0, 0.5, -0.25}, p.dtype());
  Sum(c * Square(p)).Backward();
  optimizer.Step();
}

class PinnedStepsTest : public ::testing::TestWithParam<PinnedCase> {};

TEST_P(PinnedStepsTest, ThreeStepsMatchTheFormulasInFloat64AndFloat32) {
  const PinnedCase& c = GetParam();
  for (DType dtype : {DType::kFloat64, DType::kFloat32}) {
    Tensor p = FromValues({0.5, -1.0, 2.0}, dtype).set_requires_grad(true);
    std::unique_ptr<Optimizer> optimizer = c.make({{.parameters = {p}}});
    const double tolerance = dtype == DType::kFloat64 ? 1e-13 : 2e-6;
    for (size_t step = 0; step < c.expected.size(); ++step) {
      Descend(*optimizer, p);
      EXPECT_THAT(p.ToVector(), testing::ElementsAreNear(c.expected[step], tolerance))
          << c.name << ", step " << step + 1 << ", " << DTypeName(dtype);
    }
    EXPECT_EQ(optimizer->state(0).step, 3);
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, PinnedStepsTest, ::testing::ValuesIn(PinnedCases()),
                         [](const auto& info) { return info.param.name; });

TEST(AdaptiveOptimTest, GroupsKeepTheirOwnLearningRateAndDecay) {
  Tensor w = FromValues({1.0, -2.0}, DType::kFloat64).set_requires_grad(true);
  Tensor b = FromValues({0.5}, DType::kFloat64).set_requires_grad(true);
  Tensor frozen = FromValues({3.0}, DType::kFloat64).set_requires_grad(true);
  optim::AdamW adamw({{.parameters = {w}},
                      {.parameters = {b}, .weight_decay = 0.0},
                      {.parameters = {frozen}, .learning_rate = 0.0}},
                     {.learning_rate = 0.1, .weight_decay = 0.5});
  EXPECT_EQ(adamw.num_groups(), 3u);
  EXPECT_EQ(adamw.weight_decay(0), 0.5);
  EXPECT_EQ(adamw.weight_decay(1), 0.0);
  EXPECT_EQ(adamw.learning_rate(2), 0.0);
  // Zero gradients isolate the decoupled decay: p <- p (1 - lr wd).
  adamw.ZeroGrad();
  (Sum(w) * 0.0 + Sum(b) * 0.0 + Sum(frozen) * 0.0).Backward();
  adamw.Step();
  EXPECT_THAT(w.ToVector(), testing::ElementsAreNear({0.95, -1.9}, 1e-15));
  EXPECT_EQ(b.ToVector(), std::vector<double>({0.5}));
  EXPECT_EQ(frozen.ToVector(), std::vector<double>({3.0}));
  adamw.set_learning_rate(0.2);
  EXPECT_EQ(adamw.learning_rate(2), 0.2);
}

TEST(AdaptiveOptimTest, ParametersWithoutAGradientKeepTheirState) {
  Tensor used = FromValues({1.0}, DType::kFloat64).set_requires_grad(true);
  Tensor unused = FromValues({1.0}, DType::kFloat64).set_requires_grad(true);
  optim::Adam adam({{.parameters = {used, unused}}}, {});
  Sum(Square(used)).Backward();
  adam.Step();
  EXPECT_EQ(adam.state(0).step, 1);
  EXPECT_EQ(adam.state(1).step, 0);
  EXPECT_TRUE(adam.state(0).buffer("exp_avg").defined());
  EXPECT_FALSE(adam.state(1).buffer("exp_avg").defined());
  EXPECT_EQ(unused.ToVector(), std::vector<double>({1.0}));
}

TEST(AdaptiveOptimTest, BadHyperparametersAndGroupsAreRefusedByName) {
  Tensor p = FromValues({1.0}).set_requires_grad(true);
  const std::vector<ParamGroup> groups = {{.parameters = {p}}};
  EXPECT_THAT(ErrorMessageOf([&] { optim::Adam(groups, {.beta1 = 1.0}); }),
              HasSubstr("Adam: beta1 must be in [0, 1), got 1"));
  EXPECT_THAT(ErrorMessageOf([&] { optim::AdamW(groups, {.beta2 = -0.1}); }),
              HasSubstr("AdamW: beta2 must be in [0, 1), got -0.1"));
  EXPECT_THAT(ErrorMessageOf([&] { optim::Adam(groups, {.eps = 0}); }),
              HasSubstr("Adam: eps must be > 0"));
  EXPECT_THAT(ErrorMessageOf([&] { optim::RmsProp(groups, {.learning_rate = std::nan("")}); }),
              HasSubstr("RMSprop: learning rate must be >= 0, got nan"));
  EXPECT_THAT(ErrorMessageOf([&] { optim::RmsProp(groups, {.alpha = 1.5}); }),
              HasSubstr("RMSprop: alpha must be in [0, 1], got 1.5"));
  EXPECT_THAT(ErrorMessageOf([&] { optim::Adagrad(groups, {.lr_decay = -1}); }),
              HasSubstr("Adagrad: lr decay must be >= 0, got -1"));
  EXPECT_THAT(ErrorMessageOf([&] {
                optim::Adam({{.parameters = {p}}, {.parameters = {p}, .weight_decay = 0.1}}, {});
              }),
              HasSubstr("appears in more than one place"));
  const Tensor not_leaf = p * 2.0;
  const std::string message =
      ErrorMessageOf([&] { optim::Adagrad({{.parameters = {not_leaf}}}, {}); });
  EXPECT_THAT(message, HasSubstr("must be a floating leaf that requires a gradient"));
  EXPECT_THAT(message, HasSubstr("adaptive_optim_test.cc"));
}

TEST(AdaptiveOptimTest, ASavedStateResumesBitwise) {
  for (const PinnedCase& c : PinnedCases()) {
    Tensor straight = FromValues({0.5, -1.0, 2.0}).set_requires_grad(true);
    std::unique_ptr<Optimizer> uninterrupted = c.make({{.parameters = {straight}}});
    for (int i = 0; i < 3; ++i) Descend(*uninterrupted, straight);

    Tensor resumed = FromValues({0.5, -1.0, 2.0}).set_requires_grad(true);
    std::unique_ptr<Optimizer> first = c.make({{.parameters = {resumed}}});
    for (int i = 0; i < 2; ++i) Descend(*first, resumed);
    optim::ParameterState saved = first->state(0);
    for (auto& [name, buffer] : saved.buffers) buffer = buffer.Clone();
    std::unique_ptr<Optimizer> second = c.make({{.parameters = {resumed}}});
    second->set_state(0, saved);
    Descend(*second, resumed);
    EXPECT_EQ(resumed.ToVector(), straight.ToVector()) << c.name;
  }
  Tensor p = FromValues({1.0, 2.0}).set_requires_grad(true);
  optim::Adam adam({{.parameters = {p}}}, {});
  EXPECT_THAT(ErrorMessageOf([&] {
                adam.set_state(0, {.buffers = {{"exp_avg", Zeros({3})}}});
              }),
              HasSubstr("buffer \"exp_avg\" of parameter 0 must be [2] float32"));
  EXPECT_THAT(ErrorMessageOf([&] {
                adam.set_state(0, {.buffers = {{"sum", Zeros({2})}}});
              }),
              HasSubstr("keeps no buffer \"sum\""));
}

TEST(AdaptiveOptimTest, TwoThreadsGiveTheBitsOfOne) {
  const int64_t n = 3 * (int64_t{1} << 18);  // above the split threshold
  for (const PinnedCase& c : PinnedCases()) {
    std::vector<std::vector<double>> results;
    for (int threads : {1, 2}) {
      SetNumThreads(threads);
      Generator gen(7);
      Tensor p = Normal({n}, 0, 1, gen).set_requires_grad(true);
      const Tensor target = Normal({n}, 0, 1, gen);
      std::unique_ptr<Optimizer> optimizer = c.make({{.parameters = {p}}});
      for (int step = 0; step < 3; ++step) {
        optimizer->ZeroGrad();
        Sum(Square(p - target)).Backward();
        optimizer->Step();
      }
      results.push_back(p.ToVector());
    }
    SetNumThreads(1);
    EXPECT_TRUE(results[0] == results[1]) << c.name;
  }
}

}  // namespace
}  // namespace actgrad
