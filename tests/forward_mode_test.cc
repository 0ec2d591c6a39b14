// Forward mode: every registered op's Jacobian-vector product against its
// backward (an exact identity, no step size), the functional forms against
// finite differences and against each other, and the errors of misuse.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "actgrad.h"
#include "check/forward_mode_check.h"
#include "ops/autodiff.h"

namespace actgrad {
namespace {

using ::testing::HasSubstr;

class ForwardModeTest : public ::testing::TestWithParam<const OpDef*> {};

TEST_P(ForwardModeTest, AgreesWithReverseMode) {
  const OpDef& op = *GetParam();
  const ForwardReverseCheck check = CheckForwardAgainstReverse(op, /*seed=*/5);
  ASSERT_TRUE(check.error.empty()) << op.name << ": " << check.error;
  ASSERT_FALSE(check.cases.empty()) << op.name;
  EXPECT_TRUE(check.passed) << op.name << ": " << check.ToString();
  for (const ForwardReverseCase& c : check.cases) {
    EXPECT_LE(c.discrepancy, kForwardReverseLimit) << op.name << ", case " << c.description;
    if (!std::isnan(c.row_against_transposed)) {
      EXPECT_LE(c.row_against_transposed, kForwardReverseLimit)
          << op.name << ", case " << c.description;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllRegisteredOps, ForwardModeTest,
                         ::testing::ValuesIn(OpRegistry::Global().All()),
                         [](const ::testing::TestParamInfo<const OpDef*>& info) {
                           return std::string(info.param->name);
                         });

const OpDef& Row(const char* name) { return *OpRegistry::Global().Find(name).value(); }

TEST(JvpSourceTest, StructuredRowsHaveTheirOwnAndActivationsAreDiagonal) {
  EXPECT_EQ(JvpSourceOf(Row("matmul")), JvpSource::kRow);
  EXPECT_EQ(JvpSourceOf(Row("conv2d")), JvpSource::kRow);
  EXPECT_EQ(JvpSourceOf(Row("reshape")), JvpSource::kRow);
  EXPECT_EQ(JvpSourceOf(Row("tanh")), JvpSource::kDiagonal);
  EXPECT_EQ(JvpSourceOf(Row("exp")), JvpSource::kDiagonal);
  EXPECT_EQ(JvpSourceOf(Row("layer_norm")), JvpSource::kTransposedBackward);
}

// matmul's product rule with the second term left out.
Tensor ForgetsTheSecondFactor(JvpContext& ctx) {
  return Apply(ctx.op(), {ctx.tangent(0), ctx.input(1)}, ctx.attrs(), ctx.location());
}

TEST(ForwardReverseCheckTest, CatchesAWrongJvp) {
  OpDef wrong = Row("matmul");
  wrong.jvp = &ForgetsTheSecondFactor;
  const ForwardReverseCheck check = CheckForwardAgainstReverse(wrong);
  EXPECT_FALSE(check.passed);
  EXPECT_GT(check.worst, 1e-3);
  EXPECT_THAT(check.ToString(), HasSubstr("FAILED"));
}

// tanh's backward scaled by 1.0001: invisible to a loose finite difference,
// not to forward mode, whose products with the row's own Jacobian are exact.
void SlightlyWrongBackward(BackwardContext& ctx) {
  Row("tanh").backward(ctx);
  ctx.set_dx(0, ctx.dx(0) * 1.0001);
}

TEST(ForwardReverseCheckTest, CatchesABackwardThatDisagreesWithTheRowsJvp) {
  OpDef wrong = Row("tanh");
  wrong.backward = &SlightlyWrongBackward;
  // The diagonal rule would reuse the wrong backward; an explicit JVP from
  // the formulas makes the two modes independent.
  wrong.jvp = [](JvpContext& ctx) {
    const Tensor y = ctx.output();
    return ctx.tangent(0) * (1.0 - y * y);
  };
  const ForwardReverseCheck check = CheckForwardAgainstReverse(wrong);
  EXPECT_FALSE(check.passed);
  EXPECT_GT(check.worst, 1e-5);
}

// A small network, its weights closed over: x [2,3] -> linear(3,4) -> tanh
// -> linear(4,2) -> softplus.
struct SmallNet {
  Tensor w1, b1, w2, b2;
  explicit SmallNet(Generator& gen)
      : w1(Normal({4, 3}, 0, 0.7, gen, DType::kFloat64)),
        b1(Normal({4}, 0, 0.3, gen, DType::kFloat64)),
        w2(Normal({2, 4}, 0, 0.7, gen, DType::kFloat64)),
        b2(Normal({2}, 0, 0.3, gen, DType::kFloat64)) {}
  Tensor operator()(const Tensor& x) const {
    const Tensor z = Linear(Tanh(Linear(x, w1, b1)), w2, b2);
    return Apply(Row("softplus"), {z});
  }
};

std::vector<double> CentralDifferenceJacobian(const UnaryTensorFunction& f, const Tensor& x) {
  const double h = 1e-6;
  const std::vector<double> base = x.ToVector();
  const int64_t m = f(x).numel();
  const int64_t n = x.numel();
  std::vector<double> jacobian(m * n);
  for (int64_t j = 0; j < n; ++j) {
    std::vector<double> plus = base, minus = base;
    plus[j] += h;
    minus[j] -= h;
    const std::vector<double> fp = f(FromValues(plus, x.shape(), DType::kFloat64)).ToVector();
    const std::vector<double> fm = f(FromValues(minus, x.shape(), DType::kFloat64)).ToVector();
    for (int64_t k = 0; k < m; ++k) jacobian[k * n + j] = (fp[k] - fm[k]) / (2 * h);
  }
  return jacobian;
}

void ExpectNear(const std::vector<double>& got, const std::vector<double>& want, double tol,
                const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], want[i], tol * std::max(1.0, std::abs(want[i])))
        << what << ", element " << i;
  }
}

TEST(JacobianTest, ForwardAndReverseAgreeWithEachOtherAndWithFiniteDifferences) {
  Generator gen(1);
  const SmallNet net(gen);
  const Tensor x = Normal({2, 3}, 0, 1, gen, DType::kFloat64);
  const UnaryTensorFunction f = [&](const Tensor& in) { return net(in); };
  const Tensor forward = Jacobian(f, x, JacobianMode::kForward);
  const Tensor reverse = Jacobian(f, x, JacobianMode::kReverse);
  EXPECT_EQ(forward.shape(), (Shape{2, 2, 2, 3}));
  ExpectNear(forward.ToVector(), reverse.ToVector(), 1e-14, "forward against reverse");
  ExpectNear(reverse.ToVector(), CentralDifferenceJacobian(f, x), 1e-8,
             "reverse against finite differences");
  // Rows of the batch do not mix: the blocks off the diagonal are zero.
  const std::vector<double> j = forward.ToVector();
  for (int64_t k = 0; k < 2; ++k) {
    for (int64_t i = 0; i < 3; ++i) EXPECT_EQ(j[(0 * 2 + k) * 6 + 1 * 3 + i], 0.0);
  }
}

TEST(JacobianTest, AutoPicksTheModeWithFewerPasses) {
  Generator gen(2);
  const Tensor w = Normal({6, 2}, 0, 1, gen, DType::kFloat64);
  const Tensor x = Normal({2, 1}, 0, 1, gen, DType::kFloat64);
  // Tall: 6 outputs from 2 inputs, two forward passes.
  const UnaryTensorFunction tall = [&](const Tensor& in) { return Tanh(Matmul(w, in)); };
  ExpectNear(Jacobian(tall, x).ToVector(), Jacobian(tall, x, JacobianMode::kReverse).ToVector(),
             1e-15, "tall");
}

// The loss of SmallNet on fixed data, as a function of a flat vector of its
// first layer's weights.
struct LossOfFirstLayer {
  SmallNet net;
  Tensor x, target;
  Tensor operator()(const Tensor& w1) const {
    SmallNet changed = net;
    changed.w1 = w1;
    return MseLoss(changed(x), target);
  }
};

TEST(HessianTest, ReverseOverReverseMatchesForwardOverReverseAndFiniteDifferences) {
  Generator gen(3);
  const LossOfFirstLayer loss{SmallNet(gen), Normal({5, 3}, 0, 1, gen, DType::kFloat64),
                              Normal({5, 2}, 0, 1, gen, DType::kFloat64)};
  const Tensor w1 = loss.net.w1;
  const UnaryTensorFunction f = [&](const Tensor& w) { return loss(w); };
  const Tensor hessian = Hessian(f, w1);
  ASSERT_EQ(hessian.shape(), (Shape{4, 3, 4, 3}));
  const std::vector<double> h = hessian.ToVector();
  const int64_t n = 12;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < i; ++j) {
      EXPECT_NEAR(h[i * n + j], h[j * n + i], 1e-14) << "symmetry at " << i << "," << j;
    }
  }
  // Column by column from forward-over-reverse Hessian-vector products.
  std::vector<double> by_columns(n * n);
  for (int64_t j = 0; j < n; ++j) {
    std::vector<double> e(n, 0.0);
    e[j] = 1;
    const std::vector<double> column =
        Hvp(f, w1, FromValues(e, w1.shape(), DType::kFloat64)).ToVector();
    for (int64_t i = 0; i < n; ++i) by_columns[i * n + j] = column[i];
  }
  ExpectNear(h, by_columns, 1e-13, "reverse over reverse against forward over reverse");
  // Finite differences of the gradient.
  const UnaryTensorFunction gradient = [&](const Tensor& at) {
    Tensor leaf = at.Clone().set_requires_grad(true);
    return Grad(f(leaf), {leaf})[0];
  };
  ExpectNear(h, CentralDifferenceJacobian(gradient, w1), 1e-7, "against finite differences");
}

TEST(HessianTest, HvpOfAQuadraticIsExact) {
  Generator gen(4);
  const Tensor a = Uniform({7}, 0.5, 2, gen, DType::kFloat64);
  const Tensor x = Normal({7}, 0, 1, gen, DType::kFloat64);
  const Tensor v = Normal({7}, 0, 1, gen, DType::kFloat64);
  const Tensor hv = Hvp([&](const Tensor& in) { return Sum(Square(in) * a); }, x, v);
  const std::vector<double> got = hv.ToVector();
  const std::vector<double> av = a.ToVector(), vv = v.ToVector();
  for (int i = 0; i < 7; ++i) EXPECT_DOUBLE_EQ(got[i], 2 * av[i] * vv[i]);
}

TEST(HessianTest, HvpThroughConvolutionPoolingAndNormalization) {
  Generator gen(5);
  const Tensor weight = Normal({3, 2, 3, 3}, 0, 0.5, gen, DType::kFloat64);
  const Tensor x = Normal({2, 2, 6, 6}, 0, 1, gen, DType::kFloat64);
  const UnaryTensorFunction f = [&](const Tensor& w) {
    Tensor h = Conv2d(x, w);
    h = Apply(Row("gelu"), {GroupNorm(h, 3)});
    return Sum(Square(AvgPool2d(h)));
  };
  const Tensor v = Normal(weight.shape(), 0, 1, gen, DType::kFloat64);
  const Tensor hv = Hvp(f, weight, v);
  // Against the reverse-over-reverse product.
  Tensor w = weight.Clone().set_requires_grad(true);
  const Tensor g = Grad(f(w), {w}, Tensor(), {.create_graph = true})[0];
  const Tensor expected = Grad(Sum(g * v), {w})[0];
  ExpectNear(hv.ToVector(), expected.ToVector(), 1e-11, "conv net Hv");
}

TEST(JvpTest, TangentsAreDirectionalDerivativesAndRecordedOnRequest) {
  Generator gen(6);
  const SmallNet net(gen);
  const Tensor x = Normal({3, 3}, 0, 1, gen, DType::kFloat64);
  const Tensor v = Normal({3, 3}, 0, 1, gen, DType::kFloat64);
  const TensorFunction f = [&](std::span<const Tensor> in) { return Sum(net(in[0])); };
  const JvpResult r = Jvp(f, {x}, {v});
  EXPECT_EQ(Vjp(f, {x}, Tensor()).cotangents.size(), 1u);
  const double h = 1e-6;
  const double fd = (f({&static_cast<const Tensor&>(x + v * h), 1}).ToVector()[0] -
                     f({&static_cast<const Tensor&>(x - v * h), 1}).ToVector()[0]) /
                    (2 * h);
  EXPECT_NEAR(r.tangent.ToVector()[0], fd, 1e-8);

  // Reverse over forward: the recorded tangent's gradient is H·v.
  Tensor leaf = x.Clone().set_requires_grad(true);
  Tensor reverse_over_forward;
  {
    ForwardAdScope scope;
    scope.set_record_tangents(true);
    MakeDual(leaf, v);
    const Tensor y = Sum(net(leaf));
    reverse_over_forward = Grad(TangentOf(y), {leaf})[0];
  }
  const Tensor forward_over_reverse = Hvp([&](const Tensor& in) { return Sum(net(in)); }, x, v);
  ExpectNear(reverse_over_forward.ToVector(), forward_over_reverse.ToVector(), 1e-13,
             "reverse over forward against forward over reverse");
}

TEST(ForwardModeErrorsTest, MisuseSaysWhat) {
  const Tensor x = Zeros({2, 3}, DType::kFloat64);
  EXPECT_THAT([&] { MakeDual(x, x); },
              ::testing::ThrowsMessage<Error>(HasSubstr("needs an open ForwardAdScope")));
  ForwardAdScope scope;
  EXPECT_THAT([&] { ForwardAdScope nested; },
              ::testing::ThrowsMessage<Error>(HasSubstr("scopes do not nest")));
  EXPECT_THAT(
      [&] {
        MakeDual(x, Zeros({3, 2}, DType::kFloat64));
      },
      ::testing::ThrowsMessage<Error>(HasSubstr("[2,3]")));
  MakeDual(x, Full({2, 3}, 1.0, DType::kFloat64));
  EXPECT_THAT([&] { MakeDual(x, x); },
              ::testing::ThrowsMessage<Error>(HasSubstr("already carries a tangent")));
  EXPECT_FALSE(TangentOf(Zeros({2}, DType::kFloat64)).defined());
  EXPECT_EQ(TangentOf(Exp(x) * 2.0).ToVector(), std::vector<double>(6, 2.0));
}

}  // namespace
}  // namespace actgrad
