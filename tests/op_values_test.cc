// Forward values of the non-activation ops, pinned by hand-computed numbers.

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "actgrad.h"
#include "tests/test_util.h"

namespace actgrad {
namespace {

using ::testing::ElementsAre;
using testing::ElementsAreNear;

TEST(ArithmeticTest, BroadcastsLikeNumPy) {
  const Tensor col = FromValues({1, 2, 3}, Shape{3, 1});
  const Tensor row = FromValues({10, 20}, Shape{2});
  const Tensor sum = col + row;
  EXPECT_EQ(sum.shape(), Shape({3, 2}));
  EXPECT_THAT(sum.ToVector(), ElementsAre(11, 21, 12, 22, 13, 23));
  const Tensor batch = FromValues({1, 2, 3, 4, 5, 6, 7, 8}, Shape{2, 2, 2});
  EXPECT_THAT((batch * FromValues({1, -1}, Shape{2, 1, 1})).ToVector(),
              ElementsAre(1, 2, 3, 4, -5, -6, -7, -8));
  EXPECT_THAT((2.0 - FromValues({1, 3})).ToVector(), ElementsAre(1, -1));
  EXPECT_THAT((FromValues({1, 3}) / 2.0).ToVector(), ElementsAre(0.5, 1.5));
}

TEST(ArithmeticTest, UnaryOps) {
  const Tensor x = FromValues({1.0, 4.0}, DType::kFloat64);
  EXPECT_THAT(Sqrt(x).ToVector(), ElementsAre(1.0, 2.0));
  EXPECT_THAT(Square(x).ToVector(), ElementsAre(1.0, 16.0));
  EXPECT_THAT(Pow(x, 1.5).ToVector(), ElementsAreNear({1.0, 8.0}, 1e-12));
  EXPECT_THAT(Log(Exp(x)).ToVector(), ElementsAreNear({1.0, 4.0}, 1e-12));
  EXPECT_THAT((-x).ToVector(), ElementsAre(-1.0, -4.0));
  EXPECT_THAT(Abs(FromValues({-2.0, 3.0})).ToVector(), ElementsAre(2.0, 3.0));
  EXPECT_THAT(Clamp(FromValues({-2.0, 0.5, 3.0}), -1.0, 1.0).ToVector(),
              ElementsAre(-1.0, 0.5, 1.0));
}

TEST(MatmulTest, PlainAndBatched) {
  const Tensor a = FromValues({1, 2, 3, 4, 5, 6}, Shape{2, 3});
  const Tensor b = FromValues({1, 0, 0, 1, 1, 1}, Shape{3, 2});
  EXPECT_THAT(Matmul(a, b).ToVector(), ElementsAre(4, 5, 10, 11));
  const Tensor batched = Concatenate({Reshape(a, {1, 2, 3}), Reshape(a * 2.0, {1, 2, 3})}, 0);
  const Tensor y = Matmul(batched, b);
  EXPECT_EQ(y.shape(), Shape({2, 2, 2}));
  EXPECT_THAT(y.ToVector(), ElementsAre(4, 5, 10, 11, 8, 10, 20, 22));
  EXPECT_EQ(Transpose(a).shape(), Shape({3, 2}));
  EXPECT_THAT(Transpose(a).ToVector(), ElementsAre(1, 4, 2, 5, 3, 6));
}

TEST(ShapeOpsTest, ReshapeConcatenateSlice) {
  const Tensor x = FromValues({0, 1, 2, 3, 4, 5}, Shape{2, 3});
  EXPECT_EQ(Reshape(x, {3, -1}).shape(), Shape({3, 2}));
  EXPECT_THAT(Slice(x, 1, 1, 3).ToVector(), ElementsAre(1, 2, 4, 5));
  EXPECT_THAT(Slice(x, 0, 1, 2).ToVector(), ElementsAre(3, 4, 5));
  const Tensor joined = Concatenate({x, FromValues({9, 9}, Shape{2, 1})}, 1);
  EXPECT_THAT(joined.ToVector(), ElementsAre(0, 1, 2, 9, 3, 4, 5, 9));
}

TEST(ReductionTest, SumMeanMax) {
  const Tensor x = FromValues({1, 5, 3, 4, 2, 6}, Shape{2, 3});
  EXPECT_EQ(Sum(x).shape(), Shape());
  EXPECT_DOUBLE_EQ(Sum(x).item(), 21);
  EXPECT_DOUBLE_EQ(Mean(x).item(), 3.5);
  EXPECT_THAT(Sum(x, 0).ToVector(), ElementsAre(5, 7, 9));
  EXPECT_THAT(Mean(x, 1).ToVector(), ElementsAre(3, 4));
  EXPECT_EQ(Sum(x, 1, /*keepdim=*/true).shape(), Shape({2, 1}));
  EXPECT_THAT(Max(x, 1).ToVector(), ElementsAre(5, 6));
  EXPECT_THAT(Max(x, 0).ToVector(), ElementsAre(4, 5, 6));
}

TEST(ReductionTest, RowsOfAnyLengthAndEmptyAxes) {
  // Rows whose byte length is not a multiple of the vector width start
  // unaligned after the first.
  EXPECT_THAT(Sum(Ones({2, 9}, DType::kFloat64), 1).ToVector(), ElementsAre(9, 9));
  EXPECT_THAT(Mean(Ones({32, 30}), 1).ToVector(), ::testing::Each(1.0));
  EXPECT_EQ(Softmax(Zeros({0, 3, 3}), 0).numel(), 0);
  EXPECT_EQ(LogSoftmax(Zeros({0, 3}, DType::kFloat64), 0).numel(), 0);
}

TEST(SoftmaxTest, RowsSumToOneAndLargeLogitsStayFinite) {
  const Tensor logits = FromValues({1000, 1001, 1002, -5000, 0, 5000}, Shape{2, 3});
  const Tensor p = Softmax(logits);
  const std::vector<double> v = p.ToVector();
  EXPECT_NEAR(v[0] + v[1] + v[2], 1.0, 1e-6);
  EXPECT_NEAR(v[2], 0.6652409557748219, 1e-6);
  EXPECT_NEAR(v[5], 1.0, 1e-6);
  for (double lp : LogSoftmax(logits).ToVector()) EXPECT_TRUE(std::isfinite(lp));
  EXPECT_NEAR(LogSoftmax(logits).ToVector()[3], -10000.0, 1e-2);
}

// At logits of 1e4 float32 log-probabilities keep their relative accuracy
// (a few ulps against long double), the largest one included, and softmax
// rounds each probability once.
TEST(SoftmaxTest, Float32KeepsFullRelativeAccuracyAtLargeLogits) {
  const std::vector<double> z = {10000, 9999.5, 9990, -10000, 10000.25, 9999.999};
  long double rest = 0;
  const long double m = 10000.25L;
  for (double v : z) rest += std::exp(static_cast<long double>(float(v)) - m);
  const Tensor logits = FromValues(z, Shape{1, 6}, DType::kFloat32);
  const std::vector<double> lp = LogSoftmax(logits).ToVector();
  const std::vector<double> p = Softmax(logits).ToVector();
  for (size_t i = 0; i < z.size(); ++i) {
    const long double exact = (static_cast<long double>(float(z[i])) - m) - std::log(rest);
    EXPECT_NEAR(lp[i], double(exact), 4 * std::abs(double(exact)) * 0x1p-24) << i;
    const long double exact_p = std::exp(exact);
    EXPECT_NEAR(p[i], double(exact_p), 4 * double(exact_p) * 0x1p-24 + 1e-45) << i;
  }
}

TEST(LossTest, MeanSquaredError) {
  EXPECT_DOUBLE_EQ(MseLoss(FromValues({1, 2}), FromValues({3, 2})).item(), 2.0);
}

TEST(LossTest, BinaryCrossEntropyClampsProbabilitiesOfZeroAndOne) {
  const Tensor p = FromValues({0.0, 1.0, 0.5}, DType::kFloat64).set_requires_grad(true);
  const Tensor t = FromValues({1.0, 0.0, 1.0}, DType::kFloat64);
  const Tensor loss = BinaryCrossEntropy(p, t);
  // log(0) is clamped to -100, so each wrong certainty costs 100.
  EXPECT_NEAR(loss.item(), (100 + 100 + std::log(2.0)) / 3, 1e-12);
  loss.Backward();
  for (double g : p.grad().ToVector()) EXPECT_TRUE(std::isfinite(g));
}

TEST(LossTest, BinaryCrossEntropyWithLogitsIsStableAtPlusMinus100) {
  Tensor z = FromValues({100.0, -100.0, 0.0}).set_requires_grad(true);
  const Tensor t = FromValues({0.0, 1.0, 1.0});
  const Tensor loss = BinaryCrossEntropyWithLogits(z, t);
  EXPECT_NEAR(loss.item(), (100 + 100 + std::log(2.0)) / 3, 1e-4);
  loss.Backward();
  EXPECT_THAT(z.grad().ToVector(), ElementsAreNear({1.0 / 3, -1.0 / 3, -0.5 / 3}, 1e-6));
}

TEST(LossTest, CrossEntropyMatchesLogSoftmaxAndHasTheFusedGradient) {
  Tensor z = FromValues({2.0, 1.0, 0.1, 0.5, 2.5, 0.3}, Shape{2, 3}, DType::kFloat64)
                 .set_requires_grad(true);
  const Tensor labels = Labels({0, 2});
  const Tensor loss = CrossEntropy(z, labels);
  const std::vector<double> lp = LogSoftmax(z.Detach()).ToVector();
  EXPECT_NEAR(loss.item(), -(lp[0] + lp[5]) / 2, 1e-12);
  loss.Backward();
  const std::vector<double> p = Softmax(z.Detach()).ToVector();
  EXPECT_THAT(z.grad().ToVector(),
              ElementsAreNear(
                  {(p[0] - 1) / 2, p[1] / 2, p[2] / 2, p[3] / 2, p[4] / 2, (p[5] - 1) / 2}, 1e-12));
}

}  // namespace
}  // namespace actgrad
