// Every registered op, gradient-checked in float64 on its own sample inputs.
// A new row is covered the moment it is registered; nobody lists ops here.

#include <gtest/gtest.h>

#include <string>

#include "actgrad.h"
#include "tests/test_util.h"

namespace actgrad {
namespace {

class OpGradientTest : public ::testing::TestWithParam<const OpDef*> {};

TEST_P(OpGradientTest, MatchesFiniteDifferences) {
  const OpDef& op = *GetParam();
  ASSERT_NE(op.check_cases, nullptr) << op.name << " has no sample inputs to check on";
  const OpCheckResult result = CheckOp(op, /*seed=*/7);
  ASSERT_FALSE(result.cases.empty());
  for (const OpCaseResult& c : result.cases) {
    EXPECT_TRUE(c.report.passed) << op.name << ", case " << c.description << ":\n"
                                 << c.report.ToString();
    EXPECT_GT(c.report.checked, 0) << op.name << ", case " << c.description;
  }
}

// The float32 kernels agree with the float64 ones (the gradient check itself
// runs in float64 only).
TEST_P(OpGradientTest, Float32ForwardAndBackwardAgreeWithFloat64) {
  const OpDef& op = *GetParam();
  Generator gen(11);
  for (const GradCheckCase& c : op.check_cases(gen)) {
    std::vector<Tensor> wide, narrow;
    for (const Tensor& t : c.inputs) {
      const bool floating = IsFloating(t.dtype());
      wide.push_back(floating ? t.Clone().set_requires_grad(true) : t);
      narrow.push_back(floating ? ToDType(t, DType::kFloat32).set_requires_grad(true) : t);
    }
    const Tensor y64 = Apply(op, wide, c.attrs);
    const Tensor y32 = Apply(op, narrow, c.attrs);
    ASSERT_EQ(y32.dtype(), DType::kFloat32) << op.name;
    const std::vector<double> expected = y64.ToVector();
    const std::vector<double> got = y32.ToVector();
    for (size_t i = 0; i < expected.size(); ++i) {
      EXPECT_NEAR(got[i], expected[i], 1e-5 * std::max(1.0, std::abs(expected[i])))
          << op.name << ", case " << c.description << ", output element " << i;
    }
    Sum(y64).Backward();
    Sum(y32).Backward();
    for (size_t k = 0; k < wide.size(); ++k) {
      if (!wide[k].requires_grad() || !wide[k].grad().defined()) continue;
      const std::vector<double> g64 = wide[k].grad().ToVector();
      const std::vector<double> g32 = narrow[k].grad().ToVector();
      for (size_t i = 0; i < g64.size(); ++i) {
        EXPECT_NEAR(g32[i], g64[i], 1e-4 * std::max(1.0, std::abs(g64[i])))
            << op.name << ", case " << c.description << ", input " << k << " element " << i;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllRegisteredOps, OpGradientTest,
                         ::testing::ValuesIn(OpRegistry::Global().All()),
                         [](const ::testing::TestParamInfo<const OpDef*>& info) {
                           return std::string(info.param->name);
                         });

TEST(OpRegistryTest, HoldsTheArticlesActivations) {
  std::vector<std::string> names;
  for (const OpDef* op : OpRegistry::Global().Activations()) names.emplace_back(op->name);
  EXPECT_THAT(names,
              ::testing::IsSupersetOf({"sigmoid", "tanh", "relu", "leaky_relu", "identity"}));
}

TEST(OpRegistryTest, UnknownNameSuggestsTheClosest) {
  absl::StatusOr<const OpDef*> found = OpRegistry::Global().Find("tahn");
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(found.status().message()), ::testing::HasSubstr("tanh"));
}

TEST(OpRegistryTest, RejectsADuplicateName) {
  OpDef twin = ops::kTanh;
  const absl::Status status = OpRegistry::Global().Register(twin);
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists);
}

TEST(OpRegistryTest, AcceptsANewRowAtRunTime) {
  static const OpDef kTwiceTanh = [] {
    OpDef row = ops::kTanh;
    row.name = "test_registered_tanh";
    return row;
  }();
  ASSERT_TRUE(OpRegistry::Global().Register(kTwiceTanh).ok());
  absl::StatusOr<const OpDef*> found = OpRegistry::Global().Find("test_registered_tanh");
  ASSERT_TRUE(found.ok());
  const std::vector<Tensor> inputs = {FromValues({0.5})};
  const Tensor y = ApplyByName("test_registered_tanh", inputs);
  EXPECT_NEAR(y.item(), std::tanh(0.5), 1e-6);
}

}  // namespace
}  // namespace actgrad
