// Second derivatives: Grad(), recorded backwards (create_graph), Hessian-
// vector products, and the second-order checker over every registered op.

#include <gtest/gtest.h>

#include <cmath>

#include "actgrad.h"
#include "ops/scalar_activation.h"
#include "tests/test_util.h"

namespace actgrad {
namespace {

using ::testing::HasSubstr;

TEST(GradTest, ReturnsGradientsWithoutTouchingLeaves) {
  Tensor x = FromValues({1.0, 2.0}, DType::kFloat64).set_requires_grad(true);
  Tensor unused = FromValues({3.0}, DType::kFloat64).set_requires_grad(true);
  const Tensor h = x * x;
  const std::vector<Tensor> g = Grad(Sum(h * 3.0), {x, h, unused});
  EXPECT_THAT(g[0].ToVector(), ::testing::ElementsAre(6.0, 12.0));
  EXPECT_THAT(g[1].ToVector(), ::testing::ElementsAre(3.0, 3.0));  // an intermediate
  EXPECT_THAT(g[2].ToVector(), ::testing::ElementsAre(0.0));       // not used
  EXPECT_FALSE(x.grad().defined());
}

TEST(CreateGraphTest, HessianVectorProduct) {
  // f = sum(tanh(x) * x);  grad = tanh + x (1 - tanh^2);
  // Hessian is diagonal: 2 (1 - t^2) - 2 x t (1 - t^2).
  const std::vector<double> xs = {-1.2, 0.3, 0.8};
  const std::vector<double> v = {0.5, -1.0, 2.0};
  Tensor x = FromValues(xs, Shape{3}, DType::kFloat64).set_requires_grad(true);
  const Tensor g = Grad(Sum(Tanh(x) * x), {x}, Tensor(), {.create_graph = true})[0];
  EXPECT_TRUE(g.requires_grad());
  const Tensor hv = Grad(Sum(g * FromValues(v, Shape{3}, DType::kFloat64)), {x})[0];
  for (size_t i = 0; i < xs.size(); ++i) {
    const double t = std::tanh(xs[i]);
    const double h = 2 * (1 - t * t) - 2 * xs[i] * t * (1 - t * t);
    EXPECT_NEAR(hv.ToVector()[i], h * v[i], 1e-12);
  }
}

TEST(CreateGraphTest, DoubleBackwardThroughLeafGradients) {
  // d/dx (dy/dx)^2 for y = x^3: (3x^2)^2 = 9 x^4, derivative 36 x^3.
  Tensor x = FromValues({1.5}, DType::kFloat64).set_requires_grad(true);
  Sum(Pow(x, 3.0)).Backward({.create_graph = true});
  const Tensor first = x.grad();
  EXPECT_DOUBLE_EQ(first.item(), 3 * 1.5 * 1.5);
  EXPECT_TRUE(first.requires_grad());
  const Tensor second = Grad(Sum(Square(first)), {x})[0];
  EXPECT_NEAR(second.item(), 36 * 1.5 * 1.5 * 1.5, 1e-9);
}

// A recorded backward grows the graph while the sweep walks it; the sweep
// must not hold on to anything inside it (this shape of graph once read
// freed memory).
TEST(CreateGraphTest, SurvivesTheGraphGrowingUnderTheSweep) {
  Tensor x = FromValues({2.0}, Shape{1, 1, 1}, DType::kFloat64).set_requires_grad(true);
  const Tensor v1 = Log(x);
  const Tensor v2 = v1 * v1, v3 = v1 * v1;
  const Tensor v4 = v3 * v3, v5 = v2 * v2;
  const Tensor y = v5 * v3;  // log(x)^6
  const Tensor g = Grad(Sum(y), {x}, Tensor(), {.create_graph = true})[0];
  const double l = std::log(2.0);
  EXPECT_NEAR(g.item(), 6 * std::pow(l, 5) / 2.0, 1e-12);
  EXPECT_NEAR(Grad(Sum(g), {x})[0].item(), (30 * std::pow(l, 4) - 6 * std::pow(l, 5)) / 4.0, 1e-12);
  (void)v4;
}

// Every registered op has a recorded backward, and it agrees with finite
// differences of the first derivative on the op's own sample inputs.
class SecondOrderTest : public ::testing::TestWithParam<const OpDef*> {};

TEST_P(SecondOrderTest, MatchesFiniteDifferencesOfTheFirstDerivative) {
  const OpDef& op = *GetParam();
  ASSERT_NE(op.backward_graph, nullptr) << op.name << " cannot be differentiated twice";
  Generator gen(3);
  for (const GradCheckCase& c : op.check_cases(gen)) {
    GradCheckOptions options;
    options.kinks.assign(op.kinks.begin(), op.kinks.end());
    options.kinks.insert(options.kinks.end(), c.kinks.begin(), c.kinks.end());
    options.atol = 1e-6;
    options.rtol = 1e-4;
    const Attrs attrs = c.attrs;
    const GradCheckReport report = GradCheckSecondOrder(
        [&op, attrs](std::span<const Tensor> in) { return Apply(op, in, attrs); }, c.inputs,
        options);
    // Piecewise-linear ops have a zero second derivative: then both sides
    // are zero, which the checker reports as proving nothing.
    EXPECT_TRUE(report.passed || report.verdict == "all gradients are zero")
        << op.name << ", case " << c.description << "\n"
        << report.ToString();
  }
}

INSTANTIATE_TEST_SUITE_P(AllRegisteredOps, SecondOrderTest,
                         ::testing::ValuesIn(OpRegistry::Global().All()),
                         [](const ::testing::TestParamInfo<const OpDef*>& info) {
                           return std::string(info.param->name);
                         });

double Cube(double x, const Attrs&) { return x * x * x; }
double CubeDerivative(double x, double, const Attrs&) { return 3 * x * x; }

TEST(SecondOrderCheckerTest, CatchesAWrongSecondDerivative) {
  const OpDef& right =
      MakeActivation({.name = "cube",
                      .forward = &Cube,
                      .derivative = &CubeDerivative,
                      .second_derivative = [](double x, double, const Attrs&) { return 6 * x; }});
  const OpDef& wrong =
      MakeActivation({.name = "cube_wrong_second",
                      .forward = &Cube,
                      .derivative = &CubeDerivative,
                      .second_derivative = [](double x, double, const Attrs&) { return 3 * x; }});
  const Tensor x = FromValues({-1.5, 0.5, 2.0}, DType::kFloat64);
  auto check = [&](const OpDef& op) {
    return GradCheckSecondOrder([&op](std::span<const Tensor> in) { return Apply(op, in); }, {x});
  };
  EXPECT_TRUE(check(right).passed) << check(right).ToString();
  const GradCheckReport report = check(wrong);
  EXPECT_FALSE(report.passed);
  EXPECT_EQ(report.verdict, "mismatch");
  EXPECT_DOUBLE_EQ(report.worst.front().x, 2.0);  // the largest |6x - 3x|
}

TEST(SecondOrderCheckerTest, AnActivationWithoutSecondDerivativeSaysSo) {
  const OpDef& op =
      MakeActivation({.name = "cube_first_only", .forward = &Cube, .derivative = &CubeDerivative});
  Tensor x = FromValues({0.5}, DType::kFloat64).set_requires_grad(true);
  const Tensor g = Grad(Sum(Apply(op, {x})), {x}, Tensor(), {.create_graph = true})[0];
  EXPECT_THAT(testing::ErrorMessageOf([&] { Grad(Sum(g), {x}); }),
              HasSubstr("no second-derivative formula"));
}

}  // namespace
}  // namespace actgrad
