// Experiment `linear-collapse` (claims C13, C14).

#include "experiments/linear_collapse.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "experiments/data.h"
#include "experiments/figures.h"
#include "experiments/runners.h"
#include "experiments/stats.h"
#include "experiments/training.h"
#include "graph/factories.h"
#include "graph/grad_mode.h"
#include "ops/builtin_ops.h"

namespace actgrad::experiments {

std::vector<double> AffineMap::Apply(const Tensor& x) const {
  const std::vector<double> in = x.ToVector();
  const int64_t rows = x.dim(0);
  std::vector<double> out(rows * outputs);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < outputs; ++o) {
      double sum = bias[o];
      for (int64_t i = 0; i < inputs; ++i) sum += in[r * inputs + i] * weight[o * inputs + i];
      out[r * outputs + o] = sum;
    }
  }
  return out;
}

AffineMap CollapseLinear(nn::Sequential& model, std::source_location location) {
  size_t last_linear = model.size();
  for (size_t i = 0; i < model.size(); ++i) {
    if (dynamic_cast<nn::Linear*>(&model.layer(i)) != nullptr) last_linear = i;
  }
  ACTGRAD_REQUIRE(last_linear < model.size(), location,
                  "CollapseLinear: the model has no Linear layer");
  AffineMap map;
  for (size_t i = 0; i <= last_linear; ++i) {
    if (auto* act = dynamic_cast<nn::Activation*>(&model.layer(i))) {
      ACTGRAD_REQUIRE(&act->op() == &ops::kIdentity, location, "CollapseLinear: layer ", i, " is ",
                      act->op().name, ", not identity; only a linear stack collapses");
      continue;
    }
    auto* linear = dynamic_cast<nn::Linear*>(&model.layer(i));
    ACTGRAD_REQUIRE(linear != nullptr, location, "CollapseLinear: layer ", i,
                    " is neither Linear nor Activation: ", model.layer(i).ToString());
    const int64_t in = linear->options().in;
    const int64_t out = linear->options().out;
    const std::vector<double> w = linear->weight().ToVector();
    std::vector<double> b =
        linear->bias().defined() ? linear->bias().ToVector() : std::vector<double>(out, 0.0);
    if (map.outputs == 0) {
      map = {in, out, w, b};
      continue;
    }
    ACTGRAD_REQUIRE(in == map.outputs, location, "CollapseLinear: layer ", i, " takes ", in,
                    " inputs but the layers before give ", map.outputs);
    // New W = w * W, new b = w * b_old + b.
    std::vector<double> weight(out * map.inputs, 0.0);
    for (int64_t o = 0; o < out; ++o) {
      for (int64_t k = 0; k < in; ++k) {
        const double wk = w[o * in + k];
        b[o] += wk * map.bias[k];
        for (int64_t j = 0; j < map.inputs; ++j) {
          weight[o * map.inputs + j] += wk * map.weight[k * map.inputs + j];
        }
      }
    }
    map.outputs = out;
    map.weight = std::move(weight);
    map.bias = std::move(b);
  }
  return map;
}

namespace {

struct Model {
  std::string label;
  std::vector<int64_t> hidden;
  const OpDef* activation;
};

struct Outcome {
  std::vector<double> train_accuracy;
  std::vector<double> test_accuracy;
  std::vector<std::vector<double>> loss_curves;
  std::unique_ptr<nn::Sequential> first_model;  // of the first seed, for the regions figure
  // The identity network multiplied out, per seed: max |logit|, max
  // |difference| and their ratio (difference / max(1, max |logit|)).
  std::vector<double> max_logit;
  std::vector<double> max_difference;
  std::vector<double> relative;
};

// The classifier's decision on a grid over the data's square.
viz::ClassRegions Regions(nn::Sequential& model, double extent, int cells) {
  std::vector<double> grid;
  for (int r = 0; r < cells; ++r) {
    for (int c = 0; c < cells; ++c) {
      grid.push_back(-extent + (c + 0.5) * 2 * extent / cells);
      grid.push_back(-extent + (r + 0.5) * 2 * extent / cells);
    }
  }
  NoGradGuard no_grad;
  const std::vector<double> p =
      model.Forward(FromValues(grid, Shape{int64_t(cells) * cells, 2})).ToVector();
  viz::ClassRegions regions{.x_min = -extent,
                            .x_max = extent,
                            .y_min = -extent,
                            .y_max = extent,
                            .columns = cells,
                            .rows = cells};
  for (double v : p) regions.classes.push_back(v >= 0.5 ? 1 : 0);
  return regions;
}

std::unique_ptr<viz::LineChart> RegionsChart(const std::string& title, nn::Sequential& model,
                                             const Data& data) {
  auto chart = std::make_unique<viz::LineChart>(
      viz::ChartOptions{.title = title,
                        .x = {.label = "x1 (input units)", .min = -1.25, .max = 1.25},
                        .y = {.label = "x2 (input units)", .min = -1.25, .max = 1.25},
                        .width = 270,
                        .height = 290,
                        .legend = viz::LegendPlace::kTop});
  chart->SetRegions(Regions(model, 1.25, 40));
  const std::vector<double> x = data.x_train.ToVector();
  viz::Series points[2];
  for (int label = 0; label < 2; ++label) {
    points[label] = {.label = absl::StrCat("class ", label),
                     .color = label,
                     .line = viz::LineStyle::kNone,
                     .markers = true};
  }
  // At most 120 points per class keep the figure light.
  int shown[2] = {0, 0};
  for (size_t r = 0; r < data.y_train.size(); ++r) {
    const int label = data.y_train[r] > 0.5 ? 1 : 0;
    if (shown[label]++ >= 120) continue;
    points[label].x.push_back(x[2 * r]);
    points[label].y.push_back(x[2 * r + 1]);
  }
  chart->Add(points[0]);
  chart->Add(points[1]);
  return chart;
}

}  // namespace

absl::StatusOr<Result> RunLinearCollapse(const Options& options) {
  const bool reduced = options.reduced;
  const int repeats = options.repeats > 0 ? options.repeats : (reduced ? 2 : 5);
  const int epochs = reduced ? 40 : 300;
  const int64_t per_class = reduced ? 60 : 200;
  const std::vector<int64_t> hidden = {32, 32, 32};
  const SplitOptions split{.test_fraction = 0.25, .split_seed = 0};
  const std::vector<Data> datasets = {
      Prepare("two spirals", TwoSpirals(per_class, 0.03, 1), nn::Scaling::kNone, split),
      Prepare("XOR", Xor(2 * per_class, 2), nn::Scaling::kNone, split)};
  const std::vector<Model> models = {
      {"logistic regression", {}, &ops::kIdentity},
      {"identity hidden", hidden, &ops::kIdentity},
      {"tanh hidden", hidden, &ops::kTanh},
      {"relu hidden", hidden, &ops::kRelu},
  };
  const optim::SgdOptions sgd{.learning_rate = 0.05, .momentum = 0.9};

  Result result;
  result.title = "Without a nonlinearity, depth adds nothing";
  result.setup = {
      absl::StrFormat("data: %s", datasets[0].describe),
      absl::StrFormat("data: %s", datasets[1].describe),
      absl::StrFormat("networks: 2 -> 32 -> 32 -> 32 -> 1 with identity, tanh or relu hidden "
                      "units, and logistic regression (2 -> 1); sigmoid output, binary "
                      "cross-entropy; initializers as recommended for the hidden activation"),
      absl::StrFormat("training: SGD lr %g, momentum %g, batch 32, %d epochs; %d seeds "
                      "(%d..%d) for weights and batch order",
                      sgd.learning_rate, sgd.momentum, epochs, repeats, options.seed,
                      options.seed + repeats - 1),
  };

  Table accuracy{
      .caption = "Training and test accuracy (mean ± sd [min, max] over seeds)",
      .header = {"data", "network", "train accuracy", "test accuracy", "final training loss"}};
  Table collapse{.caption =
                     "The identity network multiplied out: its logits against those of "
                     "the single affine map W = W4 W3 W2 W1 (float64 product of the "
                     "trained float32 weights), on the training rows; largest over seeds",
                 .header = {"data", "seeds", "max |logit|", "max |difference|",
                            "difference / max(1, max |logit|)"}};
  std::vector<std::vector<Outcome>> outcomes(datasets.size());
  std::vector<double> relative_errors;  // every identity network, every data set
  for (size_t d = 0; d < datasets.size(); ++d) {
    const Data& data = datasets[d];
    for (const Model& model : models) {
      const bool collapsible = model.activation == &ops::kIdentity && !model.hidden.empty();
      struct SeedResult {
        Run run;
        double train_accuracy = 0;
        double max_logit = 0;
        double max_difference = 0;
      };
      std::vector<SeedResult> seeds = MapSeeds(options, repeats, [&](int rep) {
        RunOptions run;
        run.mlp = {.hidden = model.hidden,
                   .hidden_activation = model.activation,
                   .output_activation = &ops::kSigmoid};
        run.train.epochs = epochs;
        run.train.batch = 32;
        run.train.sgd = sgd;
        run.seed = options.seed + rep;
        run.loss_factor = LossFactor(options, rep);
        SeedResult out{.run = TrainMlp(data, run)};
        nn::Sequential& net = *out.run.model;
        out.train_accuracy = nn::Evaluate(data.task, net, data.x_train, data.y_train).metric;
        if (collapsible) {
          const AffineMap map = CollapseLinear(net);
          const std::vector<double> product = map.Apply(data.x_train);
          std::vector<double> logits;
          {
            NoGradGuard no_grad;
            logits = net.Logits(data.x_train).ToVector();
          }
          for (size_t i = 0; i < logits.size(); ++i) {
            out.max_logit = std::max(out.max_logit, std::abs(logits[i]));
            out.max_difference = std::max(out.max_difference, std::abs(logits[i] - product[i]));
          }
        }
        return out;
      });
      Outcome o;
      for (int rep = 0; rep < repeats; ++rep) {
        Run& r = seeds[rep].run;
        o.train_accuracy.push_back(seeds[rep].train_accuracy);
        o.test_accuracy.push_back(r.test_metric.back());
        o.loss_curves.push_back(r.train_loss);
        if (collapsible) {
          o.max_logit.push_back(seeds[rep].max_logit);
          o.max_difference.push_back(seeds[rep].max_difference);
          o.relative.push_back(seeds[rep].max_difference / std::max(seeds[rep].max_logit, 1.0));
          relative_errors.push_back(o.relative.back());
        }
        if (rep == 0) o.first_model = std::move(r.model);
      }
      if (collapsible) {
        collapse.rows.push_back(
            {data.name, absl::StrCat(repeats), FormatValue(Summarize(o.max_logit).max),
             FormatValue(Summarize(o.max_difference).max), FormatValue(Summarize(o.relative).max)});
      }
      std::vector<double> final_loss;
      for (const auto& c : o.loss_curves) final_loss.push_back(c.back());
      accuracy.rows.push_back(
          {data.name, model.label, FormatPercentSpread(Summarize(o.train_accuracy)),
           FormatPercentSpread(Summarize(o.test_accuracy)), FormatSpread(Summarize(final_loss))});
      outcomes[d].push_back(std::move(o));
    }
  }
  result.tables = {accuracy, collapse};

  // --- Checks ----------------------------------------------------------------
  auto mean_train = [&](size_t d, size_t m) {
    return Summarize(outcomes[d][m].train_accuracy).mean;
  };
  // The worst seed is what "computes one affine map" is about; its interval
  // is the bootstrap's of the maximum over the resampled seeds.
  const double worst_relative = Summarize(relative_errors).max;
  result.checks.push_back(
      {.claim = "C13",
       .statement = "a network whose hidden activations are the identity computes one affine "
                    "map of its input (float32 epsilon is 1.2e-07)",
       .quantity = "largest |logits - multiplied-out map| / max(1, max |logit|) over seeds and "
                   "data sets",
       .value = BootstrapInterval(repeats,
                                  [&](std::span<const int> seeds) {
                                    double worst = 0;
                                    for (int s : seeds) {
                                      for (size_t d = 0; d < datasets.size(); ++d) {
                                        worst = std::max(worst, outcomes[d][1].relative[s]);
                                      }
                                    }
                                    return worst;
                                  }),
       .side = Side::kAtMost,
       .threshold = 1e-5});
  auto points = [](const std::vector<double>& shares) {
    std::vector<double> out;
    for (double v : shares) out.push_back(100 * v);
    return out;
  };
  for (size_t d = 0; d < datasets.size(); ++d) {
    const std::vector<double> logistic = points(outcomes[d][0].train_accuracy);
    const std::vector<double> linear = points(outcomes[d][1].train_accuracy);
    const std::vector<double> tanh = points(outcomes[d][2].train_accuracy);
    const std::vector<double> relu = points(outcomes[d][3].train_accuracy);
    // Seed by seed first, so that equal accuracies give exactly 0.
    std::vector<double> gap;
    for (int rep = 0; rep < repeats; ++rep) gap.push_back(linear[rep] - logistic[rep]);
    result.checks.push_back(
        {.claim = "C14",
         .statement = "identity hidden layers with a sigmoid output reach what logistic "
                      "regression reaches: training accuracy within 3 points",
         .quantity = absl::StrFormat("|identity hidden - logistic|, training accuracy points (%s)",
                                     datasets[d].name),
         .value = BootstrapInterval(
             repeats, [&](std::span<const int> seeds) { return std::abs(MeanOver(gap, seeds)); }),
         .side = Side::kAtMost,
         .threshold = 3});
    result.checks.push_back(
        {.claim = "C13",
         .statement = "the same network with tanh or ReLU hidden units fits the data: training "
                      "accuracy at least 90 %",
         .quantity = absl::StrFormat("smaller of tanh, relu hidden, training accuracy %% (%s)",
                                     datasets[d].name),
         .value = BootstrapInterval(repeats,
                                    [&](std::span<const int> seeds) {
                                      return std::min(MeanOver(tanh, seeds), MeanOver(relu, seeds));
                                    }),
         .side = Side::kAtLeast,
         .threshold = 90});
    result.checks.push_back(
        {.claim = "C13",
         .statement = "the same network with tanh or ReLU hidden units does what the linear one "
                      "cannot: training accuracy at least 20 points above logistic regression",
         .quantity = absl::StrFormat("smaller of tanh, relu hidden - logistic, training accuracy "
                                     "points (%s)",
                                     datasets[d].name),
         .value = BootstrapInterval(repeats,
                                    [&](std::span<const int> seeds) {
                                      return std::min(MeanOver(tanh, seeds),
                                                      MeanOver(relu, seeds)) -
                                             MeanOver(logistic, seeds);
                                    }),
         .side = Side::kAtLeast,
         .threshold = 20});
  }
  result.metrics = {{"collapse_relative_error", worst_relative}};
  for (size_t d = 0; d < datasets.size(); ++d) {
    for (size_t m = 0; m < models.size(); ++m) {
      result.metrics.push_back(
          {absl::StrCat(datasets[d].name, "/", models[m].label, "/train_accuracy"),
           mean_train(d, m)});
    }
  }
  // Each sentence after the first restates a check, from its interval.
  std::string discussion = absl::StrFormat(
      "Multiplying the trained weight matrices of the identity network out "
      "gives back its logits to %s of their size at worst. ",
      FormatValue(worst_relative));
  for (const Check& c : result.checks) {
    if (c.claim == "C14" || absl::StrContains(c.quantity, "- logistic")) {
      absl::StrAppend(&discussion, CheckSentence(c), " ");
    }
  }
  result.discussion = std::string(absl::StripTrailingAsciiWhitespace(discussion));

  // --- Figures -----------------------------------------------------------------
  std::vector<std::unique_ptr<viz::LineChart>> panels;
  for (size_t d = 0; d < datasets.size(); ++d) {
    for (size_t m = 0; m < models.size(); ++m) {
      panels.push_back(RegionsChart(absl::StrCat(datasets[d].name, ": ", models[m].label),
                                    *outcomes[d][m].first_model, datasets[d]));
    }
  }
  std::vector<const viz::Chart*> region_charts;
  for (const auto& p : panels) region_charts.push_back(p.get());
  result.figures.push_back(MakeGridFigure(
      "linear-collapse-regions",
      absl::StrFormat("Decision regions of each network after %d epochs (seed %d), shaded in "
                      "the colour of the class it predicts, with up to 120 training points per "
                      "class.",
                      epochs, options.seed),
      region_charts, static_cast<int>(models.size())));

  std::vector<std::unique_ptr<viz::LineChart>> loss_panels;
  for (size_t d = 0; d < datasets.size(); ++d) {
    auto chart = std::make_unique<viz::LineChart>(
        viz::ChartOptions{.title = datasets[d].name,
                          .x = {.label = "epoch"},
                          .y = {.label = "training loss (binary cross-entropy, nats)", .log = true},
                          .width = 460,
                          .height = 320,
                          .legend = viz::LegendPlace::kTop});
    for (size_t m = 0; m < models.size(); ++m) {
      chart->Add(MeanBandSeries(models[m].label, outcomes[d][m].loss_curves, static_cast<int>(m),
                                m == 0 ? viz::LineStyle::kDashed : viz::LineStyle::kSolid));
    }
    loss_panels.push_back(std::move(chart));
  }
  std::vector<const viz::Chart*> loss_charts;
  for (const auto& p : loss_panels) loss_charts.push_back(p.get());
  result.figures.push_back(MakeGridFigure(
      "linear-collapse-loss",
      absl::StrFormat("Training loss per epoch, mean over %d seeds with the min-max band.",
                      repeats),
      loss_charts, 2));
  return result;
}

}  // namespace actgrad::experiments
