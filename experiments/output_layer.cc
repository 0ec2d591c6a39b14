// Experiment `output-layer` (claims C8, C11): which output activation suits
// which prediction. Binary classification with a sigmoid output and cross-
// entropy against an identity output with squared error on the 0/1 labels;
// regression with an identity output against a sigmoid one.

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "experiments/data.h"
#include "experiments/figures.h"
#include "experiments/runners.h"
#include "experiments/stats.h"
#include "experiments/training.h"
#include "graph/grad_mode.h"
#include "ops/builtin_ops.h"

namespace actgrad::experiments {

namespace {

std::vector<double> Predict(nn::Sequential& model, const Tensor& x) {
  NoGradGuard no_grad;
  return model.Forward(x).ToVector();
}

// Binary cross-entropy of outputs read as probabilities; outputs outside
// (0, 1) are clipped, as anyone using them as probabilities would have to.
double LogLoss(std::span<const double> p, std::span<const double> y) {
  double sum = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    const double q = std::clamp(p[i], 1e-7, 1 - 1e-7);
    sum -= y[i] * std::log(q) + (1 - y[i]) * std::log(1 - q);
  }
  return sum / double(y.size());
}

struct BinaryOutcome {
  std::vector<double> accuracy;
  std::vector<double> log_loss;
  std::vector<double> outside;        // share of test outputs outside [0, 1]
  std::vector<double> first_outputs;  // seed 0, for the histogram
};

struct RegressionOutcome {
  std::vector<double> rmse;  // in the target's own units
  std::vector<double> first_predictions;
};

}  // namespace

absl::StatusOr<Result> RunOutputLayer(const Options& options) {
  const bool reduced = options.reduced;
  const int repeats = options.repeats > 0 ? options.repeats : (reduced ? 2 : 5);
  absl::StatusOr<io::Dataset> cancer = LoadBundled(options, "breast_cancer.csv");
  if (!cancer.ok()) return cancer.status();
  struct Binary {
    Data data;
    std::vector<int64_t> hidden;
    int epochs;
  };
  std::vector<Binary> binaries = {
      {Prepare("breast cancer", *cancer, nn::Scaling::kUnit, {.max_train_rows = reduced ? 200 : 0}),
       {64, 32},
       reduced ? 10 : 100},
      {Prepare("two spirals", TwoSpirals(reduced ? 60 : 200, 0.03, 1), nn::Scaling::kNone,
               {.test_fraction = 0.25}),
       {64, 64},
       reduced ? 20 : 300},
  };
  const Data friedman =
      Prepare("Friedman #1", Friedman1(reduced ? 300 : 1000, 1.0, 3), nn::Scaling::kUnit, {});
  const int regression_epochs = reduced ? 20 : 200;
  const optim::SgdOptions binary_sgd{.learning_rate = 0.05, .momentum = 0.9};
  const optim::SgdOptions regression_sgd{.learning_rate = 0.01, .momentum = 0.9};

  Result result;
  result.title = "Sigmoid out for 0/1 labels, identity out for regression?";
  for (const Binary& b : binaries) result.setup.push_back(absl::StrCat("data: ", b.data.describe));
  result.setup.push_back(absl::StrCat("data: ", friedman.describe,
                                      "; targets y = 10 sin(pi x1 x2) + 20 (x3 - 0.5)^2 + "
                                      "10 x4 + 5 x5 + N(0, 1), between about 0 and 30"));
  result.setup.push_back(absl::StrFormat(
      "binary: relu hidden layers (breast cancer 64-32, %d epochs; spirals 64-64, %d epochs), "
      "He initialization; output sigmoid + binary cross-entropy, or identity + mean squared "
      "error on the 0/1 labels; SGD lr %g, momentum %g, batch 32; prediction: output >= 0.5",
      binaries[0].epochs, binaries[1].epochs, binary_sgd.learning_rate, binary_sgd.momentum));
  result.setup.push_back(absl::StrFormat(
      "regression: relu 64-32, He initialization, mean squared error; output identity or "
      "sigmoid; targets raw, or min-max scaled to [0, 1] on the training rows (errors are "
      "reported back in the original units); SGD lr %g, momentum %g, batch 32, %d epochs",
      regression_sgd.learning_rate, regression_sgd.momentum, regression_epochs));
  result.setup.push_back(absl::StrFormat("%d seeds (%d..%d) per configuration", repeats,
                                         options.seed, options.seed + repeats - 1));

  // --- Binary classification ---------------------------------------------------
  Table binary_table{
      .caption =
          "Binary classification on the test rows (mean ± sd [min, max] over seeds); "
          "log loss reads the outputs as probabilities, clipped to [1e-7, 1 - 1e-7]",
      .header = {"data", "output, loss", "test accuracy", "test log loss",
                 "outputs outside [0, 1]"}};
  std::vector<std::vector<BinaryOutcome>> binary(binaries.size(), std::vector<BinaryOutcome>(2));
  for (size_t d = 0; d < binaries.size(); ++d) {
    for (int variant = 0; variant < 2; ++variant) {
      // Variant 0: sigmoid + cross-entropy; 1: identity + squared error.
      Data data = binaries[d].data;
      if (variant == 1) data.task = nn::Task::kRegression;
      BinaryOutcome& o = binary[d][variant];
      struct SeedResult {
        std::vector<double> outputs;
        double accuracy = 0;
        double outside = 0;
      };
      std::vector<SeedResult> seeds = MapSeeds(options, repeats, [&](int rep) {
        RunOptions run;
        run.mlp = {.hidden = binaries[d].hidden,
                   .hidden_activation = &ops::kRelu,
                   .output_activation = variant == 0 ? &ops::kSigmoid : &ops::kIdentity};
        run.train.epochs = binaries[d].epochs;
        run.train.sgd = binary_sgd;
        run.seed = options.seed + rep;
        run.loss_factor = LossFactor(options, rep);
        Run r = TrainMlp(data, run);
        SeedResult out{.outputs = Predict(*r.model, data.x_test)};
        for (size_t i = 0; i < out.outputs.size(); ++i) {
          out.accuracy += (out.outputs[i] >= 0.5 ? 1.0 : 0.0) == data.y_test[i];
          out.outside += out.outputs[i] < 0 || out.outputs[i] > 1;
        }
        out.accuracy /= double(out.outputs.size());
        out.outside /= double(out.outputs.size());
        return out;
      });
      for (int rep = 0; rep < repeats; ++rep) {
        o.accuracy.push_back(seeds[rep].accuracy);
        o.outside.push_back(seeds[rep].outside);
        o.log_loss.push_back(LogLoss(seeds[rep].outputs, data.y_test));
        if (rep == 0) o.first_outputs = seeds[rep].outputs;
      }
      binary_table.rows.push_back(
          {binaries[d].data.name,
           variant == 0 ? "sigmoid, cross-entropy" : "identity, squared error",
           FormatPercentSpread(Summarize(o.accuracy)), FormatSpread(Summarize(o.log_loss)),
           FormatPercentSpread(Summarize(o.outside))});
    }
  }
  result.tables.push_back(binary_table);

  // --- Regression ----------------------------------------------------------------
  double y_min = *std::min_element(friedman.y_train.begin(), friedman.y_train.end());
  double y_max = *std::max_element(friedman.y_train.begin(), friedman.y_train.end());
  Data scaled = friedman;
  for (double& y : scaled.y_train) y = (y - y_min) / (y_max - y_min);
  for (double& y : scaled.y_test) y = (y - y_min) / (y_max - y_min);
  Table regression_table{
      .caption =
          "Regression: test RMSE in the target's units (mean ± sd [min, max] over "
          "seeds); predicting the training mean everywhere gives the last column",
      .header = {"targets", "output", "test RMSE", "RMSE of the mean"}};
  double mean_y = 0;
  for (double y : friedman.y_train) mean_y += y / double(friedman.y_train.size());
  double baseline = 0;
  for (double y : friedman.y_test) baseline += (y - mean_y) * (y - mean_y);
  baseline = std::sqrt(baseline / double(friedman.y_test.size()));
  // [scaled][output]: output 0 identity, 1 sigmoid.
  RegressionOutcome regression[2][2];
  for (int s = 0; s < 2; ++s) {
    const Data& data = s == 0 ? friedman : scaled;
    for (int output = 0; output < 2; ++output) {
      RegressionOutcome& o = regression[s][output];
      std::vector<std::vector<double>> predictions = MapSeeds(options, repeats, [&](int rep) {
        RunOptions run;
        run.mlp = {.hidden = {64, 32},
                   .hidden_activation = &ops::kRelu,
                   .output_activation = output == 0 ? &ops::kIdentity : &ops::kSigmoid};
        run.train.epochs = regression_epochs;
        run.train.sgd = regression_sgd;
        run.seed = options.seed + rep;
        run.loss_factor = LossFactor(options, rep);
        Run r = TrainMlp(data, run);
        std::vector<double> out = Predict(*r.model, data.x_test);
        if (s == 1) {
          for (double& p : out) p = y_min + p * (y_max - y_min);
        }
        return out;
      });
      for (int rep = 0; rep < repeats; ++rep) {
        double sum = 0;
        for (size_t i = 0; i < predictions[rep].size(); ++i) {
          const double e = predictions[rep][i] - friedman.y_test[i];
          sum += std::isfinite(e) ? e * e : 1e300;
        }
        o.rmse.push_back(std::sqrt(sum / double(predictions[rep].size())));
        if (rep == 0) o.first_predictions = predictions[rep];
      }
      regression_table.rows.push_back(
          {s == 0 ? "raw" : "scaled to [0, 1]", output == 0 ? "identity" : "sigmoid",
           FormatSpread(Summarize(regression[s][output].rmse)), FormatValue(baseline)});
    }
  }
  result.tables.push_back(regression_table);

  // --- Checks ----------------------------------------------------------------
  auto mean = [](const std::vector<double>& v) { return Summarize(v).mean; };
  auto points = [](const std::vector<double>& shares) {
    std::vector<double> out;
    for (double v : shares) out.push_back(100 * v);
    return out;
  };
  for (size_t d = 0; d < binaries.size(); ++d) {
    const BinaryOutcome& sig = binary[d][0];
    const BinaryOutcome& id = binary[d][1];
    const std::string& name = binaries[d].data.name;
    result.checks.push_back(
        {.claim = "C8",
         .statement = "for 0/1 labels a sigmoid output with cross-entropy classifies at least "
                      "as well as an identity output with squared error (within 1 point)",
         .quantity = absl::StrFormat("sigmoid - identity output, test accuracy points (%s)", name),
         .value = DifferenceInterval(points(sig.accuracy), points(id.accuracy)),
         .side = Side::kAtLeast,
         .threshold = -1});
    result.checks.push_back(
        {.claim = "C8",
         .statement = "and its outputs are better probabilities: lower test log loss",
         .quantity = absl::StrFormat("sigmoid / identity output, test log loss (%s)", name),
         .value = RatioInterval(sig.log_loss, id.log_loss),
         .side = Side::kAtMost,
         .threshold = 1,
         .evidence = absl::StrFormat("%.1f %% of the identity output's values outside [0, 1]",
                                     100 * mean(id.outside))});
  }
  const double id_raw = mean(regression[0][0].rmse);
  const double sig_raw = mean(regression[0][1].rmse);
  const double id_scaled = mean(regression[1][0].rmse);
  const double sig_scaled = mean(regression[1][1].rmse);
  result.checks.push_back(
      {.claim = "C11",
       .statement = "for regression an identity output is the one that works on the targets as "
                    "they are: its RMSE is at most half the sigmoid output's",
       .quantity = "identity / sigmoid output, test RMSE (raw targets)",
       .value = RatioInterval(regression[0][0].rmse, regression[0][1].rmse),
       .side = Side::kAtMost,
       .threshold = 0.5,
       .evidence = absl::StrFormat("mean test RMSE: identity %s, sigmoid %s", FormatValue(id_raw),
                                   FormatValue(sig_raw))});
  result.checks.push_back(
      {.claim = "C11",
       .statement = "even with the targets squeezed into sigmoid's range, the identity output "
                    "is at least as accurate (RMSE at most 1.05 times the sigmoid output's)",
       .quantity = "identity / sigmoid output, test RMSE (targets scaled to [0, 1])",
       .value = RatioInterval(regression[1][0].rmse, regression[1][1].rmse),
       .side = Side::kAtMost,
       .threshold = 1.05,
       .evidence = absl::StrFormat("mean test RMSE: identity %s, sigmoid %s",
                                   FormatValue(id_scaled), FormatValue(sig_scaled))});
  result.metrics = {{"regression/raw/identity_rmse", id_raw},
                    {"regression/raw/sigmoid_rmse", sig_raw},
                    {"regression/scaled/identity_rmse", id_scaled},
                    {"regression/scaled/sigmoid_rmse", sig_scaled}};

  // --- Figures -----------------------------------------------------------------
  std::vector<std::unique_ptr<viz::LineChart>> histograms;
  for (size_t d = 0; d < binaries.size(); ++d) {
    double lo = -0.25;
    double hi = 1.25;
    for (int v = 0; v < 2; ++v) {
      for (double p : binary[d][v].first_outputs) {
        lo = std::min(lo, p);
        hi = std::max(hi, p);
      }
    }
    auto chart = std::make_unique<viz::LineChart>(
        viz::ChartOptions{.title = binaries[d].data.name,
                          .x = {.label = "network output on the test rows", .min = lo, .max = hi},
                          .y = {.label = "share of rows (0-1)"},
                          .width = 440,
                          .height = 300,
                          .legend = viz::LegendPlace::kTop});
    chart->Add(
        viz::HistogramSeries("sigmoid, cross-entropy", binary[d][0].first_outputs, lo, hi, 40));
    chart->Add(
        viz::HistogramSeries("identity, squared error", binary[d][1].first_outputs, lo, hi, 40));
    chart->AddVerticalLine(0, "");
    chart->AddVerticalLine(1, "");
    histograms.push_back(std::move(chart));
  }
  result.figures.push_back(MakeGridFigure(
      "output-layer-binary",
      absl::StrFormat("Outputs on the test rows (seed %d): the sigmoid output stays in (0, 1); "
                      "the identity output trained with squared error does not.",
                      options.seed),
      {histograms[0].get(), histograms[1].get()}, 2));

  std::vector<std::unique_ptr<viz::LineChart>> scatters;
  for (int s = 0; s < 2; ++s) {
    auto chart = std::make_unique<viz::LineChart>(viz::ChartOptions{
        .title = s == 0 ? "raw targets" : "targets scaled to [0, 1] (shown in original units)",
        .x = {.label = "true target (target units)"},
        .y = {.label = "prediction (target units)"},
        .width = 440,
        .height = 340,
        .legend = viz::LegendPlace::kTop});
    for (int output = 0; output < 2; ++output) {
      chart->Add({.label = output == 0 ? "identity" : "sigmoid",
                  .x = friedman.y_test,
                  .y = regression[s][output].first_predictions,
                  .color = output,
                  .line = viz::LineStyle::kNone,
                  .markers = true});
    }
    const double lo = *std::min_element(friedman.y_test.begin(), friedman.y_test.end());
    const double hi = *std::max_element(friedman.y_test.begin(), friedman.y_test.end());
    chart->Add({.label = "prediction = target",
                .x = {lo, hi},
                .y = {lo, hi},
                .color = 6,
                .line = viz::LineStyle::kDashed,
                .width = 1});
    scatters.push_back(std::move(chart));
  }
  result.figures.push_back(MakeGridFigure(
      "output-layer-regression",
      absl::StrFormat("Predictions against true targets on the Friedman #1 test rows (seed %d).",
                      options.seed),
      {scatters[0].get(), scatters[1].get()}, 2));
  result.discussion =
      "Claim C11's other half, that a linear activation is almost never useful in hidden "
      "layers, is what the linear-collapse experiment measures.";
  return result;
}

}  // namespace actgrad::experiments
