// The dynamic graph: accumulation (in place into parameters' gradients
// where nothing else sees them), hooks, grad modes, retain_graph, detach,
// pruning, deep chains, and the memory a steady loop asks of the system.

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <sstream>

#include "actgrad.h"
#include "tests/test_util.h"

namespace actgrad {
namespace {

using ::testing::ElementsAre;
using testing::ElementsAreNear;

TEST(AutogradTest, GradientsAccumulateOverFanOut) {
  // y = x * x + x: x feeds three uses; dy/dx = 2x + 1.
  Tensor x = FromValues({3.0, -2.0}, DType::kFloat64).set_requires_grad(true);
  Sum(x * x + x).Backward();
  EXPECT_THAT(x.grad().ToVector(), ElementsAre(7.0, -3.0));
}

TEST(AutogradTest, SharedSubexpressionIsSweptOnce) {
  // micrograd's case: c = a + b; d = c * c + c; gradient through c twice.
  Tensor a = FromValues({2.0}, DType::kFloat64).set_requires_grad(true);
  Tensor b = FromValues({-4.0}, DType::kFloat64).set_requires_grad(true);
  const Tensor c = a + b;
  Tensor d = c * c + c;  // (a+b)^2 + (a+b)
  int visits = 0;
  Tensor(c).RegisterHook([&visits](const Tensor&) {
    ++visits;
    return Tensor();
  });
  Sum(d).Backward();
  EXPECT_EQ(visits, 1);
  EXPECT_DOUBLE_EQ(a.grad().item(), 2 * (2.0 - 4.0) + 1);
  EXPECT_DOUBLE_EQ(b.grad().item(), 2 * (2.0 - 4.0) + 1);
}

TEST(AutogradTest, RepeatedBackwardAccumulatesIntoLeaves) {
  Tensor x = FromValues({1.5}).set_requires_grad(true);
  Sum(x * 2.0).Backward();
  Sum(x * 3.0).Backward();
  EXPECT_FLOAT_EQ(x.grad().item(), 5.0f);
  x.ZeroGrad();
  EXPECT_FLOAT_EQ(x.grad().item(), 0.0f);
  x.ClearGrad();
  EXPECT_FALSE(x.grad().defined());
}

// A linear layer, plain and fused with tanh, whose parameters' gradients
// already exist: the products add into them with no accumulate_grad node,
// unless a hook, another holder of the gradient or a recorded backward must
// see the gradient on its own. The sums are the same either way.
struct TwoLayers {
  explicit TwoLayers(DType dtype = DType::kFloat64)
      : x(Normal({6, 3}, 0, 1, gen, dtype)),
        w1(Normal({4, 3}, 0, 1, gen, dtype).set_requires_grad(true)),
        b1(Normal({4}, 0, 1, gen, dtype).set_requires_grad(true)),
        w2(Normal({2, 4}, 0, 1, gen, dtype).set_requires_grad(true)),
        b2(Normal({2}, 0, 1, gen, dtype).set_requires_grad(true)) {}
  Generator gen{5};
  Tensor x, w1, b1, w2, b2;

  Tensor Loss() { return Sum(Square(Linear(LinearActivation(x, w1, b1, ops::kTanh, {}), w2, b2))); }
  std::vector<Tensor> Parameters() { return {w1, b1, w2, b2}; }
  // Backward once, profiled; the number of accumulate_grad records.
  int BackwardCountingAccumulations(const BackwardOptions& options = {}) {
    Profile profile;
    {
      Profiler profiler(&profile);
      Loss().Backward(options);
    }
    int accumulations = 0;
    for (const OpRecord& r : profile.records()) accumulations += r.op == "accumulate_grad";
    return accumulations;
  }
};

std::vector<std::vector<double>> Gradients(std::vector<Tensor> parameters) {
  std::vector<std::vector<double>> grads;
  for (const Tensor& p : parameters) grads.push_back(p.grad().ToVector());
  return grads;
}

void ExpectGradients(const std::vector<Tensor>& parameters,
                     const std::vector<std::vector<double>>& expected, double factor,
                     double tolerance = 1e-12) {
  for (size_t i = 0; i < parameters.size(); ++i) {
    const std::vector<double> got = parameters[i].grad().ToVector();
    ASSERT_EQ(got.size(), expected[i].size());
    for (size_t j = 0; j < got.size(); ++j) {
      EXPECT_NEAR(got[j], factor * expected[i][j], tolerance * (1 + std::abs(expected[i][j])))
          << "parameter " << i << " element " << j;
    }
  }
}

TEST(AutogradTest, LayersAddIntoExistingParameterGradientsInPlace) {
  TwoLayers net;
  // The first backward creates the gradients, through accumulate_grad.
  EXPECT_EQ(net.BackwardCountingAccumulations(), 4);
  const std::vector<std::vector<double>> once = Gradients(net.Parameters());
  std::vector<const void*> buffers;
  for (const Tensor& p : net.Parameters()) buffers.push_back(p.grad().raw_data());
  // Then the layers add into them: no accumulate_grad, the same buffers.
  EXPECT_EQ(net.BackwardCountingAccumulations(), 0);
  ExpectGradients(net.Parameters(), once, 2.0);
  for (size_t i = 0; i < buffers.size(); ++i) {
    EXPECT_EQ(net.Parameters()[i].grad().raw_data(), buffers[i]) << i;
  }
  for (Tensor& p : net.Parameters()) p.ZeroGrad();
  EXPECT_EQ(net.BackwardCountingAccumulations(), 0);
  ExpectGradients(net.Parameters(), once, 1.0);
}

// The same in float32, where the small products' kernel does the adding.
TEST(AutogradTest, Float32LayersAddIntoExistingParameterGradientsInPlace) {
  TwoLayers net(DType::kFloat32);
  EXPECT_EQ(net.BackwardCountingAccumulations(), 4);
  const std::vector<std::vector<double>> once = Gradients(net.Parameters());
  EXPECT_EQ(net.BackwardCountingAccumulations(), 0);
  ExpectGradients(net.Parameters(), once, 2.0, 1e-6);
}

// Anomaly checks and Grad() see each gradient on its own, so nothing is
// added in place under them; Grad() leaves the leaves' gradients alone.
TEST(AutogradTest, AnomalyChecksAndGradAddNothingInPlace) {
  TwoLayers net;
  net.Loss().Backward();
  const std::vector<std::vector<double>> once = Gradients(net.Parameters());
  {
    DetectAnomalyGuard anomaly;
    EXPECT_EQ(net.BackwardCountingAccumulations(), 4);
  }
  ExpectGradients(net.Parameters(), once, 2.0);
  const std::vector<Tensor> grads = Grad(net.Loss(), net.Parameters());
  ASSERT_EQ(grads.size(), 4u);
  for (size_t i = 0; i < grads.size(); ++i) {
    const std::vector<double> g = grads[i].ToVector();
    for (size_t j = 0; j < g.size(); ++j) EXPECT_NEAR(g[j], once[i][j], 1e-12) << i << "," << j;
  }
  ExpectGradients(net.Parameters(), once, 2.0);
}

// A backward that throws after asking for a leaf's gradient leaves nothing
// behind: a later pass that may not add in place (here under anomaly
// checks) neither writes into that leaf's gradient nor loses its own.
TEST(AutogradTest, ABackwardThatThrowsLeavesNoLeafGradientBehind) {
  static const OpDef kAsksThenThrows{
      .name = "asks_then_throws",
      .min_inputs = 2,
      .max_inputs = 2,
      .forward = [](ForwardContext& ctx) { return ctx.input(0).Clone(); },
      .backward =
          [](BackwardContext& ctx) {
            ASSERT_NE(ctx.gradient_to_add_into(1), nullptr);
            ACTGRAD_REQUIRE(false, ctx.location(), "asks_then_throws: thrown on purpose");
          },
  };
  TwoLayers net;
  net.Loss().Backward();
  const std::vector<std::vector<double>> once = Gradients(net.Parameters());
  // w2 and w1 have one shape's worth of gradient each; the throwing op asks
  // for w1's at input 1, the slot Linear's weight takes below.
  Tensor x = Ones({4, 3}, DType::kFloat64);
  EXPECT_THROW(Sum(Apply(kAsksThenThrows, {x, net.w1})).Backward(), Error);
  {
    DetectAnomalyGuard anomaly;
    net.Loss().Backward();
  }
  ExpectGradients(net.Parameters(), once, 2.0);
}

TEST(AutogradTest, GradientsSomethingElseSeesAreNotAddedInPlace) {
  TwoLayers net;
  net.Loss().Backward();
  const std::vector<std::vector<double>> once = Gradients(net.Parameters());

  // A hook on the weight sees its whole gradient for this pass.
  std::vector<double> seen;
  net.w2.RegisterHook([&seen](const Tensor& g) {
    seen = g.ToVector();
    return Tensor();
  });
  EXPECT_EQ(net.BackwardCountingAccumulations(), 1);
  EXPECT_EQ(seen.size(), once[2].size());
  for (size_t j = 0; j < seen.size(); ++j) EXPECT_NEAR(seen[j], once[2][j], 1e-12) << j;
  ExpectGradients(net.Parameters(), once, 2.0);

  // A gradient someone else holds is added by the engine, as before (w1;
  // w2 still has its hook).
  const Tensor held = net.w1.grad();
  EXPECT_EQ(net.BackwardCountingAccumulations(), 2);
  ExpectGradients(net.Parameters(), once, 3.0);

  // A recorded backward keeps every gradient in the graph.
  EXPECT_EQ(net.BackwardCountingAccumulations({.create_graph = true}), 4);
  ExpectGradients(net.Parameters(), once, 4.0);
  // Recorded gradients hold the graph, which holds the parameters.
  for (Tensor& p : net.Parameters()) p.ClearGrad();
}

TEST(AutogradTest, BroadcastGradientsSumBackToTheInputShape) {
  Tensor m = Ones({3, 4}, DType::kFloat64).set_requires_grad(true);
  Tensor row = FromValues({1, 2, 3, 4}, DType::kFloat64).set_requires_grad(true);
  Sum(m * row).Backward();
  EXPECT_EQ(row.grad().shape(), Shape({4}));
  EXPECT_THAT(row.grad().ToVector(), ElementsAre(3, 3, 3, 3));
  EXPECT_THAT(m.grad().ToVector(), ElementsAre(1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4));
}

TEST(AutogradTest, NonScalarBackwardTakesASeed) {
  Tensor x = FromValues({1.0, 2.0, 3.0}, DType::kFloat64).set_requires_grad(true);
  const Tensor y = x * x;
  y.Backward(FromValues({1.0, 0.5, -1.0}, DType::kFloat64));
  EXPECT_THAT(x.grad().ToVector(), ElementsAre(2.0, 2.0, -6.0));
}

TEST(AutogradTest, NoGradGuardRecordsNothing) {
  Tensor w = FromValues({0.5}).set_requires_grad(true);
  Tensor y;
  {
    NoGradGuard no_grad;
    EXPECT_FALSE(IsGradEnabled());
    y = Tanh(w * 2.0);
  }
  EXPECT_TRUE(IsGradEnabled());
  EXPECT_FALSE(y.requires_grad());
  EXPECT_TRUE(y.is_leaf());
  EXPECT_THAT(testing::ErrorMessageOf([&] { y.Backward(); }),
              ::testing::HasSubstr("does not require a gradient"));
}

TEST(AutogradTest, RetainGraphAllowsASecondPass) {
  Tensor x = FromValues({0.3}, DType::kFloat64).set_requires_grad(true);
  const Tensor y = Sum(Sigmoid(x));
  y.Backward(BackwardOptions{.retain_graph = true});
  const double first = x.grad().item();
  y.Backward();
  EXPECT_DOUBLE_EQ(x.grad().item(), 2 * first);
  EXPECT_THAT(testing::ErrorMessageOf([&] { y.Backward(); }),
              ::testing::AllOf(::testing::HasSubstr("already freed"),
                               ::testing::HasSubstr("retain_graph")));
}

TEST(AutogradTest, ANodeWhoseBackwardThrewIsNotSweptAgain) {
  static const OpDef kThrowsInBackward{
      .name = "throws_in_backward",
      .min_inputs = 1,
      .max_inputs = 1,
      .saves = kSaveInput0 | kSaveOutput,
      .forward = [](ForwardContext& ctx) { return ctx.input(0).Clone(); },
      .backward =
          [](BackwardContext& ctx) {
            ACTGRAD_REQUIRE(false, ctx.location(), "throws_in_backward: thrown on purpose");
          },
  };
  Tensor x = FromValues({0.3}, DType::kFloat64).set_requires_grad(true);
  const Tensor y = Apply(kThrowsInBackward, {x});
  EXPECT_THAT(testing::ErrorMessageOf([&] { y.Backward(); }),
              ::testing::HasSubstr("thrown on purpose"));
  // Its last sweep took the saved values with it.
  EXPECT_THAT(testing::ErrorMessageOf([&] { y.Backward(); }),
              ::testing::HasSubstr("already freed"));
}

// A saved output shares its tensor's buffer and outlives the tensor; the
// node's last sweep lets it go, whoever else holds the buffer.
TEST(AutogradTest, SavedOutputsHoldTheBufferUntilTheirLastSweep) {
  Tensor x = FromValues({0.5}).set_requires_grad(true);
  Tensor alone = Sigmoid(x);
  internal::Storage* alone_buffer = alone.impl()->storage;
  EXPECT_EQ(alone_buffer->use_count(), 2);  // the tensor and its node's copy
  Tensor shared = Tanh(x);
  const Tensor alias = shared.Detach();
  internal::Storage* shared_buffer = shared.impl()->storage;
  EXPECT_EQ(shared_buffer->use_count(), 3);

  const Tensor loss = Sum(alone + shared);
  alone = Tensor();
  shared = Tensor();
  EXPECT_EQ(alone_buffer->use_count(), 1);
  EXPECT_EQ(shared_buffer->use_count(), 2);

  loss.Backward(BackwardOptions{.retain_graph = true});
  EXPECT_EQ(shared_buffer->use_count(), 2);
  loss.Backward();
  EXPECT_EQ(shared_buffer->use_count(), 1);  // the alias alone
  EXPECT_FLOAT_EQ(alias.item(), std::tanh(0.5f));
  const double s = 1 / (1 + std::exp(-0.5)), t = std::tanh(0.5);
  EXPECT_NEAR(x.grad().item(), 2 * (s * (1 - s) + 1 - t * t), 1e-6);
}

// Elementwise backwards write their gradient over dy where nothing else
// holds it: the chain's gradient is still exact, and a gradient a hook kept,
// or a seed the caller passed, is never written over.
TEST(AutogradTest, GradientsWrittenOverDyLeaveHeldGradientsAlone) {
  Tensor x = FromValues({0.3, -0.7}, DType::kFloat64).set_requires_grad(true);
  Tensor kept;
  Tensor a = Sigmoid(x);
  Tensor b = Tanh(a);
  b.RegisterHook([&kept](const Tensor& grad) {
    kept = grad;
    return Tensor();
  });
  Tensor c = LeakyRelu(Relu(b) - 0.5, 0.1);
  const Tensor seed = FromValues({2.0, 3.0}, DType::kFloat64);
  c.Backward(seed);
  EXPECT_THAT(seed.ToVector(), ElementsAre(2.0, 3.0));
  std::vector<double> expected_kept, expected_grad;
  for (int i = 0; i < 2; ++i) {
    const double xi = x.ToVector()[i], s = 1 / (1 + std::exp(-xi)), t = std::tanh(s);
    const double dc = seed.ToVector()[i] * (t - 0.5 > 0 ? 1.0 : 0.1);
    expected_kept.push_back(dc);
    expected_grad.push_back(dc * (1 - t * t) * s * (1 - s));
  }
  EXPECT_THAT(kept.ToVector(), ElementsAreNear(expected_kept, 1e-15));
  EXPECT_THAT(x.grad().ToVector(), ElementsAreNear(expected_grad, 1e-15));
}

// The same for the formula activations' float32 kernels, gelu's single-
// precision groups and the double-precision groups past |x| = 4 among them.
TEST(AutogradTest, Float32GeluGradientWrittenOverDyIsExact) {
  std::vector<double> values, weights;
  for (int i = 0; i < 40; ++i) {
    values.push_back(-5.0 + 0.25 * i);
    weights.push_back(0.5 + 0.125 * (i % 7));
  }
  Tensor x = FromValues(values, {40}).set_requires_grad(true);
  Sum(Apply(ops::kGelu, {x}) * FromValues(weights, {40})).Backward();
  std::vector<double> expected;
  for (int i = 0; i < 40; ++i) {
    const double v = values[i];
    const double slope = 0.5 * std::erfc(-v / std::sqrt(2.0)) +
                         v * std::exp(-v * v / 2) / std::sqrt(2 * std::numbers::pi);
    expected.push_back(weights[i] * slope);
  }
  EXPECT_THAT(x.grad().ToVector(), ElementsAreNear(expected, 2e-6));
}

// Normalization's backward writes dx over dy when it can: the gradients are
// bit for bit those written into a buffer of their own, which is what a
// hook holding dy forces.
TEST(AutogradTest, NormalizationGradientsWrittenOverDyEqualThoseWrittenApart) {
  Generator gen(5);
  const Tensor x0 = Normal({4, 3, 5, 5}, 0, 1, gen);
  const Tensor weight0 = Normal({3}, 1, 0.2, gen), bias0 = Normal({3}, 0, 0.2, gen);
  const Tensor row_weight0 = Normal({5}, 1, 0.2, gen);
  const Tensor scale = Normal({4, 3, 5, 5}, 0, 1, gen);
  auto gradients = [&](bool hold_dy, bool batch_norm) {
    Tensor x = x0.Clone().set_requires_grad(true);
    Tensor weight = (batch_norm ? weight0 : row_weight0).Clone().set_requires_grad(true);
    Tensor y =
        batch_norm ? BatchNorm(x, weight, bias0, Zeros({3}), Ones({3})) : LayerNorm(x, {5}, weight);
    Tensor held;
    if (hold_dy) {
      y.RegisterHook([&held](const Tensor& grad) {
        held = grad;
        return Tensor();
      });
    }
    Sum(Tanh(y) * scale).Backward();
    std::vector<double> all = x.grad().ToVector();
    for (double g : weight.grad().ToVector()) all.push_back(g);
    return all;
  };
  for (bool batch_norm : {true, false}) {
    SCOPED_TRACE(batch_norm ? "batch_norm" : "layer_norm");
    EXPECT_EQ(gradients(/*hold_dy=*/false, batch_norm), gradients(/*hold_dy=*/true, batch_norm));
  }
}

TEST(AutogradTest, DetachCutsTheGraph) {
  Tensor x = FromValues({2.0}, DType::kFloat64).set_requires_grad(true);
  const Tensor y = x * x;
  const Tensor frozen = y.Detach();
  EXPECT_FALSE(frozen.requires_grad());
  EXPECT_DOUBLE_EQ(frozen.item(), 4.0);
  Sum(x * frozen).Backward();  // d/dx (x * c) = c
  EXPECT_DOUBLE_EQ(x.grad().item(), 4.0);
}

TEST(AutogradTest, HookReadsTheGradientAsItArrives) {
  Tensor x = FromValues({1.0, 2.0}, DType::kFloat64).set_requires_grad(true);
  Tensor h = x * 3.0;
  std::vector<double> seen;
  h.RegisterHook([&seen](const Tensor& grad) {
    seen = grad.ToVector();
    return Tensor();
  });
  Sum(h * h).Backward();
  EXPECT_THAT(seen, ElementsAre(6.0, 12.0));
  EXPECT_THAT(x.grad().ToVector(), ElementsAre(18.0, 36.0));
}

TEST(AutogradTest, HookCanReplaceTheGradient) {
  Tensor x = FromValues({1.0, -1.0}, DType::kFloat64).set_requires_grad(true);
  x.RegisterHook([](const Tensor& grad) { return Clamp(grad, -0.5, 0.5); });
  Sum(x * 4.0).Backward();
  EXPECT_THAT(x.grad().ToVector(), ElementsAre(0.5, 0.5));

  Tensor z = FromValues({2.0}, DType::kFloat64).set_requires_grad(true);
  Tensor mid = z * z;
  mid.RegisterHook([](const Tensor& grad) { return grad * 10.0; });
  Sum(mid).Backward();
  EXPECT_DOUBLE_EQ(z.grad().item(), 40.0);
}

TEST(AutogradTest, HookMustKeepTheShape) {
  Tensor x = FromValues({1.0, 2.0}).set_requires_grad(true);
  x.RegisterHook([](const Tensor&) { return Ones({3}); });
  EXPECT_THAT(testing::ErrorMessageOf([&] { Sum(x).Backward(); }),
              ::testing::HasSubstr("gradient hook"));
}

TEST(AutogradTest, SweepIsPrunedToNodesThatReachTheLoss) {
  Tensor x = FromValues({1.0}).set_requires_grad(true);
  Tensor unrelated = Tanh(x);
  bool reached = false;
  unrelated.RegisterHook([&reached](const Tensor&) {
    reached = true;
    return Tensor();
  });
  const Tensor loss = Sum(Sigmoid(x));
  loss.Backward();
  EXPECT_FALSE(reached);
  // The unrelated branch is still intact and can be swept on its own.
  Sum(unrelated).Backward();
  EXPECT_TRUE(reached);
}

TEST(AutogradTest, OnlyLeavesCanBeMarked) {
  Tensor x = FromValues({1.0}).set_requires_grad(true);
  Tensor y = x * 2.0;
  EXPECT_THAT(testing::ErrorMessageOf([&] { y.set_requires_grad(false); }),
              ::testing::HasSubstr("only leaves"));
  EXPECT_THAT(testing::ErrorMessageOf([] {
                Labels({1, 2}).set_requires_grad(true);
              }),
              ::testing::HasSubstr("int64"));
}

TEST(AutogradTest, IntegerLabelsNeedNoGradient) {
  Tensor logits = FromValues({1.0, 2.0, 0.5, -1.0}, Shape{2, 2}).set_requires_grad(true);
  CrossEntropy(logits, Labels({1, 0})).Backward();
  EXPECT_EQ(logits.grad().shape(), Shape({2, 2}));
}

TEST(AutogradTest, MillionNodeChainNeedsNoRecursion) {
  Tensor x = FromValues({0.5}).set_requires_grad(true);
  Tensor y = x;
  constexpr int kChain = 1'000'000;
  for (int i = 0; i < kChain; ++i) y = Identity(y);
  Sum(y).Backward();
  EXPECT_FLOAT_EQ(x.grad().item(), 1.0f);
  y = Tensor();  // releasing the chain must not recurse either
}

TEST(AutogradTest, SteadyLoopAllocatesNothingFromTheSystem) {
  Generator gen(3);
  Tensor w = Normal({16, 8}, 0, 0.3, gen).set_requires_grad(true);
  const Tensor x = Normal({32, 16}, 0, 1, gen);
  const Tensor labels = Labels(std::vector<int64_t>(32, 3));
  auto step = [&] {
    w.ZeroGrad();
    CrossEntropy(Tanh(Matmul(x, w)), labels).Backward();
  };
  for (int i = 0; i < 3; ++i) step();
  const PoolStats before = GetPoolStats();
  for (int i = 0; i < 20; ++i) step();
  const PoolStats after = GetPoolStats();
  EXPECT_EQ(after.system_allocations, before.system_allocations);
}

TEST(AutogradTest, GraphClearsWhenItsLastTensorGoes) {
  Tensor x = FromValues({1.0}).set_requires_grad(true);
  std::string first_epoch_dot, second_epoch_dot;
  {
    const Tensor y = Tanh(x);
    std::ostringstream dot;
    WriteDot(y, dot);
    first_epoch_dot = dot.str();
  }
  {
    const Tensor y = Tanh(x);
    std::ostringstream dot;
    WriteDot(y, dot);
    second_epoch_dot = dot.str();
  }
  // Same graph both times: the first was cleared, node ids start over.
  EXPECT_EQ(first_epoch_dot, second_epoch_dot);
}

}  // namespace
}  // namespace actgrad
