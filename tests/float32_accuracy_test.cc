// The float32 kernels against exact values, in ulps: every registered
// activation's forward and derivative over every binade of the float range
// (subnormals, +-0, +-inf and NaN included), at each attribute's default
// and at the ends of its declared range, through the derivative oracle
// (check/derivative_oracle.h); and the losses at logits up to +-1e4 against
// long double references.
//
// Forwards must be within 4 ulps of the exact value outright; derivatives
// within 4 ulps plus what the function's own conditioning costs (the
// oracle's allowance: the input's rounding, and for rows that keep only
// their output, sigmoid and tanh, the output's).

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "actgrad.h"
#include "check/derivative_oracle.h"
#include "ops/generic_formula.h"
#include "ops/registry.h"

namespace actgrad {
namespace {

// Points per binade on each side of zero: the sanitizer builds run about
// ten times slower, and take a sparser grid.
#if defined(__SANITIZE_ADDRESS__)
constexpr int kPointsPerBinade = 12;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr int kPointsPerBinade = 12;
#else
constexpr int kPointsPerBinade = 96;
#endif
#else
constexpr int kPointsPerBinade = 96;
#endif

struct ActivationCase {
  const OpDef* op;
  Attrs attrs;
  std::string label;
};

// Every elementwise activation with formulas, at its defaults and at the
// ends of each attribute's declared range.
std::vector<ActivationCase> ActivationCases() {
  std::vector<ActivationCase> cases;
  for (const OpDef* op : OpRegistry::Global().Activations()) {
    if (op->kind != OpKind::kActivation || op->formulas == nullptr) continue;
    cases.push_back({op, Attrs{}, std::string(op->name)});
    for (const AttrSpec& spec : op->attrs) {
      for (double v : {spec.low, spec.high}) {
        Attrs attrs;
        double* slot = RealSlot(spec, attrs);
        if (slot == nullptr || std::isnan(v)) continue;
        *slot = v;
        std::string label = absl::StrCat(op->name, "_", spec.name, "_", v);
        for (char& c : label) {
          if (c == '.' || c == '-') c = c == '.' ? 'p' : 'm';
        }
        cases.push_back({op, attrs, label});
      }
    }
  }
  return cases;
}

class Float32ActivationTest : public testing::TestWithParam<ActivationCase> {};

TEST_P(Float32ActivationTest, WithinFourUlpsOverEveryBinade) {
  const ActivationCase& c = GetParam();
  const OracleReport report = CheckAgainstOracle(
      *c.op, c.attrs,
      {.dtype = DType::kFloat32, .points_per_binade = kPointsPerBinade, .second_order = false});
  ASSERT_TRUE(report.checked) << c.op->name << " has no generic formula to check against";
  std::printf("%s: forward %.2f ulps, derivative %.2f ulps (%.2f beyond allowance)\n",
              c.label.c_str(), report.forward.max_ulps, report.derivative.max_ulps,
              report.derivative.max_ulps_beyond_allowance);
  EXPECT_TRUE(report.passed) << report.ToString();
  EXPECT_LE(report.forward.max_ulps_beyond_allowance, 4.0) << report.ToString();
  EXPECT_LE(report.derivative.max_ulps_beyond_allowance, 4.0) << report.ToString();
}

INSTANTIATE_TEST_SUITE_P(Registry, Float32ActivationTest, testing::ValuesIn(ActivationCases()),
                         [](const testing::TestParamInfo<ActivationCase>& info) {
                           return info.param.label;
                         });

// ------------------------------------------------------------------ losses

using LD = long double;

// |value - reference| in float32 ulps of the reference.
double UlpsOff(double value, LD reference) {
  if (std::isnan(value) || std::isinf(value)) return std::numeric_limits<double>::infinity();
  return double(std::fabs(value - reference) / Ulp(reference, DType::kFloat32));
}

LD Sigmoid(LD z) {
  if (z >= 0) return 1 / (1 + std::exp(-z));
  const LD e = std::exp(z);
  return e / (1 + e);
}

constexpr double kLogits[] = {-1e4, -3e3, -1e3, -150,  -100, -90,  -40, -20, -17, -10,
                              -3,   -1,   -0.1, -1e-4, 0,    1e-4, 0.1, 1,   3,   10,
                              17,   20,   40,   90,    100,  150,  1e3, 3e3, 1e4};

// Loss and gradient of one element, so that the mean is the element's own.
// A scalar graph (one value per tensor) takes the kernels' one-at-a-time
// path: it holds the same contract, value by value over every binade.
TEST(Float32ActivationTest, OneValueAtATimeIsWithinFourUlps) {
  const std::vector<double> grid = OracleGrid({.dtype = DType::kFloat32}, {});
  for (const char* name : {"sigmoid", "tanh"}) {
    const OpDef& op = **OpRegistry::Global().Find(name);
    double worst = 0;
    for (double x : grid) {
      if (!std::isfinite(x)) continue;
      const double y = Apply(op, {FromValues({x}, DType::kFloat32)}).item();
      const long double exact = Oracle(*op.formulas->generic, x, Attrs{}).value;
      worst = std::max(worst, double(std::fabs(y - exact) / Ulp(exact, DType::kFloat32)));
    }
    EXPECT_LE(worst, 4.0) << name;
  }
}

TEST(Float32LossTest, BinaryCrossEntropyWithLogitsKeepsItsDigitsAtLargeLogits) {
  const OpDef& op = **OpRegistry::Global().Find("binary_cross_entropy_with_logits");
  for (double z : kLogits) {
    for (double t : {0.0, 0.25, 0.75, 1.0}) {
      Tensor logit = FromValues({z}, Shape{1}).set_requires_grad(true);
      Tensor target = FromValues({t}, Shape{1}).set_requires_grad(true);
      const Tensor loss = Apply(op, {logit, target});
      loss.Backward();
      const LD zl = z, tl = t;
      const LD expected = (zl > 0 ? zl : 0) - zl * tl + std::log1p(std::exp(-std::fabs(zl)));
      // sigmoid(z) - t without cancelling: (1 - t) - sigmoid(-z) for z >= 0.
      const LD dz = zl >= 0 ? (1 - tl) - Sigmoid(-zl) : Sigmoid(zl) - tl;
      EXPECT_LE(UlpsOff(loss.item(), expected), 4) << "loss at z=" << z << " t=" << t << ": "
                                                   << loss.item() << ", exact " << double(expected);
      EXPECT_LE(UlpsOff(logit.grad().item(), dz), 4)
          << "dz at z=" << z << " t=" << t << ": " << logit.grad().item() << ", exact "
          << double(dz);
      EXPECT_LE(UlpsOff(target.grad().item(), -zl), 4) << "dt at z=" << z;
    }
  }
}

TEST(Float32LossTest, CrossEntropyKeepsItsDigitsAtLargeLogits) {
  const OpDef& op = **OpRegistry::Global().Find("cross_entropy");
  // Rows of three logits; every label of each.
  const std::vector<std::vector<double>> rows = {
      {1e4, -1e4, 0},      {1e4, 1e4 - 1, 1e4 - 20}, {-1e4, -1e4 + 0.5, -1e4 + 30}, {20, 0, -20},
      {30, 0, 0},          {1e4, 9990, 1e4 - 104},   {0.5, 0.25, -0.125},           {100, 100, 100},
      {-3e3, 3e3, 2999.75}};
  for (const std::vector<double>& row : rows) {
    for (int64_t label = 0; label < 3; ++label) {
      Tensor logits = FromValues(row, Shape{1, 3}).set_requires_grad(true);
      const std::vector<double> z = logits.ToVector();  // as float32 holds them
      const Tensor loss = Apply(op, {logits, Labels({label})});
      loss.Backward();
      int top = 0;
      for (int c = 1; c < 3; ++c) top = z[c] > z[top] ? c : top;
      const LD m = z[top];
      LD rest = 0;  // the sum of exp(z - m) but for the largest
      for (int c = 0; c < 3; ++c) rest += c == top ? 0 : std::exp(LD(z[c]) - m);
      const LD sum = 1 + rest;
      const LD expected = (m - LD(z[label])) + std::log1p(rest);
      EXPECT_LE(UlpsOff(loss.item(), expected), 4)
          << "loss of " << testing::PrintToString(row) << " at label " << label << ": "
          << loss.item() << ", exact " << double(expected);
      const std::vector<double> dz = logits.grad().ToVector();
      for (int64_t c = 0; c < 3; ++c) {
        const LD p = std::exp(LD(z[c]) - m) / sum;
        LD d = p;
        if (c == label) {  // p - 1 = -(the other probabilities)
          d = 0;
          for (int64_t k = 0; k < 3; ++k) d -= k == label ? 0 : std::exp(LD(z[k]) - m) / sum;
        }
        EXPECT_LE(UlpsOff(dz[c], d), 4)
            << "dz[" << c << "] of " << testing::PrintToString(row) << " at label " << label << ": "
            << dz[c] << ", exact " << double(d);
      }
    }
  }
}

TEST(Float32LossTest, BinaryCrossEntropyAndMseAreAccurate) {
  const OpDef& bce = **OpRegistry::Global().Find("binary_cross_entropy");
  const OpDef& mse = **OpRegistry::Global().Find("mse_loss");
  for (double p : {1e-30, 1e-7, 0.001, 0.25, 0.5, 0.75, 0.999, 1 - 0x1p-24}) {
    for (double t : {0.0, 0.25, 1.0}) {
      Tensor prob = FromValues({p}, Shape{1}).set_requires_grad(true);
      Tensor target = FromValues({t}, Shape{1});
      const Tensor loss = Apply(bce, {prob, target});
      loss.Backward();
      const LD pl = prob.ToVector()[0], tl = t;
      const LD expected =
          -(tl * std::max<LD>(std::log(pl), -100) + (1 - tl) * std::max<LD>(std::log1p(-pl), -100));
      EXPECT_LE(UlpsOff(loss.item(), expected), 4) << "bce at p=" << p << " t=" << t;
      const LD dp = (pl - tl) / std::max<LD>(pl * (1 - pl), 1e-12L);
      EXPECT_LE(UlpsOff(prob.grad().item(), dp), 4) << "dbce/dp at p=" << p << " t=" << t;
    }
  }
  for (double p : {1e4, 1.0, 1e-3}) {
    Tensor prediction = FromValues({p}, Shape{1}).set_requires_grad(true);
    Tensor target = FromValues({p * (1 + 0x1p-20)}, Shape{1});
    const Tensor loss = Apply(mse, {prediction, target});
    loss.Backward();
    const LD difference = LD(prediction.ToVector()[0]) - LD(target.ToVector()[0]);
    EXPECT_LE(UlpsOff(loss.item(), difference * difference), 4) << "mse at " << p;
    EXPECT_LE(UlpsOff(prediction.grad().item(), 2 * difference), 4) << "dmse at " << p;
  }
}

}  // namespace
}  // namespace actgrad
