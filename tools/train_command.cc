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
#include "io/csv.h"
#include "nn/nn.h"
#include "ops/registry.h"
#include "ops/threads.h"
#include "tools/json_writer.h"
#include "tools/plugins.h"
#include "tools/progress.h"

namespace actgrad::tools {

namespace {

struct TrainFlags {
  std::vector<std::string> plugins;
  std::string data = ACTGRAD_DEFAULT_DATA;
  std::string target;
  std::string task = "auto";
  std::string hidden = "64,32";
  std::string activation = "relu";
  std::string output_activation = "auto";
  std::string init = "auto";
  std::string scale = "auto";
  int epochs = 200;
  int64_t batch = 32;
  double lr = 0.05;
  double momentum = 0.9;
  double dampening = 0.0;
  bool nesterov = false;
  double weight_decay = 0.0;
  std::string schedule = "constant";
  double clip_norm = 0.0;
  double test_fraction = 0.2;
  uint64_t split_seed = 0;
  uint64_t seed = 0;
  int threads = 1;
  std::string save;
  bool json = false;
  bool no_progress = false;
};

// Everything `train` decided before training, with the reason for each.
struct Plan {
  io::Dataset data;
  nn::Task task;
  std::string task_reason;
  io::Split split;
  nn::MlpOptions mlp;
  std::string output_reason;
  std::string init_reason;
  nn::Scaling scaling;
  std::string scaling_reason;
  std::optional<optim::Schedule> schedule;
};

absl::StatusOr<std::vector<int64_t>> ParseSizes(absl::string_view text) {
  std::vector<int64_t> sizes;
  if (text.empty() || text == "none") return sizes;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int64_t size = 0;
    if (!absl::SimpleAtoi(part, &size) || size <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--hidden ", text, ": \"", part, "\" is not a positive layer width (e.g. --hidden 64,32)"));
    }
    sizes.push_back(size);
  }
  return sizes;
}

absl::StatusOr<Plan> MakePlan(const TrainFlags& flags) {
  Plan plan;
  absl::StatusOr<io::Dataset> data = io::ReadCsv(flags.data, {.target_column = flags.target});
  if (!data.ok()) return data.status();
  plan.data = *std::move(data);

  if (flags.task == "auto") {
    plan.task = nn::DetectTask(plan.data.y);
    plan.task_reason = plan.task == nn::Task::kRegression
                           ? "auto: the targets are not class labels"
                           : absl::StrCat("auto: integer labels with ",
                                          nn::OutputWidth(plan.task, plan.data.y) == 1
                                              ? 2
                                              : nn::OutputWidth(plan.task, plan.data.y),
                                          " values");
  } else {
    absl::StatusOr<nn::Task> task = nn::ParseTask(flags.task);
    if (!task.ok()) return task.status();
    plan.task = *task;
    plan.task_reason = "--task";
    if (plan.task != nn::Task::kRegression && nn::DetectTask(plan.data.y) == nn::Task::kRegression) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--task ", flags.task, ": the target column \"", plan.data.target_name,
          "\" does not hold integer class labels"));
    }
  }
  if (!(flags.test_fraction >= 0 && flags.test_fraction < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--test-fraction ", flags.test_fraction, " is outside [0, 1)"));
  }
  plan.split = plan.task == nn::Task::kRegression
                   ? io::RandomSplit(plan.data.rows, flags.test_fraction, flags.split_seed)
                   : io::StratifiedSplit(plan.data.y, flags.test_fraction, flags.split_seed);
  if (plan.split.train.empty()) {
    return absl::InvalidArgumentError("the training split is empty; lower --test-fraction");
  }

  absl::StatusOr<nn::Activation> hidden = nn::Activation::Parse(flags.activation);
  if (!hidden.ok()) return hidden.status();
  nn::MlpOptions& mlp = plan.mlp;
  mlp.hidden_activation = &hidden->op();
  mlp.hidden_attrs = hidden->attrs();
  absl::StatusOr<std::vector<int64_t>> sizes = ParseSizes(flags.hidden);
  if (!sizes.ok()) return sizes.status();
  mlp.hidden = *sizes;
  mlp.inputs = plan.data.features;
  mlp.outputs = nn::OutputWidth(plan.task, plan.data.y);

  if (flags.output_activation == "auto") {
    mlp.output_activation = &nn::DefaultOutputActivation(plan.task);
    plan.output_reason = absl::StrCat("auto for a ", nn::TaskName(plan.task), " task",
                                      plan.task == nn::Task::kBinary       ? ", claim C8"
                                      : plan.task == nn::Task::kRegression ? ", claim C11"
                                                                           : "");
  } else {
    absl::StatusOr<nn::Activation> out = nn::Activation::Parse(flags.output_activation);
    if (!out.ok()) return out.status();
    mlp.output_activation = &out->op();
    plan.output_reason = "--output-activation";
  }
  if (absl::Status s = nn::CheckOutputActivation(plan.task, *mlp.output_activation); !s.ok()) {
    return s;
  }

  if (flags.init == "auto") {
    plan.init_reason = absl::StrCat(
        "auto: ",
        mlp.hidden_activation->recommended_init == InitFamily::kHe ? "He" : "Xavier/Glorot",
        " in front of ", mlp.hidden_activation->name, ", claims C18-C20");
  } else {
    absl::StatusOr<nn::Initializer> init =
        nn::Initializer::Parse(flags.init, nn::GainOf(*mlp.hidden_activation, mlp.hidden_attrs));
    if (!init.ok()) return init.status();
    mlp.hidden_init = *init;
    plan.init_reason = "--init";
  }

  if (flags.scale == "auto") {
    plan.scaling = nn::RecommendedScaling(*mlp.hidden_activation);
    plan.scaling_reason = absl::StrCat("auto for ", mlp.hidden_activation->name,
                                       " hidden layers, claims C18-C20");
  } else {
    absl::StatusOr<nn::Scaling> scaling = nn::ParseScaling(flags.scale);
    if (!scaling.ok()) return scaling.status();
    plan.scaling = *scaling;
    plan.scaling_reason = "--scale";
  }
  absl::StatusOr<optim::Schedule> schedule =
      optim::Schedule::Parse(flags.schedule, flags.lr, flags.epochs);
  if (!schedule.ok()) return schedule.status();
  plan.schedule = *schedule;
  return plan;
}

std::string ScalingText(nn::Scaling s) {
  switch (s) {
    case nn::Scaling::kUnit:
      return "min-max to [0, 1]";
    case nn::Scaling::kSymmetric:
      return "min-max to [-1, 1]";
    case nn::Scaling::kStandard:
      return "standardized (zero mean, unit variance)";
    case nn::Scaling::kNone:
      return "none";
  }
  return "";
}

void PrintPlan(std::ostream& out, const TrainFlags& flags, const Plan& plan,
               const std::string& model_text) {
  const nn::MlpOptions& m = plan.mlp;
  std::vector<int64_t> widths = {m.inputs};
  widths.insert(widths.end(), m.hidden.begin(), m.hidden.end());
  widths.push_back(m.outputs);
  out << absl::StrFormat("data       %s: %d rows, %d features, target \"%s\"\n", flags.data,
                         plan.data.rows, plan.data.features, plan.data.target_name);
  out << absl::StrFormat("task       %s (%s)\n", nn::TaskName(plan.task), plan.task_reason);
  out << absl::StrFormat("split      %s, test fraction %g, seed %d: %d train / %d test rows\n",
                         plan.task == nn::Task::kRegression ? "random" : "stratified",
                         flags.test_fraction, flags.split_seed, plan.split.train.size(),
                         plan.split.test.size());
  out << absl::StrFormat("network    %s, hidden %s, output %s (%s)\n",
                         absl::StrJoin(widths, " -> "), nn::Activation(*m.hidden_activation, m.hidden_attrs).ToString(),
                         m.output_activation->name, plan.output_reason);
  out << absl::StrFormat("init       %s\n", plan.init_reason);
  out << absl::StrFormat("scaling    %s (%s), fitted on the training rows only\n",
                         ScalingText(plan.scaling), plan.scaling_reason);
  out << absl::StrFormat(
      "optimizer  SGD lr %g, momentum %g%s, weight decay %g, schedule %s, batch %d, %d epochs\n",
      flags.lr, flags.momentum, flags.nesterov ? " (Nesterov)" : "", flags.weight_decay,
      plan.schedule->ToString(), flags.batch, flags.epochs);
  out << model_text << "\n";
}

int RunTrain(const TrainFlags& flags) {
  if (!LoadPlugins(flags.plugins, "actgrad train")) return 1;
  SetNumThreads(flags.threads);
  absl::StatusOr<Plan> planned = MakePlan(flags);
  if (!planned.ok()) {
    std::cerr << "actgrad train: " << planned.status().message() << "\n";
    return 1;
  }
  Plan& plan = *planned;
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
      bar.EndEpoch(r.epoch, absl::StrFormat("loss %.4f  test_loss %.4f  test_%s %.4f  lr %.3g",
                                            r.train_loss, r.test_loss,
                                            classification ? "acc" : "rmse", r.test_metric,
                                            r.learning_rate));
    };
  }
  const nn::TrainResult result =
      nn::Train(plan.task, *model.network, x_train, train.y, x_test, test.y, options);

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
              << ", \"saved\": " << (flags.save.empty() ? "null" : JsonString(flags.save))
              << "}\n";
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
  absl::StatusOr<io::Dataset> data = io::ReadCsv(
      flags.data, {.target_column = model->target_name, .target_optional = true});
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
    std::cout << "{\"task\": " << JsonString(nn::TaskName(model->task)) << ", \"rows\": "
              << data->rows << ", \"" << (classification ? "accuracy" : "rmse")
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
  auto f = std::make_shared<TrainFlags>();
  CLI::App* sub = app.add_subcommand(
      "train", "Train an MLP on a CSV data set (by default the bundled breast-cancer data)");
  sub->add_option("--data", f->data, "CSV file: a header row, numbers only")->capture_default_str();
  AddPluginOption(sub, &f->plugins);
  sub->add_option("--target", f->target, "Target column (default: the last one)");
  sub->add_option("--task", f->task, "auto, binary, multiclass or regression")
      ->capture_default_str();
  sub->add_option("--hidden", f->hidden, "Hidden layer widths, e.g. 64,32 (\"none\" for none)")
      ->capture_default_str();
  sub->add_option("--activation", f->activation,
                  "Hidden activation: any registered one, with attributes as NAME:key=value")
      ->capture_default_str();
  sub->add_option("--output-activation", f->output_activation, "auto or an activation name")
      ->capture_default_str();
  sub->add_option("--init", f->init,
                  "auto, or zeros, constant:V, uniform:LOW:HIGH, normal:MEAN:STD, xavier_uniform, "
                  "xavier_normal, he_uniform, he_normal, lecun_normal")
      ->capture_default_str();
  sub->add_option("--scale", f->scale, "auto, none, unit, symmetric or standard")
      ->capture_default_str();
  sub->add_option("--epochs", f->epochs)->check(CLI::Range(1, 1000000))->capture_default_str();
  sub->add_option("--batch", f->batch)->check(CLI::Range(int64_t{1}, int64_t{1} << 30))
      ->capture_default_str();
  sub->add_option("--lr", f->lr, "Learning rate")->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--momentum", f->momentum)->check(CLI::Range(0.0, 1.0))->capture_default_str();
  sub->add_option("--dampening", f->dampening)->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  sub->add_flag("--nesterov", f->nesterov, "Nesterov momentum");
  sub->add_option("--weight-decay", f->weight_decay)->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--schedule", f->schedule, "constant, step:STEP:GAMMA or cosine[:MIN]")
      ->capture_default_str();
  sub->add_option("--clip-norm", f->clip_norm, "Clip gradients to this global norm (0: off)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--test-fraction", f->test_fraction)->capture_default_str();
  sub->add_option("--split-seed", f->split_seed, "Seed of the train/test split")
      ->capture_default_str();
  sub->add_option("--seed", f->seed, "Seed of the initial weights and the batch order")
      ->capture_default_str();
  sub->add_option("--threads", f->threads, "Threads for matrix products")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
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
