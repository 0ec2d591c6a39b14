// The fused ops against the plain ops they replace, values and gradients, on
// random shapes: linear (x W^T + b in one product) against matmul,
// transpose and add; cross-entropy on logits against log_softmax and a
// one-hot sum; binary cross-entropy on logits against sigmoid and logs.

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "actgrad.h"

namespace actgrad {
namespace {

struct Dims {
  int64_t rows, in, out;
};

double MaxDifference(const Tensor& a, const Tensor& b) {
  const std::vector<double> va = a.ToVector(), vb = b.ToVector();
  EXPECT_EQ(va.size(), vb.size());
  double worst = 0;
  for (size_t i = 0; i < va.size() && i < vb.size(); ++i) {
    worst = std::max(worst, std::abs(va[i] - vb[i]) / (1.0 + std::abs(vb[i])));
  }
  return worst;
}

// Relative-to-magnitude tolerance per dtype: both sides round differently.
double Tolerance(DType dtype) { return dtype == DType::kFloat32 ? 2e-5 : 1e-12; }

class FusedLinearTest : public testing::TestWithParam<std::tuple<Dims, DType>> {};

TEST_P(FusedLinearTest, MatchesMatmulTransposeAndAdd) {
  const auto [d, dtype] = GetParam();
  Generator gen(d.rows * 1000 + d.in * 10 + d.out);
  auto leaf = [&](const Shape& shape) {
    Tensor t = Normal(shape, 0, 1, gen, dtype);
    t.set_requires_grad(true);
    return t;
  };
  Tensor x = leaf({d.rows, d.in}), w = leaf({d.out, d.in}), b = leaf({d.out});
  const Tensor seed = Normal(Shape{d.rows, d.out}, 0, 1, gen, dtype);

  const Tensor fused = Linear(x, w, b);
  fused.Backward(seed);
  const Tensor gx = x.grad().Clone(), gw = w.grad().Clone(), gb = b.grad().Clone();
  x.ClearGrad();
  w.ClearGrad();
  b.ClearGrad();
  const Tensor plain = Add(Matmul(x, Transpose(w)), b);
  plain.Backward(seed);

  const double tolerance = Tolerance(dtype) * std::sqrt(double(std::max(d.in, d.rows)));
  EXPECT_LE(MaxDifference(fused, plain), tolerance);
  EXPECT_LE(MaxDifference(gx, x.grad()), tolerance);
  EXPECT_LE(MaxDifference(gw, w.grad()), tolerance);
  EXPECT_LE(MaxDifference(gb, b.grad()), tolerance);
}

INSTANTIATE_TEST_SUITE_P(Shapes, FusedLinearTest,
                         testing::Combine(testing::Values(Dims{1, 1, 1}, Dims{7, 3, 5},
                                                          Dims{32, 30, 64}, Dims{32, 64, 64},
                                                          Dims{128, 784, 512}, Dims{129, 33, 10}),
                                          testing::Values(DType::kFloat32, DType::kFloat64)),
                         [](const auto& info) {
                           const Dims d = std::get<0>(info.param);
                           return std::to_string(d.rows) + "x" + std::to_string(d.in) + "x" +
                                  std::to_string(d.out) +
                                  (std::get<1>(info.param) == DType::kFloat32 ? "_f32" : "_f64");
                         });

class FusedLossTest : public testing::TestWithParam<DType> {};

TEST_P(FusedLossTest, CrossEntropyMatchesLogSoftmaxAndOneHot) {
  const DType dtype = GetParam();
  Generator gen(11);
  for (const auto& [rows, classes] :
       std::vector<std::pair<int64_t, int64_t>>{{1, 2}, {5, 3}, {64, 10}}) {
    Tensor logits = Normal(Shape{rows, classes}, 0, 3, gen, dtype);
    logits.set_requires_grad(true);
    std::vector<int64_t> labels(rows);
    std::vector<double> one_hot(rows * classes, 0.0);
    for (int64_t r = 0; r < rows; ++r) {
      labels[r] = static_cast<int64_t>(gen.NextBelow(classes));
      one_hot[r * classes + labels[r]] = 1.0;
    }
    const Tensor fused = CrossEntropy(logits, Labels(labels));
    fused.Backward();
    const Tensor fused_grad = logits.grad().Clone();
    logits.ClearGrad();
    const Tensor plain = Neg(
        Mean(Sum(Mul(LogSoftmax(logits), FromValues(one_hot, Shape{rows, classes}, dtype)), 1)));
    plain.Backward();
    EXPECT_LE(MaxDifference(fused, plain), Tolerance(dtype)) << rows << "x" << classes;
    EXPECT_LE(MaxDifference(fused_grad, logits.grad()), Tolerance(dtype)) << rows << "x" << classes;
  }
}

TEST_P(FusedLossTest, BinaryCrossEntropyWithLogitsMatchesSigmoidAndLogs) {
  const DType dtype = GetParam();
  Generator gen(12);
  Tensor logits = Normal(Shape{40, 1}, 0, 2, gen, dtype);
  logits.set_requires_grad(true);
  std::vector<double> targets(40);
  for (int i = 0; i < 40; ++i) targets[i] = gen.NextBelow(2);
  const Tensor target = FromValues(targets, Shape{40, 1}, dtype);
  const Tensor fused = BinaryCrossEntropyWithLogits(logits, target);
  fused.Backward();
  const Tensor fused_grad = logits.grad().Clone();
  logits.ClearGrad();
  const Tensor plain = BinaryCrossEntropy(Sigmoid(logits), target);
  plain.Backward();
  EXPECT_LE(MaxDifference(fused, plain), 10 * Tolerance(dtype));
  EXPECT_LE(MaxDifference(fused_grad, logits.grad()), 10 * Tolerance(dtype));
}

INSTANTIATE_TEST_SUITE_P(DTypes, FusedLossTest, testing::Values(DType::kFloat32, DType::kFloat64),
                         [](const auto& info) {
                           return std::string(info.param == DType::kFloat32 ? "f32" : "f64");
                         });

}  // namespace
}  // namespace actgrad
