// The experiments behind `actgrad experiment`: each runs on a reduced size,
// returns valid SVG figures and a verdict that follows from its checks;
// the linear-collapse product of weight matrices matches the network; and
// the pieces the experiments share (verdicts, data, statistics) do what they
// say.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "actgrad.h"
#include "experiments/data.h"
#include "experiments/experiment.h"
#include "experiments/linear_collapse.h"
#include "experiments/stats.h"
#include "graph/grad_mode.h"
#include "nn/nn.h"
#include "optim/sgd.h"
#include "tests/test_util.h"
#include "viz/svg_check.h"

namespace actgrad::experiments {
namespace {

using ::testing::AnyOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<const Experiment*> Experiments() {
  std::vector<const Experiment*> out;
  for (const Experiment& e : AllExperiments()) out.push_back(&e);
  return out;
}

TEST(ExperimentTableTest, HoldsTheSevenExperimentsOfTheIssue) {
  std::vector<std::string> names;
  for (const Experiment* e : Experiments()) names.emplace_back(e->name);
  EXPECT_THAT(names, ElementsAre("linear-collapse", "saturation", "tanh-vs-sigmoid", "relu-speed",
                                 "initialization", "relu-derivative-at-zero", "output-layer"));
}

TEST(ExperimentTableTest, UnknownNamesSuggestTheClosest) {
  const absl::StatusOr<const Experiment*> e = FindExperiment("linear-colapse");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(e.status().message(), HasSubstr("did you mean linear-collapse"));
  EXPECT_TRUE(FindExperiment("saturation").ok());
}

TEST(VerdictTest, FollowsTheChecks) {
  const Check yes{.claim = "C1", .supported = true};
  const Check no{.claim = "C1", .supported = false};
  EXPECT_EQ(VerdictFromChecks(std::vector<Check>{yes, yes}), Verdict::kAgrees);
  EXPECT_EQ(VerdictFromChecks(std::vector<Check>{yes, no}), Verdict::kPartlyAgrees);
  EXPECT_EQ(VerdictFromChecks(std::vector<Check>{no, no}), Verdict::kDisagrees);
  EXPECT_EQ(VerdictFromChecks(std::vector<Check>{}), Verdict::kDisagrees);
  EXPECT_STREQ(VerdictName(Verdict::kPartlyAgrees), "partly agrees");
}

class ExperimentTest : public ::testing::TestWithParam<const Experiment*> {};

TEST_P(ExperimentTest, RunsReducedWithFiguresAndAVerdictFromItsNumbers) {
  const Experiment& e = *GetParam();
  absl::StatusOr<Result> r = RunExperiment(e, {.seed = 0, .repeats = 2, .reduced = true});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->name, e.name);
  EXPECT_THAT(std::string(VerdictName(r->verdict)), AnyOf("agrees", "partly agrees", "disagrees"));
  ASSERT_FALSE(r->checks.empty());
  EXPECT_EQ(r->verdict, VerdictFromChecks(r->checks));
  for (const Check& c : r->checks) {
    EXPECT_TRUE(absl::StrContains(e.claims, c.claim)) << c.claim << " not in " << e.claims;
    EXPECT_FALSE(c.statement.empty());
    // The evidence is numbers, not prose alone.
    EXPECT_TRUE(std::any_of(c.evidence.begin(), c.evidence.end(), [](char ch) {
      return absl::ascii_isdigit(ch);
    })) << c.evidence;
  }
  ASSERT_FALSE(r->setup.empty());
  bool names_seeds = false;
  for (const std::string& line : r->setup) names_seeds |= absl::StrContains(line, "seeds");
  EXPECT_TRUE(names_seeds) << "the setup must state the seeds";
  ASSERT_FALSE(r->tables.empty());
  for (const Table& t : r->tables) {
    EXPECT_FALSE(t.rows.empty()) << t.caption;
    for (const auto& row : t.rows) EXPECT_EQ(row.size(), t.header.size()) << t.caption;
  }
  ASSERT_FALSE(r->figures.empty());
  std::set<std::string> names;
  for (const Figure& f : r->figures) {
    EXPECT_TRUE(absl::StartsWith(f.name, e.name)) << f.name;
    EXPECT_TRUE(names.insert(f.name).second) << "duplicate figure " << f.name;
    const absl::Status svg = viz::CheckSvg(f.svg);
    EXPECT_TRUE(svg.ok()) << f.name << ": " << svg;
    EXPECT_FALSE(f.caption.empty());
  }
}

INSTANTIATE_TEST_SUITE_P(All, ExperimentTest, ::testing::ValuesIn(Experiments()),
                         [](const ::testing::TestParamInfo<const Experiment*>& info) {
                           std::string name(info.param->name);
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(ExperimentTest, SameSeedSameFigures) {
  const Experiment& e = **FindExperiment("linear-collapse");
  const Result a = *RunExperiment(e, {.seed = 3, .repeats = 1, .reduced = true});
  const Result b = *RunExperiment(e, {.seed = 3, .repeats = 1, .reduced = true});
  ASSERT_EQ(a.figures.size(), b.figures.size());
  for (size_t i = 0; i < a.figures.size(); ++i) EXPECT_EQ(a.figures[i].svg, b.figures[i].svg);
  ASSERT_EQ(a.tables.size(), b.tables.size());
  for (size_t i = 0; i < a.tables.size(); ++i) EXPECT_EQ(a.tables[i].rows, b.tables[i].rows);
}

TEST(ExperimentTest, MissingDataIsAStatusNotACrash) {
  const Experiment& e = **FindExperiment("relu-speed");
  const absl::StatusOr<Result> r =
      RunExperiment(e, {.reduced = true, .data_dir = "/nonexistent/data"});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
}

// --- linear-collapse: the product of the weight matrices is the network ------

std::unique_ptr<nn::Sequential> IdentityNet(DType dtype, Generator& gen) {
  return nn::Mlp({.inputs = 3,
                  .hidden = {8, 6, 5},
                  .outputs = 2,
                  .hidden_activation = &ops::kIdentity,
                  .output_activation = &ops::kSigmoid,
                  .dtype = dtype},
                 gen);
}

// max |logits - product| / max(1, max |logits|).
double CollapseError(nn::Sequential& net, const Tensor& x) {
  const AffineMap map = CollapseLinear(net);
  EXPECT_EQ(map.inputs, 3);
  EXPECT_EQ(map.outputs, 2);
  std::vector<double> logits;
  {
    NoGradGuard no_grad;
    logits = net.Logits(x).ToVector();
  }
  const std::vector<double> product = map.Apply(x);
  double worst = 0;
  double scale = 1;
  for (size_t i = 0; i < logits.size(); ++i) {
    worst = std::max(worst, std::abs(logits[i] - product[i]));
    scale = std::max(scale, std::abs(logits[i]));
  }
  return worst / scale;
}

TEST(LinearCollapseTest, TrainedIdentityNetworkIsItsWeightProduct) {
  Generator gen(5);
  auto net = IdentityNet(DType::kFloat32, gen);
  const Tensor x = Normal({64, 3}, 0, 2, gen);
  EXPECT_LT(CollapseError(*net, x), 1e-6);

  // Train a little (so biases are non-zero), and compare again.
  const Tensor y = Uniform({64, 2}, 0, 1, gen);
  optim::Sgd sgd(net->Parameters(), {.learning_rate = 0.1, .momentum = 0.9});
  for (int step = 0; step < 50; ++step) {
    sgd.ZeroGrad();
    BinaryCrossEntropyWithLogits(net->Logits(x), y).Backward();
    sgd.Step();
  }
  EXPECT_GT(std::abs(net->NamedParameters()[1].tensor->ToVector()[0]), 0);
  EXPECT_LT(CollapseError(*net, x), 1e-6);
}

TEST(LinearCollapseTest, InFloat64TheProductIsExactToDoubleRounding) {
  Generator gen(6);
  auto net = IdentityNet(DType::kFloat64, gen);
  const Tensor x = Normal({32, 3}, 0, 2, gen, DType::kFloat64);
  EXPECT_LT(CollapseError(*net, x), 1e-13);
}

TEST(LinearCollapseTest, RefusesANonlinearNetwork) {
  Generator gen(7);
  auto net =
      nn::Mlp({.inputs = 3, .hidden = {4}, .outputs = 1, .hidden_activation = &ops::kTanh}, gen);
  EXPECT_THAT(testing::ErrorMessageOf([&] { CollapseLinear(*net); }),
              HasSubstr("tanh, not identity"));
}

// --- Shared pieces -------------------------------------------------------------

TEST(DataTest, SyntheticSetsAreSeededAndBalanced) {
  const io::Dataset a = TwoSpirals(50, 0.0, 9);
  const io::Dataset b = TwoSpirals(50, 0.0, 9);
  EXPECT_EQ(a.x, b.x);
  EXPECT_EQ(a.rows, 100);
  EXPECT_EQ(std::count(a.y.begin(), a.y.end(), 1.0), 50);
  for (int64_t r = 0; r < a.rows; ++r) {
    EXPECT_LE(std::hypot(a.x[2 * r], a.x[2 * r + 1]), 1.0 + 1e-12);
  }
  const io::Dataset x = Xor(200, 1);
  for (int64_t r = 0; r < x.rows; ++r) {
    EXPECT_EQ(x.y[r], x.x[2 * r] * x.x[2 * r + 1] > 0 ? 1 : 0);
  }
  const io::Dataset f = Friedman1(10, 0.0, 2);
  const double* v = f.x.data();
  EXPECT_NEAR(f.y[0],
              10 * std::sin(std::numbers::pi * v[0] * v[1]) + 20 * (v[2] - 0.5) * (v[2] - 0.5) +
                  10 * v[3] + 5 * v[4],
              1e-12);
}

TEST(DataTest, PrepareScalesOnTheTrainingRowsAndDescribesItself) {
  const Data d = Prepare("xor", Xor(100, 3), nn::Scaling::kUnit, {.test_fraction = 0.2});
  EXPECT_EQ(d.task, nn::Task::kBinary);
  EXPECT_EQ(d.x_train.dim(0) + d.x_test.dim(0), 100);
  for (double v : d.x_train.ToVector()) {
    EXPECT_GE(v, -1e-6);  // min-max scaling rounds
    EXPECT_LE(v, 1 + 1e-6);
  }
  EXPECT_THAT(d.describe, HasSubstr("80 train / 20 test rows"));
}

TEST(StatsTest, SpreadsAndTheirText) {
  const std::vector<double> v = {1, 2, 3};
  const Spread s = Summarize(v);
  EXPECT_EQ(s.mean, 2);
  EXPECT_EQ(s.sd, 1);
  EXPECT_EQ(s.min, 1);
  EXPECT_EQ(s.max, 3);
  EXPECT_EQ(FormatSpread(s), "2 ± 1 [1, 3]");
  EXPECT_EQ(FormatValue(3.1e-7), "3.1e-07");
  EXPECT_EQ(FormatValue(std::nan("")), "n/a");
  const std::vector<double> epochs = {4, -1, 6};
  EXPECT_EQ(FormatEpochsSpread(epochs), "5 ± 1.4 [4, 6]; not reached in 1 of 3");
}

}  // namespace
}  // namespace actgrad::experiments
