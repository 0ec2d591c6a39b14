// The conformance report (ops/conformance.h): every registered op passes it
// with the default tolerances; deliberately wrong user activations each fail
// it with the right worst element; extreme inputs that give NaN are caught;
// the Monte Carlo gain reproduces the closed forms where they follow from the
// variance-preserving rule, and --init auto uses it for user activations.

#include "check/conformance.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numbers>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "actgrad.h"
#include "check/conformance_json.h"
#include "nn/nn.h"
#include "ops/scalar_activation.h"
#include "tests/test_util.h"

namespace actgrad {
namespace {

using ::testing::HasSubstr;

const OpDef& Op(absl::string_view name) {
  absl::StatusOr<const OpDef*> op = OpRegistry::Global().Find(name);
  if (!op.ok()) throw std::runtime_error(std::string(op.status().message()));
  return **op;
}

std::string Failures(const ConformanceReport& r) {
  return absl::StrJoin(r.failures, "\n") + "\n" + r.ToString();
}

// ------------------------------------------------------- correct rows pass

class RegisteredOpTest : public ::testing::TestWithParam<const OpDef*> {};

TEST_P(RegisteredOpTest, PassesTheFullReport) {
  const OpDef& op = *GetParam();
  const ConformanceReport report = CheckConformance(op);
  EXPECT_TRUE(report.passed) << Failures(report);
  if (!std::isnan(report.taylor_order)) {
    EXPECT_GT(report.taylor_order, 1.5) << op.name;  // 1 for a wrong gradient
  }
  if (op.kind == OpKind::kActivation) {
    ASSERT_TRUE(report.grid.has_value());
    ASSERT_TRUE(report.figures.has_value());
    EXPECT_TRUE(report.finiteness_checked);
    // The grid and 2001 points, in both dtypes.
    EXPECT_GT(report.float32.compared, 4000);
  } else {
    EXPECT_FALSE(report.grid.has_value());
    EXPECT_FALSE(report.figures.has_value());
  }
}

INSTANTIATE_TEST_SUITE_P(EveryOp, RegisteredOpTest, ::testing::ValuesIn(OpRegistry::Global().All()),
                         [](const ::testing::TestParamInfo<const OpDef*>& info) {
                           return std::string(info.param->name);
                         });

TEST(ConformanceTest, GridSkipsPointsWithinAStepOfAKink) {
  // relu's kink at 0: 0 and +-1e-3 are within the step 1e-3 of it.
  const ConformanceReport report = CheckConformance(Op("relu"));
  ASSERT_TRUE(report.grid.has_value());
  EXPECT_EQ(report.grid->skipped, 3);
  EXPECT_EQ(report.grid->checked, static_cast<int64_t>(ConformanceGrid().size()) - 3);
  EXPECT_THAT(report.ToString(), HasSubstr("3 skipped near kinks"));
}

TEST(ConformanceTest, SecondOrderOnRequest) {
  ConformanceOptions options;
  options.second_order = true;
  const ConformanceReport tanh = CheckConformance(Op("tanh"), options);
  EXPECT_TRUE(tanh.second_order_checked);
  EXPECT_FALSE(tanh.second_order.empty());
  EXPECT_TRUE(tanh.passed) << Failures(tanh);
  // relu's second derivative is zero on both sides: not a failure.
  const ConformanceReport relu = CheckConformance(Op("relu"), options);
  EXPECT_TRUE(relu.passed) << Failures(relu);
  EXPECT_FALSE(CheckConformance(Op("tanh")).second_order_checked);
}

TEST(ConformanceTest, CatchesAWrongSecondDerivative) {
  // x + sin(x)^2 has y'' = 2 cos(2x); this row says 2 sin(2x).
  const OpDef& op = MakeActivation({
      .name = "conf_wrong_second",
      .forward = [](double x, const Attrs&) { return x + std::sin(x) * std::sin(x); },
      .derivative = [](double x, double, const Attrs&) { return 1 + std::sin(2 * x); },
      .second_derivative = [](double x, double, const Attrs&) { return 2 * std::sin(2 * x); },
  });
  ConformanceOptions options;
  options.second_order = true;
  const ConformanceReport report = CheckConformance(op, options);
  EXPECT_FALSE(report.passed);
  EXPECT_TRUE(report.cases.passed && report.grid->passed) << "the first derivative is right";
  ASSERT_FALSE(report.failures.empty());
  EXPECT_THAT(report.failures.front(), HasSubstr("second derivative"));
  EXPECT_THAT(report.ToString(), HasSubstr("second derivative   FAILED"));
  // The worst element names x and f''(x) by the row and by finite
  // differences of f', in the block and in the JSON.
  ASSERT_TRUE(report.second_order_worst.has_value());
  EXPECT_FALSE(report.second_order_worst->passed);
  ASSERT_TRUE(report.second_order_worst_derivative.has_value());
  ASSERT_TRUE(report.second_order_worst_numeric_derivative.has_value());
  const double x = report.second_order_worst->x;
  EXPECT_NEAR(*report.second_order_worst_derivative, 2 * std::sin(2 * x), 1e-9);
  EXPECT_NEAR(*report.second_order_worst_numeric_derivative, 2 * std::cos(2 * x), 1e-6);
  EXPECT_THAT(report.second_order_worst_case, HasSubstr("case "));
  EXPECT_THAT(report.ToString(), HasSubstr("worst element: second derivative, case "));
  EXPECT_THAT(report.ToString(), HasSubstr("by finite differences of f'"));
  const std::string json = ConformanceJson(report);
  EXPECT_THAT(json, HasSubstr("\"zero_cases\":0,\"worst\":{\"case\":\""));
  EXPECT_THAT(json, HasSubstr(absl::StrFormat("\"x\":%.17g", x).substr(0, 10)));
  // Without the request, nothing looks at it.
  EXPECT_TRUE(CheckConformance(op).passed);
}

// -------------------------------------------------- wrong user activations

double Logistic(double x) {
  return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x));
}
double Softplus(double x, const Attrs&) {
  return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

struct WrongCase {
  const char* name;
  double (*forward)(double x, const Attrs&);
  double (*derivative)(double x, double y, const Attrs&);
  double (*right_derivative)(double x);
  // Checks on the worst element beyond "the row's f'(x) is the wrong
  // formula there and finite differences give the right one".
  void (*expect_worst)(double x, double row, double numeric);
};

double TanhForward(double x, const Attrs&) { return std::tanh(x); }
double TanhDerivative(double x) { return 1 - std::tanh(x) * std::tanh(x); }

// Each a mistake users make when they write a derivative by hand.
const WrongCase kWrongCases[] = {
    {"conf_sign_flipped", &TanhForward, [](double, double y, const Attrs&) { return -(1 - y * y); },
     &TanhDerivative, [](double, double row, double numeric) { EXPECT_NEAR(row, -numeric, 1e-9); }},
    {"conf_off_by_a_factor", &TanhForward,
     [](double, double y, const Attrs&) { return 1.5 * (1 - y * y); }, &TanhDerivative,
     [](double, double row, double numeric) { EXPECT_NEAR(row / numeric, 1.5, 1e-8); }},
    {"conf_wrong_for_negatives", &TanhForward,
     [](double x, double y, const Attrs&) { return x < 0 ? 1.0 : 1 - y * y; }, &TanhDerivative,
     [](double x, double row, double) {
       EXPECT_LT(x, 0.0);
       EXPECT_EQ(row, 1.0);
     }},
    // A copied overflow guard: forward's "x > 50: y = x" made the derivative
    // 0 there instead of 1. Only the grid point 100 reaches it.
    {"conf_wrong_at_large_inputs", &Softplus,
     [](double x, double, const Attrs&) { return x > 50 ? 0.0 : Logistic(x); }, &Logistic,
     [](double x, double row, double numeric) {
       EXPECT_EQ(x, 100.0);
       EXPECT_EQ(row, 0.0);
       EXPECT_NEAR(numeric, 1.0, 1e-9);
     }},
    // y = x tanh(x) has dy/dx = tanh(x) + x (1 - tanh^2): written with the
    // saved output y in place of tanh(x), it forgets the chain rule.
    {"conf_forgets_the_chain_rule", [](double x, const Attrs&) { return x * std::tanh(x); },
     [](double x, double y, const Attrs&) { return std::tanh(x) + x * (1 - y * y); },
     [](double x) { return std::tanh(x) + x * TanhDerivative(x); },
     [](double x, double, double) { EXPECT_NE(x, 0.0); }},
};

class WrongActivationTest : public ::testing::TestWithParam<WrongCase> {};

TEST_P(WrongActivationTest, FailsAndNamesTheWorstElement) {
  const WrongCase& c = GetParam();
  const OpDef& op =
      MakeActivation({.name = c.name, .forward = c.forward, .derivative = c.derivative});
  const ConformanceReport report = CheckConformance(op);
  EXPECT_FALSE(report.passed);
  ASSERT_FALSE(report.failures.empty());
  EXPECT_THAT(report.failures.front(), HasSubstr("first derivative"));
  ASSERT_TRUE(report.worst.has_value());
  const ElementCheck& worst = *report.worst;
  EXPECT_FALSE(worst.passed);
  // f'(x) as the row computes it, and as finite differences find it.
  ASSERT_TRUE(report.worst_derivative.has_value());
  ASSERT_TRUE(report.worst_numeric_derivative.has_value());
  const double x = worst.x, row = *report.worst_derivative;
  const double numeric = *report.worst_numeric_derivative;
  EXPECT_NEAR(row, c.derivative(x, c.forward(x, {}), {}), 1e-12 * std::max(1.0, std::abs(row)));
  EXPECT_NEAR(numeric, c.right_derivative(x), 1e-7 * std::max(1.0, std::abs(numeric)));
  // The checked values are the same two times one output weight.
  EXPECT_NEAR(worst.analytic * numeric, worst.numeric * row,
              1e-6 * std::max(1.0, std::abs(worst.analytic * numeric)))
      << report.ToString();
  c.expect_worst(x, row, numeric);
  EXPECT_THAT(report.ToString(), HasSubstr("worst element"));
}

INSTANTIATE_TEST_SUITE_P(UserMistakes, WrongActivationTest, ::testing::ValuesIn(kWrongCases),
                         [](const ::testing::TestParamInfo<WrongCase>& info) {
                           return std::string(info.param.name);
                         });

TEST(FixedGridTest, CatchesAMistakeOnlyAtLargeInputs) {
  const OpDef& op = MakeActivation(
      {.name = "conf_large_only",
       .forward = &Softplus,
       .derivative = [](double x, double, const Attrs&) { return x > 50 ? 0.0 : Logistic(x); }});
  const ConformanceReport report = CheckConformance(op);
  EXPECT_TRUE(report.cases.passed) << "the random cases reach 20 at most";
  ASSERT_TRUE(report.grid.has_value());
  EXPECT_FALSE(report.grid->passed);
  EXPECT_EQ(report.worst_case, "fixed grid");
  EXPECT_NEAR(report.taylor_order, 1.0, 0.2) << report.ToString();
}

// ------------------------------------------------------------ flat regions

// max(x - 2, 0)^2: right, and flat below 2, so that a random case drawn
// from [-3, 3] is flat throughout with probability (5/6)^6 for six values.
const OpDef& GateAboveTwo() {
  static const OpDef& op = **DefineActivation({
      .name = "conf_gate_above_two",
      .forward = [](double x, const Attrs&) { return x > 2 ? (x - 2) * (x - 2) : 0.0 * x; },
      .derivative = [](double x, double, const Attrs&) { return x > 2 ? 2 * (x - 2) : 0.0 * x; },
      .second_derivative = [](double x, double, const Attrs&) { return x > 2 ? 2.0 : 0.0 * x; },
      .kinks = {2.0},
  });
  return op;
}

TEST(FlatRegionTest, ARightActivationFlatOverPartOfTheRangePassesEverySeed) {
  const OpDef& op = GateAboveTwo();
  int flat_first_draws = 0, redrawn = 0;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    // The false alarm: some of the row's first draws are flat throughout,
    // which GradCheck alone refuses as proving nothing.
    Generator gen(seed);
    for (const GradCheckCase& c : op.check_cases(gen)) {
      flat_first_draws += IsFlat(CheckOpCase(op, c)) ? 1 : 0;
    }
    ConformanceOptions options;
    options.seed = seed;
    options.second_order = true;
    const ConformanceReport report = CheckConformance(op, options);
    EXPECT_TRUE(report.passed) << "seed " << seed << "\n" << Failures(report);
    for (const OpCaseResult& c : report.cases.cases) redrawn += c.redraws > 0 ? 1 : 0;
  }
  EXPECT_GT(flat_first_draws, 5);
  EXPECT_EQ(redrawn, flat_first_draws);
}

TEST(FlatRegionTest, ACaseThatStaysFlatIsUninformativeNotFailed) {
  // Flat below 2.99: nearly every draw from [-3, 3] is flat throughout; the
  // row's fixed grid (to 20) is not.
  const OpDef& op = MakeActivation({
      .name = "conf_gate_above_2_99",
      .forward = [](double x, const Attrs&) { return x > 2.99 ? x - 2.99 : 0.0 * x; },
      .derivative = [](double x, double, const Attrs&) { return x > 2.99 ? 1.0 : 0.0 * x; },
      .kinks = {2.99},
  });
  const ConformanceReport report = CheckConformance(op);
  EXPECT_TRUE(report.passed) << Failures(report);
  EXPECT_GT(report.cases.uninformative, 0);
  for (const OpCaseResult& c : report.cases.cases) {
    if (!c.uninformative) continue;
    EXPECT_EQ(c.redraws, kFlatRedraws) << c.description;
    EXPECT_EQ(c.report.verdict, "all gradients are zero");
  }
  EXPECT_THAT(report.Summary(),
              HasSubstr(absl::StrCat(report.cases.uninformative, " uninformative")));
  EXPECT_THAT(report.ToString(), HasSubstr("uninformative (both gradients zero throughout"));
  EXPECT_THAT(ConformanceJson(report),
              HasSubstr(absl::StrCat("\"uninformative_cases\":", report.cases.uninformative)));
}

TEST(FlatRegionTest, AnOpWithNoInformativeCaseFails) {
  // Zero everywhere: every case is flat, the fixed ones too.
  const OpDef& op = MakeActivation({
      .name = "conf_zero",
      .forward = [](double x, const Attrs&) { return 0.0 * x; },
      .derivative = [](double x, double, const Attrs&) { return 0.0 * x; },
  });
  const OpCheckResult result = CheckOp(op);
  EXPECT_FALSE(result.passed);
  EXPECT_EQ(result.uninformative, static_cast<int64_t>(result.cases.size()));
  const ConformanceReport report = CheckConformance(op);
  EXPECT_FALSE(report.passed);
  EXPECT_THAT(absl::StrJoin(report.failures, "\n"), HasSubstr("no case was informative"));
}

TEST(FlatRegionTest, ADerivativeZeroWhereItShouldNotBeIsStillCaught) {
  // softplus whose derivative is 0 below 1 instead of the logistic function;
  // and tanh whose derivative is 0 everywhere.
  const OpDef& below_one = MakeActivation({
      .name = "conf_zero_below_one",
      .forward = &Softplus,
      .derivative = [](double x, double, const Attrs&) { return x < 1 ? 0.0 : Logistic(x); },
  });
  const OpDef& everywhere = MakeActivation({
      .name = "conf_zero_everywhere",
      .forward = &TanhForward,
      .derivative = [](double x, double, const Attrs&) { return 0.0 * x; },
  });
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    ConformanceOptions options;
    options.seed = seed;
    const ConformanceReport report = CheckConformance(below_one, options);
    EXPECT_FALSE(report.passed) << seed;
    EXPECT_FALSE(report.cases.passed) << seed;
    EXPECT_EQ(report.cases.uninformative, 0) << seed;
    ASSERT_TRUE(report.worst.has_value());
    EXPECT_LT(report.worst->x, 1.0);
    EXPECT_EQ(*report.worst_derivative, 0.0);
    const ConformanceReport zero = CheckConformance(everywhere, options);
    EXPECT_FALSE(zero.passed) << seed;
    EXPECT_FALSE(zero.cases.passed) << seed;
    EXPECT_EQ(zero.cases.uninformative, 0) << seed;
  }
}

// ------------------------------------------------------ attribute values

TEST(AttributeTest, RandomCasesRunAtTheAttributesAskedFor) {
  // y = p x with dy/dx = 1: right only at the default p = 1.
  const OpDef& op = MakeActivation({
      .name = "conf_scaled_identity",
      .forward = [](double x, const Attrs& a) { return a.params[0] * x; },
      .derivative = [](double, double, const Attrs&) { return 1.0; },
      .params = {{.name = "p", .default_value = 1.0, .low = 0.5, .high = 2}},
  });
  EXPECT_TRUE(CheckConformance(op).passed);
  ConformanceOptions at_two;
  at_two.attrs.params[0] = 2;
  const ConformanceReport report = CheckConformance(op, at_two);
  EXPECT_FALSE(report.passed);
  EXPECT_FALSE(report.cases.passed) << "the random cases, not only the fixed grid, fail";
  for (const OpCaseResult& c : report.cases.cases) EXPECT_FALSE(c.report.passed) << c.description;
  ASSERT_TRUE(report.worst_derivative.has_value());
  EXPECT_EQ(*report.worst_derivative, 1.0);
  EXPECT_NEAR(*report.worst_numeric_derivative, 2.0, 1e-9);
}

// ------------------------------------------------------------- finiteness

bool HasProblem(const ConformanceReport& r, double x, const std::string& quantity,
                const std::string& why) {
  for (const FinitenessProblem& p : r.finiteness) {
    const bool same_x = std::isnan(x) ? std::isnan(p.x) : p.x == x;
    if (same_x && p.quantity == quantity && p.why == why && p.fatal) return true;
  }
  return false;
}

TEST(FinitenessTest, NaNAtAFiniteInputIsCaught) {
  // sinc written naively: 0 / 0 at x = 0.
  const OpDef& op = MakeActivation({
      .name = "conf_naive_sinc",
      .forward = [](double x, const Attrs&) { return std::sin(x) / x; },
      .derivative = [](double x, double,
                       const Attrs&) { return (x * std::cos(x) - std::sin(x)) / (x * x); },
  });
  const ConformanceReport report = CheckConformance(op);
  EXPECT_FALSE(report.passed);
  EXPECT_TRUE(HasProblem(report, 0.0, "output", "NaN from a finite input")) << report.ToString();
  EXPECT_THAT(report.ToString(), HasSubstr("NaN from a finite input: output at x=0 is nan"));
  // Its neighbours say sin(x) / x -> 1, and f'(x) -> 0.
  for (const FinitenessProblem& p : report.finiteness) {
    if (p.x != 0.0) continue;
    EXPECT_NEAR(p.expected, p.quantity == "output" ? 1.0 : 0.0, 1e-6) << p.quantity;
  }
}

TEST(FinitenessTest, ANaNDerivativeAtAFiniteInputIsTheWorstElement) {
  // x |x| with f' written 2 x^2 / |x|: 0 / 0 at x = 0 only.
  const OpDef& op = MakeActivation({
      .name = "conf_nan_derivative",
      .forward = [](double x, const Attrs&) { return x * std::abs(x); },
      .derivative = [](double x, double, const Attrs&) { return 2 * x * x / std::abs(x); },
  });
  const ConformanceReport report = CheckConformance(op);
  EXPECT_FALSE(report.passed);
  ASSERT_TRUE(report.worst.has_value());
  EXPECT_EQ(report.worst_case, "fixed grid");
  EXPECT_EQ(report.worst->x, 0.0);
  EXPECT_TRUE(std::isnan(report.worst->analytic));
  EXPECT_TRUE(std::isnan(*report.worst_derivative));
  EXPECT_NEAR(*report.worst_numeric_derivative, 0.0, 1e-6);
  EXPECT_THAT(report.ToString(), HasSubstr("worst element       fixed grid, x=0: f'(x) = nan"));
  EXPECT_TRUE(HasProblem(report, 0.0, "derivative", "NaN from a finite input"));
  const std::string json = ConformanceJson(report);
  EXPECT_THAT(json, HasSubstr("\"case\":\"fixed grid\",\"input\":0,\"index\":\"[7]\",\"x\":0"));
  EXPECT_THAT(json, HasSubstr("\"analytic\":\"nan\""));
  EXPECT_THAT(json, HasSubstr("\"why\":\"NaN from a finite input\""));
}

TEST(FinitenessTest, OverflowToNaNAtLargeInputsIsCaught) {
  // tanh from its definition: inf / inf beyond |x| ~ 710, fine on the grid.
  const OpDef& op = MakeActivation({
      .name = "conf_textbook_tanh",
      .forward =
          [](double x, const Attrs&) {
            return (std::exp(x) - std::exp(-x)) / (std::exp(x) + std::exp(-x));
          },
      .derivative = [](double, double y, const Attrs&) { return 1 - y * y; },
  });
  const ConformanceReport report = CheckConformance(op);
  EXPECT_FALSE(report.passed);
  EXPECT_TRUE(report.cases.passed);
  EXPECT_TRUE(report.grid->passed);
  EXPECT_TRUE(HasProblem(report, 1e4, "output", "NaN from a finite input")) << report.ToString();
  EXPECT_TRUE(HasProblem(report, -1e30, "output", "NaN from a finite input"));
}

TEST(FinitenessTest, NaNMustPropagate) {
  // max(x, 0) written with a comparison that sends NaN to 0.
  const OpDef& op = MakeActivation({
      .name = "conf_nan_swallowing_relu",
      .forward = [](double x, const Attrs&) { return x > 0 ? x : 0.0; },
      .derivative = [](double x, double, const Attrs&) { return x > 0 ? 1.0 : 0.0; },
      .kinks = {0.0},
  });
  const ConformanceReport report = CheckConformance(op);
  EXPECT_FALSE(report.passed);
  EXPECT_TRUE(
      HasProblem(report, std::numeric_limits<double>::quiet_NaN(), "output", "NaN in, not NaN out"))
      << report.ToString();
}

TEST(FinitenessTest, InfiniteInputsWarnUnlessStrict) {
  // x + sin(x)^2 at +-inf is inf + NaN: a warning by default.
  const OpDef& op = MakeActivation({
      .name = "conf_sin_plus",
      .forward = [](double x, const Attrs&) { return x + std::sin(x) * std::sin(x); },
      .derivative = [](double x, double, const Attrs&) { return 1 + std::sin(2 * x); },
  });
  const ConformanceReport lenient = CheckConformance(op);
  EXPECT_TRUE(lenient.passed) << Failures(lenient);
  ASSERT_FALSE(lenient.finiteness.empty());
  for (const FinitenessProblem& p : lenient.finiteness) {
    EXPECT_TRUE(std::isinf(p.x)) << p.why << " at " << p.x;
    EXPECT_FALSE(p.fatal);
  }
  EXPECT_THAT(lenient.ToString(), HasSubstr("warning: NaN at an infinite input"));
  ConformanceOptions strict;
  strict.strict_infinity = true;
  EXPECT_FALSE(CheckConformance(op, strict).passed);
}

TEST(FinitenessTest, RightInfinitiesAreAccepted) {
  // exp overflows to +inf at 1e4: the infinity it heads for.
  const OpDef& op = MakeActivation({
      .name = "conf_exp",
      .forward = [](double x, const Attrs&) { return std::exp(x); },
      .derivative = [](double, double y, const Attrs&) { return y; },
  });
  ConformanceOptions strict;
  strict.strict_infinity = true;
  const ConformanceReport report = CheckConformance(op, strict);
  EXPECT_TRUE(report.finiteness.empty()) << report.ToString();
}

// ---------------------------------------------------------------- figures

TEST(FiguresTest, WhatADesignerWantsToKnow) {
  const ActivationFigures tanh = *CheckConformance(Op("tanh")).figures;
  EXPECT_TRUE(tanh.zero_centred);             // claim C9
  EXPECT_NEAR(tanh.normal_mean, 0.0, 1e-12);  // odd: exact with antithetic pairs
  EXPECT_EQ(tanh.monotonicity, Monotonicity::kNonDecreasing);
  EXPECT_DOUBLE_EQ(tanh.derivative_at_zero, 1.0);
  EXPECT_DOUBLE_EQ(tanh.range_min, -1.0);
  EXPECT_DOUBLE_EQ(tanh.range_max, 1.0);
  // |1 - tanh^2| < 0.01 for |z| > 2.99: P = 2 (1 - Phi(2.993)) = 0.28%.
  EXPECT_NEAR(tanh.saturated_fraction, 0.0028, 0.0005);

  const ActivationFigures sigmoid = *CheckConformance(Op("sigmoid")).figures;
  EXPECT_FALSE(sigmoid.zero_centred);  // claim C9
  EXPECT_NEAR(sigmoid.normal_mean, 0.5, 1e-12);
  EXPECT_DOUBLE_EQ(sigmoid.derivative_at_zero, 0.25);

  const ActivationFigures relu = *CheckConformance(Op("relu")).figures;
  EXPECT_NEAR(relu.saturated_fraction, 0.5, 0.01);  // claim C15: half the inputs
  EXPECT_NEAR(relu.normal_mean, 1 / std::sqrt(2 * std::numbers::pi), 0.01);
  EXPECT_TRUE(relu.zero_is_kink);
  EXPECT_EQ(relu.monotonicity, Monotonicity::kNonDecreasing);
  EXPECT_EQ(CheckConformance(Op("leaky_relu")).figures->saturated_fraction, 0.0);
  EXPECT_EQ(CheckConformance(Op("silu")).figures->monotonicity, Monotonicity::kNeither);
  EXPECT_TRUE(CheckConformance(Op("selu")).figures->zero_centred);
}

// ------------------------------------------------------------------ gains

TEST(GainTest, MonteCarloMatchesTheClosedFormsWhereTheRuleIsExact) {
  EXPECT_NEAR(EstimatedGain(Op("relu")), std::numbers::sqrt2, 0.01 * std::numbers::sqrt2);
  EXPECT_NEAR(EstimatedGain(Op("identity")), 1.0, 0.01);
  for (double alpha : {0.01, 0.2, 0.5}) {
    Attrs attrs;
    attrs.alpha = alpha;
    const double closed = std::sqrt(2 / (1 + alpha * alpha));
    EXPECT_NEAR(EstimatedGain(Op("leaky_relu"), attrs), closed, 0.01 * closed) << alpha;
  }
  // The report shows the row's gain beside the estimate.
  for (const char* name : {"relu", "leaky_relu"}) {
    const ActivationFigures f = *CheckConformance(Op(name)).figures;
    ASSERT_TRUE(f.row_gain.has_value()) << name;
    EXPECT_NEAR(f.estimated_gain, *f.row_gain, 0.01 * *f.row_gain) << name;
  }
  EXPECT_FALSE(CheckConformance(Op("identity")).figures->row_gain.has_value());
  // tanh's 5/3 is PyTorch's empirical choice, not this rule's 1.593.
  EXPECT_NEAR(EstimatedGain(Op("tanh")), 1.5925, 0.01);
}

TEST(GainTest, InitAutoUsesTheEstimateForUserActivations) {
  absl::StatusOr<const OpDef*> op = DefineActivation({
      .name = "conf_user_relu",
      .forward = [](double x, const Attrs&) { return x > 0 ? x : 0.0 * x; },
      .derivative = [](double x, double, const Attrs&) { return x > 0 ? 1.0 : 0.0; },
      .kinks = {0.0},
      .recommended_init = InitFamily::kHe,
  });
  ASSERT_TRUE(op.ok()) << op.status();
  EXPECT_TRUE(UsesEstimatedGain(**op));
  EXPECT_NEAR(nn::GainOf(**op), std::numbers::sqrt2, 0.01 * std::numbers::sqrt2);
  EXPECT_THAT(nn::RecommendedInitializer(**op).ToString(), HasSubstr("he_normal(gain=1.41"));
  // Built-in rows keep their own gain, or PyTorch's 1 without one.
  EXPECT_FALSE(UsesEstimatedGain(Op("sigmoid")));
  EXPECT_EQ(nn::GainOf(Op("sigmoid")), 1.0);
  EXPECT_DOUBLE_EQ(nn::GainOf(Op("tanh")), 5.0 / 3.0);
  // A user row that names its gain keeps it.
  const OpDef& named = MakeActivation({
      .name = "conf_named_gain",
      .forward = [](double x, const Attrs&) { return x; },
      .derivative = [](double, double, const Attrs&) { return 1.0; },
      .gain = [](const Attrs&) { return 3.0; },
  });
  EXPECT_FALSE(UsesEstimatedGain(named));
  EXPECT_EQ(nn::GainOf(named), 3.0);
}

// --------------------------------------------------------------- printing

TEST(PrintingTest, TheBlockShowsEveryFigure) {
  const std::string text = CheckConformance(Op("tanh")).ToString();
  for (const char* label :
       {"PASS  tanh", "first derivative", "Taylor order", "second derivative", "float32",
        "extreme inputs", "range", "monotonic", "f'(0)", "mean f(z)", "saturation", "gain"}) {
    EXPECT_THAT(text, HasSubstr(label));
  }
  EXPECT_THAT(text, HasSubstr("the row's: 1.667"));
  EXPECT_THAT(CheckConformance(Op("matmul")).Summary(), HasSubstr("PASS  matmul"));
}

}  // namespace
}  // namespace actgrad
