// SGD pinned against hand-computed steps (PyTorch's update rule), gradient
// clipping, and learning-rate schedules.

#include <gtest/gtest.h>

#include <cmath>

#include "actgrad.h"
#include "optim/clip.h"
#include "optim/schedule.h"
#include "optim/sgd.h"
#include "tests/test_util.h"

namespace actgrad {
namespace {

// Three steps on loss = 0.5 p (gradient 0.5 whatever p is), from p = 1.
std::vector<double> ThreeSteps(const optim::SgdOptions& options) {
  Tensor p = FromValues({1.0}, DType::kFloat64).set_requires_grad(true);
  optim::Sgd sgd({p}, options);
  std::vector<double> trajectory;
  for (int step = 0; step < 3; ++step) {
    sgd.ZeroGrad();
    Sum(p * 0.5).Backward();
    sgd.Step();
    trajectory.push_back(p.item());
  }
  return trajectory;
}

// Dropping the gradients instead of zeroing them changes nothing for
// parameters that get a gradient every step: the products write it afresh
// instead of adding to zeros. One that gets none is left alone, where
// ZeroGrad's zero gradient still moves it by momentum.
TEST(SgdTest, ClearGradMatchesZeroGradForParametersThatGetAGradient) {
  auto train = [](bool clear) {
    Generator gen(3);
    Tensor x = Normal({128, 300}, 0.0, 1.0, gen);
    Tensor w = Normal({256, 300}, 0.0, 0.05, gen).set_requires_grad(true);
    Tensor b = Normal({256}, 0.0, 0.05, gen).set_requires_grad(true);
    Tensor unused = FromValues({1.0f}).set_requires_grad(true);
    optim::Sgd sgd({w, b, unused}, {.learning_rate = 0.1, .momentum = 0.9});
    for (int step = 0; step < 3; ++step) {
      clear ? sgd.ClearGrad() : sgd.ZeroGrad();
      EXPECT_EQ(w.grad().defined(), !clear && step > 0);
      Tensor loss = Mean(Square(Tanh(Linear(x, w, b))));
      if (step == 0) loss = loss + Sum(unused);
      loss.Backward();
      sgd.Step();
    }
    return std::vector<Tensor>{w, b, unused};
  };
  const std::vector<Tensor> zeroed = train(false), cleared = train(true);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(cleared[i].ToVector(), zeroed[i].ToVector());
  }
  // One step of lr 0.1 on a gradient of 1, then two of momentum alone.
  EXPECT_NEAR(zeroed[2].item(), 1 - 0.1 * (1 + 0.9 + 0.81), 1e-6);
  EXPECT_NEAR(cleared[2].item(), 0.9, 1e-6);
}

TEST(SgdTest, PlainSteps) {
  EXPECT_THAT(ThreeSteps({.learning_rate = 0.1}),
              testing::ElementsAreNear({0.95, 0.90, 0.85}, 1e-12));
}

TEST(SgdTest, Momentum) {
  // b1 = 0.5; b2 = 0.9 * 0.5 + 0.5 = 0.95; b3 = 0.9 * 0.95 + 0.5 = 1.355.
  EXPECT_THAT(ThreeSteps({.learning_rate = 0.1, .momentum = 0.9}),
              testing::ElementsAreNear({0.95, 0.855, 0.7195}, 1e-12));
}

TEST(SgdTest, MomentumWithDampening) {
  // The first step takes the gradient undamped: b1 = 0.5; then
  // b2 = 0.9 * 0.5 + 0.5 * 0.5 = 0.7; b3 = 0.9 * 0.7 + 0.25 = 0.88.
  EXPECT_THAT(ThreeSteps({.learning_rate = 0.1, .momentum = 0.9, .dampening = 0.5}),
              testing::ElementsAreNear({0.95, 0.88, 0.792}, 1e-12));
}

TEST(SgdTest, NesterovWithWeightDecay) {
  // g = 0.5 + 0.1 p; b = 0.9 b + g; step = g + 0.9 b.
  // 1: g 0.6, b 0.6, step 1.14 -> 0.886
  // 2: g 0.5886, b 1.1286, step 1.60434 -> 0.725566
  // 3: g 0.5725566, b 1.5882966, step 2.00202354 -> 0.525363646
  EXPECT_THAT(
      ThreeSteps({.learning_rate = 0.1, .momentum = 0.9, .nesterov = true, .weight_decay = 0.1}),
      testing::ElementsAreNear({0.886, 0.725566, 0.525363646}, 1e-12));
}

TEST(SgdTest, WeightDecayWithoutMomentum) {
  // p -= 0.1 (0.5 + 0.2 p): 1 -> 0.93 -> 0.8614 -> 0.794172
  EXPECT_THAT(ThreeSteps({.learning_rate = 0.1, .weight_decay = 0.2}),
              testing::ElementsAreNear({0.93, 0.8614, 0.794172}, 1e-12));
}

TEST(SgdTest, SkipsParametersWithoutGradientAndRejectsBadOptions) {
  Tensor used = FromValues({1.0}).set_requires_grad(true);
  Tensor unused = FromValues({2.0}).set_requires_grad(true);
  optim::Sgd sgd({used, unused}, {.learning_rate = 1.0});
  Sum(used * 3.0).Backward();
  sgd.Step();
  EXPECT_FLOAT_EQ(used.item(), -2.0f);
  EXPECT_FLOAT_EQ(unused.item(), 2.0f);
  EXPECT_THAT(testing::ErrorMessageOf([&] { optim::Sgd({used}, {.learning_rate = -1}); }),
              ::testing::HasSubstr("SGD: learning rate must be >= 0, got -1"));
  EXPECT_THAT(testing::ErrorMessageOf([&] { optim::Sgd({used}, {.nesterov = true}); }),
              ::testing::HasSubstr("Nesterov"));
  EXPECT_THAT(testing::ErrorMessageOf([&] { optim::Sgd({Ones({1})}, {}); }),
              ::testing::HasSubstr("requires a gradient"));
}

TEST(ClipGradNormTest, ScalesToTheGlobalNorm) {
  Tensor a = FromValues({1.0, 1.0}, DType::kFloat64).set_requires_grad(true);
  Tensor b = FromValues({1.0}, DType::kFloat64).set_requires_grad(true);
  (Sum(a * FromValues({3.0, 0.0}, DType::kFloat64)) + Sum(b * 4.0)).Backward();  // 3, 0, 4
  const std::vector<Tensor> params = {a, b};
  EXPECT_DOUBLE_EQ(optim::ClipGradNorm(params, 10.0), 5.0);  // under the limit: untouched
  EXPECT_DOUBLE_EQ(a.grad().ToVector()[0], 3.0);
  EXPECT_DOUBLE_EQ(optim::ClipGradNorm(params, 1.0), 5.0);
  const double scale = 1.0 / (5.0 + 1e-6);
  EXPECT_NEAR(a.grad().ToVector()[0], 3 * scale, 1e-15);
  EXPECT_NEAR(b.grad().item(), 4 * scale, 1e-15);
}

TEST(ScheduleTest, StepAndCosine) {
  const optim::Schedule step = optim::Schedule::StepDecay(0.1, 10, 0.5);
  EXPECT_DOUBLE_EQ(step.LearningRateAt(0), 0.1);
  EXPECT_DOUBLE_EQ(step.LearningRateAt(9), 0.1);
  EXPECT_DOUBLE_EQ(step.LearningRateAt(10), 0.05);
  EXPECT_DOUBLE_EQ(step.LearningRateAt(25), 0.025);
  const optim::Schedule cosine = optim::Schedule::Cosine(0.1, 100, 0.01);
  EXPECT_DOUBLE_EQ(cosine.LearningRateAt(0), 0.1);
  EXPECT_NEAR(cosine.LearningRateAt(50), 0.055, 1e-15);
  EXPECT_NEAR(cosine.LearningRateAt(100), 0.01, 1e-15);
  EXPECT_EQ((*optim::Schedule::Parse("step:30:0.1", 0.05, 90)).LearningRateAt(60),
            0.05 * 0.1 * 0.1);
  EXPECT_TRUE(optim::Schedule::Parse("cosine", 0.05, 90).ok());
  EXPECT_FALSE(optim::Schedule::Parse("step:0:2", 0.05, 90).ok());
  EXPECT_FALSE(optim::Schedule::Parse("linear", 0.05, 90).ok());
}

TEST(ScheduleTest, WarmupRampsTheFirstStepsLinearly) {
  const optim::Schedule s = *optim::Schedule::Parse("warmup:4,cosine", 0.1, 10);
  // 5 steps per epoch: steps 0-3 are scaled by 1/4 ... 4/4 of epoch 0's rate.
  EXPECT_DOUBLE_EQ(s.LearningRateAtStep(0, 5), 0.1 * 0.25);
  EXPECT_DOUBLE_EQ(s.LearningRateAtStep(2, 5), 0.1 * 0.75);
  EXPECT_DOUBLE_EQ(s.LearningRateAtStep(4, 5), 0.1);
  // Then the cosine, by epoch: epoch 5 of 10 is halfway.
  EXPECT_NEAR(s.LearningRateAtStep(25, 5), 0.05, 1e-15);
  EXPECT_EQ(s.ToString(), "warmup(4 steps) then cosine(base=0.1, epochs=10, min=0)");
  EXPECT_DOUBLE_EQ((*optim::Schedule::Parse("warmup:2", 0.3, 10)).LearningRateAtStep(0, 5), 0.15);
}

TEST(ScheduleTest, OneCycleFollowsPyTorchsOneCycleLR) {
  // max 0.1 over 10 steps: up to step 2 (0.3 x 10 - 1) from 0.1 / 25, then
  // down to 0.1 / 25 / 1e4 at step 9, cosine-shaped.
  const optim::Schedule s = *optim::Schedule::Parse("onecycle", 0.1, 2);
  EXPECT_DOUBLE_EQ(s.LearningRateAtStep(0, 5), 0.004);
  EXPECT_NEAR(s.LearningRateAtStep(1, 5), 0.052, 1e-16);
  EXPECT_DOUBLE_EQ(s.LearningRateAtStep(2, 5), 0.1);
  EXPECT_NEAR(s.LearningRateAtStep(5, 5), 0.06112620219362893, 1e-16);
  EXPECT_NEAR(s.LearningRateAtStep(9, 5), 4e-7, 1e-20);
  EXPECT_DOUBLE_EQ((*optim::Schedule::Parse("onecycle:0.5", 0.1, 2)).LearningRateAtStep(2, 5), 0.5);
}

TEST(ScheduleTest, PlateauCutsTheRateAfterPatienceEpochsWithoutImprovement) {
  optim::PlateauReducer plateau({.factor = 0.5, .patience = 2});
  EXPECT_EQ(plateau.Observe(1.0), 1.0);
  EXPECT_EQ(plateau.Observe(0.9), 1.0);
  EXPECT_EQ(plateau.Observe(0.89999), 1.0);  // within the relative threshold 1e-4
  EXPECT_EQ(plateau.Observe(0.95), 1.0);
  EXPECT_EQ(plateau.Observe(std::nan("")), 0.5);  // third epoch without improvement
  EXPECT_EQ(plateau.Apply(0.2), 0.1);
  // The state survives a checkpoint exactly.
  optim::PlateauReducer restored({.factor = 0.5, .patience = 2});
  ASSERT_TRUE(restored.RestoreState(plateau.SaveState()));
  EXPECT_EQ(restored.Observe(0.95), plateau.Observe(0.95));
  EXPECT_EQ(restored.SaveState(), plateau.SaveState());
  EXPECT_FALSE(restored.RestoreState("0.5,1"));
  const optim::Schedule s = *optim::Schedule::Parse("cosine,plateau:0.2:3", 0.1, 10);
  ASSERT_TRUE(s.plateau().has_value());
  EXPECT_EQ(s.plateau()->factor, 0.2);
  EXPECT_EQ(s.plateau()->patience, 3);
}

TEST(ScheduleTest, BadSchedulesAreRefusedWithTheGrammar) {
  for (const char* bad : {"warmup:0,cosine", "warmup:5,cosine,step:2:2", "onecycle:-1",
                          "cosine,plateau:1.5", "cosine,plateau:0.5:-2", "plateau"}) {
    absl::StatusOr<optim::Schedule> s = optim::Schedule::Parse(bad, 0.1, 10);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_THAT(s.status().message(), ::testing::HasSubstr("[warmup:STEPS,]")) << bad;
  }
}

}  // namespace
}  // namespace actgrad
