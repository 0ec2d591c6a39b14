#include "tools/train_command.h"

#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "graph/anomaly.h"
#include "io/csv.h"
#include "nn/nn.h"
#include "ops/registry.h"
#include "ops/threads.h"
#include "tools/json_writer.h"
#include "tools/model_options.h"
#include "tools/plugins.h"
#include "tools/progress.h"

namespace actgrad::tools {

namespace {

int RunTrain(const ModelFlags& flags) {
  if (!LoadPlugins(flags.plugins, "actgrad train")) return 1;
  SetNumThreads(flags.threads);
  absl::StatusOr<ModelPlan> planned = MakePlan(flags);
  if (!planned.ok()) {
    std::cerr << "actgrad train: " << planned.status().message() << "\n";
    return 1;
  }
  ModelPlan& plan = *planned;
  const io::Dataset train = plan.data.Subset(plan.split.train);
  const io::Dataset test = plan.data.Subset(plan.split.test);

  nn::MlpModel model;
  model.options = plan.mlp;
  model.task = plan.task;
  model.feature_names = plan.data.feature_names;
  model.target_name = plan.data.target_name;
  const Tensor raw_train = train.Features();
  model.scaler = nn::Scaler::Fit(plan.scaling, raw_train);
  const Tensor x_train = model.scaler.Transform(raw_train);
  const Tensor x_test = model.scaler.Transform(test.Features());
  Generator gen(flags.seed);
  model.network = nn::Mlp(plan.mlp, gen);
  nn::TrainState resumed;
  if (flags.resume) {
    absl::StatusOr<nn::Checkpoint> checkpoint = nn::LoadCheckpoint(flags.checkpoint);
    if (!checkpoint.ok()) {
      std::cerr << "actgrad train: --resume: " << checkpoint.status().message() << "\n";
      return 1;
    }
    if (checkpoint->model.options.inputs != plan.mlp.inputs ||
        checkpoint->model.options.hidden != plan.mlp.hidden ||
        checkpoint->model.options.hidden_activation != plan.mlp.hidden_activation) {
      std::cerr << "actgrad train: --resume: " << flags.checkpoint
                << " holds another architecture than these options describe\n";
      return 1;
    }
    model = std::move(checkpoint->model);
    resumed = std::move(checkpoint->state);
  }

  std::ostream& log = flags.json ? std::cerr : std::cout;
  PrintPlan(log, flags, plan, model.network->ToString());
  log << std::flush;

  const bool interactive = !flags.no_progress && ProgressBar::StderrIsInteractive();
  ProgressBar bar(std::cerr, interactive, flags.epochs);
  const bool classification = plan.task != nn::Task::kRegression;
  nn::TrainOptions options;
  options.epochs = flags.epochs;
  options.batch = flags.batch;
  options.sgd = {.learning_rate = flags.lr,
                 .momentum = flags.momentum,
                 .dampening = flags.dampening,
                 .nesterov = flags.nesterov,
                 .weight_decay = flags.weight_decay};
  options.schedule = plan.schedule;
  options.clip_norm = flags.clip_norm;
  options.seed = flags.seed;
  if (interactive) {
    options.on_batch = [&bar, classification](const nn::BatchProgress& p) {
      bar.Update(p.epoch, p.batch, p.batches, p.samples, p.loss,
                 classification ? p.accuracy : -1.0);
    };
  }
  if (!flags.no_progress) {
    options.on_epoch = [&](const nn::EpochReport& r) {
      bar.EndEpoch(r.epoch,
                   absl::StrFormat("loss %.4f  test_loss %.4f  test_%s %.4f  lr %.3g", r.train_loss,
                                   r.test_loss, classification ? "acc" : "rmse", r.test_metric,
                                   r.learning_rate));
    };
  }
  absl::Status checkpoint_status;
  if (flags.resume) options.resume_from = &resumed;
  if (flags.checkpoint_every > 0) {
    options.checkpoint_every = flags.checkpoint_every;
    options.on_checkpoint = [&](const nn::TrainState& state) {
      if (checkpoint_status.ok()) {
        checkpoint_status = nn::SaveCheckpoint(flags.checkpoint, model, state);
      }
    };
  }
  std::optional<DetectAnomalyGuard> detect;
  if (flags.detect_anomaly) detect.emplace();
  const nn::TrainResult result =
      nn::Train(plan.task, *model.network, x_train, train.y, x_test, test.y, options);
  if (!result.stopped_early.empty()) {
    std::cerr << "actgrad train: " << result.stopped_early << "\n";
    return 1;
  }
  if (!checkpoint_status.ok()) {
    std::cerr << "actgrad train: checkpoint: " << checkpoint_status.message() << "\n";
    return 1;
  }

  const nn::EpochReport last = result.history.empty() ? nn::EpochReport{} : result.history.back();
  const double samples_per_second =
      result.seconds > 0 ? double(train.rows) * flags.epochs / result.seconds : 0.0;
  if (!flags.save.empty()) {
    if (absl::Status s = nn::SaveMlpModel(flags.save, model); !s.ok()) {
      std::cerr << "actgrad train: " << s.message() << "\n";
      return 1;
    }
  }
  if (flags.json) {
    std::cout << "{\"task\": " << JsonString(nn::TaskName(plan.task))
              << ", \"data\": " << JsonString(flags.data) << ", \"epochs\": " << flags.epochs
              << ", \"train_rows\": " << train.rows << ", \"test_rows\": " << test.rows
              << ", \"train_loss\": " << JsonNumber(last.train_loss)
              << ", \"test_loss\": " << JsonNumber(last.test_loss) << ", \""
              << (classification ? "test_accuracy" : "test_rmse")
              << "\": " << JsonNumber(last.test_metric)
              << ", \"seconds\": " << JsonNumber(result.seconds)
              << ", \"samples_per_second\": " << JsonNumber(samples_per_second)
              << ", \"activation\": " << JsonString(flags.activation)
              << ", \"saved\": " << (flags.save.empty() ? "null" : JsonString(flags.save)) << "}\n";
    return 0;
  }
  std::cout << absl::StrFormat(
      "result     test %s %.4f on %d rows, test loss %.4f, train loss %.4f; %d epochs in %.3f s "
      "(%.0f samples/s)\n",
      classification ? "accuracy" : "RMSE", last.test_metric, test.rows, last.test_loss,
      last.train_loss, flags.epochs, result.seconds, samples_per_second);
  if (!flags.save.empty()) std::cout << "saved      " << flags.save << "\n";
  return 0;
}

struct PredictFlags {
  std::vector<std::string> plugins;
  std::string model;
  std::string data;
  bool json = false;
};

int RunPredict(const PredictFlags& flags) {
  if (!LoadPlugins(flags.plugins, "actgrad predict")) return 1;
  absl::StatusOr<nn::MlpModel> model = nn::LoadMlpModel(flags.model);
  if (!model.ok()) {
    std::cerr << "actgrad predict: " << model.status().message() << "\n";
    return 1;
  }
  absl::StatusOr<io::Dataset> data =
      io::ReadCsv(flags.data, {.target_column = model->target_name, .target_optional = true});
  if (!data.ok()) {
    std::cerr << "actgrad predict: " << data.status().message() << "\n";
    return 1;
  }
  if (data->feature_names != model->feature_names) {
    std::cerr << "actgrad predict: " << flags.data << " has the feature columns "
              << absl::StrJoin(data->feature_names, ",") << " but the model was trained on "
              << absl::StrJoin(model->feature_names, ",") << "\n";
    return 1;
  }
  const Tensor outputs = model->Predict(data->Features());
  const std::vector<double> out = outputs.ToVector();
  const int64_t width = model->options.outputs;
  std::vector<double> predictions;
  for (int64_t r = 0; r < data->rows; ++r) {
    const auto row = out.begin() + r * width;
    switch (model->task) {
      case nn::Task::kBinary:
        predictions.push_back(row[0] >= 0.5 ? 1 : 0);
        break;
      case nn::Task::kMulticlass:
        predictions.push_back(double(std::max_element(row, row + width) - row));
        break;
      case nn::Task::kRegression:
        predictions.push_back(row[0]);
        break;
    }
  }
  const bool classification = model->task != nn::Task::kRegression;
  const bool labelled = !data->y.empty();
  const double metric = !labelled        ? std::nan("")
                        : classification ? nn::Accuracy(model->task, outputs, data->y)
                                         : nn::Rmse(outputs, data->y);
  if (flags.json) {
    std::cout << "{\"task\": " << JsonString(nn::TaskName(model->task))
              << ", \"rows\": " << data->rows << ", \"" << (classification ? "accuracy" : "rmse")
              << "\": " << JsonNumber(metric) << ", \"predictions\": [";
    for (size_t i = 0; i < predictions.size(); ++i) {
      std::cout << (i ? ", " : "") << JsonNumber(predictions[i]);
    }
    std::cout << "]}\n";
    return 0;
  }
  for (int64_t r = 0; r < data->rows; ++r) {
    std::cout << absl::StrFormat("%g", predictions[r]);
    if (model->task == nn::Task::kBinary) std::cout << absl::StrFormat("  p=%.4f", out[r]);
    std::cout << "\n";
  }
  if (labelled) {
    std::cerr << absl::StrFormat("%d rows; %s against column \"%s\": %.4f\n", data->rows,
                                 classification ? "accuracy" : "RMSE", model->target_name, metric);
  }
  return 0;
}

}  // namespace

void AddTrainCommand(CLI::App& app, int* exit_code) {
  auto f = std::make_shared<ModelFlags>();
  CLI::App* sub = app.add_subcommand(
      "train", "Train an MLP on a CSV data set (by default the bundled breast-cancer data)");
  AddModelOptions(sub, f.get());
  sub->add_option("--checkpoint", f->checkpoint,
                  "Checkpoint file for --checkpoint-every and --resume")
      ->capture_default_str();
  sub->add_option("--checkpoint-every", f->checkpoint_every,
                  "Save a checkpoint after every N epochs (0: never)")
      ->check(CLI::NonNegativeNumber);
  sub->add_flag("--resume", f->resume,
                "Continue from --checkpoint (same options; one thread gives bitwise the weights "
                "of an uninterrupted run)");
  sub->add_option("--save", f->save, "Write the trained model (safetensors) here");
  sub->add_flag("--json", f->json, "Print one JSON object with the results on stdout");
  sub->add_flag("--no-progress", f->no_progress, "No per-epoch output on stderr");
  sub->callback([f, exit_code] { *exit_code = RunTrain(*f); });
}

void AddPredictCommand(CLI::App& app, int* exit_code) {
  auto f = std::make_shared<PredictFlags>();
  CLI::App* sub = app.add_subcommand("predict", "Apply a model saved by train to a CSV file");
  sub->add_option("--model", f->model, "A model file written by train --save")->required();
  sub->add_option("--data", f->data,
                  "CSV file with the model's feature columns (and its target column, if known)")
      ->required();
  sub->add_flag("--json", f->json, "Print one JSON object on stdout");
  AddPluginOption(sub, &f->plugins);
  sub->callback([f, exit_code] { *exit_code = RunPredict(*f); });
}

}  // namespace actgrad::tools
