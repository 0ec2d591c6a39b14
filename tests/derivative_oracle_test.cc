// The derivative oracle: dual numbers give exact derivatives, every built-in
// activation meets it in float64, and hand-written derivatives that are
// wrong where finite differences do not look (a sliver next to a kink,
// saturation, overflow, a kink's value outside its one-sided limits) fail.
// Activations defined by their forward alone train and differentiate twice.

#include "check/derivative_oracle.h"

#include <cmath>
#include <limits>
#include <numbers>
#include <string>

#include "actgrad.h"
#include "check/conformance.h"
#include "check/conformance_json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "io/json.h"
#include "ops/dual.h"
#include "ops/generic_formula.h"
#include "ops/registry.h"
#include "ops/scalar_activation.h"
#include "ops/softplus.h"

namespace actgrad {
namespace {

using ::testing::HasSubstr;

constexpr double kInf = std::numeric_limits<double>::infinity();

// ------------------------------------------------------------ dual numbers

TEST(DualNumbers, GiveTheDerivativesOfElementaryFunctions) {
  const double x = 0.7;
  auto d = [&](auto f) { return f(Dual<double>::Variable(x)).tangent; };
  using std::atan, std::cbrt, std::erf, std::exp, std::expm1, std::log, std::log1p, std::sqrt,
      std::tanh, std::sin, std::cos, std::pow, std::sinh, std::erfc, std::asinh;
  EXPECT_DOUBLE_EQ(d([](auto v) { return exp(v); }), std::exp(x));
  EXPECT_DOUBLE_EQ(d([](auto v) { return expm1(v); }), std::exp(x));
  EXPECT_DOUBLE_EQ(d([](auto v) { return log(v); }), 1 / x);
  EXPECT_DOUBLE_EQ(d([](auto v) { return log1p(v); }), 1 / (1 + x));
  EXPECT_DOUBLE_EQ(d([](auto v) { return sqrt(v); }), 0.5 / std::sqrt(x));
  EXPECT_DOUBLE_EQ(d([](auto v) { return cbrt(v); }), 1 / (3 * std::cbrt(x) * std::cbrt(x)));
  EXPECT_DOUBLE_EQ(d([](auto v) { return tanh(v); }), 1 / std::cosh(x) / std::cosh(x));
  EXPECT_DOUBLE_EQ(d([](auto v) { return sin(v) * cos(v); }), std::cos(2 * x));
  EXPECT_DOUBLE_EQ(d([](auto v) { return atan(v); }), 1 / (1 + x * x));
  EXPECT_DOUBLE_EQ(d([](auto v) { return asinh(v); }), 1 / std::sqrt(1 + x * x));
  EXPECT_DOUBLE_EQ(d([](auto v) { return sinh(v); }), std::cosh(x));
  EXPECT_DOUBLE_EQ(d([](auto v) { return erf(v); }),
                   2 / std::sqrt(std::numbers::pi) * std::exp(-x * x));
  EXPECT_DOUBLE_EQ(d([](auto v) { return erfc(v); }),
                   -2 / std::sqrt(std::numbers::pi) * std::exp(-x * x));
  EXPECT_DOUBLE_EQ(d([](auto v) { return pow(v, 2.5); }), 2.5 * std::pow(x, 1.5));
  EXPECT_DOUBLE_EQ(d([](auto v) { return pow(2.0, v); }), std::log(2.0) * std::pow(2.0, x));
  EXPECT_DOUBLE_EQ(d([](auto v) { return pow(v, v); }), std::pow(x, x) * (std::log(x) + 1));
  EXPECT_DOUBLE_EQ(d([](auto v) { return 3 / (1 + v * v); }), -6 * x / ((1 + x * x) * (1 + x * x)));
}

TEST(DualNumbers, NestGiveSecondAndThirdDerivatives) {
  using std::exp;
  auto f = [](auto v) { return v * exp(-v); };  // f'' = (x - 2) e^-x, f''' = (3 - x) e^-x
  const double x = 0.3;
  const HyperDual<double> h = f(HyperDual<double>::Variable(x));
  EXPECT_DOUBLE_EQ(Primal(h), x * std::exp(-x));
  EXPECT_DOUBLE_EQ(FirstDerivative(h), (1 - x) * std::exp(-x));
  EXPECT_DOUBLE_EQ(SecondDerivative(h), (x - 2) * std::exp(-x));
  const Dual<HyperDual<double>> t = f(Dual<HyperDual<double>>::Variable(x));
  EXPECT_DOUBLE_EQ(t.tangent.tangent.tangent, (3 - x) * std::exp(-x));
}

// tanh' as 1 / cosh^2 keeps its digits where tanh has rounded to 1, which
// 1 - tanh^2 does not.
TEST(DualNumbers, StayExactWhereTheFunctionSaturates) {
  using std::tanh;
  const double x = 20;
  const double exact = 1 / std::cosh(x) / std::cosh(x);
  const double by_dual = tanh(Dual<double>::Variable(x)).tangent;
  EXPECT_NEAR(by_dual, exact, 4 * std::numeric_limits<double>::epsilon() * exact);
  EXPECT_EQ(1 - std::tanh(x) * std::tanh(x), 0.0);  // what a closed form from y gives
}

// softplus' = sigmoid and sigmoid' = sigmoid(x) sigmoid(-x) (ops/softplus.h):
// finite at any x, to the third derivative, and exact where sigmoid has
// rounded to 1.
TEST(DualNumbers, SoftplusAndSigmoidCarryTheirDerivativesEverywhere) {
  using actgrad::sigmoid, actgrad::softplus;
  const double x = 0.7, s = 1 / (1 + std::exp(-x));
  EXPECT_DOUBLE_EQ(softplus(x), std::log1p(std::exp(x)));
  EXPECT_DOUBLE_EQ(softplus(Dual<double>::Variable(x)).tangent, s);
  EXPECT_DOUBLE_EQ(sigmoid(Dual<double>::Variable(x)).tangent, s * (1 - s));
  const Dual<HyperDual<double>> t = softplus(Dual<HyperDual<double>>::Variable(x));
  EXPECT_DOUBLE_EQ(t.tangent.tangent.tangent, s * (1 - s) * (1 - 2 * s));

  const HyperDual<double> far = softplus(HyperDual<double>::Variable(1e30));
  EXPECT_EQ(Primal(far), 1e30);
  EXPECT_EQ(FirstDerivative(far), 1.0);
  EXPECT_EQ(SecondDerivative(far), 0.0);
  const HyperDual<double> far_below = softplus(HyperDual<double>::Variable(-1e30));
  EXPECT_EQ(Primal(far_below), 0.0);
  EXPECT_EQ(FirstDerivative(far_below), 0.0);
  EXPECT_EQ(SecondDerivative(far_below), 0.0);

  // At 40, 1 - sigmoid(40) is 0 in double; sigmoid(40) sigmoid(-40) is not.
  const double e = std::exp(-40.0);
  EXPECT_NEAR(sigmoid(Dual<double>::Variable(40.0)).tangent, e / ((1 + e) * (1 + e)), 1e-15 * e);
  EXPECT_NEAR(sigmoid(-30.0), std::exp(-30.0) / (1 + std::exp(-30.0)), 1e-15 * std::exp(-30.0));
  EXPECT_TRUE(std::isnan(softplus(std::nan(""))));
  EXPECT_TRUE(std::isnan(sigmoid(std::nan(""))));
  EXPECT_EQ(softplus(kInf), kInf);
  EXPECT_EQ(softplus(-kInf), 0.0);
  EXPECT_EQ(sigmoid(-kInf), 0.0);
  EXPECT_EQ(sigmoid(kInf), 1.0);
}

TEST(DualNumbers, ComparisonsSeeTheValueSoBranchesChooseAsForNumbers) {
  auto relu = [](auto v) { return v < 0 ? decltype(v)(0) : v; };
  EXPECT_EQ(relu(Dual<double>::Variable(-1.0)).tangent, 0.0);
  EXPECT_EQ(relu(Dual<double>::Variable(2.0)).tangent, 1.0);
  const Dual<double> nan = Dual<double>::Variable(std::nan(""));
  EXPECT_FALSE(nan < 0);
  EXPECT_FALSE(nan > 0);
  EXPECT_TRUE(isnan(nan));
}

TEST(Oracle, UlpIsTheSpacingOfTheDtypesNumbers) {
  EXPECT_EQ(Ulp(1.0L, DType::kFloat64), std::ldexp(1.0L, -52));
  EXPECT_EQ(Ulp(1.0L, DType::kFloat32), std::ldexp(1.0L, -23));
  EXPECT_EQ(Ulp(0.75L, DType::kFloat32), std::ldexp(1.0L, -24));
  EXPECT_EQ(Ulp(0.0L, DType::kFloat32), std::ldexp(1.0L, -149));
  EXPECT_EQ(Ulp(1e-320L, DType::kFloat64), std::ldexp(1.0L, -1074));
}

TEST(Oracle, GridSpansEveryBinadeTheSpecialValuesAndBothSidesOfKinks) {
  const double kinks[] = {0.0, 3.0};
  for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
    const std::vector<double> x = OracleGrid({.dtype = dtype}, kinks);
    const bool f32 = dtype == DType::kFloat32;
    const int lowest = f32 ? -149 : -1074, highest = f32 ? 127 : 1023;
    for (int e = lowest; e <= highest; e += 7) {
      EXPECT_TRUE(std::binary_search(x.begin(), x.end() - 1, std::ldexp(1.0, e))) << e;
      EXPECT_TRUE(std::binary_search(x.begin(), x.end() - 1, -std::ldexp(1.0, e))) << e;
    }
    EXPECT_TRUE(std::isnan(x.back()));
    EXPECT_EQ(x.front(), -kInf);
    EXPECT_EQ(x[x.size() - 2], kInf);
    for (double v : x) {
      if (f32 && std::isfinite(v)) {
        EXPECT_EQ(v, double(float(v)));
      }
    }
    const double three_up = f32 ? double(std::nextafter(3.0f, 4.0f)) : std::nextafter(3.0, 4.0);
    EXPECT_TRUE(std::binary_search(x.begin(), x.end() - 1, three_up));
    EXPECT_TRUE(std::binary_search(x.begin(), x.end() - 1, 1e-17 * (f32 ? 1 : 1)) ||
                f32);  // float32's 1e-17 rounds to another number, also present
    if (!f32) {
      EXPECT_TRUE(std::binary_search(x.begin(), x.end() - 1, 1e-300));
      EXPECT_TRUE(std::binary_search(x.begin(), x.end() - 1, -1e-300));
    }
  }
}

// --------------------------------------------------------------- built-ins

// Every built-in activation with a generic formula meets the oracle in
// float64, at its defaults and at both ends of each declared range; the
// float32 contract has a test of its own (float32_accuracy_test).
TEST(Oracle, EveryBuiltInActivationMeetsItInFloat64) {
  const OracleOptions options = ConformanceOptions().float64_oracle;
  int checked = 0;
  for (const OpDef* op : OpRegistry::Global().Activations()) {
    if (op->formulas == nullptr || op->formulas->generic == nullptr) continue;
    std::vector<Attrs> settings = {Attrs()};
    for (const AttrSpec& spec : op->attrs) {
      if (std::isnan(spec.low) || spec.integer != nullptr) continue;
      for (double v : {spec.low, spec.high}) {
        Attrs a;
        *RealSlot(spec, a) = v;
        settings.push_back(a);
      }
    }
    for (const Attrs& attrs : settings) {
      const OracleReport r = CheckAgainstOracle(*op, attrs, options);
      EXPECT_TRUE(r.passed) << r.ToString() << testing::PrintToString(r.failures);
      EXPECT_GT(r.forward.compared, 30000);
      ++checked;
    }
  }
  EXPECT_GE(checked, 15);
}

// ------------------------------------------------- wrong derivatives caught

// A row defined by hand-written formulas, with its forward given generically
// as well so that the oracle can check them.
constexpr auto kReluForward = [](auto x, const Attrs&) { return x < 0 ? decltype(x)(0) : x; };
constexpr double kKinkAtZero[] = {0.0};
constexpr auto kSigmoidForward = [](auto x, const Attrs&) {
  using std::exp;
  using T = decltype(x);
  if (x >= 0) return T(1 / (1 + exp(-x)));
  const T e = exp(x);
  return T(e / (1 + e));
};

OracleReport CheckRow(const OpDef& op) { return CheckAgainstOracle(op, {}, {}); }

TEST(Oracle, CatchesADerivativeWrongOnlyInASliverNextToAKink) {
  const OpDef& op = MakeActivation({
      .name = "sliver_relu",
      .generic = Generic(kReluForward),
      .derivative = [](double x, double,
                       const Attrs&) { return x > 0 ? (x < 1e-12 ? 0.5 : 1.0) : 0.0; },
      .kinks = {kKinkAtZero, kKinkAtZero + 1},
  });
  const OracleReport r = CheckRow(op);
  EXPECT_FALSE(r.passed);
  EXPECT_GT(r.derivative.worst_x, 0);
  EXPECT_LT(r.derivative.worst_x, 1e-12);
  EXPECT_EQ(r.derivative.worst_value, 0.5);
  EXPECT_EQ(r.derivative.worst_reference, 1.0L);
  EXPECT_THAT(testing::PrintToString(r.failures), HasSubstr("derivative (float64)"));
}

// The second derivative of elu wrong for x in (-1e-10, 0): invisible to any
// finite difference step, seen at -1e-17 and -1e-300.
// The command line's --json carries the oracle's verdict and worst point.
TEST(Oracle, TheJsonReportCarriesTheWorstPoint) {
  const OpDef& op = MakeActivation({
      .name = "sliver_relu_json",
      .generic = Generic(kReluForward),
      .derivative = [](double x, double,
                       const Attrs&) { return x > 0 ? (x < 1e-12 ? 0.5 : 1.0) : 0.0; },
      .kinks = {kKinkAtZero, kKinkAtZero + 1},
  });
  absl::StatusOr<io::JsonDocument> json = io::ParseJson(ConformanceJson(CheckConformance(op)), "");
  ASSERT_TRUE(json.ok()) << json.status();
  const io::JsonValue& exact = (*json)["exact_derivatives"];
  ASSERT_EQ(exact.Size(), 2u);
  EXPECT_STREQ(exact[0]["dtype"].GetString(), "float64");
  EXPECT_FALSE(exact[0]["passed"].GetBool());
  const io::JsonValue& worst = exact[0]["derivative"]["worst"];
  EXPECT_GT(worst["x"].GetDouble(), 0);
  EXPECT_LT(worst["x"].GetDouble(), 1e-12);
  EXPECT_EQ(worst["row"].GetDouble(), 0.5);
  EXPECT_EQ(worst["exact"].GetDouble(), 1.0);
  EXPECT_GT(worst["ulps"].GetDouble(), 1e15);
  EXPECT_TRUE(exact[0]["kinks"][0]["between"].GetBool());
  EXPECT_FALSE((*json)["passed"].GetBool());
}

TEST(Oracle, CatchesASecondDerivativeWrongInASliverNextToAKink) {
  const OpDef& op = MakeActivation({
      .name = "sliver_elu",
      .generic = Generic([](auto x, const Attrs&) {
        using std::expm1;
        return x > 0 ? x : decltype(x)(expm1(x));
      }),
      .derivative = [](double x, double, const Attrs&) { return x > 0 ? 1.0 : std::exp(x); },
      .second_derivative =
          [](double x, double, const Attrs&) {
            return x > 0 ? 0.0 : (x > -1e-10 ? 0.0 : std::exp(x));
          },
      .kinks = {kKinkAtZero, kKinkAtZero + 1},
  });
  const OracleReport r = CheckRow(op);
  EXPECT_FALSE(r.passed);
  ASSERT_TRUE(r.second_derivative.has_value());
  EXPECT_LT(r.second_derivative->worst_x, 0);
  EXPECT_GT(r.second_derivative->worst_x, -1e-10);
  EXPECT_TRUE(r.derivative.failed == 0) << r.ToString();
}

// log(1 + e^x) overflows to inf past x = 709.8 in double, where the true
// value (about x) fits; the long double evaluation tells them apart.
TEST(Oracle, CatchesAForwardThatOverflowsWhereTheFunctionDoesNot) {
  const OpDef& op = MakeActivation({
      .name = "naive_softplus",
      .generic = Generic([](auto x, const Attrs&) {
        using std::exp, std::log;
        return log(1 + exp(x));
      }),
  });
  const OracleReport r = CheckRow(op);
  EXPECT_FALSE(r.passed);
  bool overflow = false;
  for (const OracleProblem& p : r.problems) {
    if (p.why == "infinity where the true value fits" && p.quantity == "forward") {
      overflow = true;
      EXPECT_GT(p.x, 709);
      EXPECT_NEAR(double(p.reference), p.x, 1e-9 * p.x);
    }
  }
  EXPECT_TRUE(overflow) << r.ToString();
}

// sigmoid' as y (1 - y) from the rounded output in a row that keeps its
// input: 1 - y cancels for x beyond 20, which an input-based formula avoids.
TEST(Oracle, CatchesADerivativeThatCancelsAtSaturation) {
  const OpDef& op = MakeActivation({
      .name = "cancelling_sigmoid",
      .generic = Generic(kSigmoidForward),
      .derivative = [](double, double y, const Attrs&) { return y * (1 - y); },
  });
  const OracleReport r = CheckRow(op);
  EXPECT_FALSE(r.passed);
  EXPECT_GT(r.derivative.worst_x, 10) << r.ToString();
}

TEST(Oracle, CatchesNanFromAFiniteInput) {
  const OpDef& op = MakeActivation({
      .name = "nan_sigmoid_derivative",
      .generic = Generic(kSigmoidForward),
      // e^-x / (1 + e^-x)^2 is inf / inf for x below -709.
      .derivative =
          [](double x, double, const Attrs&) {
            const double e = std::exp(-x);
            return e / ((1 + e) * (1 + e));
          },
  });
  const OracleReport r = CheckRow(op);
  EXPECT_FALSE(r.passed);
  bool nan = false;
  for (const OracleProblem& p : r.problems) {
    nan |= p.why == "NaN from a finite input" && p.quantity == "derivative" && p.x < -709;
  }
  EXPECT_TRUE(nan) << r.ToString();
}

TEST(Oracle, AKinksValueIsAConventionOnlyBetweenTheOneSidedLimits) {
  auto relu_with_derivative_at_zero = [](const char* name, auto derivative) {
    return CheckRow(MakeActivation({.name = name,
                                    .generic = Generic(kReluForward),
                                    .derivative = derivative,
                                    .kinks = {kKinkAtZero, kKinkAtZero + 1}}));
  };
  const OracleReport half =
      relu_with_derivative_at_zero("relu_half_at_zero", [](double x, double, const Attrs&) {
        return x > 0 ? 1.0 : x < 0 ? 0.0 : 0.5;
      });
  EXPECT_TRUE(half.passed) << half.ToString();
  ASSERT_FALSE(half.kinks.empty());
  EXPECT_EQ(half.kinks[0].chosen, 0.5);
  EXPECT_EQ(half.kinks[0].left_limit, 0.0L);
  EXPECT_EQ(half.kinks[0].right_limit, 1.0L);
  EXPECT_TRUE(half.kinks[0].between);
  EXPECT_THAT(half.ToString(), HasSubstr("a convention"));

  const OracleReport two =
      relu_with_derivative_at_zero("relu_two_at_zero", [](double x, double, const Attrs&) {
        return x > 0 ? 1.0 : x < 0 ? 0.0 : 2.0;
      });
  EXPECT_FALSE(two.passed);
  EXPECT_THAT(testing::PrintToString(two.failures), HasSubstr("not between the one-sided limits"));
}

TEST(Oracle, AnActivationWithoutAGenericFormulaIsNotChecked) {
  const OpDef& op = MakeActivation({
      .name = "closed_form_only",
      .forward = [](double x, const Attrs&) { return x * x; },
      .derivative = [](double x, double, const Attrs&) { return 2 * x; },
  });
  const OracleReport r = CheckRow(op);
  EXPECT_FALSE(r.checked);
  EXPECT_THAT(r.ToString(), HasSubstr("no generic formula"));
}

// ------------------------------------------------- forward-only activations

constexpr auto kMishByHand = [](auto x, const Attrs&) {
  using std::exp, std::log1p, std::tanh;
  using T = decltype(x);
  const T softplus = x > 0 ? T(x + log1p(exp(-x))) : T(log1p(exp(x)));
  return x * tanh(softplus);
};

TEST(ForwardOnlyActivation, TakesBothDerivativesFromDualNumbers) {
  absl::StatusOr<const OpDef*> defined = DefineActivation({
      .name = "test_mish_by_hand",
      .formula = "y = x tanh(softplus(x))",
      .generic = Generic(kMishByHand),
  });
  ASSERT_TRUE(defined.ok()) << defined.status();
  const OpDef& op = **defined;
  const OpDef& mish = **OpRegistry::Global().Find("mish");

  // First and second derivatives through the graph equal the built-in
  // mish's hand-written ones.
  const std::vector<double> points = {-30, -3, -0.5, 0, 0.7, 4, 30};
  for (const OpDef* row : {&op, &mish}) {
    Tensor x = FromValues(points, Shape{static_cast<int64_t>(points.size())}, DType::kFloat64);
    x.set_requires_grad(true);
    const Tensor g = Grad(Sum(Apply(*row, {x})), {x}, Tensor(), {.create_graph = true})[0];
    const Tensor h = Grad(Sum(g), {x})[0];
    for (size_t i = 0; i < points.size(); ++i) {
      const OracleValues exact = Oracle(*op.formulas->generic, points[i], Attrs{});
      EXPECT_NEAR(g.ToVector()[i], double(exact.derivative), 1e-14) << row->name << points[i];
      EXPECT_NEAR(h.ToVector()[i], double(exact.second_derivative), 1e-14)
          << row->name << points[i];
    }
  }

  // The full report, second order included, passes.
  ConformanceOptions options;
  options.second_order = true;
  const ConformanceReport report = CheckConformance(op, options);
  EXPECT_TRUE(report.passed) << report.ToString();
  EXPECT_EQ(report.exact.size(), 2u);
}

// Mish written as x tanh(log1p(exp(x))) gives a NaN derivative past
// x = 11356, where e^x overflows even in long double; with the library's
// softplus it passes the full report with no branch.
TEST(ForwardOnlyActivation, MishBySoftplusPassesWhereTheOneExpressionFormFails) {
  constexpr auto kOneExpression = [](auto x, const Attrs&) {
    using std::exp, std::log1p, std::tanh;
    return x * tanh(log1p(exp(x)));
  };
  constexpr auto kBySoftplus = [](auto x, const Attrs&) {
    using actgrad::softplus;
    using std::tanh;
    return x * tanh(softplus(x));
  };
  ConformanceOptions options;
  options.second_order = true;
  absl::StatusOr<const OpDef*> one_expression = DefineActivation({
      .name = "test_mish_one_expression",
      .formula = "y = x tanh(log1p(exp(x)))",
      .generic = Generic(kOneExpression),
  });
  ASSERT_TRUE(one_expression.ok()) << one_expression.status();
  EXPECT_FALSE(CheckConformance(**one_expression, options).passed);
  absl::StatusOr<const OpDef*> by_softplus = DefineActivation({
      .name = "test_mish_by_softplus",
      .formula = "y = x tanh(softplus(x))",
      .generic = Generic(kBySoftplus),
  });
  ASSERT_TRUE(by_softplus.ok()) << by_softplus.status();
  const ConformanceReport report = CheckConformance(**by_softplus, options);
  EXPECT_TRUE(report.passed) << report.ToString();
  EXPECT_EQ(report.exact.size(), 2u);
}

TEST(ForwardOnlyActivation, ADefinitionNeedsAGenericFormulaOrBothFormulas) {
  absl::StatusOr<const OpDef*> neither = DefineActivation({.name = "nothing_given"});
  EXPECT_EQ(neither.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(neither.status().message(), HasSubstr("generic formula"));
}

}  // namespace
}  // namespace actgrad
