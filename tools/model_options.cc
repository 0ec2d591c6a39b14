#include "tools/model_options.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "ops/registry.h"
#include "tools/plugins.h"

namespace actgrad::tools {

namespace {

absl::StatusOr<std::vector<int64_t>> ParseSizes(absl::string_view text) {
  std::vector<int64_t> sizes;
  if (text.empty() || text == "none") return sizes;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int64_t size = 0;
    if (!absl::SimpleAtoi(part, &size) || size <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--hidden ", text, ": \"", part,
                       "\" is not a positive layer width (e.g. --hidden 64,32)"));
    }
    sizes.push_back(size);
  }
  return sizes;
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

}  // namespace

void AddModelOptions(CLI::App* sub, ModelFlags* flags) {
  sub->add_option("--data", flags->data, "CSV file: a header row, numbers only")
      ->capture_default_str();
  AddPluginOption(sub, &flags->plugins);
  sub->add_flag("--detect-anomaly", flags->detect_anomaly,
                "Stop at the first op or gradient that is NaN or infinite, naming it");
  sub->add_option("--target", flags->target, "Target column (default: the last one)");
  sub->add_option("--task", flags->task, "auto, binary, multiclass or regression")
      ->capture_default_str();
  sub->add_option("--hidden", flags->hidden, "Hidden layer widths, e.g. 64,32 (\"none\" for none)")
      ->capture_default_str();
  sub->add_option("--activation", flags->activation,
                  "Hidden activation: any registered one, with attributes as NAME:key=value")
      ->capture_default_str();
  sub->add_option("--output-activation", flags->output_activation, "auto or an activation name")
      ->capture_default_str();
  sub->add_option("--init", flags->init,
                  "auto, or zeros, constant:V, uniform:LOW:HIGH, normal:MEAN:STD, xavier_uniform, "
                  "xavier_normal, he_uniform, he_normal, lecun_normal")
      ->capture_default_str();
  sub->add_option("--scale", flags->scale, "auto, none, unit, symmetric or standard")
      ->capture_default_str();
  sub->add_option("--epochs", flags->epochs)->check(CLI::Range(1, 1000000))->capture_default_str();
  sub->add_option("--batch", flags->batch)
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30))
      ->capture_default_str();
  sub->add_option("--lr", flags->lr, "Learning rate")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--momentum", flags->momentum)
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  sub->add_option("--dampening", flags->dampening)
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  sub->add_flag("--nesterov", flags->nesterov, "Nesterov momentum");
  sub->add_option("--weight-decay", flags->weight_decay)
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--schedule", flags->schedule, "constant, step:STEP:GAMMA or cosine[:MIN]")
      ->capture_default_str();
  sub->add_option("--clip-norm", flags->clip_norm, "Clip gradients to this global norm (0: off)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--test-fraction", flags->test_fraction)->capture_default_str();
  sub->add_option("--split-seed", flags->split_seed, "Seed of the train/test split")
      ->capture_default_str();
  sub->add_option("--seed", flags->seed, "Seed of the initial weights and the batch order")
      ->capture_default_str();
  sub->add_option("--threads", flags->threads, "Threads for matrix products")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
}

absl::StatusOr<ModelPlan> MakePlan(const ModelFlags& flags) {
  ModelPlan plan;
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
    if (plan.task != nn::Task::kRegression &&
        nn::DetectTask(plan.data.y) == nn::Task::kRegression) {
      return absl::InvalidArgumentError(
          absl::StrCat("--task ", flags.task, ": the target column \"", plan.data.target_name,
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

  absl::StatusOr<nn::ActivationSpec> hidden = nn::ParseActivationSpec(flags.activation);
  if (!hidden.ok()) return hidden.status();
  nn::MlpOptions& mlp = plan.mlp;
  mlp.hidden_activation = hidden->op;
  mlp.hidden_attrs = hidden->attrs;
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
    absl::StatusOr<nn::ActivationSpec> out = nn::ParseActivationSpec(flags.output_activation);
    if (!out.ok()) return out.status();
    mlp.output_activation = out->op;
    plan.output_reason = "--output-activation";
  }
  if (absl::Status s = nn::CheckOutputActivation(plan.task, *mlp.output_activation); !s.ok()) {
    return s;
  }

  if (flags.init == "auto") {
    plan.init_reason = absl::StrCat(
        "auto: ",
        mlp.hidden_activation->recommended_init == InitFamily::kHe ? "He" : "Xavier/Glorot",
        " in front of ", mlp.hidden_activation->name,
        absl::StrFormat(" with gain %.4g", nn::GainOf(*mlp.hidden_activation, mlp.hidden_attrs)),
        ", claims C18-C20");
  } else {
    absl::StatusOr<nn::Initializer> init =
        nn::Initializer::Parse(flags.init, nn::GainOf(*mlp.hidden_activation, mlp.hidden_attrs));
    if (!init.ok()) return init.status();
    mlp.hidden_init = *init;
    plan.init_reason = "--init";
  }

  if (flags.scale == "auto") {
    plan.scaling = nn::RecommendedScaling(*mlp.hidden_activation);
    plan.scaling_reason =
        absl::StrCat("auto for ", mlp.hidden_activation->name, " hidden layers, claims C18-C20");
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

void PrintPlan(std::ostream& out, const ModelFlags& flags, const ModelPlan& plan,
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
                         absl::StrJoin(widths, " -> "),
                         nn::Activation(*m.hidden_activation, m.hidden_attrs).ToString(),
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

}  // namespace actgrad::tools
