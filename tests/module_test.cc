// Modules register what they hold: names, order and counts of parameters and
// buffers through nested children, state dicts that round-trip into the
// tensors an optimizer already holds, loads that refuse what does not fit,
// train/eval modes that children inherit, and registrations that are misuse.

#include "nn/module.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "actgrad.h"
#include "nn/nn.h"
#include "optim/sgd.h"
#include "tests/residual_net.h"
#include "tests/test_util.h"

namespace actgrad {
namespace {

using ::actgrad::testing::ErrorMessageOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// A child with a parameter, a buffer and a child of its own.
class Block : public nn::Module {
 public:
  explicit Block(Generator& gen) : fc_({.in = 3, .out = 3}, gen) {
    scale_ = Ones({3});
    RegisterParameter("scale", &scale_);
    running_mean_ = Zeros({3});
    RegisterBuffer("running_mean", &running_mean_);
    RegisterModule("fc", &fc_);
  }
  Tensor Forward(const Tensor& x) override { return x + scale_ * Tanh(fc_(x) - running_mean_); }
  std::string ToString() const override { return "Block"; }
  std::string Kind() const override { return "block"; }

  Tensor& running_mean() { return running_mean_; }

 private:
  nn::Linear fc_;
  Tensor scale_;
  Tensor running_mean_;
};

class Net : public nn::Module {
 public:
  explicit Net(uint64_t seed) : gen_(seed), block_(gen_), head_({.in = 3, .out = 2}, gen_) {
    temperature_ = FromValues({1.5});
    RegisterBuffer("temperature", &temperature_);
    RegisterModule("block", &block_);
    RegisterModule("head", &head_);
  }
  Tensor Forward(const Tensor& x) override { return head_(block_(x)) / temperature_; }
  std::string ToString() const override { return "Net"; }

  Block& block() { return block_; }
  nn::Linear& head() { return head_; }

 private:
  Generator gen_;
  Tensor temperature_;
  Block block_;
  nn::Linear head_;
};

std::vector<std::string> Names(const std::vector<nn::NamedTensor>& tensors) {
  std::vector<std::string> names;
  for (const nn::NamedTensor& t : tensors) names.push_back(t.name);
  return names;
}

std::vector<std::string> Keys(const nn::NamedTensors& state) {
  std::vector<std::string> keys;
  for (const auto& [key, value] : state) keys.push_back(key);
  return keys;
}

TEST(ModuleTest, NestedChildrenAndBuffersGetPyTorchNamesAndOrder) {
  Net net(1);
  EXPECT_THAT(
      Names(net.NamedParameters()),
      ElementsAre("block.scale", "block.fc.weight", "block.fc.bias", "head.weight", "head.bias"));
  EXPECT_THAT(Names(net.NamedBuffers()), ElementsAre("temperature", "block.running_mean"));
  // state_dict order: own parameters, own buffers, then each child's.
  EXPECT_THAT(Keys(net.StateDict()),
              ElementsAre("temperature", "block.scale", "block.running_mean", "block.fc.weight",
                          "block.fc.bias", "head.weight", "head.bias"));
  EXPECT_EQ(net.NumParameters(), 3 + 9 + 3 + 6 + 2);
  EXPECT_EQ(net.Parameters().size(), 5u);
  EXPECT_EQ(net.Buffers().size(), 2u);
  for (const Tensor& p : net.Parameters()) EXPECT_TRUE(p.requires_grad());
  for (const Tensor& b : net.Buffers()) EXPECT_FALSE(b.requires_grad());
  std::vector<std::string> modules;
  for (const auto& [name, module] : net.NamedModules()) modules.push_back(name);
  EXPECT_THAT(modules, ElementsAre("", "block", "block.fc", "head"));
  EXPECT_EQ(net.NamedChildren().size(), 2u);
}

TEST(ModuleTest, SequentialNamesNestLikeTorchNnSequential) {
  Generator gen(2);
  auto inner = std::make_unique<nn::Sequential>();
  inner->Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 2, .out = 2}, gen));
  nn::Sequential outer;
  outer.Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 2, .out = 2, .bias = false}, gen));
  outer.Add(std::move(inner));
  EXPECT_THAT(Names(outer.NamedParameters()), ElementsAre("0.weight", "1.0.weight", "1.0.bias"));
}

TEST(ModuleTest, StateDictRoundTripsIntoTheTensorsAnOptimizerHolds) {
  Net source(1), target(2);
  source.block().running_mean() = FromValues({0.1, -0.2, 0.3});
  const Tensor x = Normal({4, 3}, 0, 1, *std::make_unique<Generator>(3));
  ASSERT_NE(source.Forward(x).ToVector(), target.Forward(x).ToVector());
  const Tensor weight_before = target.head().weight();
  optim::Sgd sgd(target.Parameters(), {.learning_rate = 0.1});

  absl::StatusOr<nn::LoadReport> report = target.LoadStateDict(source.StateDict());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->AllMatched());
  EXPECT_EQ(report->ToString(), "<All keys matched successfully>");
  EXPECT_EQ(target.Forward(x).ToVector(), source.Forward(x).ToVector());
  EXPECT_EQ(target.block().running_mean().ToVector(), source.block().running_mean().ToVector());
  // Loaded in place: the handle is the one the optimizer holds.
  EXPECT_EQ(target.head().weight().impl(), weight_before.impl());
  Sum(target.Forward(x)).Backward();
  sgd.Step();
  EXPECT_NE(target.Forward(x).ToVector(), source.Forward(x).ToVector());
  // The source's state is its own: the copy did not alias it.
  EXPECT_NE(target.head().weight().ToVector(), source.head().weight().ToVector());
}

TEST(ModuleTest, LoadRefusesWhatDoesNotFitAndChangesNothing) {
  Net net(1), other(2);
  const std::vector<double> before = net.head().weight().ToVector();
  nn::NamedTensors state = other.StateDict();

  nn::NamedTensors missing(state.begin() + 1, state.end());  // no "temperature"
  absl::StatusOr<nn::LoadReport> strict = net.LoadStateDict(missing);
  ASSERT_FALSE(strict.ok());
  EXPECT_THAT(strict.status().message(),
              HasSubstr("Missing key(s) in state_dict: \"temperature\"."));
  EXPECT_EQ(net.head().weight().ToVector(), before);
  absl::StatusOr<nn::LoadReport> lenient = net.LoadStateDict(missing, /*strict=*/false);
  ASSERT_TRUE(lenient.ok()) << lenient.status();
  EXPECT_THAT(lenient->missing_keys, ElementsAre("temperature"));
  EXPECT_EQ(net.head().weight().ToVector(), other.head().weight().ToVector());

  nn::NamedTensors extra = state;
  extra.emplace_back("head.scale", Ones({2}));
  absl::StatusOr<nn::LoadReport> unexpected = net.LoadStateDict(extra);
  ASSERT_FALSE(unexpected.ok());
  EXPECT_THAT(unexpected.status().message(),
              HasSubstr("Unexpected key(s) in state_dict: \"head.scale\"."));
  absl::StatusOr<nn::LoadReport> reported = net.LoadStateDict(extra, /*strict=*/false);
  ASSERT_TRUE(reported.ok());
  EXPECT_THAT(reported->unexpected_keys, ElementsAre("head.scale"));
  EXPECT_THAT(reported->missing_keys, IsEmpty());

  Net fresh(3);
  const std::vector<double> fresh_before = fresh.block().running_mean().ToVector();
  nn::NamedTensors wrong = state;
  for (auto& [key, value] : wrong) {
    if (key == "head.weight") value = Zeros({3, 2});
    if (key == "block.running_mean") value = Ones({3});
  }
  for (bool strict_mode : {true, false}) {
    absl::StatusOr<nn::LoadReport> mismatch = fresh.LoadStateDict(wrong, strict_mode);
    ASSERT_FALSE(mismatch.ok());
    EXPECT_THAT(mismatch.status().message(),
                HasSubstr("size mismatch for head.weight: copying [3,2] float32 from the state, "
                          "the module holds [2,3] float32"));
    // Nothing is half-loaded: the buffer listed before the bad key is untouched.
    EXPECT_EQ(fresh.block().running_mean().ToVector(), fresh_before);
  }
  nn::NamedTensors twice = state;
  twice.push_back(state[0]);
  absl::StatusOr<nn::LoadReport> duplicate = fresh.LoadStateDict(twice);
  ASSERT_FALSE(duplicate.ok());
  EXPECT_THAT(duplicate.status().message(), HasSubstr("\"temperature\" is given more than once"));
}

TEST(ModuleTest, TrainAndEvalReachEveryDescendantAndLaterChildren) {
  Net net(1);
  for (const auto& [name, module] : net.NamedModules()) EXPECT_TRUE(module->is_training()) << name;
  net.Eval();
  for (const auto& [name, module] : net.NamedModules()) EXPECT_FALSE(module->is_training()) << name;
  net.block().Train();
  EXPECT_FALSE(net.is_training());
  EXPECT_TRUE(net.block().is_training());
  EXPECT_FALSE(net.head().is_training());
  net.Train();
  for (const auto& [name, module] : net.NamedModules()) EXPECT_TRUE(module->is_training()) << name;

  Generator gen(4);
  nn::Sequential model;
  model.Eval();
  model.Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 2, .out = 2}, gen));
  EXPECT_FALSE(model.layer(0).is_training());
}

TEST(ModuleTest, TiedTensorsTrainOnceAndSaveUnderEveryName) {
  class Tied : public nn::Module {
   public:
    Tied() {
      shared_ = Ones({2});
      RegisterParameter("encoder", &shared_);
      alias_ = shared_;
      RegisterParameter("decoder", &alias_);
    }
    Tensor Forward(const Tensor& x) override { return x * shared_ * alias_; }
    std::string ToString() const override { return "Tied"; }

   private:
    Tensor shared_, alias_;
  };
  Tied tied;
  EXPECT_THAT(Names(tied.NamedParameters()), ElementsAre("encoder"));
  EXPECT_THAT(Keys(tied.StateDict()), ElementsAre("encoder", "decoder"));
}

class Registrar : public nn::Module {
 public:
  Tensor Forward(const Tensor& x) override { return x; }
  std::string ToString() const override { return "Registrar"; }
  std::string Kind() const override { return "registrar"; }
  void AddParameter(const std::string& name) {
    tensors_.push_back(std::make_unique<Tensor>(Ones({1})));
    RegisterParameter(name, tensors_.back().get());
  }
  void AddChild(const std::string& name, nn::Module* child) { RegisterModule(name, child); }

 private:
  std::vector<std::unique_ptr<Tensor>> tensors_;
};

TEST(ModuleTest, BadRegistrationsNameTheModuleAndTheCaller) {
  Registrar module;
  module.AddParameter("weight");
  for (const char* bad : {"", "fc.weight"}) {
    const std::string message = ErrorMessageOf([&] { module.AddParameter(bad); });
    EXPECT_THAT(message, HasSubstr("registrar: cannot register")) << bad;
    EXPECT_THAT(message, HasSubstr("contain no \".\"")) << bad;
  }
  const std::string twice = ErrorMessageOf([&] { module.AddParameter("weight"); });
  EXPECT_THAT(twice, HasSubstr("\"weight\" is registered already"));
  EXPECT_THAT(twice, HasSubstr("module_test.cc"));

  Registrar child, other_parent;
  module.AddChild("child", &child);
  EXPECT_THAT(ErrorMessageOf([&] { other_parent.AddChild("child", &child); }),
              HasSubstr("belongs to another parent already"));
  EXPECT_THAT(ErrorMessageOf([&] { module.AddChild("self", &module); }),
              HasSubstr("it is this module"));
  EXPECT_THAT(Names(module.NamedParameters()), ElementsAre("weight"));
}

// A profile of a module of one's own names its layers by where they sit.
TEST(ModuleTest, ChildrenNameTheirOpsAsLayersUnderAProfiler) {
  Generator gen(1);
  test_nets::ResidualNet net(4, 8, 3, gen);
  const Tensor x = Normal({5, 4}, 0, 1, gen);
  Profile profile;
  {
    Profiler profiler(&profile);
    Mean(net(x)).Backward();
  }
  std::vector<std::string> layers;
  for (const ProfileGroup& g : profile.ByLayer()) layers.push_back(g.name);
  EXPECT_THAT(layers, ::testing::IsSupersetOf({"in.linear", "block1.residual.fc1.linear",
                                               "block2.residual.fc2.linear", "head.linear"}));
  // Every scope closed with its module.
  EXPECT_EQ(internal::layer_path, "");
}

}  // namespace
}  // namespace actgrad
