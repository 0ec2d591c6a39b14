// The fused ops against the plain ops they replace, values and gradients, on
// random shapes: linear (x W^T + b in one product) against matmul,
// transpose and add; linear + activation in one node against linear and the
// activation, and a Sequential that fuses them against the same layers run
// one by one; cross-entropy on logits against log_softmax and a one-hot sum;
// binary cross-entropy on logits against sigmoid and logs.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "actgrad.h"
#include "nn/sequential.h"

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

// x [rows, in], weight [out, in] and bias [out] that require gradients, and
// a seed for backward, from a generator seeded by the shape.
struct LinearCase {
  Tensor x, w, b, seed;
};
LinearCase LinearInputs(const Dims& d, DType dtype) {
  Generator gen(d.rows * 1000 + d.in * 10 + d.out);
  auto leaf = [&](const Shape& shape) {
    Tensor t = Normal(shape, 0, 1, gen, dtype);
    t.set_requires_grad(true);
    return t;
  };
  LinearCase c{leaf({d.rows, d.in}), leaf({d.out, d.in}), leaf({d.out}), Tensor()};
  c.seed = Normal(Shape{d.rows, d.out}, 0, 1, gen, dtype);
  return c;
}

// Relative-to-magnitude tolerance per dtype: both sides round differently.
double Tolerance(DType dtype) { return dtype == DType::kFloat32 ? 2e-5 : 1e-12; }

class FusedLinearTest : public testing::TestWithParam<std::tuple<Dims, DType>> {};

TEST_P(FusedLinearTest, MatchesMatmulTransposeAndAdd) {
  const auto [d, dtype] = GetParam();
  auto [x, w, b, seed] = LinearInputs(d, dtype);

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

struct FusedActivation {
  const OpDef* op;
  double alpha;  // leaky_relu's slope
};

class FusedLinearActivationTest
    : public testing::TestWithParam<std::tuple<FusedActivation, Dims, DType>> {};

TEST_P(FusedLinearActivationTest, MatchesLinearThenTheActivation) {
  const auto [activation, d, dtype] = GetParam();
  Attrs attrs;
  attrs.alpha = activation.alpha;
  auto [x, w, b, seed] = LinearInputs(d, dtype);
  for (const bool with_bias : {true, false}) {
    const Tensor bias = with_bias ? b : Tensor();
    const Tensor fused = LinearActivation(x, w, bias, *activation.op, attrs);
    fused.Backward(seed);
    const Tensor gx = x.grad().Clone(), gw = w.grad().Clone();
    const Tensor gb = with_bias ? b.grad().Clone() : Tensor();
    x.ClearGrad();
    w.ClearGrad();
    b.ClearGrad();
    const Tensor plain = Apply(*activation.op, {Linear(x, w, bias)}, attrs);
    plain.Backward(seed);

    const std::string what = std::string(activation.op->name) + (with_bias ? "" : ", no bias");
    const double tolerance = Tolerance(dtype) * std::sqrt(double(std::max(d.in, d.rows)));
    EXPECT_LE(MaxDifference(fused, plain), tolerance) << what;
    EXPECT_LE(MaxDifference(gx, x.grad()), tolerance) << what;
    EXPECT_LE(MaxDifference(gw, w.grad()), tolerance) << what;
    if (with_bias) {
      EXPECT_LE(MaxDifference(gb, b.grad()), tolerance) << what;
    }
    x.ClearGrad();
    w.ClearGrad();
    b.ClearGrad();
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, FusedLinearActivationTest,
                         testing::Combine(testing::Values(FusedActivation{&ops::kIdentity, 0.01},
                                                          FusedActivation{&ops::kSigmoid, 0.01},
                                                          FusedActivation{&ops::kTanh, 0.01},
                                                          FusedActivation{&ops::kRelu, 0.01},
                                                          FusedActivation{&ops::kLeakyRelu, 0.2}),
                                          testing::Values(Dims{1, 1, 1}, Dims{7, 3, 5},
                                                          Dims{128, 784, 512}, Dims{129, 33, 10}),
                                          testing::Values(DType::kFloat32, DType::kFloat64)),
                         [](const auto& info) {
                           const Dims d = std::get<1>(info.param);
                           return std::string(std::get<0>(info.param).op->name) + "_" +
                                  std::to_string(d.rows) + "x" + std::to_string(d.in) + "x" +
                                  std::to_string(d.out) +
                                  (std::get<2>(info.param) == DType::kFloat32 ? "_f32" : "_f64");
                         });

TEST(FusedLinearActivationTest, RefusesActivationsItCannotDifferentiateFromTheOutput) {
  Generator gen(5);
  const Tensor x = Normal(Shape{4, 3}, 0, 1, gen), w = Normal(Shape{2, 3}, 0, 1, gen);
  Attrs at_zero;
  at_zero.grad_at_zero = 1.0;
  EXPECT_FALSE(CanFuseWithLinear(ops::kGelu));
  EXPECT_FALSE(CanFuseWithLinear(ops::kRelu, at_zero));
  try {
    LinearActivation(x, w, Tensor(), ops::kGelu);
    ADD_FAILURE() << "gelu was accepted";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), testing::HasSubstr("linear_activation: the activation must be"));
    EXPECT_THAT(e.what(), testing::HasSubstr("got gelu"));
    EXPECT_THAT(e.what(), testing::HasSubstr("fused_ops_test.cc"));
  }
}

// Graph nodes named after `op` in the DOT export of `output`'s graph.
int NodesOf(const Tensor& output, const std::string& op) {
  std::ostringstream dot;
  WriteDot(output, dot);
  const std::string text = dot.str();
  int count = 0;
  for (size_t at = text.find("\"" + op); at != std::string::npos;
       at = text.find("\"" + op, at + 1)) {
    ++count;
  }
  return count;
}

TEST(FusedLinearActivationTest, SequentialFusesLinearAndActivationWithTheSameResults) {
  for (const OpDef* hidden : {&ops::kRelu, &ops::kTanh, &ops::kSigmoid, &ops::kGelu}) {
    Generator gen(9);
    auto mlp = nn::Mlp({.inputs = 6,
                        .hidden = {8, 5},
                        .outputs = 3,
                        .hidden_activation = hidden,
                        .output_activation = &ops::kSigmoid},
                       gen);
    const Tensor x = Normal(Shape{10, 6}, 0, 1, gen);
    std::vector<Tensor*> parameters;
    for (const nn::NamedParameter& p : mlp->NamedParameters()) parameters.push_back(p.tensor);

    const Tensor fused = mlp->Forward(x);
    Sum(fused).Backward();
    std::vector<std::vector<double>> fused_grads;
    for (Tensor* p : parameters) {
      fused_grads.push_back(p->grad().ToVector());
      p->ClearGrad();
    }
    const int fused_nodes = NodesOf(fused, "linear_activation");

    // Under a profile the program is the same: the pairs stay fused.
    Profile profile;
    Tensor plain;
    {
      Profiler profiler(&profile);
      plain = mlp->Forward(x);
      Sum(plain).Backward();
    }
    const std::string name(hidden->name);
    EXPECT_EQ(fused.ToVector(), plain.ToVector()) << name;
    for (size_t i = 0; i < parameters.size(); ++i) {
      EXPECT_EQ(fused_grads[i], parameters[i]->grad().ToVector()) << name << " parameter " << i;
    }
    // gelu's derivative needs its input: its two layers stay apart; the
    // sigmoid output layer fuses either way.
    EXPECT_EQ(fused_nodes, hidden == &ops::kGelu ? 1 : 3) << name;
    EXPECT_EQ(NodesOf(plain, "linear_activation"), fused_nodes) << name;
    // Turned off, every layer runs by itself, with the same results.
    mlp->set_fusion(false);
    const Tensor unfused = mlp->Forward(x);
    EXPECT_EQ(NodesOf(unfused, "linear_activation"), 0) << name;
    EXPECT_EQ(fused.ToVector(), unfused.ToVector()) << name;
    mlp->set_fusion(true);
    // Under anomaly detection, whose messages name the layer, they run
    // apart too.
    DetectAnomalyGuard detect;
    EXPECT_EQ(NodesOf(mlp->Forward(x), "linear_activation"), 0) << name;
  }
}

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
