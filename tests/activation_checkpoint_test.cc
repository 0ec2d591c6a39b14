// Activation checkpointing: a checkpointed network gives bitwise the loss,
// gradients, buffers and random streams of the same network without it, for
// every layer kind; and it keeps less memory for backward.

#include "nn/activation_checkpoint.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "actgrad.h"
#include "nn/layer_spec.h"
#include "nn/model_file.h"
#include "nn/nn.h"
#include "profile/memory_advice.h"
#include "profile/profiler.h"
#include "tests/test_util.h"

namespace actgrad {
namespace {

using ::testing::HasSubstr;

bool SameBits(const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined()) return a.defined() == b.defined();
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.raw_data(), b.raw_data(),
                     static_cast<size_t>(a.numel()) * DTypeSize(a.dtype())) == 0;
}

struct Case {
  std::string spec;
  std::vector<int64_t> input_shape;
  bool indices = false;  // the first layer is an embedding
};

class CheckpointEqualityTest : public ::testing::TestWithParam<Case> {};

// Two steps (the second draws new dropout masks) of the network as built
// and of the same network inside a ActivationCheckpoint: every bit agrees.
TEST_P(CheckpointEqualityTest, LossGradientsBuffersAndStreamsAreBitwiseEqual) {
  const Case& c = GetParam();
  const nn::LayerSpecOptions options{.input_shape = c.input_shape, .outputs = 3};
  Generator gen_a(7), gen_b(7);
  absl::StatusOr<nn::BuiltNetwork> a = nn::BuildFromLayerSpec(c.spec, options, gen_a);
  absl::StatusOr<nn::BuiltNetwork> b = nn::BuildFromLayerSpec(c.spec, options, gen_b);
  ASSERT_TRUE(a.ok() && b.ok()) << a.status() << b.status();
  nn::Module& plain = *a->network;
  nn::ActivationCheckpoint checkpointed(std::move(b->network));
  int64_t features = 1;
  for (int64_t d : c.input_shape) features *= d;
  Generator data(3);
  Tensor x = Normal({8, features}, 0, 1, data);
  if (c.indices) {
    std::vector<double> tokens(8 * features);
    for (double& t : tokens) t = static_cast<double>(data.NextBelow(10));
    x = FromValues(tokens, {8, features});
  }
  const Tensor labels = Labels({0, 1, 2, 0, 1, 2, 0, 1});
  for (int step = 0; step < 2; ++step) {
    plain.ZeroGrad();
    checkpointed.ZeroGrad();
    const Tensor loss_a = CrossEntropy(plain(x), labels);
    const Tensor loss_b = CrossEntropy(checkpointed(x), labels);
    loss_a.Backward();
    loss_b.Backward();
    ASSERT_TRUE(SameBits(loss_a, loss_b)) << c.spec << " step " << step;
    const std::vector<nn::NamedParameter> pa = plain.NamedParameters();
    const std::vector<nn::NamedParameter> pb = checkpointed.NamedParameters();
    ASSERT_EQ(pa.size(), pb.size());
    for (size_t i = 0; i < pa.size(); ++i) {
      EXPECT_EQ("module." + pa[i].name, pb[i].name);
      EXPECT_TRUE(pa[i].tensor->grad().defined()) << pa[i].name;
      EXPECT_TRUE(SameBits(pa[i].tensor->grad(), pb[i].tensor->grad()))
          << c.spec << " step " << step << ": gradient of " << pa[i].name;
    }
    const std::vector<nn::NamedBuffer> ba = plain.NamedBuffers();
    const std::vector<nn::NamedBuffer> bb = checkpointed.NamedBuffers();
    ASSERT_EQ(ba.size(), bb.size());
    for (size_t i = 0; i < ba.size(); ++i) {
      EXPECT_TRUE(SameBits(*ba[i].tensor, *bb[i].tensor)) << c.spec << ": buffer " << ba[i].name;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    LayerKinds, CheckpointEqualityTest,
    ::testing::Values(Case{"linear:16,tanh,dropout:0.3,linear:8,relu", {6}},
                      Case{"conv2d:4:3:pad=1,batchnorm,relu,maxpool:2,dropout:0.2,flatten,"
                           "linear:8,gelu",
                           {1, 6, 6}},
                      Case{"conv1d:4:3,groupnorm:2,elu,avgpool:2,flatten,layernorm", {2, 8}},
                      Case{"lstm:6:layers=2:dropout=0.25,last", {5, 4}},
                      Case{"gru:6:bidirectional=1,mean", {5, 4}},
                      Case{"transformer:2:16:dropout=0.1,mean", {5, 8}},
                      Case{"attention:2,mean", {5, 8}},
                      Case{"embedding:10:4,lstm:6,last", {5}, true}),
    [](const ::testing::TestParamInfo<Case>& info) { return absl::StrCat("case", info.index); });

std::unique_ptr<nn::Sequential> Block(int64_t width, Generator& gen) {
  auto block = std::make_unique<nn::Sequential>();
  block->Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = width, .out = width}, gen));
  block->Add(std::make_unique<nn::Activation>(ops::kTanh));
  block->Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = width, .out = width}, gen));
  block->Add(std::make_unique<nn::Activation>(ops::kTanh));
  return block;
}

// A chain of blocks, the middle ones checkpointed (nested twice for one), on
// data that needs no gradient: the first block's parameters still get theirs.
std::unique_ptr<nn::Sequential> Chain(bool checkpoint, Generator& gen) {
  auto net = std::make_unique<nn::Sequential>();
  for (int i = 0; i < 4; ++i) {
    std::unique_ptr<nn::Module> block = Block(32, gen);
    if (checkpoint) block = std::make_unique<nn::ActivationCheckpoint>(std::move(block));
    if (checkpoint && i == 2) block = std::make_unique<nn::ActivationCheckpoint>(std::move(block));
    net->Add(std::move(block));
  }
  net->Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 32, .out = 3}, gen));
  return net;
}

TEST(CheckpointTest, PartialAndNestedCheckpointsMatchAndKeepLessForBackward) {
  Generator gen_a(1), gen_b(1);
  std::unique_ptr<nn::Sequential> plain = Chain(false, gen_a);
  std::unique_ptr<nn::Sequential> checkpointed = Chain(true, gen_b);
  Generator data(2);
  const Tensor x = Normal({64, 32}, 0, 1, data);
  const Tensor labels = Labels(std::vector<int64_t>(64, 1));
  Profile profile_a, profile_b;
  Tensor loss_a, loss_b;
  {
    Profiler profiler(&profile_a);
    loss_a = CrossEntropy(plain->Forward(x), labels);
    loss_a.Backward();
  }
  {
    Profiler profiler(&profile_b);
    loss_b = CrossEntropy(checkpointed->Forward(x), labels);
    loss_b.Backward();
  }
  EXPECT_TRUE(SameBits(loss_a, loss_b));
  const std::vector<Tensor> pa = plain->Parameters(), pb = checkpointed->Parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(SameBits(pa[i].grad(), pb[i].grad())) << i;
  // Without checkpoints each block keeps both tanh outputs, [64,32] floats;
  // with them a block keeps only its input, the same size, and only until
  // its recomputation has run.
  const int64_t activation = 64 * 32 * 4;
  const MemoryTimeline a = profile_a.Memory(), b = profile_b.Memory();
  EXPECT_EQ(a.peak_bytes, 8 * activation + 64 * 3 * 4 * 2);
  EXPECT_LT(b.peak_bytes, a.peak_bytes * 3 / 4);
  int recomputed = 0;
  // Each Linear + tanh pair runs (and is profiled) as one fused op.
  for (const OpRecord& r : profile_b.records()) {
    recomputed += r.recompute && r.op == "linear_activation";
  }
  // Four blocks of two, and the doubly checkpointed block once more.
  EXPECT_EQ(recomputed, 10);
  for (const OpRecord& r : profile_b.records()) {
    if (r.recompute && r.op == "linear_activation") {
      EXPECT_THAT(r.layer, HasSubstr(".checkpoint.module."));
    }
  }
}

TEST(CheckpointTest, RunsAsItselfWithoutGradientsAndRefusesTwiceDifferentiation) {
  Generator gen(0);
  nn::ActivationCheckpoint checkpointed(Block(4, gen));
  const Tensor x = Normal({2, 4}, 0, 1, gen).set_requires_grad(true);
  Tensor y;
  {
    NoGradGuard no_grad;
    y = checkpointed(x);
  }
  EXPECT_FALSE(y.requires_grad());
  EXPECT_THAT(checkpointed.ToString(), HasSubstr("Checkpoint("));
  const Tensor loss = Sum(checkpointed(x));
  EXPECT_THAT(
      testing::ErrorMessageOf([&] { (void)Grad(loss, {x}, Tensor(), {.create_graph = true}); }),
      HasSubstr("checkpoint"));
}

// W4's network (16 linear+tanh layers of width 64, then a linear to 10
// classes) with the layers in
// `segments` ([first, last] indices of the Sequential) checkpointed.
std::unique_ptr<nn::Sequential> Deep(const std::vector<std::pair<int, int>>& segments) {
  Generator gen(0);
  std::vector<std::unique_ptr<nn::Module>> layers;
  for (int i = 0; i < 16; ++i) {
    layers.push_back(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 64, .out = 64}, gen));
    layers.push_back(std::make_unique<nn::Activation>(ops::kTanh));
  }
  layers.push_back(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 64, .out = 10}, gen));
  auto net = std::make_unique<nn::Sequential>();
  for (int i = 0; i < static_cast<int>(layers.size()); ++i) {
    auto segment = std::find_if(segments.begin(), segments.end(),
                                [i](const std::pair<int, int>& s) { return s.first == i; });
    if (segment == segments.end()) {
      net->Add(std::move(layers[i]));
      continue;
    }
    auto inner = std::make_unique<nn::Sequential>();
    for (; i <= segment->second; ++i) inner->Add(std::move(layers[i]));
    --i;
    net->Add(std::make_unique<nn::ActivationCheckpoint>(std::move(inner)));
  }
  return net;
}

struct Measured {
  int64_t peak_bytes;
  double step_ms;  // median of the unprofiled steps
  double loss;
  CheckpointPlan plan;
};

Measured MeasureDeep(const std::vector<std::pair<int, int>>& segments, int64_t batch,
                     int64_t budget) {
  std::unique_ptr<nn::Sequential> net = Deep(segments);
  Generator data(5);
  const Tensor x = Normal({batch, 64}, 0, 1, data);
  std::vector<int64_t> labels(batch);
  for (int64_t& label : labels) label = data.NextBelow(10);
  const Tensor y = Labels(labels);
  Measured m;
  std::vector<double> ms;
  for (int step = 0; step < 7; ++step) {
    const auto start = std::chrono::steady_clock::now();
    net->ZeroGrad();
    const Tensor loss = CrossEntropy(net->Forward(x), y);
    loss.Backward();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
    m.loss = loss.item();
  }
  std::sort(ms.begin(), ms.end());
  m.step_ms = ms[ms.size() / 2];
  Profile profile;
  {
    Profiler profiler(&profile);
    net->ZeroGrad();
    CrossEntropy(net->Forward(x), y).Backward();
  }
  const MemoryTimeline timeline = profile.Memory();
  m.peak_bytes = timeline.peak_bytes;
  m.plan = AdviseCheckpoints(profile, timeline, budget);
  return m;
}

// The index of the Sequential layer a unit names ("12.tanh" -> 12).
int LayerIndex(const std::string& unit) { return std::stoi(unit.substr(0, unit.find('.'))); }

// The advice, applied: W4's network at batch 4096 under a budget of half
// its peak. The checkpointed network's measured peak comes under the
// budget, and the loss is bitwise the same.
TEST(CheckpointAdviceTest, W4AtBatch4096MeetsABudgetOnceTheAdviceIsApplied) {
  constexpr int64_t kBatch = 4096;
  const Measured before = MeasureDeep({}, kBatch, -1);
  // Each tanh output, [4096,64] floats, is kept for backward (1 MiB each).
  EXPECT_EQ(before.peak_bytes, 16 * kBatch * 64 * 4 + 2 * kBatch * 10 * 4);
  const int64_t budget = before.peak_bytes / 2;
  const Measured advised = MeasureDeep({}, kBatch, budget);
  const CheckpointPlan& plan = advised.plan;
  ASSERT_TRUE(plan.fits) << FormatCheckpointPlan(plan);
  ASSERT_FALSE(plan.chosen.empty());
  std::vector<std::pair<int, int>> segments;
  for (size_t i : plan.chosen) {
    const CheckpointCandidate& c = plan.ranked[i];
    segments.push_back({LayerIndex(c.layers.front()), LayerIndex(c.layers.back())});
  }
  const Measured after = MeasureDeep(segments, kBatch, -1);
  EXPECT_LE(after.peak_bytes, budget) << FormatCheckpointPlan(plan);
  EXPECT_EQ(after.loss, before.loss);
  std::printf(
      "W4 batch %lld: peak %.2f MiB, step %.2f ms; budget %.2f MiB, advice %zu segments, "
      "predicted %.2f MiB +%.2f ms; measured after: peak %.2f MiB, step %.2f ms\n",
      static_cast<long long>(kBatch), before.peak_bytes / 1048576.0, before.step_ms,
      budget / 1048576.0, plan.chosen.size(), plan.predicted_peak_bytes / 1048576.0,
      plan.added_ns / 1e6, after.peak_bytes / 1048576.0, after.step_ms);
  std::printf("%s", FormatCheckpointPlan(plan, 5).c_str());
}

TEST(CheckpointAdviceTest, ParsesSizes) {
  EXPECT_EQ(*ParseByteSize("50MiB"), 50 << 20);
  EXPECT_EQ(*ParseByteSize("1.5KiB"), 1536);
  EXPECT_EQ(*ParseByteSize("1000"), 1000);
  EXPECT_EQ(*ParseByteSize("2GB"), 2000000000);
  EXPECT_FALSE(ParseByteSize("lots").ok());
  EXPECT_FALSE(ParseByteSize("5 parsecs").ok());
}

TEST(CheckpointTest, ACheckpointedNetworkSavesAndLoadsAsOne) {
  Generator gen(3);
  std::unique_ptr<nn::Sequential> net = Chain(true, gen);
  const std::string path = testing::TempPath("checkpointed.actgrad");
  ASSERT_TRUE(nn::Save(path, *net).ok());
  absl::StatusOr<nn::SavedModel> loaded = nn::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  // The same tree, checkpoints included, under the same names.
  std::vector<std::string> kinds_saved, kinds_loaded;
  for (auto& [name, m] : net->NamedModules()) kinds_saved.push_back(name + ":" + m->Kind());
  for (auto& [name, m] : loaded->module->NamedModules()) {
    kinds_loaded.push_back(name + ":" + m->Kind());
  }
  EXPECT_EQ(kinds_loaded, kinds_saved);
  EXPECT_NE(std::find(kinds_loaded.begin(), kinds_loaded.end(), "2:checkpoint"),
            kinds_loaded.end());
  // And the same function, gradients included.
  Generator data(4);
  const Tensor x = Normal({8, 32}, 0, 1, data);
  const Tensor labels = Labels(std::vector<int64_t>(8, 2));
  Tensor loss_a = CrossEntropy(net->Forward(x), labels);
  Tensor loss_b = CrossEntropy((*loaded->module)(x), labels);
  EXPECT_TRUE(SameBits(loss_a, loss_b));
  loss_a.Backward();
  loss_b.Backward();
  const std::vector<Tensor> pa = net->Parameters(), pb = loaded->module->Parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(SameBits(pa[i].grad(), pb[i].grad())) << i;
}

}  // namespace
}  // namespace actgrad
