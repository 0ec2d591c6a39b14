// The checker itself: it must pass right gradients and catch wrong ones —
// sign flipped, off by a factor of two, wrong only for negative inputs, a
// missing term — and it must refuse to pass when it proves nothing.

#include <gtest/gtest.h>

#include <cmath>

#include "actgrad.h"
#include "tests/test_util.h"

namespace actgrad {
namespace {

using ::testing::HasSubstr;

Tensor TanhForward(ForwardContext& ctx) { return Tanh(ctx.input(0)); }

// Rows whose backward is deliberately wrong, each in its own way.
const OpDef kSignFlippedTanh{
    .name = "sign_flipped_tanh",
    .saves = kSaveOutput,
    .forward = &TanhForward,
    .backward =
        [](BackwardContext& ctx) {
          const Tensor& y = ctx.saved_output();
          ctx.set_dx(0, -(ctx.dy() * (1.0 - y * y)));
        },
};

const OpDef kDoubledTanh{
    .name = "doubled_tanh",
    .saves = kSaveOutput,
    .forward = &TanhForward,
    .backward =
        [](BackwardContext& ctx) {
          const Tensor& y = ctx.saved_output();
          ctx.set_dx(0, ctx.dy() * (1.0 - y * y) * 2.0);
        },
};

// Leaky ReLU (slope 0.1) whose backward uses slope 0.2 for x < 0 only.
const OpDef kWrongForNegatives{
    .name = "wrong_for_negatives",
    .saves = kSaveInput0,
    .forward = [](ForwardContext& ctx) { return LeakyRelu(ctx.input(0), 0.1); },
    .backward =
        [](BackwardContext& ctx) {
          const Tensor& x = ctx.saved_input(0);
          const Tensor positive = Clamp(x * 1e9, 0.0, 1.0);  // 1 for x > 0 (away from 0)
          ctx.set_dx(0, ctx.dy() * (positive + (1.0 - positive) * 0.2));
        },
};

// y = x exp(x), whose derivative is (1 + x) exp(x); backward drops the "1".
const OpDef kMissingTerm{
    .name = "missing_term",
    .saves = kSaveInput0,
    .forward = [](ForwardContext& ctx) { return ctx.input(0) * Exp(ctx.input(0)); },
    .backward =
        [](BackwardContext& ctx) {
          const Tensor& x = ctx.saved_input(0);
          ctx.set_dx(0, ctx.dy() * x * Exp(x));
        },
};

GradCheckReport CheckRow(const OpDef& op, const Tensor& x, GradCheckOptions options = {}) {
  return GradCheck([&op](std::span<const Tensor> in) { return Apply(op, in); }, {x}, options);
}

Tensor MixedSignInputs() { return FromValues({-2.0, -0.7, -0.3, 0.4, 0.9, 1.6}, DType::kFloat64); }

TEST(GradCheckTest, PassesRightGradients) {
  const GradCheckReport report = CheckRow(ops::kTanh, MixedSignInputs());
  EXPECT_TRUE(report.passed) << report.ToString();
  EXPECT_EQ(report.verdict, "ok");
  EXPECT_EQ(report.checked, 6);
  EXPECT_NEAR(report.taylor_order, 2.0, 0.2);
  EXPECT_LT(report.max_rel_error, 1e-8);
}

TEST(GradCheckTest, CatchesAFlippedSign) {
  const GradCheckReport report = CheckRow(kSignFlippedTanh, MixedSignInputs());
  EXPECT_FALSE(report.passed);
  EXPECT_EQ(report.verdict, "mismatch");
  EXPECT_EQ(report.failed, 6);
  EXPECT_NEAR(report.max_rel_error, 2.0, 1e-6);  // |a - (-a)| / |a|
  EXPECT_NEAR(report.taylor_order, 1.0, 0.2);
}

TEST(GradCheckTest, CatchesAFactorOfTwo) {
  const GradCheckReport report = CheckRow(kDoubledTanh, MixedSignInputs());
  EXPECT_FALSE(report.passed);
  EXPECT_NEAR(report.max_rel_error, 0.5, 1e-6);
}

TEST(GradCheckTest, CatchesAnErrorOnlyForNegativeInputs) {
  GradCheckOptions options;
  options.kinks = {0.0};
  const GradCheckReport report = CheckRow(kWrongForNegatives, MixedSignInputs(), options);
  EXPECT_FALSE(report.passed);
  EXPECT_EQ(report.failed, 3);  // exactly the three negative inputs
  for (const ElementCheck& e : report.worst) {
    EXPECT_EQ(e.passed, e.x > 0) << "x = " << e.x;
  }
}

TEST(GradCheckTest, CatchesAMissingTerm) {
  const GradCheckReport report = CheckRow(kMissingTerm, MixedSignInputs());
  EXPECT_FALSE(report.passed);
  EXPECT_GE(report.failed, 5);
}

TEST(GradCheckTest, ReportNamesTheWorstElement) {
  const Tensor x = FromValues({0.1, 0.2, 0.3, -3.0, 0.5, 0.6}, Shape{2, 3}, DType::kFloat64);
  const GradCheckReport report = CheckRow(kWrongForNegatives, x, {.kinks = {0.0}});
  ASSERT_FALSE(report.worst.empty());
  const ElementCheck& worst = report.worst.front();
  EXPECT_EQ(worst.index, "[1,0]");
  EXPECT_DOUBLE_EQ(worst.x, -3.0);
  EXPECT_NEAR(worst.analytic / worst.numeric, 2.0, 1e-6);  // slope 0.2 against 0.1
  const std::string text = report.ToString();
  EXPECT_THAT(text, HasSubstr("FAILED"));
  EXPECT_THAT(text, HasSubstr("[1,0]"));
  EXPECT_THAT(text, HasSubstr("x=-3"));
}

TEST(GradCheckTest, AllZeroGradientsDoNotCountAsAPass) {
  // ReLU on negative inputs: analytic and numeric gradients are both zero,
  // which any derivative would match.
  const GradCheckReport report =
      CheckRow(ops::kRelu, FromValues({-3.0, -2.0, -1.0}, DType::kFloat64));
  EXPECT_FALSE(report.passed);
  EXPECT_EQ(report.verdict, "all gradients are zero");
}

TEST(GradCheckTest, ANaNGradientIsTheWorstElement) {
  // y = x |x| with a backward of 2 x^2 / |x|: NaN at x = 0 only.
  const OpDef nan_at_zero{
      .name = "nan_at_zero",
      .saves = kSaveInput0,
      .forward = [](ForwardContext& ctx) { return ctx.input(0) * Abs(ctx.input(0)); },
      .backward =
          [](BackwardContext& ctx) {
            const Tensor& x = ctx.saved_input(0);
            ctx.set_dx(0, ctx.dy() * 2.0 * x * x / Abs(x));
          },
  };
  const Tensor x = FromValues({-2.0, -0.7, 0.0, 0.4, 0.9, 1.6}, DType::kFloat64);
  const GradCheckReport report = CheckRow(nan_at_zero, x);
  EXPECT_FALSE(report.passed);
  EXPECT_EQ(report.verdict, "non-finite values");
  ASSERT_FALSE(report.worst.empty());
  const ElementCheck& worst = report.worst.front();
  EXPECT_EQ(worst.index, "[2]");
  EXPECT_EQ(worst.x, 0.0);
  EXPECT_TRUE(std::isnan(worst.analytic));
  EXPECT_NEAR(worst.numeric, 0.0, 1e-6);
  EXPECT_FALSE(worst.passed);
  EXPECT_EQ(report.failed, 1);
  EXPECT_TRUE(std::isinf(internal::Badness(worst, {})));
}

TEST(GradCheckTest, ANonFiniteValueNamesItsElement) {
  // log of a negative input: NaN at [1] only.
  const GradCheckReport report = GradCheck([](std::span<const Tensor> in) { return Log(in[0]); },
                                           {FromValues({0.5, -1.0, 2.0}, DType::kFloat64)});
  EXPECT_FALSE(report.passed);
  EXPECT_EQ(report.verdict, "non-finite values");
  EXPECT_EQ(report.non_finite_output, "output [1] = nan at input 0 [1], x=-1");
  EXPECT_THAT(report.ToString(), HasSubstr("output [1] = nan at input 0 [1], x=-1"));
}

TEST(GradCheckTest, KeepsAwayFromKinks) {
  const Tensor x = FromValues({-1.0, 0.0, 1e-5, 1.0}, DType::kFloat64);
  const GradCheckReport report = CheckRow(ops::kRelu, x, {.kinks = {0.0}});
  EXPECT_TRUE(report.passed) << report.ToString();
  EXPECT_EQ(report.skipped, 2);
  EXPECT_EQ(report.checked, 2);
  // Without the declared kink, the stencil straddles it and the check fails.
  EXPECT_FALSE(CheckRow(ops::kRelu, x).passed);
}

TEST(GradCheckTest, ChecksSeveralInputsAndHoldsLabelsFixed) {
  const Tensor logits = FromValues({0.2, -1.0, 0.7, 1.1, 0.0, -0.4}, Shape{2, 3});
  const GradCheckReport report =
      GradCheck([](std::span<const Tensor> in) { return CrossEntropy(Tanh(in[0]) * in[1], in[2]); },
                {logits, FromValues({1.5, 0.5, 2.0}), Labels({2, 0})});
  EXPECT_TRUE(report.passed) << report.ToString();
  EXPECT_EQ(report.checked, 9);
}

TEST(GradCheckTest, NoDifferentiableInputIsNotAPass) {
  const GradCheckReport report = GradCheck(
      [](std::span<const Tensor> in) { return ToDType(in[0], DType::kFloat64); }, {Labels({1, 2})});
  EXPECT_FALSE(report.passed);
  EXPECT_EQ(report.verdict, "no input requires a gradient");
}

}  // namespace
}  // namespace actgrad
