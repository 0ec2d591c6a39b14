// Misuse throws actgrad::Error naming the op, the shapes or dtypes, and the
// caller's file and line.

#include <gtest/gtest.h>

#include "actgrad.h"
#include "tests/test_util.h"

namespace actgrad {
namespace {

using ::testing::AllOf;
using testing::ErrorMessageOf;
using ::testing::HasSubstr;

TEST(ErrorsTest, MatmulNamesBothShapesAndTheCallersLine) {
  const Tensor a = Ones({3, 4});
  const Tensor b = Ones({5, 2});
  const int line = __LINE__ + 1;
  const std::string message = ErrorMessageOf([&] { Matmul(a, b); });
  EXPECT_THAT(message, AllOf(HasSubstr("matmul"), HasSubstr("[3,4]"), HasSubstr("[5,2]"),
                             HasSubstr(absl::StrCat("errors_test.cc:", line))));
}

TEST(ErrorsTest, OperatorsReportTheLineOfTheExpression) {
  const Tensor a = Ones({3});
  const Tensor b = Ones({4});
  const int line = __LINE__ + 1;
  const std::string message = ErrorMessageOf([&] { return a + b; });
  EXPECT_THAT(message, AllOf(HasSubstr("add: shapes cannot be broadcast"), HasSubstr("[3]"),
                             HasSubstr("[4]"), HasSubstr(absl::StrCat("errors_test.cc:", line))));
}

TEST(ErrorsTest, ErrorCarriesTheLocation) {
  try {
    Sum(Ones({2}) * Ones({2}, DType::kFloat64));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.message(), AllOf(HasSubstr("mul"), HasSubstr("float32"), HasSubstr("float64")));
    EXPECT_THAT(e.location().file_name(), HasSubstr("errors_test.cc"));
  }
}

TEST(ErrorsTest, BackwardOfANonScalarNeedsASeed) {
  Tensor x = Ones({2, 3}).set_requires_grad(true);
  const Tensor y = Tanh(x);
  EXPECT_THAT(ErrorMessageOf([&] { y.Backward(); }),
              AllOf(HasSubstr("seed gradient is needed"), HasSubstr("tanh"), HasSubstr("[2,3]"),
                    HasSubstr("errors_test.cc")));
  EXPECT_THAT(ErrorMessageOf([&] {
                y.Backward(Ones({3, 2}));
              }),
              AllOf(HasSubstr("seed gradient is [3,2]"), HasSubstr("[2,3]")));
}

TEST(ErrorsTest, GraphFreedByBackwardNamesTheNodeAndWhereItWasMade) {
  Tensor x = Ones({2}).set_requires_grad(true);
  const int line = __LINE__ + 1;
  const Tensor h = Sigmoid(x);
  const Tensor loss = Sum(h);
  loss.Backward();
  const std::string message = ErrorMessageOf([&] { Sum(h * 2.0).Backward(); });
  EXPECT_THAT(message,
              AllOf(HasSubstr("already freed"), HasSubstr("sigmoid"),
                    HasSubstr(absl::StrCat("errors_test.cc:", line)), HasSubstr("retain_graph")));
}

TEST(ErrorsTest, MixingFloat32AndFloat64) {
  EXPECT_THAT(ErrorMessageOf([] { Ones({2}) + Ones({2}, DType::kFloat64); }),
              AllOf(HasSubstr("add: dtypes differ"), HasSubstr("float32"), HasSubstr("float64")));
}

TEST(ErrorsTest, ShapeAndArgumentChecksOfOtherOps) {
  EXPECT_THAT(ErrorMessageOf([] {
                Reshape(Ones({2, 3}), {4, 2});
              }),
              AllOf(HasSubstr("reshape"), HasSubstr("[2,3]"), HasSubstr("[4,2]")));
  EXPECT_THAT(ErrorMessageOf([] {
                Sum(Ones({2, 3}), 2);
              }),
              AllOf(HasSubstr("sum: axis 2 is out of range"), HasSubstr("[2,3]")));
  EXPECT_THAT(ErrorMessageOf([] { Slice(Ones({4}), 0, 2, 9); }), HasSubstr("slice"));
  EXPECT_THAT(ErrorMessageOf([] { MseLoss(Ones({3}), Ones({4})); }),
              AllOf(HasSubstr("mse_loss"), HasSubstr("[3] and [4]")));
  EXPECT_THAT(ErrorMessageOf([] {
                CrossEntropy(Ones({2, 3}), Labels({0, 3}));
              }),
              HasSubstr("label 3 at row 1 is outside [0, 3)"));
  EXPECT_THAT(ErrorMessageOf([] {
                CrossEntropy(Ones({2, 3}), Ones({2}));
              }),
              HasSubstr("labels must be int64"));
  EXPECT_THAT(ErrorMessageOf([] { Tanh(Labels({1})); }), HasSubstr("int64"));
  EXPECT_THAT(ErrorMessageOf([] { Tanh(Tensor()); }), HasSubstr("tanh: input 0 is undefined"));
  EXPECT_THAT(ErrorMessageOf([] { Apply(ops::kAdd, {Ones({1})}); }),
              HasSubstr("add: takes 2 inputs, got 1"));
  EXPECT_THAT(ErrorMessageOf([] {
                FromValues({1, 2, 3}, Shape{2, 2});
              }),
              HasSubstr("3 values do not fill shape [2,2]"));
  EXPECT_THAT(ErrorMessageOf([] { ApplyByName("sigmod", std::vector<Tensor>{Ones({1})}); }),
              AllOf(HasSubstr("no op named \"sigmod\""), HasSubstr("sigmoid")));
}

TEST(ErrorsTest, BackwardThatProducesAWrongShapeIsNamed) {
  static const OpDef kBrokenRow{
      .name = "broken_row",
      .forward = [](ForwardContext& ctx) { return ctx.input(0).Clone(); },
      .backward = [](BackwardContext& ctx) { ctx.set_dx(0, Ones({7})); },
  };
  Tensor x = Ones({2}).set_requires_grad(true);
  EXPECT_THAT(ErrorMessageOf([&] { Sum(Apply(kBrokenRow, {x})).Backward(); }),
              AllOf(HasSubstr("backward of broken_row"), HasSubstr("[7]"), HasSubstr("[2]")));
}

}  // namespace
}  // namespace actgrad
