// The experiments behind `actgrad experiment`: each runs on a reduced size,
// returns valid SVG figures and a verdict that follows from its checks'
// intervals; no verdict moves when one seed's losses move by a rounding
// error; seeds run in parallel give the same bits as one after another; the
// linear-collapse product of weight matrices matches the network; and the
// pieces the experiments share (verdicts, intervals, data, statistics) do
// what they say.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "actgrad.h"
#include "experiments/data.h"
#include "experiments/experiment.h"
#include "experiments/linear_collapse.h"
#include "experiments/report.h"
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

// A check whose interval is [low, high], claiming "at most 1".
Check AtMostOne(double low, double high) {
  return {.claim = "C1",
          .quantity = "q",
          .value = {.estimate = (low + high) / 2, .low = low, .high = high, .n = 10},
          .side = Side::kAtMost,
          .threshold = 1};
}

TEST(CheckTest, OutcomeFollowsWhereTheIntervalLies) {
  EXPECT_EQ(Decide(AtMostOne(0.5, 0.9)), CheckOutcome::kAgrees);
  EXPECT_EQ(Decide(AtMostOne(0.5, 1.0)), CheckOutcome::kAgrees);  // the threshold is the claim's
  EXPECT_EQ(Decide(AtMostOne(1.1, 1.5)), CheckOutcome::kDisagrees);
  EXPECT_EQ(Decide(AtMostOne(0.9, 1.1)), CheckOutcome::kInconclusive);
  Check at_least = AtMostOne(0.9, 1.1);
  at_least.side = Side::kAtLeast;
  at_least.value.low = 1.0;
  EXPECT_EQ(Decide(at_least), CheckOutcome::kAgrees);
  at_least.value = {.estimate = 0.8, .low = 0.7, .high = 0.9, .n = 10};
  EXPECT_EQ(Decide(at_least), CheckOutcome::kDisagrees);
}

TEST(CheckTest, SyntheticSeedsStraddlingTheThresholdAreInconclusive) {
  // Ten seeds of epochs ratios around 1.25, the C17 threshold: the mean sits
  // within noise of it, so neither side can be claimed.
  const std::vector<double> ratio = {1.1, 1.4, 1.2, 1.3, 1.15, 1.35, 1.25, 1.05, 1.45, 1.25};
  Check c{.claim = "C17",
          .quantity = "relu / leaky_relu, epochs",
          .value = MeanInterval(ratio),
          .side = Side::kAtMost,
          .threshold = 1.25};
  EXPECT_LT(c.value.low, 1.25);
  EXPECT_GT(c.value.high, 1.25);
  EXPECT_EQ(Decide(c), CheckOutcome::kInconclusive);
  EXPECT_THAT(CheckLine(c), HasSubstr("claim ≤ 1.25: inconclusive"));
  EXPECT_THAT(CheckSentence(c), HasSubstr("with an interval across the claim's ≤ 1.25"));
  EXPECT_EQ(VerdictFromChecks(std::vector<Check>{c}), Verdict::kInconclusive);
  // The same spread well away from the threshold is decided.
  std::vector<double> low = ratio;
  for (double& v : low) v -= 0.5;
  c.value = MeanInterval(low);
  EXPECT_EQ(Decide(c), CheckOutcome::kAgrees);
}

TEST(VerdictTest, FollowsTheChecks) {
  const Check yes = AtMostOne(0.1, 0.2);
  const Check no = AtMostOne(2, 3);
  const Check open = AtMostOne(0.5, 1.5);
  EXPECT_EQ(VerdictFromChecks(std::vector<Check>{yes, yes}), Verdict::kAgrees);
  EXPECT_EQ(VerdictFromChecks(std::vector<Check>{yes, no}), Verdict::kPartlyAgrees);
  EXPECT_EQ(VerdictFromChecks(std::vector<Check>{yes, no, open}), Verdict::kPartlyAgrees);
  EXPECT_EQ(VerdictFromChecks(std::vector<Check>{no, no}), Verdict::kDisagrees);
  // An open check could still turn "agrees" or "disagrees" into another verdict.
  EXPECT_EQ(VerdictFromChecks(std::vector<Check>{yes, open}), Verdict::kInconclusive);
  EXPECT_EQ(VerdictFromChecks(std::vector<Check>{no, open}), Verdict::kInconclusive);
  EXPECT_EQ(VerdictFromChecks(std::vector<Check>{}), Verdict::kInconclusive);
  EXPECT_STREQ(VerdictName(Verdict::kPartlyAgrees), "partly agrees");
  EXPECT_STREQ(VerdictName(Verdict::kInconclusive), "inconclusive");
}

class ExperimentTest : public ::testing::TestWithParam<const Experiment*> {};

TEST_P(ExperimentTest, RunsReducedWithFiguresAndAVerdictFromItsNumbers) {
  const Experiment& e = *GetParam();
  absl::StatusOr<Result> r = RunExperiment(e, {.seed = 0, .repeats = 2, .reduced = true});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->name, e.name);
  EXPECT_THAT(std::string(VerdictName(r->verdict)),
              AnyOf("agrees", "partly agrees", "disagrees", "inconclusive"));
  ASSERT_FALSE(r->checks.empty());
  EXPECT_EQ(r->verdict, VerdictFromChecks(r->checks));
  EXPECT_EQ(r->seeds, 2);
  for (const Check& c : r->checks) {
    EXPECT_TRUE(absl::StrContains(e.claims, c.claim)) << c.claim << " not in " << e.claims;
    EXPECT_FALSE(c.statement.empty());
    EXPECT_FALSE(c.quantity.empty());
    EXPECT_EQ(c.outcome, Decide(c)) << c.quantity;
    // An interval around its estimate: from the seeds, or exact (n = 0).
    EXPECT_TRUE(c.value.n == 0 || c.value.n == 2) << c.quantity;
    EXPECT_LE(c.value.low, c.value.estimate) << c.quantity;
    EXPECT_LE(c.value.estimate, c.value.high) << c.quantity;
    EXPECT_THAT(CheckLine(c), HasSubstr(FormatThreshold(c)));
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

TEST(ExperimentTest, SameSeedSameFigures) {
  const Experiment& e = **FindExperiment("linear-collapse");
  const Result a = *RunExperiment(e, {.seed = 3, .repeats = 1, .reduced = true});
  const Result b = *RunExperiment(e, {.seed = 3, .repeats = 1, .reduced = true});
  ASSERT_EQ(a.figures.size(), b.figures.size());
  for (size_t i = 0; i < a.figures.size(); ++i) EXPECT_EQ(a.figures[i].svg, b.figures[i].svg);
  ASSERT_EQ(a.tables.size(), b.tables.size());
  for (size_t i = 0; i < a.tables.size(); ++i) EXPECT_EQ(a.tables[i].rows, b.tables[i].rows);
}

// What a verdict rests on: each check's outcome, in order.
std::vector<CheckOutcome> Outcomes(const Result& r) {
  std::vector<CheckOutcome> out;
  for (const Check& c : r.checks) out.push_back(c.outcome);
  return out;
}

TEST_P(ExperimentTest, ARoundingErrorInOneSeedChangesNoVerdict) {
  const Experiment& e = *GetParam();
  Options options{.repeats = 3, .reduced = true};
  const absl::StatusOr<Result> plain = RunExperiment(e, options);
  ASSERT_TRUE(plain.ok()) << plain.status();
  // The size of a change in the SGD step's rounding (an FMA contraction).
  options.loss_perturbation = 1e-7;
  options.perturbed_repeat = 1;
  const absl::StatusOr<Result> nudged = RunExperiment(e, options);
  ASSERT_TRUE(nudged.ok()) << nudged.status();
  EXPECT_EQ(plain->verdict, nudged->verdict);
  EXPECT_EQ(Outcomes(*plain), Outcomes(*nudged));
}

INSTANTIATE_TEST_SUITE_P(All, ExperimentTest, ::testing::ValuesIn(Experiments()),
                         [](const ::testing::TestParamInfo<const Experiment*>& info) {
                           std::string name(info.param->name);
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(ExperimentTest, ThePerturbationReachesTheLosses) {
  // Otherwise the test above could not fail.
  const Experiment& e = **FindExperiment("saturation");
  Options options{.repeats = 2, .reduced = true};
  const Result plain = *RunExperiment(e, options);
  options.loss_perturbation = 1e-3;
  options.perturbed_repeat = 1;
  const Result nudged = *RunExperiment(e, options);
  bool moved = false;
  for (size_t i = 0; i < plain.checks.size(); ++i) {
    moved |= plain.checks[i].value.estimate != nudged.checks[i].value.estimate;
  }
  EXPECT_TRUE(moved);
}

TEST(ExperimentTest, SeedsInParallelGiveTheSameBits) {
  for (absl::string_view name : {"relu-speed", "saturation", "initialization"}) {
    const Experiment& e = **FindExperiment(name);
    const Result one = *RunExperiment(e, {.repeats = 3, .threads = 1, .reduced = true});
    const Result three = *RunExperiment(e, {.repeats = 3, .threads = 3, .reduced = true});
    EXPECT_EQ(three.threads, 3);
    ASSERT_EQ(one.checks.size(), three.checks.size());
    for (size_t i = 0; i < one.checks.size(); ++i) {
      const Interval& a = one.checks[i].value;
      const Interval& b = three.checks[i].value;
      EXPECT_EQ(a.estimate, b.estimate) << name << ": " << one.checks[i].quantity;
      EXPECT_EQ(a.low, b.low) << name << ": " << one.checks[i].quantity;
      EXPECT_EQ(a.high, b.high) << name << ": " << one.checks[i].quantity;
    }
    ASSERT_EQ(one.figures.size(), three.figures.size());
    for (size_t i = 0; i < one.figures.size(); ++i) {
      EXPECT_EQ(one.figures[i].svg, three.figures[i].svg) << one.figures[i].name;
    }
  }
}

TEST(ExperimentTest, AddsSeedsOnlyWhileACheckIsOpen) {
  const Experiment& e = **FindExperiment("tanh-vs-sigmoid");
  const Result r = *RunExperiment(e, {.reduced = true});
  ASSERT_FALSE(r.seed_rounds.empty());
  EXPECT_EQ(r.seed_rounds.front(), 2);
  EXPECT_EQ(r.seeds, r.seed_rounds.back());
  const bool open = std::any_of(r.checks.begin(), r.checks.end(), [](const Check& c) {
    return c.outcome == CheckOutcome::kInconclusive;
  });
  // Stopped because nothing was open, or at the cap (4 reduced).
  EXPECT_TRUE(!open || r.seeds == 4) << r.seeds;
  if (r.seed_rounds.size() > 1) {
    EXPECT_EQ(r.seeds, 4);
  }
}

TEST(ReportTest, EveryCheckLineShowsEstimateIntervalAndThreshold) {
  const Experiment& e = **FindExperiment("tanh-vs-sigmoid");
  const Result r = *RunExperiment(e, {.repeats = 3, .reduced = true});
  const std::vector<Result> results = {r};
  const std::string markdown = BuildReport(results, {.command = "test"}).ToMarkdown("figures");
  for (const Check& c : r.checks) {
    const std::string row = absl::StrCat("| ", FormatInterval(c.value), " | ", FormatThreshold(c),
                                         " | **", OutcomeName(c.outcome), "** |");
    EXPECT_THAT(markdown, HasSubstr(row)) << c.quantity;
  }
  EXPECT_THAT(markdown, HasSubstr(absl::StrCat("Verdict **", VerdictName(r.verdict), "**")));
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

TEST(StatsTest, BootstrapIntervalsAreDeterministicAndPaired) {
  const std::vector<double> a = {10, 12, 11, 13, 9, 10, 12, 11};
  const Interval first = MeanInterval(a);
  const Interval second = MeanInterval(a);
  EXPECT_EQ(first.low, second.low);
  EXPECT_EQ(first.high, second.high);
  EXPECT_DOUBLE_EQ(first.estimate, 11);
  EXPECT_LT(first.low, 11);
  EXPECT_GT(first.high, 11);
  EXPECT_GE(first.low, 9);
  EXPECT_LE(first.high, 13);
  // b is a plus a constant, seed by seed: paired, the ratio's spread is
  // far smaller than either mean's.
  std::vector<double> b = a;
  for (double& v : b) v += 1;
  const Interval ratio = RatioInterval(b, a);
  EXPECT_LT(ratio.high - ratio.low, 0.05);
  const Interval difference = DifferenceInterval(b, a);
  EXPECT_DOUBLE_EQ(difference.low, 1);
  EXPECT_DOUBLE_EQ(difference.high, 1);
  EXPECT_EQ(FormatInterval(ExactValue(0.25)), "0.25");
  EXPECT_EQ(FormatInterval({.estimate = 1.3, .low = 1.1, .high = 1.5, .n = 5}), "1.3 [1.1, 1.5]");
}

}  // namespace
}  // namespace actgrad::experiments
