// Experiment `initialization` (claims C18-C20): Xavier against He on deep
// networks, as He et al. (2015, Fig. 3) compared them on a 30-layer ReLU
// network.

#include <algorithm>
#include <cmath>
#include <numbers>

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

struct Outcome {
  std::vector<double> final_loss;
  std::vector<double> accuracy;
  std::vector<std::vector<double>> loss_curves;
  std::vector<std::vector<double>> a_std;     // per seed, per layer, at initialization
  std::vector<std::vector<double>> grad_rms;  // of dLoss/da
};

}  // namespace

absl::StatusOr<Result> RunInitialization(const Options& options) {
  const bool reduced = options.reduced;
  const int repeats = options.repeats > 0 ? options.repeats : (reduced ? 2 : 5);
  const int deep = reduced ? 10 : 30;
  const int64_t width = reduced ? 32 : 64;
  const int epochs = reduced ? 3 : 30;
  absl::StatusOr<io::Dataset> digits = LoadBundled(options, "digits.csv");
  if (!digits.ok()) return digits.status();
  const SplitOptions split{.max_train_rows = reduced ? 400 : 0};
  // He et al.'s comparison is of deep networks; a sigmoid network that deep
  // trains with neither initializer (see `saturation`), so sigmoid is
  // compared where it can learn at all.
  struct Network {
    const OpDef* activation;
    std::string claim;
    int depth;
    optim::SgdOptions sgd;
  };
  const std::vector<Network> networks = {
      {&ops::kRelu, "C20", deep, {.learning_rate = 0.01}},
      {&ops::kTanh, "C19", deep, {.learning_rate = 0.01}},
      {&ops::kSigmoid, "C18", 3, {.learning_rate = 0.1}},
  };
  const std::vector<std::string> init_names = {"Xavier", "He"};
  const std::vector<nn::Initializer> inits = {nn::Initializer::XavierNormal(1.0),
                                              nn::Initializer::HeNormal(std::sqrt(2.0))};
  // A network that has learned nothing predicts the class shares: about
  // ln 10 for ten balanced digits.
  const double chance_loss = std::log(10.0);

  Result result;
  result.title = "Does each activation want the initializer the article pairs with it?";
  std::vector<Data> data;
  for (const Network& n : networks) {
    data.push_back(Prepare("digits", *digits, nn::RecommendedScaling(*n.activation), split));
  }
  result.setup = {
      absl::StrCat("data: ", data[0].describe, " (tanh: scaled to [-1, 1] instead)"),
      absl::StrFormat("networks: 64 -> hidden layers of %d -> 10 (softmax + cross-entropy): "
                      "%d relu layers, %d tanh layers (plain SGD lr %g), and %d sigmoid layers "
                      "(plain SGD lr %g; deeper sigmoid networks train with neither "
                      "initializer); biases 0",
                      width, deep, deep, networks[0].sgd.learning_rate, networks[2].depth,
                      networks[2].sgd.learning_rate),
      "initializers of the hidden layers: Xavier (Glorot) normal, std sqrt(2 / (fan_in + "
      "fan_out)); He normal, std sqrt(2 / fan_in); for these square layers He is Xavier "
      "scaled by sqrt(2); the output layer as recommended",
      absl::StrFormat("training: batch 32, %d epochs; %d seeds (%d..%d)", epochs, repeats,
                      options.seed, options.seed + repeats - 1),
      "probes at initialization on the training rows: standard deviation of each hidden "
      "layer's outputs and RMS of the loss gradient reaching them",
  };

  Table table{.caption = absl::StrFormat(
                  "Activations and gradients at initialization (last / first hidden layer), "
                  "and the result of %d epochs (mean ± sd [min, max] over seeds; a network "
                  "that learned nothing has loss %.2f)",
                  epochs, chance_loss),
              .header = {"network", "init", "output std, last / first",
                         "gradient RMS, "
                         "first / last",
                         "final train loss", "test accuracy"}};
  std::vector<std::vector<Outcome>> outcomes(networks.size());
  for (size_t a = 0; a < networks.size(); ++a) {
    for (size_t i = 0; i < init_names.size(); ++i) {
      struct SeedResult {
        Run run;
        std::vector<double> stds;
        std::vector<double> grads;
      };
      std::vector<SeedResult> seeds = MapSeeds(options, repeats, [&](int rep) {
        SeedResult out;
        RunOptions run;
        run.mlp = {.hidden = std::vector<int64_t>(networks[a].depth, width),
                   .hidden_activation = networks[a].activation,
                   .output_activation = &ops::kSoftmax,
                   .hidden_init = inits[i]};
        run.train.epochs = epochs;
        run.train.sgd = networks[a].sgd;
        run.seed = options.seed + rep;
        run.loss_factor = LossFactor(options, rep);
        run.observe = [&](int epoch, nn::Sequential& model) {
          if (epoch != 0) return;
          for (const LayerProbe& p :
               ProbeLayers(data[a].task, model, data[a].x_train, data[a].y_train)) {
            out.stds.push_back(p.a_std);
            out.grads.push_back(p.activation_grad_rms);
          }
        };
        out.run = TrainMlp(data[a], run);
        return out;
      });
      Outcome o;
      for (SeedResult& seed : seeds) {
        const Run& r = seed.run;
        o.a_std.push_back(std::move(seed.stds));
        o.grad_rms.push_back(std::move(seed.grads));
        // A diverged run's loss is NaN; it counts as no better than chance.
        const double final_loss =
            std::isfinite(r.train_loss.back()) ? r.train_loss.back() : chance_loss;
        o.final_loss.push_back(final_loss);
        o.accuracy.push_back(r.test_metric.back());
        o.loss_curves.push_back(r.train_loss);
      }
      const std::vector<double> stds = SummarizeCurves(o.a_std).mean;
      const std::vector<double> grads = SummarizeCurves(o.grad_rms).mean;
      table.rows.push_back(
          {absl::StrFormat("%s, %d layers", networks[a].activation->name, networks[a].depth),
           init_names[i], FormatValue(stds.back() / stds.front()),
           FormatValue(grads.front() / grads.back()), FormatSpread(Summarize(o.final_loss)),
           FormatPercentSpread(Summarize(o.accuracy))});
      outcomes[a].push_back(std::move(o));
    }
  }
  result.tables.push_back(table);

  // --- Checks ----------------------------------------------------------------
  auto loss = [&](size_t a, size_t i) { return Summarize(outcomes[a][i].final_loss).mean; };
  auto std_ratio = [&](size_t a, size_t i) {
    const std::vector<double> s = SummarizeCurves(outcomes[a][i].a_std).mean;
    return s.back() / s.front();
  };
  // Last over first hidden layer's output std, from the per-layer means over
  // the seeds drawn.
  auto std_ratio_over = [&](size_t a, size_t i, std::span<const int> seeds) {
    const auto& per_seed = outcomes[a][i].a_std;
    double first = 0, last = 0;
    for (int s : seeds) {
      first += per_seed[s].front();
      last += per_seed[s].back();
    }
    return last / first;
  };
  auto loss_share = [&](size_t a, size_t i) {
    std::vector<double> share;
    for (double v : outcomes[a][i].final_loss) share.push_back(v / chance_loss);
    return MeanInterval(share);
  };
  result.checks.push_back(
      {.claim = "C20",
       .statement = absl::StrFormat("in a %d-layer ReLU network Xavier lets the signal fade "
                                    "with depth: the last hidden layer's output std is below "
                                    "1/10 of the first's",
                                    deep),
       .quantity = "Xavier, relu: last / first hidden layer's output std at initialization",
       .value = BootstrapInterval(
           repeats, [&](std::span<const int> seeds) { return std_ratio_over(0, 0, seeds); }),
       .side = Side::kAtMost,
       .threshold = 0.1});
  result.checks.push_back(
      {.claim = "C20",
       .statement = absl::StrFormat("in a %d-layer ReLU network He keeps the signal: the last "
                                    "hidden layer's output std is within a factor 10 of the "
                                    "first's",
                                    deep),
       .quantity = "He, relu: |log10(last / first hidden layer's output std)| at initialization",
       .value = BootstrapInterval(repeats,
                                  [&](std::span<const int> seeds) {
                                    return std::abs(std::log10(std_ratio_over(0, 1, seeds)));
                                  }),
       .side = Side::kAtMost,
       .threshold = 1});
  result.checks.push_back(
      {.claim = "C20",
       .statement = absl::StrFormat(
           "He trains the %d-layer ReLU network: final loss at most half of chance", deep),
       .quantity = "He, relu: final training loss / chance",
       .value = loss_share(0, 1),
       .side = Side::kAtMost,
       .threshold = 0.5,
       .evidence = absl::StrFormat("chance %.2f", chance_loss)});
  result.checks.push_back(
      {.claim = "C20",
       .statement = absl::StrFormat(
           "Xavier stalls the %d-layer ReLU network: final loss at least 0.9 of chance", deep),
       .quantity = "Xavier, relu: final training loss / chance",
       .value = loss_share(0, 0),
       .side = Side::kAtLeast,
       .threshold = 0.9,
       .evidence = absl::StrFormat("chance %.2f", chance_loss)});
  for (size_t a = 1; a < networks.size(); ++a) {
    const std::string name(networks[a].activation->name);
    result.checks.push_back(
        {.claim = networks[a].claim,
         .statement = absl::StrFormat("Xavier trains a %d-layer %s network: final loss at most "
                                      "half of chance",
                                      networks[a].depth, name),
         .quantity = absl::StrFormat("Xavier, %s: final training loss / chance", name),
         .value = loss_share(a, 0),
         .side = Side::kAtMost,
         .threshold = 0.5,
         .evidence = absl::StrFormat("chance %.2f", chance_loss)});
    result.checks.push_back(
        {.claim = networks[a].claim,
         .statement = absl::StrFormat("Xavier suits a %d-layer %s network: it ends no worse "
                                      "than He, at most 1.1 times He's loss",
                                      networks[a].depth, name),
         .quantity = absl::StrFormat("Xavier / He, %s: final training loss", name),
         .value = RatioInterval(outcomes[a][0].final_loss, outcomes[a][1].final_loss),
         .side = Side::kAtMost,
         .threshold = 1.1,
         .evidence = absl::StrFormat("mean final loss: Xavier %s, He %s", FormatValue(loss(a, 0)),
                                     FormatValue(loss(a, 1)))});
  }
  for (size_t a = 0; a < networks.size(); ++a) {
    for (size_t i = 0; i < init_names.size(); ++i) {
      result.metrics.push_back(
          {absl::StrCat(networks[a].activation->name, "/", init_names[i], "/final_train_loss"),
           loss(a, i)});
    }
  }

  // --- Figures -----------------------------------------------------------------
  constexpr viz::LineStyle kStyles[] = {viz::LineStyle::kSolid, viz::LineStyle::kDashed};
  auto profile = [&](const std::string& title, const std::string& y_label, bool gradients) {
    auto chart = std::make_unique<viz::LineChart>(
        viz::ChartOptions{.title = title,
                          .x = {.label = "hidden layer"},
                          .y = {.label = y_label, .log = true},
                          .width = 460,
                          .height = 340,
                          .legend = viz::LegendPlace::kTop,
                          .extra_legend = {{.label = init_names[0], .line = kStyles[0]},
                                           {.label = init_names[1], .line = kStyles[1]}}});
    for (size_t a = 0; a < networks.size(); ++a) {
      if (networks[a].depth != deep) continue;
      for (size_t i = 0; i < init_names.size(); ++i) {
        const Outcome& o = outcomes[a][i];
        chart->Add(LayerSeries(i == 0 ? std::string(networks[a].activation->name) : "",
                               SummarizeCurves(gradients ? o.grad_rms : o.a_std).mean,
                               static_cast<int>(a), kStyles[i]));
      }
    }
    return chart;
  };
  auto stds = profile("Outputs at initialization", "std of the layer's outputs", false);
  auto grads = profile("Gradients at initialization", "RMS of dLoss/d(output)", true);
  result.figures.push_back(MakeGridFigure(
      "initialization-profiles",
      absl::StrFormat("Per hidden layer of the %d-layer networks at initialization, mean over "
                      "%d seeds: the standard deviation of its outputs and the RMS of the "
                      "gradient reaching them (log scale).",
                      deep, repeats),
      {stds.get(), grads.get()}, 2));

  std::vector<std::unique_ptr<viz::LineChart>> panels;
  for (size_t a = 0; a < networks.size(); ++a) {
    auto chart = std::make_unique<viz::LineChart>(viz::ChartOptions{
        .title = absl::StrFormat("%s, %d layers", networks[a].activation->name, networks[a].depth),
        .x = {.label = "epoch"},
        .y = {.label = "training loss (cross-entropy, nats)"},
        .width = 320,
        .height = 290,
        .legend = viz::LegendPlace::kTop});
    for (size_t i = 0; i < init_names.size(); ++i) {
      chart->Add(MeanBandSeries(init_names[i], outcomes[a][i].loss_curves, static_cast<int>(i)));
    }
    chart->AddHorizontalLine(chance_loss, "chance");
    panels.push_back(std::move(chart));
  }
  std::vector<const viz::Chart*> charts;
  for (const auto& p : panels) charts.push_back(p.get());
  result.figures.push_back(MakeGridFigure(
      "initialization-loss",
      absl::StrFormat("Training loss, mean over %d seeds with the min-max band; the grey line "
                      "is the loss of a network that learned nothing.",
                      repeats),
      charts, 3));
  // What the numbers say, sentence by sentence, following the comparisons.
  std::string discussion = absl::StrFormat(
      "With %d ReLU layers, Xavier's signal shrinks to %s of its size by the last layer and "
      "the network ends at loss %s (chance %.2f); He keeps it at %s and reaches %s. ",
      deep, FormatValue(std_ratio(0, 0)), FormatValue(loss(0, 0)), chance_loss,
      FormatValue(std_ratio(0, 1)), FormatValue(loss(0, 1)));
  // Xavier against He for tanh and sigmoid, from the checks' own intervals.
  for (const Check& c : result.checks) {
    if (absl::StrContains(c.quantity, "Xavier / He")) {
      absl::StrAppend(&discussion, CheckSentence(c), " ");
    }
  }
  discussion +=
      "Tanh's and sigmoid's slopes are at most 1 and 0.25, so a layer needs weights larger "
      "than Glorot's to pass the signal on undiminished; frameworks therefore scale Xavier by "
      "a gain (PyTorch: 5/3 for tanh), and for these square layers He is Xavier times "
      "sqrt(2). The input-scaling half of claims C18-C20 ([0, 1] for sigmoid and ReLU, "
      "[-1, 1] for tanh) is applied here, not tested.";
  result.discussion = std::move(discussion);
  return result;
}

}  // namespace actgrad::experiments
