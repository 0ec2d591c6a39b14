// Known values of each activation and its derivative (claims C1-C5),
// including saturated inputs, and the ReLU derivative at exactly 0 (C3).

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "actgrad.h"
#include "tests/test_util.h"

namespace actgrad {
namespace {

struct KnownValue {
  const char* op;
  double x;
  double y;
  double dydx;
};

// One line per point: forward and derivative as the article defines them.
constexpr KnownValue kKnownValues[] = {
    {"sigmoid", 0.0, 0.5, 0.25},
    {"sigmoid", 1.0, 0.7310585786300049, 0.19661193324148185},
    {"sigmoid", -1.0, 0.2689414213699951, 0.19661193324148185},
    {"sigmoid", 5.0, 0.9933071490757153, 0.006648056670790033},
    {"sigmoid", -5.0, 0.0066928509242848554, 0.006648056670790033},
    {"sigmoid", 100.0, 1.0, 0.0},
    {"sigmoid", -100.0, 3.720075976020836e-44, 3.720075976020836e-44},
    {"tanh", 0.0, 0.0, 1.0},
    {"tanh", 1.0, 0.7615941559557649, 0.41997434161402614},
    {"tanh", -1.0, -0.7615941559557649, 0.41997434161402614},
    {"tanh", 5.0, 0.9999092042625951, 0.00018158323094407235},
    {"tanh", -5.0, -0.9999092042625951, 0.00018158323094407235},
    {"tanh", 100.0, 1.0, 0.0},
    {"tanh", -100.0, -1.0, 0.0},
    {"relu", 0.0, 0.0, 0.0},
    {"relu", 1.0, 1.0, 1.0},
    {"relu", -1.0, 0.0, 0.0},
    {"relu", 5.0, 5.0, 1.0},
    {"relu", -5.0, 0.0, 0.0},
    {"relu", 100.0, 100.0, 1.0},
    {"relu", -100.0, 0.0, 0.0},
    {"leaky_relu", 0.0, 0.0, 0.01},
    {"leaky_relu", 1.0, 1.0, 1.0},
    {"leaky_relu", -1.0, -0.01, 0.01},
    {"leaky_relu", 5.0, 5.0, 1.0},
    {"leaky_relu", -5.0, -0.05, 0.01},
    {"leaky_relu", -100.0, -1.0, 0.01},
    {"identity", 0.0, 0.0, 1.0},
    {"identity", -5.0, -5.0, 1.0},
    {"identity", 100.0, 100.0, 1.0},
};

class KnownValueTest : public ::testing::TestWithParam<KnownValue> {};

TEST_P(KnownValueTest, ForwardAndDerivativeInBothDtypes) {
  const KnownValue& k = GetParam();
  const OpDef& op = **OpRegistry::Global().Find(k.op);
  for (DType dtype : {DType::kFloat64, DType::kFloat32}) {
    const double tolerance = dtype == DType::kFloat64 ? 1e-12 : 2e-6;
    Tensor x = FromValues({k.x}, dtype).set_requires_grad(true);
    const Tensor y = Apply(op, {x});
    Sum(y).Backward();
    EXPECT_TRUE(std::isfinite(y.item()) && std::isfinite(x.grad().item()));
    EXPECT_NEAR(y.item(), k.y, tolerance * std::max(1.0, std::abs(k.y)))
        << k.op << "(" << k.x << ") in " << DTypeName(dtype);
    EXPECT_NEAR(x.grad().item(), k.dydx, tolerance)
        << k.op << "'(" << k.x << ") in " << DTypeName(dtype);
    // The scalar reference formulas of the row say the same.
    EXPECT_NEAR(op.formulas->forward(k.x, Attrs{}), k.y, 1e-12 * std::max(1.0, std::abs(k.y)));
    EXPECT_NEAR(op.formulas->derivative(k.x, k.y, Attrs{}), k.dydx, 1e-12);
  }
}

INSTANTIATE_TEST_SUITE_P(Activations, KnownValueTest, ::testing::ValuesIn(kKnownValues),
                         [](const ::testing::TestParamInfo<KnownValue>& info) {
                           std::string name =
                               absl::StrCat(info.param.op, "_at_", info.param.x < 0 ? "minus_" : "",
                                            std::abs(info.param.x));
                           std::replace(name.begin(), name.end(), '.', '_');
                           return name;
                         });

// Every registered activation: its vectorized kernels agree with the scalar
// formulas of its row over a grid, in float64.
TEST(ActivationKernelsTest, AgreeWithTheRowsScalarFormulas) {
  std::vector<double> grid;
  for (double x = -8.0; x <= 8.0; x += 0.37) grid.push_back(x);
  for (const OpDef* op : OpRegistry::Global().Activations()) {
    ASSERT_NE(op->formulas, nullptr) << op->name;
    Tensor x = FromValues(grid, Shape{static_cast<int64_t>(grid.size())}, DType::kFloat64)
                   .set_requires_grad(true);
    const Tensor y = Apply(*op, {x});
    Sum(y).Backward();
    const std::vector<double> ys = y.ToVector();
    const std::vector<double> dys = x.grad().ToVector();
    const Attrs defaults = WithDefaults(*op, Attrs{});
    for (size_t i = 0; i < grid.size(); ++i) {
      const double expected_y = op->formulas->forward(grid[i], defaults);
      EXPECT_NEAR(ys[i], expected_y, 1e-12 * std::max(1.0, std::abs(expected_y)))
          << op->name << " at " << grid[i];
      EXPECT_NEAR(dys[i], op->formulas->derivative(grid[i], expected_y, defaults), 1e-12)
          << op->name << "' at " << grid[i];
    }
  }
}

TEST(ReluTest, DerivativeAtExactlyZeroFollowsTheAttribute) {
  for (double at_zero : {0.0, 1.0}) {
    Tensor x = FromValues({-1.0, 0.0, 2.0}).set_requires_grad(true);
    Sum(Relu(x, at_zero)).Backward();
    EXPECT_THAT(x.grad().ToVector(), ::testing::ElementsAre(0.0, at_zero, 1.0));
  }
}

TEST(LeakyReluTest, SlopeFollowsAlpha) {
  Tensor x = FromValues({-2.0, 3.0}).set_requires_grad(true);
  const Tensor y = LeakyRelu(x, 0.2);
  Sum(y).Backward();
  EXPECT_THAT(y.ToVector(), testing::ElementsAreNear({-0.4, 3.0}, 1e-6));
  EXPECT_THAT(x.grad().ToVector(), testing::ElementsAreNear({0.2, 1.0}, 1e-6));
}

TEST(ActivationGainTest, MatchesPyTorchCalculateGain) {
  EXPECT_DOUBLE_EQ(ops::kTanh.gain(Attrs{}), 5.0 / 3.0);
  EXPECT_DOUBLE_EQ(ops::kRelu.gain(Attrs{}), std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(ops::kLeakyRelu.gain(Attrs{}), std::sqrt(2.0 / (1 + 0.01 * 0.01)));
  EXPECT_EQ(ops::kSigmoid.gain, nullptr);  // 1
}

TEST(SaturationTest, ExtremeInputsStayFinite) {
  for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
    Tensor x = FromValues({-1000.0, -100.0, 100.0, 1000.0}, dtype).set_requires_grad(true);
    const Tensor y = Sum(Sigmoid(x)) + Sum(Tanh(x));
    y.Backward();
    for (double v : x.grad().ToVector()) EXPECT_TRUE(std::isfinite(v)) << DTypeName(dtype);
    EXPECT_TRUE(std::isfinite(y.item()));
  }
}

}  // namespace
}  // namespace actgrad
