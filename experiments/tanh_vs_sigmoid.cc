// Experiment `tanh-vs-sigmoid` (claim C9): the same networks with tanh or
// sigmoid hidden units, everything else equal, trained to a target loss.

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "experiments/data.h"
#include "experiments/figures.h"
#include "experiments/runners.h"
#include "experiments/stats.h"
#include "experiments/training.h"
#include "ops/builtin_ops.h"

namespace actgrad::experiments {

namespace {

struct Optimizer {
  std::string label;
  optim::SgdOptions sgd;
};

struct Outcome {
  std::vector<double> epochs;    // to the target; -1: not reached
  std::vector<double> censored;  // the same, with epochs + 1 for not reached
  std::vector<double> final_loss;
  std::vector<double> accuracy;
  std::vector<std::vector<double>> loss_curves;
  std::vector<std::vector<double>> layer_means;  // per seed: mean hidden activation per layer
};

}  // namespace

absl::StatusOr<Result> RunTanhVsSigmoid(const Options& options) {
  const bool reduced = options.reduced;
  const int repeats = options.repeats > 0 ? options.repeats : (reduced ? 2 : 5);
  const int epochs = reduced ? 8 : 100;
  const double target = 0.1;
  const std::vector<int64_t> hidden = {64, 32};

  std::vector<Data> datasets;
  for (const auto& [name, file] :
       {std::pair{"breast cancer", "breast_cancer.csv"}, std::pair{"digits", "digits.csv"}}) {
    absl::StatusOr<io::Dataset> d = LoadBundled(options, file);
    if (!d.ok()) return d.status();
    datasets.push_back(
        Prepare(name, *d, nn::Scaling::kStandard, {.max_train_rows = reduced ? 300 : 0}));
  }
  const std::vector<Optimizer> optimizers = {
      {"SGD lr 0.1", {.learning_rate = 0.1}},
      {"SGD lr 0.05, momentum 0.9", {.learning_rate = 0.05, .momentum = 0.9}}};
  const std::vector<const OpDef*> activations = {&ops::kSigmoid, &ops::kTanh};

  Result result;
  result.title = "Is tanh better than sigmoid for hidden units?";
  for (const Data& d : datasets) result.setup.push_back(absl::StrCat("data: ", d.describe));
  result.setup.push_back(
      "inputs standardized for both activations, so that only the hidden units differ");
  result.setup.push_back(
      "networks: inputs -> 64 -> 32 -> output (sigmoid + binary cross-entropy, or softmax + "
      "cross-entropy); hidden units sigmoid or tanh; Xavier uniform initialization with each "
      "activation's gain (sigmoid 1, tanh 5/3), biases 0");
  result.setup.push_back(absl::StrFormat(
      "training: batch 32, %d epochs, optimizers: %s and %s; target training loss %g (mean "
      "over an epoch's batches); %d seeds (%d..%d)",
      epochs, optimizers[0].label, optimizers[1].label, target, repeats, options.seed,
      options.seed + repeats - 1));

  Table table{
      .caption = absl::StrFormat("Epochs to a training loss of %g, and the state after %d epochs "
                                 "(mean ± sd [min, max] over seeds)",
                                 target, epochs),
      .header = {"data", "optimizer", "hidden", "epochs to target", "final train loss",
                 "test accuracy", "mean hidden activation (L1, L2)"}};
  // [dataset][optimizer][activation]
  std::vector<std::vector<std::vector<Outcome>>> outcomes(
      datasets.size(), std::vector<std::vector<Outcome>>(optimizers.size()));
  for (size_t d = 0; d < datasets.size(); ++d) {
    const Data& data = datasets[d];
    for (size_t o = 0; o < optimizers.size(); ++o) {
      for (const OpDef* act : activations) {
        struct SeedResult {
          Run run;
          std::vector<double> means;
        };
        std::vector<SeedResult> seeds = MapSeeds(options, repeats, [&](int rep) {
          RunOptions run;
          run.mlp = {.hidden = hidden,
                     .hidden_activation = act,
                     .output_activation = &nn::DefaultOutputActivation(data.task)};
          run.train.epochs = epochs;
          run.train.sgd = optimizers[o].sgd;
          run.seed = options.seed + rep;
          run.target_loss = target;
          run.loss_factor = LossFactor(options, rep);
          SeedResult out{.run = TrainMlp(data, run)};
          for (const LayerProbe& p :
               ProbeLayers(data.task, *out.run.model, data.x_train, data.y_train)) {
            double sum = 0;
            for (double v : p.a) sum += v;
            out.means.push_back(sum / double(p.a.size()));
          }
          return out;
        });
        Outcome out;
        for (SeedResult& seed : seeds) {
          const Run& r = seed.run;
          out.epochs.push_back(r.epochs_to_target);
          out.censored.push_back(r.epochs_to_target < 0 ? epochs + 1 : r.epochs_to_target);
          out.final_loss.push_back(r.train_loss.back());
          out.accuracy.push_back(r.test_metric.back());
          out.loss_curves.push_back(r.train_loss);
          out.layer_means.push_back(std::move(seed.means));
        }
        const Band layers = SummarizeCurves(out.layer_means);
        table.rows.push_back(
            {data.name, optimizers[o].label, std::string(act->name), FormatEpochsSpread(out.epochs),
             FormatSpread(Summarize(out.final_loss)), FormatPercentSpread(Summarize(out.accuracy)),
             absl::StrFormat("%.2f, %.2f", layers.mean[0], layers.mean[1])});
        outcomes[d][o].push_back(std::move(out));
      }
    }
  }
  result.tables.push_back(table);

  // --- Checks ----------------------------------------------------------------
  for (size_t d = 0; d < datasets.size(); ++d) {
    for (size_t o = 0; o < optimizers.size(); ++o) {
      const Outcome& sigmoid = outcomes[d][o][0];
      const Outcome& tanh = outcomes[d][o][1];
      result.checks.push_back(
          {.claim = "C9",
           .statement = absl::StrFormat("tanh reaches a training loss of %g in at most 0.8 times "
                                        "sigmoid's epochs",
                                        target),
           .quantity = absl::StrFormat("tanh / sigmoid, epochs (%s, %s)", datasets[d].name,
                                       optimizers[o].label),
           .value = RatioInterval(tanh.censored, sigmoid.censored),
           .side = Side::kAtMost,
           .threshold = 0.8,
           .evidence = absl::StrFormat("mean epochs: tanh %.1f, sigmoid %.1f (a run that never "
                                       "got there counts as %d)",
                                       Summarize(tanh.censored).mean,
                                       Summarize(sigmoid.censored).mean, epochs + 1)});
      result.metrics.push_back({absl::StrCat(datasets[d].name, "/", optimizers[o].label,
                                             "/epochs_ratio_tanh_to_sigmoid"),
                                result.checks.back().value.estimate});
    }
  }
  // |mean activation| per layer, over the seeds drawn, at its extreme over
  // layers, data sets and optimizers: the largest for tanh, the smallest
  // for sigmoid.
  auto extreme_centre = [&](size_t a, bool largest, std::span<const int> seeds) {
    double extreme = largest ? 0 : std::numeric_limits<double>::infinity();
    for (size_t d = 0; d < datasets.size(); ++d) {
      for (size_t o = 0; o < optimizers.size(); ++o) {
        const auto& means = outcomes[d][o][a].layer_means;
        for (size_t layer = 0; layer < means[0].size(); ++layer) {
          double sum = 0;
          for (int s : seeds) sum += means[s][layer];
          const double m = std::abs(sum / double(seeds.size()));
          extreme = largest ? std::max(extreme, m) : std::min(extreme, m);
        }
      }
    }
    return extreme;
  };
  result.checks.push_back(
      {.claim = "C9",
       .statement = "tanh's hidden outputs are centred near 0: |mean| at most 0.15 in every layer",
       .quantity = "largest |mean hidden activation| of tanh (over layers, data sets, optimizers)",
       .value = BootstrapInterval(
           repeats, [&](std::span<const int> seeds) { return extreme_centre(1, true, seeds); }),
       .side = Side::kAtMost,
       .threshold = 0.15});
  result.checks.push_back(
      {.claim = "C9",
       .statement = "sigmoid's hidden outputs are not centred: |mean| at least 0.25 in every layer",
       .quantity =
           "smallest |mean hidden activation| of sigmoid (over layers, data sets, optimizers)",
       .value = BootstrapInterval(
           repeats, [&](std::span<const int> seeds) { return extreme_centre(0, false, seeds); }),
       .side = Side::kAtLeast,
       .threshold = 0.25});
  const double tanh_worst = result.checks[result.checks.size() - 2].value.estimate;
  const double sigmoid_best = result.checks.back().value.estimate;

  // --- Figures -----------------------------------------------------------------
  std::vector<std::unique_ptr<viz::LineChart>> panels;
  for (size_t d = 0; d < datasets.size(); ++d) {
    for (size_t o = 0; o < optimizers.size(); ++o) {
      auto chart = std::make_unique<viz::LineChart>(
          viz::ChartOptions{.title = absl::StrCat(datasets[d].name, ", ", optimizers[o].label),
                            .x = {.label = "epoch"},
                            .y = {.label = "training loss (cross-entropy, nats)", .log = true},
                            .width = 440,
                            .height = 310,
                            .legend = viz::LegendPlace::kTop});
      for (size_t a = 0; a < activations.size(); ++a) {
        chart->Add(MeanBandSeries(std::string(activations[a]->name), outcomes[d][o][a].loss_curves,
                                  static_cast<int>(a)));
      }
      chart->AddHorizontalLine(target, absl::StrCat("target ", target));
      panels.push_back(std::move(chart));
    }
  }
  std::vector<const viz::Chart*> charts;
  for (const auto& p : panels) charts.push_back(p.get());
  result.figures.push_back(MakeGridFigure(
      "tanh-vs-sigmoid-loss",
      absl::StrFormat("Training loss per epoch, mean over %d seeds with the min-max band; the "
                      "grey line is the target.",
                      repeats),
      charts, 2));

  std::vector<std::string> categories;
  std::vector<viz::BarSeries> bars(activations.size());
  for (size_t a = 0; a < activations.size(); ++a) {
    bars[a].label = std::string(activations[a]->name);
    bars[a].color = static_cast<int>(a);
  }
  for (size_t d = 0; d < datasets.size(); ++d) {
    for (size_t layer = 0; layer < hidden.size(); ++layer) {
      categories.push_back(absl::StrFormat("%s, layer %d", datasets[d].name, layer + 1));
      for (size_t a = 0; a < activations.size(); ++a) {
        const Band band = SummarizeCurves(outcomes[d][1][a].layer_means);
        bars[a].values.push_back(band.mean[layer]);
        bars[a].low.push_back(band.low[layer]);
        bars[a].high.push_back(band.high[layer]);
      }
    }
  }
  viz::BarChart means({.title = "Mean hidden activation after training",
                       .y = {.label = "mean of f(z) over units and rows"},
                       .width = 640,
                       .height = 340},
                      categories);
  for (viz::BarSeries& b : bars) means.Add(std::move(b));
  result.figures.push_back(MakeFigure(
      "tanh-vs-sigmoid-centring",
      absl::StrFormat("Mean hidden activation per layer after %d epochs (%s), with the range "
                      "over seeds.",
                      epochs, optimizers[1].label),
      means));

  int faster = 0;
  int speed_checks = 0;
  for (const Check& c : result.checks) {
    if (!absl::StrContains(c.quantity, "epochs")) continue;
    ++speed_checks;
    faster += Decide(c) == CheckOutcome::kAgrees;
  }
  result.discussion = absl::StrFormat(
      "Tanh's hidden outputs average at most %.3f in absolute value, sigmoid's at least %.3f. "
      "Tanh needed at most 0.8 times sigmoid's epochs, with the whole interval below it, in %d "
      "of %d pairings of data set and optimizer; the inputs, architecture, initializer family "
      "and optimizer were the same, so the hidden activation is the only difference.",
      tanh_worst, sigmoid_best, faster, speed_checks);
  return result;
}

}  // namespace actgrad::experiments
