// Experiment `relu-derivative-at-zero` (claim C3): the same ReLU networks,
// same seeds, trained with relu's derivative at exactly z = 0 set to 0 and
// to 1; every pre-activation of every training step is checked for an exact
// zero.

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "experiments/data.h"
#include "experiments/figures.h"
#include "experiments/runners.h"
#include "experiments/stats.h"
#include "experiments/training.h"
#include "graph/factories.h"
#include "graph/grad_mode.h"
#include "nn/nn.h"
#include "ops/builtin_ops.h"
#include "ops/functional.h"

namespace actgrad::experiments {

namespace {

struct ZeroCount {
  int64_t zeros = 0;
  int64_t total = 0;
};

// Passes its input through untouched, counting exact zeros on the way; sits
// between a Linear layer and its ReLU. Counts only recorded (training)
// passes, not evaluation.
class ZeroCounter : public nn::Module {
 public:
  explicit ZeroCounter(ZeroCount* count) : count_(count) {}

  Tensor Forward(const Tensor& x) override {
    if (IsGradEnabled()) {
      for (float v : x.values<float>()) count_->zeros += v == 0.0f;
      count_->total += x.numel();
    }
    return x;
  }
  std::string ToString() const override { return "ZeroCounter"; }

 private:
  ZeroCount* count_;
};

std::unique_ptr<nn::Sequential> CountingReluNet(const Data& data,
                                                const std::vector<int64_t>& hidden,
                                                double grad_at_zero, uint64_t seed,
                                                ZeroCount* count) {
  Generator gen(seed);
  auto model = std::make_unique<nn::Sequential>();
  int64_t width = data.features;
  for (int64_t size : hidden) {
    model->Add(std::make_unique<nn::Linear>(
        nn::LinearOptions{
            .in = width, .out = size, .weight_init = nn::RecommendedInitializer(ops::kRelu)},
        gen));
    model->Add(std::make_unique<ZeroCounter>(count));
    model->Add(std::make_unique<nn::Activation>(ops::kRelu, Attrs{.grad_at_zero = grad_at_zero}));
    width = size;
  }
  const OpDef& output = nn::DefaultOutputActivation(data.task);
  model->Add(std::make_unique<nn::Linear>(
      nn::LinearOptions{
          .in = width, .out = data.outputs, .weight_init = nn::RecommendedInitializer(output)},
      gen));
  model->Add(std::make_unique<nn::Activation>(output));
  return model;
}

// relu's gradient at exactly 0 under the given setting, through the op.
double GradientAtZero(double grad_at_zero) {
  Tensor x = FromValues({0.0}, DType::kFloat64).set_requires_grad(true);
  Sum(Relu(x, grad_at_zero)).Backward();
  return x.grad().item();
}

struct Paired {
  std::vector<double> final_loss[2];
  std::vector<double> accuracy[2];
  std::vector<std::vector<double>> curves[2];
  ZeroCount count[2];
  std::vector<double> zero_share;  // per seed, both settings
  int identical = 0;               // seeds whose two runs agree to the last bit, every epoch
};

}  // namespace

absl::StatusOr<Result> RunReluDerivativeAtZero(const Options& options) {
  const bool reduced = options.reduced;
  const int repeats = options.repeats > 0 ? options.repeats : (reduced ? 2 : 5);
  const int epochs = reduced ? 5 : 50;
  const std::vector<int64_t> hidden = {64, 32};
  const optim::SgdOptions sgd{.learning_rate = 0.05, .momentum = 0.9};
  std::vector<Data> datasets;
  for (const auto& [name, file] :
       {std::pair{"breast cancer", "breast_cancer.csv"}, std::pair{"digits", "digits.csv"}}) {
    absl::StatusOr<io::Dataset> d = LoadBundled(options, file);
    if (!d.ok()) return d.status();
    datasets.push_back(
        Prepare(name, *d, nn::Scaling::kUnit, {.max_train_rows = reduced ? 300 : 0}));
  }

  Result result;
  result.title = "Does it matter what relu's derivative is at exactly 0?";
  for (const Data& d : datasets) result.setup.push_back(absl::StrCat("data: ", d.describe));
  result.setup.push_back(
      "networks: inputs -> 64 -> 32 -> output with relu hidden units, He normal "
      "initialization, biases 0; the same seed gives both settings the same initial weights "
      "and batch order");
  result.setup.push_back(absl::StrFormat(
      "training: SGD lr %g, momentum %g, batch 32, %d epochs; %d seeds (%d..%d); relu's "
      "derivative at z = 0 (attribute grad_at_zero) set to 0 and to 1",
      sgd.learning_rate, sgd.momentum, epochs, repeats, options.seed, options.seed + repeats - 1));
  result.setup.push_back(
      "counted: every hidden pre-activation z of every training step, float32, compared with "
      "0 exactly");

  Table table{.caption =
                  "Exact zeros among the pre-activations, and the two settings side by "
                  "side (mean ± sd [min, max] over seeds)",
              .header = {"data", "z == 0 exactly", "of pre-activations",
                         "final train loss, "
                         "f'(0) = 0",
                         "final train loss, f'(0) = 1", "test accuracy, f'(0) = 0",
                         "test accuracy, f'(0) = 1", "identical runs"}};
  std::vector<Paired> paired(datasets.size());
  for (size_t d = 0; d < datasets.size(); ++d) {
    const Data& data = datasets[d];
    Paired& p = paired[d];
    struct SeedResult {
      double final_loss[2];
      double accuracy[2];
      std::vector<double> curves[2];
      ZeroCount count[2];
    };
    std::vector<SeedResult> seeds = MapSeeds(options, repeats, [&](int rep) {
      SeedResult out;
      for (int setting = 0; setting < 2; ++setting) {
        const uint64_t seed = options.seed + rep;
        auto model = CountingReluNet(data, hidden, setting, seed, &out.count[setting]);
        nn::TrainOptions train;
        train.epochs = epochs;
        train.sgd = sgd;
        train.seed = seed;
        std::vector<double>& curve = out.curves[setting];
        const double factor = LossFactor(options, rep);
        train.on_epoch = [&](const nn::EpochReport& r) { curve.push_back(r.train_loss * factor); };
        const nn::TrainResult r = nn::Train(data.task, *model, data.x_train, data.y_train,
                                            data.x_test, data.y_test, train);
        out.final_loss[setting] = curve.back();
        out.accuracy[setting] = r.history.back().test->metrics[0];
      }
      return out;
    });
    for (SeedResult& seed : seeds) {
      for (int setting = 0; setting < 2; ++setting) {
        p.final_loss[setting].push_back(seed.final_loss[setting]);
        p.accuracy[setting].push_back(seed.accuracy[setting]);
        p.curves[setting].push_back(std::move(seed.curves[setting]));
        p.count[setting].zeros += seed.count[setting].zeros;
        p.count[setting].total += seed.count[setting].total;
      }
      p.zero_share.push_back(double(seed.count[0].zeros + seed.count[1].zeros) /
                             double(seed.count[0].total + seed.count[1].total));
      p.identical += p.curves[0].back() == p.curves[1].back();
    }
    const ZeroCount all{p.count[0].zeros + p.count[1].zeros, p.count[0].total + p.count[1].total};
    table.rows.push_back({data.name, absl::StrCat(all.zeros), absl::StrCat(all.total),
                          FormatSpread(Summarize(p.final_loss[0])),
                          FormatSpread(Summarize(p.final_loss[1])),
                          FormatPercentSpread(Summarize(p.accuracy[0])),
                          FormatPercentSpread(Summarize(p.accuracy[1])),
                          absl::StrFormat("%d of %d", p.identical, repeats)});
  }
  result.tables.push_back(table);

  // --- Checks ----------------------------------------------------------------
  const double at_zero_0 = GradientAtZero(0);
  const double at_zero_1 = GradientAtZero(1);
  result.checks.push_back(
      {.claim = "C3",
       .statement = "the derivative at exactly 0 is the user's choice: relu's backward gives "
                    "0 or 1 there, as asked (exact)",
       .quantity = "largest |d relu / dz at z = 0 - grad_at_zero| over grad_at_zero = 0, 1",
       .value = ExactValue(std::max(std::abs(at_zero_0), std::abs(at_zero_1 - 1))),
       .side = Side::kAtMost,
       .threshold = 0,
       .evidence = absl::StrFormat("d relu / dz at z = 0: %g with grad_at_zero = 0, %g with 1",
                                   at_zero_0, at_zero_1)});
  double worst_share = 0;
  std::string share_evidence;
  for (size_t d = 0; d < datasets.size(); ++d) {
    const Paired& p = paired[d];
    const double zeros = double(p.count[0].zeros + p.count[1].zeros);
    const double total = double(p.count[0].total + p.count[1].total);
    worst_share = std::max(worst_share, zeros / total);
    absl::StrAppendFormat(&share_evidence, "%s%s: %.0f of %.3g", d ? "; " : "", datasets[d].name,
                          zeros, total);
    result.metrics.push_back({absl::StrCat(datasets[d].name, "/zero_share"), zeros / total});
  }
  result.checks.push_back(
      {.claim = "C3",
       .statement = "in practice z is almost never exactly 0: fewer than 1 in 10,000 "
                    "pre-activations",
       .quantity = "share of pre-activations exactly 0 (mean over seeds, larger data set)",
       .value = BootstrapInterval(repeats,
                                  [&](std::span<const int> seeds) {
                                    double most = 0;
                                    for (const Paired& p : paired) {
                                      most = std::max(most, MeanOver(p.zero_share, seeds));
                                    }
                                    return most;
                                  }),
       .side = Side::kAtMost,
       .threshold = 1e-4,
       .evidence = absl::StrCat("exact zeros: ", share_evidence)});
  for (size_t d = 0; d < datasets.size(); ++d) {
    const Paired& p = paired[d];
    std::vector<double> loss_gap;
    std::vector<double> accuracy_gap;
    for (int rep = 0; rep < repeats; ++rep) {
      loss_gap.push_back(std::abs(p.final_loss[0][rep] - p.final_loss[1][rep]));
      accuracy_gap.push_back(100 * std::abs(p.accuracy[0][rep] - p.accuracy[1][rep]));
    }
    const std::string identical = absl::StrFormat("%d of %d runs identical", p.identical, repeats);
    result.checks.push_back(
        {.claim = "C3",
         .statement = "so the choice does not change training: the two settings' final losses "
                      "differ by less than the seeds' do",
         .quantity = absl::StrFormat("mean |final loss, f'(0) = 0 - f'(0) = 1| / sd of final loss "
                                     "over seeds (%s)",
                                     datasets[d].name),
         .value = BootstrapInterval(repeats,
                                    [&](std::span<const int> seeds) {
                                      std::vector<double> drawn;
                                      for (int s : seeds) drawn.push_back(p.final_loss[0][s]);
                                      return MeanOver(loss_gap, seeds) / Summarize(drawn).sd;
                                    }),
         .side = Side::kAtMost,
         .threshold = 1,
         .evidence = identical});
    result.checks.push_back(
        {.claim = "C3",
         .statement = "so the choice does not change training: test accuracy differs by at most "
                      "half a point",
         .quantity = absl::StrFormat("mean |test accuracy, f'(0) = 0 - f'(0) = 1|, points (%s)",
                                     datasets[d].name),
         .value = MeanInterval(accuracy_gap),
         .side = Side::kAtMost,
         .threshold = 0.5,
         .evidence = identical});
  }

  // --- Figures -----------------------------------------------------------------
  std::vector<std::unique_ptr<viz::LineChart>> panels;
  for (size_t d = 0; d < datasets.size(); ++d) {
    auto chart = std::make_unique<viz::LineChart>(
        viz::ChartOptions{.title = datasets[d].name,
                          .x = {.label = "epoch"},
                          .y = {.label = "training loss (cross-entropy, nats)", .log = true},
                          .width = 440,
                          .height = 310,
                          .legend = viz::LegendPlace::kTop});
    chart->Add(MeanBandSeries("f'(0) = 0", paired[d].curves[0], 0));
    chart->Add(MeanBandSeries("f'(0) = 1", paired[d].curves[1], 1, viz::LineStyle::kDashed));
    panels.push_back(std::move(chart));
  }
  result.figures.push_back(MakeGridFigure(
      "relu-derivative-at-zero-loss",
      absl::StrFormat("Training loss with relu's derivative at 0 set to 0 (solid) and to 1 "
                      "(dashed), mean over %d seeds with the min-max band: where no "
                      "pre-activation is exactly 0, the curves are the same curve.",
                      repeats),
      {panels[0].get(), panels[1].get()}, 2));
  result.discussion = absl::StrCat(
      "A float32 pre-activation is a sum of products of real-valued inputs and weights; it "
      "lands on exactly 0 only by coincidence, or when every input to a unit is 0 and its "
      "bias is exactly 0. ",
      worst_share == 0
          ? "Here none of the counted pre-activations was exactly 0, so the derivative at 0 "
            "was never asked for, and each pair of runs is the same run."
          : absl::StrFormat("Here at most %s of the counted pre-activations were exactly 0.",
                            FormatValue(worst_share)));
  return result;
}

}  // namespace actgrad::experiments
