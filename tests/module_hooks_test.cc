// Module hooks (nn/module_hooks.h): forward pre and post hooks fire in call
// order over a nested tree, under the modules' dotted paths, and may replace
// inputs and outputs; global hooks reach every module, Sequential's layers
// and a fused Linear + activation pair included; backward pre and post hooks
// fire once per Backward() with the gradients that plain ops compute, outer
// before inner; an input without a gradient gets PyTorch's full-backward-hook
// treatment; Remove() takes a hook back for good; misuse throws naming the
// module and the caller.

#include "nn/module_hooks.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actgrad.h"
#include "nn/nn.h"
#include "tests/test_util.h"

namespace actgrad {
namespace {

using ::actgrad::testing::ElementsAreNear;
using ::actgrad::testing::ErrorMessageOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr double kTolerance = 1e-5;

// x + tanh(fc(x)): a residual-like block with a child of its own.
class Block : public nn::Module {
 public:
  explicit Block(Generator& gen) : fc_({.in = 3, .out = 3}, gen) { RegisterModule("fc", &fc_); }
  Tensor Forward(const Tensor& x) override { return x + Tanh(fc_(x)); }
  std::string ToString() const override { return "Block"; }
  std::string Kind() const override { return "block"; }
  nn::Linear& fc() { return fc_; }

 private:
  nn::Linear fc_;
};

// Sequential: "0" Linear(4 -> 3), "1" Block (with "1.fc"), "2" Linear(3 -> 2).
struct Model {
  explicit Model(uint64_t seed) : gen(seed) {
    net.Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 4, .out = 3}, gen));
    net.Add(std::make_unique<Block>(gen));
    net.Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 3, .out = 2}, gen));
  }
  nn::Linear& first() { return static_cast<nn::Linear&>(net.layer(0)); }
  Block& block() { return static_cast<Block&>(net.layer(1)); }
  nn::Linear& last() { return static_cast<nn::Linear&>(net.layer(2)); }

  Generator gen;
  nn::Sequential net;
};

// The model's computation written with plain ops, for reference gradients.
struct Plain {
  Tensor h0, h1, out, loss;
};
Plain PlainForward(Model& m, const Tensor& x) {
  Plain p;
  p.h0 = Linear(x, m.first().weight(), m.first().bias());
  p.h1 = p.h0 + Tanh(Linear(p.h0, m.block().fc().weight(), m.block().fc().bias()));
  p.out = Linear(p.h1, m.last().weight(), m.last().bias());
  p.loss = Sum(Square(p.out));
  return p;
}

// Removes the hook when the test leaves, so that a failed assertion cannot
// leave a global hook behind for the next test.
class ScopedHook {
 public:
  explicit ScopedHook(nn::HookHandle handle) : handle_(std::move(handle)) {}
  ScopedHook(ScopedHook&&) = default;  // the moved-from handle is empty
  ScopedHook(const ScopedHook&) = delete;
  ScopedHook& operator=(const ScopedHook&) = delete;
  ~ScopedHook() { handle_.Remove(); }
  nn::HookHandle& handle() { return handle_; }

 private:
  nn::HookHandle handle_;
};

Tensor Input(Generator& gen, bool requires_grad) {
  Tensor x = Normal({5, 4}, 0.0, 1.0, gen);
  if (requires_grad) x.set_requires_grad(true);
  return x;
}

class ModuleHooksTest : public ::testing::Test {
 protected:
  void TearDown() override {
    EXPECT_FALSE(internal::AnyModuleHooks()) << "a test left a hook registered";
  }
};

TEST_F(ModuleHooksTest, PathsAreTheStateDictPrefixes) {
  Model m(1);
  nn::Sequential outer;
  auto inner = std::make_unique<nn::Sequential>();
  auto block = std::make_unique<Block>(m.gen);
  Block* block_ptr = block.get();
  inner->Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 3, .out = 3}, m.gen));
  inner->Add(std::move(block));
  outer.Add(std::move(inner));

  EXPECT_EQ(m.net.Path(), "");
  EXPECT_EQ(m.block().Path(), "1");
  EXPECT_EQ(m.block().fc().Path(), "1.fc");
  EXPECT_EQ(block_ptr->fc().Path(), "0.1.fc");
  // The same prefix the state_dict uses.
  bool found = false;
  for (const auto& [name, tensor] : outer.StateDict()) found |= name == "0.1.fc.weight";
  EXPECT_TRUE(found);
}

TEST_F(ModuleHooksTest, ForwardHooksRunInCallOrderOverANestedTree) {
  Model m(2);
  std::vector<std::string> events;
  ScopedHook global(nn::RegisterGlobalModuleHooks({
      .forward_pre = [&](nn::Module& module, const Tensor&) -> std::optional<Tensor> {
        events.push_back("pre " + module.Path());
        return std::nullopt;
      },
      .forward = [&](nn::Module& module, const Tensor&, const Tensor&) -> std::optional<Tensor> {
        events.push_back("post " + module.Path());
        return std::nullopt;
      },
  }));
  // Own hooks run after the global ones, in registration order.
  ScopedHook a(m.block().RegisterForwardPreHook(
      [&](nn::Module& module, const Tensor&) -> std::optional<Tensor> {
        events.push_back("a " + module.Kind());
        return std::nullopt;
      }));
  ScopedHook b(m.block().RegisterForwardPreHook(
      [&](nn::Module& module, const Tensor&) -> std::optional<Tensor> {
        events.push_back("b " + module.Kind());
        return std::nullopt;
      }));
  ScopedHook c(m.block().RegisterForwardHook(
      [&](nn::Module& module, const Tensor&, const Tensor&) -> std::optional<Tensor> {
        events.push_back("c " + module.Kind());
        return std::nullopt;
      }));

  m.net(Input(m.gen, false));
  EXPECT_THAT(events,
              ElementsAre("pre ", "pre 0", "post 0", "pre 1", "a block", "b block", "pre 1.fc",
                          "post 1.fc", "post 1", "c block", "pre 2", "post 2", "post "));
}

TEST_F(ModuleHooksTest, HooksSeeTheValuesAndMayReplaceThem) {
  Model m(3);
  const Tensor x = Input(m.gen, false);
  const std::vector<double> plain = m.net(x).ToVector();
  const std::vector<double> first = m.first()(x).ToVector();

  // The last layer gets zeros: its output is its bias in every row.
  std::vector<double> seen_input;
  ScopedHook zero_input(m.last().RegisterForwardPreHook(
      [](nn::Module&, const Tensor& input) -> std::optional<Tensor> {
        return Zeros(input.shape());
      }));
  ScopedHook keep(m.last().RegisterForwardPreHook(
      [&](nn::Module&, const Tensor& input) -> std::optional<Tensor> {
        seen_input = input.ToVector();  // after the replacement above
        return std::nullopt;
      }));
  // The first layer's output doubles; a second hook sees the doubled one.
  std::vector<double> seen_output;
  ScopedHook twice(m.first().RegisterForwardHook(
      [](nn::Module&, const Tensor&, const Tensor& output) -> std::optional<Tensor> {
        return output * 2.0;
      }));
  ScopedHook watch(m.first().RegisterForwardHook(
      [&](nn::Module&, const Tensor&, const Tensor& output) -> std::optional<Tensor> {
        seen_output = output.ToVector();
        return std::nullopt;
      }));

  const std::vector<double> hooked = m.net(x).ToVector();
  EXPECT_THAT(seen_input, ::testing::Each(0.0));
  std::vector<double> doubled;
  for (double v : first) doubled.push_back(2 * v);
  EXPECT_THAT(seen_output, ElementsAreNear(doubled, kTolerance));
  const std::vector<double> bias = m.last().bias().ToVector();
  ASSERT_EQ(hooked.size(), 10u);
  for (size_t i = 0; i < hooked.size(); ++i) EXPECT_NEAR(hooked[i], bias[i % 2], kTolerance) << i;
  EXPECT_NE(hooked, plain);
}

TEST_F(ModuleHooksTest, RemovedHooksNeverRunAgain) {
  Model m(4);
  const Tensor x = Input(m.gen, false);
  int own = 0, global = 0;
  nn::HookHandle handle = m.block().RegisterForwardHook(
      [&](nn::Module&, const Tensor&, const Tensor&) -> std::optional<Tensor> {
        ++own;
        return std::nullopt;
      });
  nn::HookHandle global_handle = nn::RegisterGlobalModuleHooks(
      {.forward_pre = [&](nn::Module&, const Tensor&) -> std::optional<Tensor> {
        ++global;
        return std::nullopt;
      }});
  EXPECT_TRUE(m.block().has_hooks());
  EXPECT_TRUE(internal::AnyModuleHooks());
  m.net(x);
  EXPECT_EQ(own, 1);
  EXPECT_EQ(global, 5);  // the root, three layers and the block's fc

  nn::HookHandle copy = handle;  // a moved or copied handle removes the same hook
  nn::HookHandle moved = std::move(copy);
  moved.Remove();
  EXPECT_FALSE(handle.active());
  EXPECT_FALSE(m.block().has_hooks());
  handle.Remove();  // twice: harmless
  m.net(x);
  EXPECT_EQ(own, 1);
  EXPECT_EQ(global, 10);

  global_handle.Remove();
  global_handle.Remove();
  EXPECT_FALSE(internal::AnyModuleHooks());
  m.net(x);
  EXPECT_EQ(global, 10);
}

TEST_F(ModuleHooksTest, AHookMayRemoveItselfAndHandlesOutliveTheirModule) {
  Generator gen(5);
  int calls = 0;
  nn::Linear fc({.in = 4, .out = 3}, gen);
  nn::HookHandle self;
  self = fc.RegisterForwardPreHook([&](nn::Module&, const Tensor&) -> std::optional<Tensor> {
    ++calls;
    self.Remove();
    return std::nullopt;
  });
  const Tensor x = Input(gen, false);
  fc(x);
  fc(x);
  EXPECT_EQ(calls, 1);

  nn::HookHandle orphan;
  {
    nn::Linear gone({.in = 4, .out = 3}, gen);
    orphan = gone.RegisterForwardHook(
        [](nn::Module&, const Tensor&, const Tensor&) -> std::optional<Tensor> {
          return std::nullopt;
        });
    EXPECT_TRUE(orphan.active());
  }
  EXPECT_FALSE(orphan.active());
  orphan.Remove();  // the module is gone: nothing to do
  EXPECT_FALSE(internal::AnyModuleHooks());
}

TEST_F(ModuleHooksTest, GlobalHooksSeeEachLayerOfAFusedLinearActivationPair) {
  Generator gen(6);
  nn::Sequential net;
  net.Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 4, .out = 3}, gen));
  net.Add(std::make_unique<nn::Activation>(ops::kTanh));
  auto& fc = static_cast<nn::Linear&>(net.layer(0));
  const Tensor x = Input(gen, false);
  const std::vector<double> linear_out = Linear(x, fc.weight(), fc.bias()).ToVector();
  std::vector<double> tanh_out;
  for (double v : linear_out) tanh_out.push_back(std::tanh(v));

  struct Seen {
    std::string path, kind;
    std::vector<double> input, output;
  };
  std::vector<Seen> seen;
  {
    ScopedHook hook(
        nn::RegisterGlobalModuleHooks({.forward = [&](nn::Module& m, const Tensor& in,
                                                      const Tensor& out) -> std::optional<Tensor> {
          seen.push_back({m.Path(), m.Kind(), in.ToVector(), out.ToVector()});
          return std::nullopt;
        }}));
    EXPECT_THAT(net(x).ToVector(), ElementsAreNear(tanh_out, kTolerance));
  }
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].path, "0");
  EXPECT_EQ(seen[0].kind, "linear");
  EXPECT_THAT(seen[0].output, ElementsAreNear(linear_out, kTolerance));
  EXPECT_EQ(seen[1].path, "1");
  EXPECT_EQ(seen[1].kind, "tanh");
  EXPECT_THAT(seen[1].input, ElementsAreNear(linear_out, kTolerance));
  EXPECT_THAT(seen[1].output, ElementsAreNear(tanh_out, kTolerance));
  EXPECT_EQ(seen[2].path, "");

  // A hook on the activation alone unfuses the pair too.
  std::vector<double> activation_input;
  {
    ScopedHook hook(net.layer(1).RegisterForwardPreHook(
        [&](nn::Module&, const Tensor& in) -> std::optional<Tensor> {
          activation_input = in.ToVector();
          return std::nullopt;
        }));
    EXPECT_THAT(net(x).ToVector(), ElementsAreNear(tanh_out, kTolerance));
  }
  EXPECT_THAT(activation_input, ElementsAreNear(linear_out, kTolerance));
  // With no hook left the pair runs fused again, with the same result.
  EXPECT_THAT(net(x).ToVector(), ElementsAreNear(tanh_out, kTolerance));
}

TEST_F(ModuleHooksTest, BackwardHooksOnAFusedPairSeeTheirOwnGradients) {
  Generator gen(7);
  nn::Sequential net;
  net.Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 4, .out = 3}, gen));
  net.Add(std::make_unique<nn::Activation>(ops::kTanh));
  auto& fc = static_cast<nn::Linear&>(net.layer(0));
  const Tensor x = Input(gen, true);
  const Tensor pre = Linear(x, fc.weight(), fc.bias());
  const Tensor y = Tanh(pre);
  const std::vector<Tensor> expected = Grad(Sum(Square(y)), {y, pre});

  Tensor grad_out, grad_in;
  ScopedHook hook(
      net.layer(1).RegisterBackwardHook([&](nn::Module&, const Tensor& grad_input,
                                            const Tensor& grad_output) -> std::optional<Tensor> {
        grad_in = grad_input.Clone();
        grad_out = grad_output.Clone();
        return std::nullopt;
      }));
  Sum(Square(net(x))).Backward();
  ASSERT_TRUE(grad_in.defined() && grad_out.defined());
  EXPECT_THAT(grad_out.ToVector(), ElementsAreNear(expected[0].ToVector(), kTolerance));
  EXPECT_THAT(grad_in.ToVector(), ElementsAreNear(expected[1].ToVector(), kTolerance));
}

TEST_F(ModuleHooksTest, BackwardHooksFireOncePerBackwardWithThePlainOpsGradients) {
  Model m(8);
  const Tensor x = Input(m.gen, true);
  const Plain plain = PlainForward(m, x);
  const std::vector<Tensor> expected = Grad(plain.loss, {plain.h1, plain.h0});

  std::vector<std::string> events;
  std::vector<Tensor> grad_outputs, grad_inputs, post_grad_outputs;
  ScopedHook pre(m.block().RegisterBackwardPreHook(
      [&](nn::Module& module, const Tensor& grad_output) -> std::optional<Tensor> {
        events.push_back("pre " + module.Path());
        grad_outputs.push_back(grad_output.Clone());
        return std::nullopt;
      }));
  ScopedHook post(
      m.block().RegisterBackwardHook([&](nn::Module& module, const Tensor& grad_input,
                                         const Tensor& grad_output) -> std::optional<Tensor> {
        events.push_back("post " + module.Path());
        grad_inputs.push_back(grad_input.Clone());
        post_grad_outputs.push_back(grad_output.Clone());
        return std::nullopt;
      }));

  // The root's input is a leaf: its hooks must not pile up on the leaf.
  int root_posts = 0;
  ScopedHook root(m.net.RegisterBackwardHook(
      [&](nn::Module&, const Tensor& grad_input, const Tensor&) -> std::optional<Tensor> {
        root_posts += grad_input.defined() ? 1 : 100;
        return std::nullopt;
      }));

  for (int pass = 1; pass <= 2; ++pass) {
    m.net.ZeroGrad();
    Sum(Square(m.net(x))).Backward();
    ASSERT_EQ(grad_outputs.size(), static_cast<size_t>(pass));
    ASSERT_EQ(grad_inputs.size(), static_cast<size_t>(pass));
    EXPECT_THAT(grad_outputs.back().ToVector(),
                ElementsAreNear(expected[0].ToVector(), kTolerance));
    EXPECT_THAT(post_grad_outputs.back().ToVector(),
                ElementsAreNear(expected[0].ToVector(), kTolerance));
    EXPECT_THAT(grad_inputs.back().ToVector(), ElementsAreNear(expected[1].ToVector(), kTolerance));
  }
  EXPECT_THAT(events, ElementsAre("pre 1", "post 1", "pre 1", "post 1"));
  EXPECT_EQ(root_posts, 2);

  // Two passes through one retained graph: twice more, not once.
  const Tensor loss = Sum(Square(m.net(x)));
  loss.Backward({.retain_graph = true});
  loss.Backward();
  EXPECT_EQ(grad_outputs.size(), 4u);
  EXPECT_EQ(grad_inputs.size(), 4u);
  EXPECT_EQ(root_posts, 4);
  // Nothing stays behind on the leaf input: once the hooks are removed, a
  // pass through it fires nothing.
  pre.handle().Remove();
  post.handle().Remove();
  root.handle().Remove();
  Sum(Square(m.net(x))).Backward();
  EXPECT_EQ(events.size(), 8u);
  EXPECT_EQ(root_posts, 4);
}

TEST_F(ModuleHooksTest, BackwardPreHooksRunOuterFirstAndPostHooksInnerFirst) {
  Model m(9);
  std::vector<std::string> events;
  auto record = [&](nn::Module& module) {
    std::vector<ScopedHook> hooks;
    hooks.emplace_back(module.RegisterBackwardPreHook(
        [&](nn::Module& mod, const Tensor&) -> std::optional<Tensor> {
          events.push_back("pre " + mod.Path());
          return std::nullopt;
        }));
    hooks.emplace_back(module.RegisterBackwardHook(
        [&](nn::Module& mod, const Tensor&, const Tensor&) -> std::optional<Tensor> {
          events.push_back("post " + mod.Path());
          return std::nullopt;
        }));
    return hooks;
  };
  // Registered inner first, so that the order below is the pass's own.
  std::vector<ScopedHook> fc = record(m.block().fc());
  std::vector<ScopedHook> block = record(m.block());
  std::vector<ScopedHook> root = record(m.net);
  Sum(Square(m.net(Input(m.gen, true)))).Backward();
  EXPECT_THAT(events, ElementsAre("pre ", "pre 1", "pre 1.fc", "post 1.fc", "post 1", "post "));
}

TEST_F(ModuleHooksTest, BackwardHooksMayReplaceGradients) {
  Model m(10);
  Tensor x = Input(m.gen, true);
  Sum(Square(m.net(x))).Backward();
  const std::vector<double> plain_first = m.first().weight().grad().ToVector();
  const std::vector<double> plain_last = m.last().weight().grad().ToVector();
  m.net.ZeroGrad();

  // The block passes twice the gradient on to its input: everything before
  // it doubles, everything after it stays.
  {
    ScopedHook hook(m.block().RegisterBackwardHook(
        [](nn::Module&, const Tensor& grad_input, const Tensor&) -> std::optional<Tensor> {
          return grad_input * 2.0;
        }));
    Sum(Square(m.net(x))).Backward();
  }
  std::vector<double> doubled;
  for (double v : plain_first) doubled.push_back(2 * v);
  EXPECT_THAT(m.first().weight().grad().ToVector(), ElementsAreNear(doubled, 1e-4));
  EXPECT_THAT(m.last().weight().grad().ToVector(), ElementsAreNear(plain_last, kTolerance));
  m.net.ZeroGrad();

  // The last layer's gradient zeroed on arrival: nothing before it learns.
  x.ClearGrad();
  {
    ScopedHook hook(m.last().RegisterBackwardPreHook(
        [](nn::Module&, const Tensor& grad_output) -> std::optional<Tensor> {
          return Zeros(grad_output.shape());
        }));
    Sum(Square(m.net(x))).Backward();
  }
  EXPECT_THAT(m.first().weight().grad().ToVector(), ::testing::Each(0.0));
  EXPECT_THAT(m.last().weight().grad().ToVector(), ::testing::Each(0.0));
  EXPECT_THAT(x.grad().ToVector(), ::testing::Each(0.0));
}

TEST_F(ModuleHooksTest, AnInputWithoutGradientGetsAnUndefinedGradInputRightAfterThePreHooks) {
  Model m(11);
  const Tensor x = Input(m.gen, false);
  const Plain plain = PlainForward(m, x);
  const Tensor expected = Grad(plain.loss, {plain.h0})[0];

  std::vector<std::string> events;
  Tensor grad_output_seen;
  bool grad_input_defined = true;
  ScopedHook pre(
      m.first().RegisterBackwardPreHook([&](nn::Module&, const Tensor&) -> std::optional<Tensor> {
        events.push_back("pre 0");
        return std::nullopt;
      }));
  ScopedHook post(
      m.first().RegisterBackwardHook([&](nn::Module&, const Tensor& grad_input,
                                         const Tensor& grad_output) -> std::optional<Tensor> {
        events.push_back("post 0");
        grad_input_defined = grad_input.defined();
        grad_output_seen = grad_output.Clone();
        return std::nullopt;
      }));
  // The leaf parameters' gradients accumulate after the post hook fired.
  m.first().weight().RegisterHook([&](const Tensor&) {
    events.push_back("weight");
    return Tensor();
  });
  Sum(Square(m.net(x))).Backward();
  EXPECT_THAT(events, ElementsAre("pre 0", "post 0", "weight"));
  EXPECT_FALSE(grad_input_defined);
  ASSERT_TRUE(grad_output_seen.defined());
  EXPECT_THAT(grad_output_seen.ToVector(), ElementsAreNear(expected.ToVector(), kTolerance));

  // There is nothing to replace.
  ScopedHook replacing(m.first().RegisterBackwardHook(
      [](nn::Module&, const Tensor&, const Tensor& grad_output) -> std::optional<Tensor> {
        return grad_output;
      }));
  const std::string message = ErrorMessageOf([&] { Sum(Square(m.net(x))).Backward(); });
  EXPECT_THAT(message, HasSubstr("linear \"0\""));
  EXPECT_THAT(message, HasSubstr("does not require one"));
  EXPECT_THAT(message, HasSubstr("module_hooks_test.cc"));
}

TEST_F(ModuleHooksTest, NoBackwardHooksForCallsWithoutGradient) {
  Model m(12);
  int fired = 0;
  ScopedHook hook(nn::RegisterGlobalModuleHooks({
      .backward_pre = [&](nn::Module&, const Tensor&) -> std::optional<Tensor> {
        ++fired;
        return std::nullopt;
      },
      .backward = [&](nn::Module&, const Tensor&, const Tensor&) -> std::optional<Tensor> {
        ++fired;
        return std::nullopt;
      },
  }));
  Tensor out;
  {
    NoGradGuard no_grad;
    out = m.net(Input(m.gen, true));
  }
  EXPECT_FALSE(out.requires_grad());
  Tensor scale = Ones({1}).set_requires_grad(true);
  Sum(out * scale).Backward();
  EXPECT_EQ(fired, 0);
  EXPECT_TRUE(scale.grad().defined());

  // A module destroyed before Backward(): its graph's hooks stay silent.
  Tensor x = Input(m.gen, true);
  Tensor y;
  {
    Generator gen(13);
    nn::Linear temporary({.in = 4, .out = 3}, gen);
    y = temporary(x);
  }
  Sum(y).Backward();
  EXPECT_EQ(fired, 0);
  EXPECT_TRUE(x.grad().defined());
}

TEST_F(ModuleHooksTest, MisuseThrowsNamingTheModuleAndTheCaller) {
  Model m(14);
  const std::string null_hook =
      ErrorMessageOf([&] { m.block().fc().RegisterForwardHook(nn::ForwardHook()); });
  EXPECT_THAT(null_hook, HasSubstr("linear \"1.fc\""));
  EXPECT_THAT(null_hook, HasSubstr("RegisterForwardHook: the hook is null"));
  EXPECT_THAT(null_hook, HasSubstr("module_hooks_test.cc"));
  EXPECT_THAT(ErrorMessageOf([&] { m.net.RegisterForwardPreHook(nullptr); }),
              HasSubstr("sequential: RegisterForwardPreHook: the hook is null"));
  EXPECT_THAT(ErrorMessageOf([&] { m.net.RegisterBackwardPreHook(nullptr); }),
              HasSubstr("RegisterBackwardPreHook: the hook is null"));
  EXPECT_THAT(ErrorMessageOf([&] { m.net.RegisterBackwardHook(nullptr); }),
              HasSubstr("RegisterBackwardHook: the hook is null"));
  EXPECT_THAT(ErrorMessageOf([&] { nn::RegisterGlobalModuleHooks({}); }),
              HasSubstr("all four hooks are empty"));
  EXPECT_FALSE(internal::AnyModuleHooks());

  // A replaced gradient must keep its shape.
  ScopedHook hook(m.last().RegisterBackwardPreHook(
      [](nn::Module&, const Tensor&) -> std::optional<Tensor> { return Zeros({1}); }));
  const std::string message =
      ErrorMessageOf([&] { Sum(Square(m.net(Input(m.gen, false)))).Backward(); });
  EXPECT_THAT(message, HasSubstr("linear \"2\": the backward pre hook registered here returned "
                                 "[1] float32 for a gradient of [5,2] float32"));
  EXPECT_THAT(message, HasSubstr("module_hooks_test.cc"));
}

}  // namespace
}  // namespace actgrad
