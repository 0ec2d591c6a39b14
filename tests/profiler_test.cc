// The profiler: what it records per op and layer, its aggregates, and the
// Chrome trace it writes.

#include "profile/profiler.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "actgrad.h"
#include "io/json.h"
#include "nn/nn.h"
#include "profile/export.h"
#include "tests/test_util.h"

namespace actgrad {
namespace {

using ::testing::HasSubstr;

struct Step {
  Profile profile;
  Tensor loss;
};

// One training step of a 4-8-3 MLP on a batch of 16.
void ProfiledStep(Step& step) {
  Generator gen(0);
  auto model = nn::Mlp({.inputs = 4,
                        .hidden = {8},
                        .outputs = 3,
                        .hidden_activation = &ops::kTanh,
                        .output_activation = &ops::kSoftmax},
                       gen);
  model->set_fusion(false);  // a row per activation
  const Tensor x = Normal({16, 4}, 0, 1, gen);
  const Tensor labels = Labels(std::vector<int64_t>(16, 2));
  Profiler profiler(&step.profile);
  step.loss = CrossEntropy(model->Logits(x), labels);
  step.loss.Backward(BackwardOptions{.retain_graph = true});
}

TEST(ProfilerTest, RecordsOpsWithLayersShapesAndCosts) {
  Step step;
  ProfiledStep(step);
  std::map<std::string, const OpRecord*> by_name;
  for (const OpRecord& r : step.profile.records()) {
    by_name[r.layer.empty() ? r.op : r.layer + ":" + r.op] = &r;
    EXPECT_GE(r.forward_ns, r.forward_kernel_ns);
    EXPECT_GE(r.backward_ns, r.backward_kernel_ns);
  }
  ASSERT_TRUE(by_name.count("0.linear:linear")) << "layers name their ops";
  ASSERT_TRUE(by_name.count("1.tanh:tanh"));
  ASSERT_TRUE(by_name.count("2.linear:linear"));
  ASSERT_TRUE(by_name.count("cross_entropy"));
  const OpRecord& first = *by_name["0.linear:linear"];
  EXPECT_EQ(first.shapes, "[16,4] x [8,4] x [8] -> [16,8]");
  EXPECT_DOUBLE_EQ(first.forward_flops, 2.0 * 16 * 8 * 4);
  EXPECT_DOUBLE_EQ(first.backward_flops, 2.0 * 16 * 8 * 4);  // the data needs no gradient
  EXPECT_DOUBLE_EQ(by_name["2.linear:linear"]->backward_flops, 2 * 2.0 * 16 * 3 * 8);
  EXPECT_GT(first.backward_ns, 0);
  EXPECT_EQ(by_name["1.tanh:tanh"]->saved_bytes, 16 * 8 * 4);  // the output, float32
  EXPECT_EQ(by_name["1.tanh:tanh"]->output_bytes, 16 * 8 * 4);
  // Leaves receive their gradients in accumulate_grad records.
  int accumulations = 0;
  for (const OpRecord& r : step.profile.records()) accumulations += r.op == "accumulate_grad";
  EXPECT_EQ(accumulations, 4);  // two weights, two biases
}

TEST(ProfilerTest, GroupsByOpAndByLayer) {
  Step step;
  ProfiledStep(step);
  const std::vector<ProfileGroup> ops = step.profile.ByOp();
  int64_t total = 0;
  for (const ProfileGroup& g : ops) {
    total += g.forward_ns + g.backward_ns;
    if (g.name == "linear") {
      EXPECT_EQ(g.count, 2);
    }
  }
  // The rows are the records and the gaps between them: the whole step,
  // of which the shares are shares.
  EXPECT_EQ(total, step.profile.wall_ns());
  absl::StatusOr<io::JsonDocument> json = io::ParseJson(GroupsJson(ops, step.profile), "ops");
  ASSERT_TRUE(json.ok()) << json.status();
  double shares = 0;
  for (const io::JsonValue& row : json->GetArray()) shares += row["share"].GetDouble();
  EXPECT_NEAR(shares, 1.0, 1e-9);
  const std::string table = FormatGroupTable(ops, step.profile, "op", 100.0);
  EXPECT_THAT(table, HasSubstr("bwd/fwd"));
  EXPECT_THAT(table, HasSubstr("linear"));
  const std::string layers = FormatGroupTable(step.profile.ByLayer(), step.profile, "layer");
  EXPECT_THAT(layers, HasSubstr("0.linear"));
  EXPECT_THAT(layers, HasSubstr("1.tanh"));
}

TEST(ProfilerTest, RecordsNothingWhenOffAndRefusesNesting) {
  Profile profile;
  {
    Profiler profiler(&profile);
    EXPECT_TRUE(IsProfiling());
    Profile inner;
    EXPECT_THAT(testing::ErrorMessageOf([&] { Profiler nested(&inner); }),
                HasSubstr("already recording"));
  }
  EXPECT_FALSE(IsProfiling());
  Tanh(Ones({3}));
  EXPECT_TRUE(profile.records().empty());
}

TEST(ProfilerTest, ChromeTraceHasTracksNestedSlicesAndFlowArrows) {
  Step step;
  ProfiledStep(step);
  const std::string json = ChromeTraceJson(step.profile);
  EXPECT_EQ(json.front(), '{');
  EXPECT_THAT(json, HasSubstr("\"traceEvents\""));
  EXPECT_THAT(json, HasSubstr("\"name\":\"forward\""));
  EXPECT_THAT(json, HasSubstr("\"name\":\"backward\""));
  // Slices on the forward and backward tracks never overlap (they follow one
  // another, gaps included).
  const std::regex slice(
      "\"ph\":\"X\",\"ts\":([0-9.eE+-]+),\"dur\":([0-9.eE+-]+),\"pid\":1,\"tid\":([23])");
  std::map<int, std::vector<std::pair<double, double>>> tracks;
  for (auto it = std::sregex_iterator(json.begin(), json.end(), slice);
       it != std::sregex_iterator(); ++it) {
    tracks[std::stoi((*it)[3])].push_back({std::stod((*it)[1]), std::stod((*it)[2])});
  }
  ASSERT_EQ(tracks.size(), 2u);
  for (auto& [tid, slices] : tracks) {
    std::sort(slices.begin(), slices.end());
    for (size_t i = 1; i < slices.size(); ++i) {
      EXPECT_LE(slices[i - 1].first + slices[i - 1].second, slices[i].first + 1e-9)
          << "track " << tid;
    }
  }
  // One flow start and one finish per op that ran both ways.
  const auto count = [&](const std::string& what) {
    size_t n = 0;
    for (size_t at = json.find(what); at != std::string::npos; at = json.find(what, at + 1)) ++n;
    return n;
  };
  EXPECT_GT(count("\"ph\":\"s\""), 3u);
  EXPECT_EQ(count("\"ph\":\"s\""), count("\"ph\":\"f\""));
  const std::string path = testing::TempPath("trace.json");
  ASSERT_TRUE(WriteChromeTrace(step.profile, path).ok());
  std::ifstream file(path);
  std::stringstream written;
  written << file.rdbuf();
  EXPECT_EQ(written.str(), json);
}

TEST(ProfilerTest, DotIsColouredByBackwardCost) {
  Step step;
  ProfiledStep(step);
  const std::string path = testing::TempPath("profile.dot");
  ASSERT_TRUE(WriteProfileDot(step.profile, step.loss, path).ok());
  std::ifstream file(path);
  std::stringstream dot;
  dot << file.rdbuf();
  EXPECT_THAT(dot.str(), HasSubstr("fillcolor=\"#ff"));
  EXPECT_THAT(dot.str(), HasSubstr("bwd "));
}

// W3's network (784-512-256-10, tanh) on a batch of 128: one training step.
TEST(ProfilerMemoryTest, W3PeakMatchesTheSavedTensorsCountedFromShapes) {
  constexpr int64_t kBatch = 128;
  Generator gen(0);
  nn::Sequential model;
  model.Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 784, .out = 512}, gen));
  model.Add(std::make_unique<nn::Activation>(ops::kTanh));
  model.Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 512, .out = 256}, gen));
  model.Add(std::make_unique<nn::Activation>(ops::kTanh));
  model.Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 256, .out = 10}, gen));
  model.set_fusion(false);  // each tanh keeps its output as a row of its own
  const Tensor x = Normal({kBatch, 784}, 0, 1, gen);
  std::vector<int64_t> labels(kBatch);
  for (int64_t& label : labels) label = gen.NextBelow(10);
  const Tensor y = Labels(labels);
  Profile profile;
  {
    Profiler profiler(&profile);
    model.ZeroGrad();
    Tensor loss = CrossEntropy(model.Forward(x), y);
    loss.Backward();
  }
  // Counted by hand: what each row keeps beyond the parameters and the data.
  // tanh keeps its output, which the next linear keeps as its input (one
  // storage); cross_entropy keeps the logits and its softmax.
  const int64_t f32 = 4;
  const int64_t hidden1 = kBatch * 512 * f32, hidden2 = kBatch * 256 * f32;
  const int64_t logits = kBatch * 10 * f32, softmax = kBatch * 10 * f32;
  const MemoryTimeline timeline = profile.Memory();
  EXPECT_EQ(timeline.peak_bytes, hidden1 + hidden2 + logits + softmax);
  EXPECT_EQ(timeline.alive_at_peak.size(), 4u);
  EXPECT_EQ(timeline.total_bytes, timeline.peak_bytes);
  // The peak is at the end of the forward pass, and every buffer is freed by
  // the backward of the last node that kept it.
  EXPECT_LT(timeline.peak_ns, profile.FirstBackwardNs());
  ASSERT_FALSE(timeline.points.empty());
  EXPECT_EQ(timeline.points.back().live_bytes, 0);
  for (const SavedBuffer& b : profile.saved_buffers()) {
    EXPECT_GE(b.free_ns, profile.FirstBackwardNs()) << b.shape.ToString();
    EXPECT_GT(b.free_ns, b.alloc_ns);
    EXPECT_EQ(b.savers, 0);
  }
  std::map<std::string, int64_t> by_layer;
  for (const MemoryGroup& g : profile.MemoryByLayer(timeline)) by_layer[g.name] = g.at_peak_bytes;
  EXPECT_EQ(by_layer["1.tanh"], hidden1);
  EXPECT_EQ(by_layer["3.tanh"], hidden2);
  EXPECT_EQ(by_layer["4.linear"], logits);
  EXPECT_EQ(by_layer["(outside layers)"], softmax);
  std::map<std::string, int64_t> by_op;
  for (const MemoryGroup& g : profile.MemoryByOp(timeline)) by_op[g.name] = g.total_bytes;
  EXPECT_EQ(by_op["tanh"], hidden1 + hidden2);
  // The nodes' own figures count shared storage once per node: the second
  // linear keeps the first tanh's output and its weight.
  for (const OpRecord& r : profile.records()) {
    if (r.layer == "2.linear" && r.op == "linear") {
      EXPECT_EQ(r.activation_bytes, hidden1);
      EXPECT_EQ(r.saved_bytes, hidden1 + 256 * 512 * f32);
    }
  }
  const std::string report = FormatMemoryReport(profile, timeline);
  EXPECT_THAT(report, HasSubstr("peak 0.385 MiB"));
  EXPECT_THAT(report, HasSubstr("1.tanh"));
  absl::StatusOr<io::JsonDocument> json = io::ParseJson(MemoryJson(profile, timeline), "memory");
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_THAT(MemoryJson(profile, timeline),
              HasSubstr(absl::StrCat("\"peak_bytes\":", timeline.peak_bytes)));
}

TEST(ProfilerMemoryTest, RetainedGraphKeepsItsBuffersAndTheTraceCountsThem) {
  Step step;
  ProfiledStep(step);  // retain_graph: nothing is released
  const MemoryTimeline timeline = step.profile.Memory();
  EXPECT_GT(timeline.peak_bytes, 0);
  for (const SavedBuffer& b : step.profile.saved_buffers()) EXPECT_EQ(b.free_ns, -1);
  EXPECT_EQ(timeline.points.back().live_bytes, timeline.peak_bytes);
  const std::string json = ChromeTraceJson(step.profile);
  EXPECT_THAT(json, HasSubstr("\"ph\":\"C\""));
  EXPECT_THAT(json, HasSubstr("saved for backward"));
}

TEST(ProfilerMemoryTest, ModulesRollUpTheirChildren) {
  Generator gen(0);
  nn::Sequential inner;
  inner.Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 4, .out = 8}, gen));
  inner.Add(std::make_unique<nn::Activation>(ops::kTanh));
  nn::Sequential outer;
  auto block = std::make_unique<nn::Sequential>();
  block->Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 4, .out = 8}, gen));
  block->Add(std::make_unique<nn::Activation>(ops::kTanh));
  block->set_fusion(false);
  outer.Add(std::move(block));
  outer.Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 8, .out = 2}, gen));
  const Tensor x = Normal({16, 4}, 0, 1, gen);
  Profile profile;
  {
    Profiler profiler(&profile);
    Sum(outer.Forward(x)).Backward();
  }
  const MemoryTimeline timeline = profile.Memory();
  std::map<std::string, int64_t> by_module;
  for (const MemoryGroup& g : profile.MemoryByModule(timeline)) {
    by_module[g.name] = g.total_bytes;
  }
  EXPECT_EQ(by_module["0.sequential.1.tanh"], 16 * 8 * 4);
  EXPECT_EQ(by_module["0.sequential"], 16 * 8 * 4);
}

}  // namespace
}  // namespace actgrad
