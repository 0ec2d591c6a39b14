#include "tools/model_options.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "experiments/data.h"
#include "graph/factories.h"
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

// "4G", "512M", "64K" or a number of bytes.
absl::StatusOr<double> ParseBytes(absl::string_view text) {
  double scale = 1;
  absl::string_view digits = text;
  if (!digits.empty()) {
    switch (digits.back()) {
      case 'K':
      case 'k':
        scale = 0x1p10;
        break;
      case 'M':
      case 'm':
        scale = 0x1p20;
        break;
      case 'G':
      case 'g':
        scale = 0x1p30;
        break;
      case 'T':
      case 't':
        scale = 0x1p40;
        break;
      default:
        break;
    }
    if (scale != 1) digits.remove_suffix(1);
  }
  double value = 0;
  if (!absl::SimpleAtod(digits, &value) || !(value > 0) || !std::isfinite(value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max-memory ", text, ": expected a size such as 4G, 512M or 1000000"));
  }
  return value * scale;
}

std::string FormatBytes(double bytes) {
  const char* units[] = {"bytes", "KB", "MB", "GB", "TB", "PB", "EB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 6) {
    bytes /= 1024;
    ++unit;
  }
  return absl::StrFormat(unit == 0 ? "%.0f %s" : "%.1f %s", bytes, units[unit]);
}

// What training the planned network needs, in bytes, counted before any of
// it is allocated: each parameter with its gradient, up to three optimizer
// buffers and early stopping's copy; a batch's activations kept for the
// backward pass. Computed in double, so no width overflows it.
struct TrainingMemory {
  double weights = 0;  // the parameters alone
  double total = 0;
};
TrainingMemory TrainingBytes(const nn::MlpOptions& mlp, int64_t batch) {
  std::vector<double> widths = {double(mlp.inputs)};
  for (int64_t h : mlp.hidden) widths.push_back(double(h));
  widths.push_back(double(mlp.outputs));
  double parameters = 0, units = 0;
  for (size_t i = 0; i + 1 < widths.size(); ++i) {
    parameters += widths[i] * widths[i + 1] + widths[i + 1];
  }
  for (double w : widths) units += w;
  const double element = double(DTypeSize(mlp.dtype));
  return {.weights = parameters * element,
          .total = parameters * element * 6 + double(batch) * units * element * 4};
}

// "1,8,8" -> {1, 8, 8}; empty for an empty text.
absl::StatusOr<std::vector<int64_t>> ParseInputShape(absl::string_view text) {
  std::vector<int64_t> shape;
  if (text.empty()) return shape;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int64_t extent = 0;
    if (!absl::SimpleAtoi(part, &extent) || extent <= 0 || extent > (int64_t{1} << 24)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--input-shape ", text, ": \"", part,
                       "\" is not an extent in [1, 16777216] (e.g. 1,8,8)"));
    }
    shape.push_back(extent);
  }
  if (shape.size() > 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("--input-shape ", text, ": needs 1 to 3 extents (F, C,L or C,H,W)"));
  }
  return shape;
}

nn::LayerSpecOptions LayerSpecOptionsOf(const ModelFlags& flags, const ModelPlan& plan) {
  return {.input_shape = plan.input_shape,
          .outputs = plan.mlp.outputs,
          .output_activation = plan.mlp.output_activation,
          .init = flags.init == "auto" ? "" : flags.init,
          .dtype = plan.mlp.dtype,
          .memory_limit = plan.memory_limit,
          .batch = flags.batch};
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

void ResolveBundledData(ModelFlags& flags) {
  if (flags.data.empty()) {
    flags.data = absl::StrCat(experiments::BundledDataDir(), "/breast_cancer.csv");
  }
}

void AddModelOptions(CLI::App* sub, ModelFlags* flags) {
  sub->add_option("--data", flags->data,
                  "CSV file with a header row (default: the bundled breast-cancer data)");
  AddPluginOption(sub, &flags->plugins);
  sub->add_flag("--detect-anomaly", flags->detect_anomaly,
                "Stop at the first op or gradient that is NaN or infinite, naming it");
  sub->add_option("--target", flags->target, "Target column (default: the last one)");
  sub->add_option("--task", flags->task, "auto, binary, multiclass or regression")
      ->capture_default_str();
  sub->add_option("--hidden", flags->hidden, "Hidden layer widths, e.g. 64,32 (\"none\" for none)")
      ->capture_default_str();
  sub->add_option("--layers", flags->layers,
                  "Layers instead of --hidden, e.g. conv2d:16:3:pad=1,batchnorm,relu,maxpool:2,"
                  "flatten,dropout:0.25,linear:64,relu, or for [T, F] sequences lstm:64,last; "
                  "also gru:H, last, mean, embedding:V:D, posembed, transformer:HEADS:FF[:gelu]"
                  "[:prenorm], attention:HEADS (the output layer comes from the task)");
  sub->add_option("--input-shape", flags->input_shape,
                  "The shape of one row for --layers: C,H,W for images, C,L for 1-D "
                  "convolutions, T,F for recurrent and attention layers (T steps of F "
                  "features) (default: the row as it is)");
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
  sub->add_option("--optimizer", flags->optimizer,
                  "sgd, adam, adamw, rmsprop or adagrad (torch.optim's update rules)")
      ->capture_default_str();
  auto& given = flags->optimizer_flags;
  auto note = [&given](const char* flag, CLI::Option* option) { given.emplace_back(flag, option); };
  note("--lr", sub->add_option("--lr", flags->lr,
                               "Learning rate [default: 0.05 for sgd; adam, adamw 0.001; rmsprop, "
                               "adagrad 0.01]")
                   ->check(CLI::NonNegativeNumber));
  note("--momentum", sub->add_option("--momentum", flags->momentum,
                                     "Momentum of sgd [default: 0.9] and rmsprop [default: 0]")
                         ->check(CLI::Range(0.0, 1.0)));
  note("--dampening", sub->add_option("--dampening", flags->dampening, "sgd's dampening")
                          ->check(CLI::Range(0.0, 1.0))
                          ->capture_default_str());
  note("--nesterov", sub->add_flag("--nesterov", flags->nesterov, "Nesterov momentum (sgd)"));
  note("--weight-decay", sub->add_option("--weight-decay", flags->weight_decay,
                                         "Weight decay [default: 0; adamw 0.01, decoupled]")
                             ->check(CLI::NonNegativeNumber));
  note("--beta1",
       sub->add_option("--beta1", flags->beta1, "adam, adamw: in [0, 1)")->capture_default_str());
  note("--beta2",
       sub->add_option("--beta2", flags->beta2, "adam, adamw: in [0, 1)")->capture_default_str());
  note("--eps", sub->add_option("--eps", flags->eps,
                                "adam, adamw, rmsprop [default: 1e-8], adagrad [default: 1e-10]"));
  note("--amsgrad", sub->add_flag("--amsgrad", flags->amsgrad, "adam, adamw: AMSGrad"));
  note("--alpha", sub->add_option("--alpha", flags->alpha, "rmsprop's smoothing, in [0, 1]")
                      ->capture_default_str());
  note("--centered", sub->add_flag("--centered", flags->centered, "rmsprop: centered"));
  note("--lr-decay", sub->add_option("--lr-decay", flags->lr_decay, "adagrad's learning-rate decay")
                         ->capture_default_str());
  sub->add_option("--no-decay-on", flags->no_decay_on,
                  "No weight decay on parameters with these name parts, e.g. bias")
      ->delimiter(',');
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
  sub->add_option("--max-memory", flags->max_memory,
                  "The most memory training may take (e.g. 4G); a network that needs more is "
                  "refused before anything is allocated (default: the machine's memory)");
  sub->add_option("--threads", flags->threads, "Threads for matrix products")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
}

namespace {

// The optimizer the flags name, with what was given on the command line
// (SGD also takes the article's defaults), checked by building one over a
// probe parameter so that a bad value is refused before any work starts.
absl::StatusOr<optim::OptimizerSpec> ResolveOptimizer(const ModelFlags& f) {
  auto given = [&f](absl::string_view flag) {
    for (const auto& [name, option] : f.optimizer_flags) {
      if (name == flag) return option != nullptr && option->count() > 0;
    }
    return false;
  };
  // Numbers the flags hold, refused by the flag's name before an optimizer
  // sees them (NaN passes every comparison an optimizer makes).
  const std::pair<const char*, double> numbers[] = {{"--lr", f.lr},
                                                    {"--weight-decay", f.weight_decay},
                                                    {"--momentum", f.momentum},
                                                    {"--dampening", f.dampening},
                                                    {"--beta1", f.beta1},
                                                    {"--beta2", f.beta2},
                                                    {"--eps", f.eps},
                                                    {"--alpha", f.alpha},
                                                    {"--lr-decay", f.lr_decay}};
  for (const auto& [flag, value] : numbers) {
    if (!std::isfinite(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, " ", value, ": must be a finite number"));
    }
  }
  if (f.lr < 0) {
    return absl::InvalidArgumentError(absl::StrCat("--lr ", f.lr, ": must be >= 0"));
  }
  const bool sgd = f.optimizer == "sgd";
  optim::OptimizerSpec spec{.name = f.optimizer};
  if (sgd || given("--lr")) spec.learning_rate = f.lr;
  if (sgd || given("--weight-decay")) spec.weight_decay = f.weight_decay;
  if (sgd || given("--momentum")) spec.momentum = f.momentum;
  if (sgd || given("--dampening")) spec.dampening = f.dampening;
  if (given("--beta1")) spec.beta1 = f.beta1;
  if (given("--beta2")) spec.beta2 = f.beta2;
  if (given("--eps")) spec.eps = f.eps;
  if (given("--alpha")) spec.alpha = f.alpha;
  if (given("--lr-decay")) spec.lr_decay = f.lr_decay;
  spec.nesterov = f.nesterov;
  spec.amsgrad = f.amsgrad;
  spec.centered = f.centered;
  Tensor probe = Zeros({1}).set_requires_grad(true);
  absl::StatusOr<std::unique_ptr<optim::Optimizer>> made =
      optim::MakeOptimizer(spec, {{.parameters = {probe}}});
  if (!made.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--optimizer ", f.optimizer, ": ", made.status().message()));
  }
  spec.learning_rate = (*made)->learning_rate();
  spec.weight_decay = (*made)->weight_decay();
  return spec;
}

}  // namespace

absl::StatusOr<std::unique_ptr<optim::Optimizer>> MakePlannedOptimizer(const ModelFlags& flags,
                                                                       const ModelPlan& plan,
                                                                       nn::Module& model) {
  return optim::MakeOptimizer(plan.optimizer, nn::SplitDecay(model, flags.no_decay_on));
}

namespace {

// The task, and for classification the classes: text labels or the distinct
// whole numbers of the target column, in sorted order, with the targets
// replaced by their class index (labels {1, 2} are classes 0 and 1, not three
// outputs of which one never fires).
absl::Status PlanClasses(const std::string& task_flag, ModelPlan& plan) {
  io::Dataset& data = plan.data;
  const std::string column = absl::StrCat("the target column \"", data.target_name, "\"");
  const bool text = !data.target_labels.empty();
  const double* fraction = nullptr;
  for (const double& y : data.y) {
    if (!text && (y != std::floor(y) || std::abs(y) > 0x1p53)) {
      fraction = &y;
      break;
    }
  }
  const bool labels = text || fraction == nullptr;
  if (task_flag == "auto") {
    plan.task = labels ? nn::Task::kMulticlass : nn::Task::kRegression;
    plan.task_reason = "auto: the targets are not whole numbers";
  } else {
    absl::StatusOr<nn::Task> task = nn::ParseTask(task_flag);
    if (!task.ok()) return task.status();
    plan.task = *task;
    plan.task_reason = "--task";
    if (plan.task == nn::Task::kRegression && text) {
      return absl::InvalidArgumentError(
          absl::StrCat("--task regression: ", column, " holds text labels (such as \"",
                       data.target_labels.front(), "\"), not numbers"));
    }
    if (plan.task != nn::Task::kRegression && !labels) {
      return absl::InvalidArgumentError(absl::StrCat("--task ", task_flag, ": ", column,
                                                     " does not hold class labels (it holds ",
                                                     *fraction, ")"));
    }
  }
  if (plan.task == nn::Task::kRegression) return absl::OkStatus();

  std::vector<std::string>& names = plan.labels;
  if (text) {
    names = data.target_labels;
  } else {
    std::vector<double> values = data.y;
    std::sort(values.begin(), values.end());
    values.erase(std::unique(values.begin(), values.end()), values.end());
    for (double v : values) names.push_back(absl::StrCat(v));
    for (double& y : data.y) {
      y = double(std::lower_bound(values.begin(), values.end(), y) - values.begin());
    }
  }
  const size_t k = names.size();
  const std::string listed =
      absl::StrCat(absl::StrJoin(names.begin(), names.begin() + std::min<size_t>(k, 8), ", "),
                   k > 8 ? ", ..." : "");
  if (k < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat(column, " has a single value (", listed,
                     "); there is nothing to learn (a regression target needs --task regression)"));
  }
  if (plan.task == nn::Task::kBinary && k != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("--task binary needs two classes; ", column, " has ", k, ": ", listed));
  }
  if (task_flag == "auto") {
    plan.task = k == 2 ? nn::Task::kBinary : nn::Task::kMulticlass;
    plan.task_reason = absl::StrCat("auto: ", text ? "text" : "whole-number", " labels with ", k,
                                    " values (", listed, ")");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ModelPlan> MakePlan(const ModelFlags& flags) {
  ModelPlan plan;
  absl::StatusOr<io::Dataset> data = io::ReadCsv(flags.data, {.target_column = flags.target});
  if (!data.ok()) return data.status();
  plan.data = *std::move(data);

  if (absl::Status s = PlanClasses(flags.task, plan); !s.ok()) return s;
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
  if (!(flags.validation_fraction >= 0 && flags.validation_fraction < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--validation-fraction ", flags.validation_fraction, " is outside [0, 1)"));
  }
  if (flags.early_stopping < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--early-stopping ", flags.early_stopping, " is negative"));
  }
  double validation_fraction = flags.validation_fraction;
  if (validation_fraction > 0) {
    plan.validation_reason = absl::StrFormat("validation fraction %g", validation_fraction);
  } else if (flags.early_stopping > 0) {
    validation_fraction = 0.1;
    plan.validation_reason = "validation fraction 0.1 (early stopping needs held-out rows)";
  }
  if (validation_fraction > 0) {
    // Held out of the training rows the same way the test rows were, with a
    // seed of its own, so that the test rows stay what they were.
    std::vector<double> train_y;
    for (int64_t r : plan.split.train) train_y.push_back(plan.data.y[r]);
    const uint64_t seed = flags.split_seed + 1;
    const io::Split inner =
        plan.task == nn::Task::kRegression
            ? io::RandomSplit(static_cast<int64_t>(train_y.size()), validation_fraction, seed)
            : io::StratifiedSplit(train_y, validation_fraction, seed);
    if (inner.train.empty() || inner.test.empty()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "--validation-fraction %g of %d training rows leaves none for %s", validation_fraction,
          train_y.size(), inner.test.empty() ? "validation" : "training"));
    }
    std::vector<int64_t> train_rows;
    for (int64_t i : inner.train) train_rows.push_back(plan.split.train[i]);
    for (int64_t i : inner.test) plan.validation.push_back(plan.split.train[i]);
    plan.split.train = std::move(train_rows);
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
  // Sizes a flag asks for are checked before anything is allocated.
  double limit = double(::sysconf(_SC_PHYS_PAGES)) * double(::sysconf(_SC_PAGE_SIZE));
  std::string limit_source = "this machine has";
  if (!flags.max_memory.empty()) {
    absl::StatusOr<double> parsed = ParseBytes(flags.max_memory);
    if (!parsed.ok()) return parsed.status();
    limit = *parsed;
    limit_source = absl::StrCat("--max-memory is");
  }
  plan.memory_limit = limit;
  if (!flags.input_shape.empty() && flags.layers.empty()) {
    return absl::InvalidArgumentError("--input-shape: only --layers networks take it");
  }
  if (!flags.layers.empty()) {
    absl::StatusOr<std::vector<int64_t>> shape = ParseInputShape(flags.input_shape);
    if (!shape.ok()) return shape.status();
    plan.input_shape = shape->empty() ? std::vector<int64_t>{plan.data.features} : *shape;
    int64_t product = 1;
    for (int64_t d : plan.input_shape) product *= d;
    if (product != plan.data.features) {
      return absl::InvalidArgumentError(
          absl::StrFormat("--input-shape %s: holds %d values, and the data's rows have %d features",
                          flags.input_shape, product, plan.data.features));
    }
  } else if (const TrainingMemory need = TrainingBytes(mlp, flags.batch); need.total > limit) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "--hidden %s: training this network needs about %s (%s of weights, with their "
        "gradients and optimizer state, and a batch's activations) and %s %s; use narrower "
        "layers%s",
        flags.hidden, FormatBytes(need.total), FormatBytes(need.weights), limit_source,
        FormatBytes(limit),
        flags.max_memory.empty() ? ", or --max-memory to set another limit" : ""));
  }

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

  bool takes_indices = false;  // the rows are token indices for an embedding
  if (!flags.layers.empty()) {
    // Built once here to check the spec (sizes against the memory limit
    // included) and to learn its first activation, which the input scaling
    // follows.
    Generator unused(0);
    absl::StatusOr<nn::BuiltNetwork> built =
        nn::BuildFromLayerSpec(flags.layers, LayerSpecOptionsOf(flags, plan), unused);
    if (!built.ok()) return built.status();
    mlp.hidden_activation =
        built->first_activation != nullptr ? built->first_activation : &ops::kIdentity;
    mlp.hidden_attrs = built->first_activation_attrs;
    mlp.hidden.clear();
    takes_indices = built->takes_indices;
  }
  if (!flags.layers.empty()) {
    plan.init_reason = flags.init == "auto"
                           ? "auto: each weight layer He or Xavier/Glorot for the activation "
                             "after it (shown per layer below), claims C18-C20"
                           : "--init, with the gain of the activation after each layer";
  } else if (flags.init == "auto") {
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

  if (flags.scale == "auto" && takes_indices) {
    plan.scaling = nn::Scaling::kNone;
    plan.scaling_reason = "auto: the rows are token indices for the embedding";
  } else if (flags.scale == "auto") {
    plan.scaling = nn::RecommendedScaling(*mlp.hidden_activation);
    plan.scaling_reason =
        absl::StrCat("auto for ", mlp.hidden_activation->name, " hidden layers, claims C18-C20");
  } else {
    absl::StatusOr<nn::Scaling> scaling = nn::ParseScaling(flags.scale);
    if (!scaling.ok()) return scaling.status();
    if (takes_indices && *scaling != nn::Scaling::kNone) {
      return absl::InvalidArgumentError(
          absl::StrCat("--scale ", flags.scale,
                       ": the rows are token indices for the "
                       "embedding that --layers starts with, which must reach it unscaled "
                       "(use --scale none or auto)"));
    }
    plan.scaling = *scaling;
    plan.scaling_reason = "--scale";
  }
  absl::StatusOr<optim::OptimizerSpec> optimizer = ResolveOptimizer(flags);
  if (!optimizer.ok()) return optimizer.status();
  plan.optimizer = *std::move(optimizer);
  absl::StatusOr<optim::Schedule> schedule =
      optim::Schedule::Parse(flags.schedule, *plan.optimizer.learning_rate, flags.epochs);
  if (!schedule.ok()) return schedule.status();
  plan.schedule = *schedule;
  return plan;
}

absl::StatusOr<std::unique_ptr<nn::Sequential>> BuildPlannedNetwork(const ModelFlags& flags,
                                                                    const ModelPlan& plan,
                                                                    Generator& gen) {
  if (flags.layers.empty()) return nn::Mlp(plan.mlp, gen);
  absl::StatusOr<nn::BuiltNetwork> built =
      nn::BuildFromLayerSpec(flags.layers, LayerSpecOptionsOf(flags, plan), gen);
  if (!built.ok()) return built.status();
  return std::move(built->network);
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
  if (plan.validation.empty()) {
    out << absl::StrFormat("split      %s, test fraction %g, seed %d: %d train / %d test rows\n",
                           plan.task == nn::Task::kRegression ? "random" : "stratified",
                           flags.test_fraction, flags.split_seed, plan.split.train.size(),
                           plan.split.test.size());
  } else {
    out << absl::StrFormat(
        "split      %s, test fraction %g, %s, seed %d: %d train / %d validation / %d test rows\n",
        plan.task == nn::Task::kRegression ? "random" : "stratified", flags.test_fraction,
        plan.validation_reason, flags.split_seed, plan.split.train.size(), plan.validation.size(),
        plan.split.test.size());
  }
  if (flags.layers.empty()) {
    out << absl::StrFormat("network    %s, hidden %s, output %s (%s)\n",
                           absl::StrJoin(widths, " -> "),
                           nn::Activation(*m.hidden_activation, m.hidden_attrs).ToString(),
                           m.output_activation->name, plan.output_reason);
  } else {
    out << absl::StrFormat("network    rows as [%s], --layers %s, then %d outputs, %s (%s)\n",
                           absl::StrJoin(plan.input_shape, ","), flags.layers, m.outputs,
                           m.output_activation->name, plan.output_reason);
  }
  out << absl::StrFormat("init       %s\n", plan.init_reason);
  out << absl::StrFormat("scaling    %s (%s), fitted on the training rows only\n",
                         ScalingText(plan.scaling), plan.scaling_reason);
  const optim::OptimizerSpec& o = plan.optimizer;
  std::string settings;
  if (o.name == "sgd") {
    settings = absl::StrFormat("momentum %g%s, weight decay %g", *o.momentum,
                               o.nesterov ? " (Nesterov)" : "", *o.weight_decay);
  } else {
    std::vector<std::string> parts;
    auto show = [&](const char* name, const std::optional<double>& v) {
      if (v.has_value()) parts.push_back(absl::StrFormat("%s %g", name, *v));
    };
    show("beta1", o.beta1);
    show("beta2", o.beta2);
    show("eps", o.eps);
    show("alpha", o.alpha);
    show("momentum", o.momentum);
    show("lr decay", o.lr_decay);
    show("weight decay", o.weight_decay);
    if (o.amsgrad) parts.push_back("amsgrad");
    if (o.centered) parts.push_back("centered");
    settings = parts.empty() ? "the optimizer's defaults otherwise" : absl::StrJoin(parts, ", ");
  }
  out << absl::StrFormat(
      "optimizer  %s lr %g, %s%s, schedule %s, batch %d, %d epochs\n", o.name, *o.learning_rate,
      settings,
      flags.no_decay_on.empty()
          ? ""
          : absl::StrCat(", no decay on ", absl::StrJoin(flags.no_decay_on, ",")),
      plan.schedule->ToString(), flags.batch, flags.epochs);
  if (flags.early_stopping > 0) {
    out << absl::StrFormat(
        "stopping   after %d epochs without a lower validation loss; the best epoch's weights "
        "are kept\n",
        flags.early_stopping);
  }
  out << model_text << "\n";
}

}  // namespace actgrad::tools
