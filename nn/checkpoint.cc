#include "nn/checkpoint.h"

#include <cmath>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "graph/grad_mode.h"
#include "io/safetensors.h"
#include "nn/linear.h"
#include "ops/registry.h"

namespace actgrad::nn {

namespace {

constexpr char kFormat[] = "actgrad.mlp.v1";
constexpr char kModuleCheckpointFormat[] = "actgrad.checkpoint.v1";

}  // namespace

Tensor MlpModel::Predict(const Tensor& raw_features) const {
  NoGradGuard no_grad;
  return network->Forward(scaler.Transform(raw_features));
}

namespace {

struct ModelFile {
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::map<std::string, std::string> metadata;
};

ModelFile MakeModelFile(const MlpModel& model) {
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::vector<std::string> initializers;
  for (size_t i = 0; i < model.network->size(); ++i) {
    if (auto* linear = dynamic_cast<Linear*>(&model.network->layer(i))) {
      initializers.push_back(absl::StrCat(i, ".weight=", linear->options().weight_init.ToString()));
    }
  }
  for (const NamedParameter& p : model.network->NamedParameters()) {
    tensors.emplace_back(p.name, p.tensor->Detach());
  }
  const MlpOptions& o = model.options;
  const std::map<std::string, std::string> metadata = {
      {"format", kFormat},
      {"task", TaskName(model.task)},
      {"inputs", absl::StrCat(o.inputs)},
      {"hidden", absl::StrJoin(o.hidden, ",")},
      {"outputs", absl::StrCat(o.outputs)},
      {"hidden_activation", std::string(o.hidden_activation->name)},
      {"hidden_attrs", FormatAttrs(*o.hidden_activation, o.hidden_attrs)},
      {"output_activation", std::string(o.output_activation->name)},
      {"initializers", absl::StrJoin(initializers, ";")},
      {"scaler", model.scaler.Serialize()},
      {"features", absl::StrJoin(model.feature_names, "\n")},
      {"target", model.target_name},
  };
  return {std::move(tensors), metadata};
}

absl::StatusOr<MlpModel> ModelFromFile(const std::string& path, io::SafetensorsFile* file) {
  const std::map<std::string, std::string>& meta = file->metadata;
  auto refuse = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a usable actgrad model: ", why));
  };
  auto get = [&](const std::string& key) -> const std::string* {
    auto it = meta.find(key);
    return it == meta.end() ? nullptr : &it->second;
  };
  const std::string* format = get("format");
  if (format == nullptr || *format != kFormat) {
    return refuse(absl::StrCat("metadata \"format\" is not ", kFormat));
  }
  for (const char* key : {"task", "inputs", "hidden", "outputs", "hidden_activation",
                          "hidden_attrs", "output_activation", "scaler", "features", "target"}) {
    if (get(key) == nullptr) return refuse(absl::StrCat("metadata \"", key, "\" is missing"));
  }

  MlpModel model;
  absl::StatusOr<Task> task = ParseTask(*get("task"));
  if (!task.ok()) return refuse(task.status().message());
  model.task = *task;
  MlpOptions& o = model.options;
  if (!absl::SimpleAtoi(*get("inputs"), &o.inputs) ||
      !absl::SimpleAtoi(*get("outputs"), &o.outputs) || o.inputs <= 0 || o.outputs <= 0) {
    return refuse("inputs and outputs must be positive integers");
  }
  if (!get("hidden")->empty()) {
    for (absl::string_view h : absl::StrSplit(*get("hidden"), ',')) {
      int64_t size = 0;
      if (!absl::SimpleAtoi(h, &size) || size <= 0) return refuse("bad hidden sizes");
      o.hidden.push_back(size);
    }
  }
  for (auto [key, slot] : {std::pair{"hidden_activation", &o.hidden_activation},
                           std::pair{"output_activation", &o.output_activation}}) {
    absl::StatusOr<const OpDef*> op = OpRegistry::Global().Find(*get(key));
    if (!op.ok()) return refuse(op.status().message());
    if (!IsActivationLike(**op)) return refuse(absl::StrCat(*get(key), " is not an activation"));
    *slot = *op;
  }
  if (absl::Status s = ParseAttrs(*o.hidden_activation, *get("hidden_attrs"), &o.hidden_attrs);
      !s.ok()) {
    return refuse(s.message());
  }
  absl::StatusOr<Scaler> scaler = Scaler::Deserialize(*get("scaler"));
  if (!scaler.ok()) return refuse(scaler.status().message());
  if (scaler->scaling() != Scaling::kNone &&
      scaler->scale().size() != static_cast<size_t>(o.inputs)) {
    return refuse("the scaler does not match the input width");
  }
  model.scaler = *scaler;
  model.feature_names = absl::StrSplit(*get("features"), '\n');
  model.target_name = *get("target");

  std::map<std::string, Tensor> stored(file->tensors.begin(), file->tensors.end());
  // The shapes the options ask for, against the tensors the file holds,
  // before the network is built: metadata of a few bytes must not allocate
  // gigabytes ("hidden": "50000000").
  {
    std::vector<int64_t> widths = {o.inputs};
    widths.insert(widths.end(), o.hidden.begin(), o.hidden.end());
    widths.push_back(o.outputs);
    for (size_t i = 0; i + 1 < widths.size(); ++i) {
      // Layer i's Linear is module 2i: Linear and activation alternate.
      const std::string prefix = absl::StrCat(2 * i, ".");
      for (const auto& [name, shape] :
           {std::pair{prefix + "weight", Shape{widths[i + 1], widths[i]}},
            std::pair{prefix + "bias", Shape{widths[i + 1]}}}) {
        auto it = stored.find(name);
        if (it == stored.end()) return refuse(absl::StrCat("tensor \"", name, "\" is missing"));
        if (it->second.shape() != shape) {
          return refuse(absl::StrCat("tensor \"", name, "\" is ", it->second.shape().ToString(),
                                     ", the architecture needs ", shape.ToString()));
        }
      }
    }
  }
  Generator unused(0);
  model.network = Mlp(o, unused);
  for (const NamedParameter& p : model.network->NamedParameters()) {
    auto it = stored.find(p.name);
    if (it == stored.end()) return refuse(absl::StrCat("tensor \"", p.name, "\" is missing"));
    const Tensor& t = it->second;
    if (t.shape() != p.tensor->shape() || t.dtype() != p.tensor->dtype()) {
      return refuse(absl::StrCat("tensor \"", p.name, "\" is ", t.shape().ToString(), " ",
                                 DTypeName(t.dtype()), ", the architecture needs ",
                                 p.tensor->shape().ToString(), " ", DTypeName(p.tensor->dtype())));
    }
    for (double v : t.ToVector()) {
      if (!std::isfinite(v)) return refuse(absl::StrCat("tensor \"", p.name, "\" holds ", v));
    }
    stored.erase(it);
  }
  if (!stored.empty()) {
    return refuse(
        absl::StrCat("tensor \"", stored.begin()->first, "\" is not part of the architecture"));
  }
  // Only now, with everything validated, are the weights put in place.
  for (const NamedParameter& p : model.network->NamedParameters()) {
    for (const auto& [name, t] : file->tensors) {
      if (name == p.name) *p.tensor = Tensor(t).set_requires_grad(true);
    }
  }
  return model;
}

}  // namespace

absl::Status SaveMlpModel(const std::string& path, const MlpModel& model) {
  const ModelFile file = MakeModelFile(model);
  return io::SaveSafetensors(path, file.tensors, file.metadata);
}

absl::StatusOr<MlpModel> LoadMlpModel(const std::string& path) {
  absl::StatusOr<io::SafetensorsFile> file = io::LoadSafetensors(path);
  if (!file.ok()) return file.status();
  return ModelFromFile(path, &*file);
}

namespace {

// Optimizer buffers are saved as "optimizer.<parameter>.<buffer>", with the
// optimizer's name and the step counts ("0.weight=12,0.bias=12") in the
// metadata; early stopping's best weights as "best.<name>". Checkpoints
// written before other optimizers existed hold SGD's momentum as
// "momentum.<parameter>"; they still load.
constexpr char kOptimizerPrefix[] = "optimizer.";
constexpr char kMomentumPrefix[] = "momentum.";
constexpr char kBestPrefix[] = "best.";

void AddTrainState(const TrainState& state, ModelFile* file) {
  std::vector<std::string> steps;
  for (const auto& [name, parameter_state] : state.optimizer_state) {
    steps.push_back(absl::StrCat(name, "=", parameter_state.step));
    for (const auto& [buffer, value] : parameter_state.buffers) {
      file->tensors.emplace_back(absl::StrCat(kOptimizerPrefix, name, ".", buffer), value.Detach());
    }
  }
  for (const auto& [name, value] : state.best_weights) {
    file->tensors.emplace_back(absl::StrCat(kBestPrefix, name), value.Detach());
  }
  file->metadata["optimizer"] = state.optimizer;
  file->metadata["optimizer_steps"] = absl::StrJoin(steps, ",");
  file->metadata["epochs_done"] = absl::StrCat(state.epochs_done);
  file->metadata["batch_order"] = state.batch_order;
  if (!state.plateau.empty()) file->metadata["plateau"] = state.plateau;
  if (!state.early_stopping.empty()) file->metadata["early_stopping"] = state.early_stopping;
}

// Reads the training state out of a checkpoint and leaves only the model's
// own tensors in `file`.
absl::StatusOr<TrainState> TakeTrainState(const std::string& path, io::SafetensorsFile* file) {
  TrainState state;
  auto epochs = file->metadata.find("epochs_done");
  auto order = file->metadata.find("batch_order");
  if (epochs == file->metadata.end() || order == file->metadata.end() ||
      !absl::SimpleAtoi(epochs->second, &state.epochs_done) || state.epochs_done < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a checkpoint (written by train --checkpoint)"));
  }
  state.batch_order = order->second;
  if (auto plateau = file->metadata.find("plateau"); plateau != file->metadata.end()) {
    state.plateau = plateau->second;
  }
  if (auto stopping = file->metadata.find("early_stopping"); stopping != file->metadata.end()) {
    state.early_stopping = stopping->second;
  }
  auto refuse = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a usable checkpoint: ", why));
  };
  // Optimizer state, by parameter name, in the order the steps list them.
  std::map<std::string, optim::ParameterState> by_name;
  std::vector<std::string> order_of_names;
  auto optimizer = file->metadata.find("optimizer");
  auto steps = file->metadata.find("optimizer_steps");
  if (optimizer != file->metadata.end()) state.optimizer = optimizer->second;
  if (steps != file->metadata.end() && !steps->second.empty()) {
    for (absl::string_view entry : absl::StrSplit(steps->second, ',')) {
      const std::vector<std::string> kv = absl::StrSplit(entry, absl::MaxSplits('=', 1));
      int64_t step = 0;
      if (kv.size() != 2 || !absl::SimpleAtoi(kv[1], &step) || step < 0 ||
          by_name.contains(kv[0])) {
        return refuse(absl::StrCat("metadata \"optimizer_steps\" has a bad entry \"", entry, "\""));
      }
      by_name[kv[0]].step = step;
      order_of_names.push_back(kv[0]);
    }
  }
  std::vector<std::pair<std::string, Tensor>> weights;
  for (auto& [name, t] : file->tensors) {
    if (absl::StartsWith(name, kMomentumPrefix)) {
      // The format before other optimizers: SGD's momentum.
      const std::string parameter = name.substr(sizeof(kMomentumPrefix) - 1);
      if (!by_name.contains(parameter)) order_of_names.push_back(parameter);
      by_name[parameter].buffers.emplace_back("momentum_buffer", t);
      state.optimizer = "SGD";
    } else if (absl::StartsWith(name, kOptimizerPrefix)) {
      const std::string rest = name.substr(sizeof(kOptimizerPrefix) - 1);
      const size_t dot = rest.rfind('.');
      if (dot == std::string::npos || !by_name.contains(rest.substr(0, dot))) {
        return refuse(absl::StrCat("tensor \"", name,
                                   "\" is optimizer state of no parameter in \"optimizer_steps\""));
      }
      by_name[rest.substr(0, dot)].buffers.emplace_back(rest.substr(dot + 1), t);
    } else if (absl::StartsWith(name, kBestPrefix)) {
      state.best_weights.emplace_back(name.substr(sizeof(kBestPrefix) - 1), t);
    } else {
      weights.emplace_back(name, t);
    }
  }
  file->tensors = std::move(weights);
  for (const std::string& name : order_of_names) {
    state.optimizer_state.emplace_back(name, std::move(by_name[name]));
  }
  return state;
}

// Refuses optimizer state or best weights that do not fit `module`: a name
// it lacks, or another shape or dtype.
absl::Status CheckTrainState(const std::string& path, const TrainState& state, Module& module) {
  auto refuse = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a usable checkpoint: ", why));
  };
  std::map<std::string, const Tensor*> parameters;
  for (const NamedParameter& p : module.NamedParameters()) parameters[p.name] = p.tensor;
  for (const auto& [name, parameter_state] : state.optimizer_state) {
    auto p = parameters.find(name);
    if (p == parameters.end()) {
      return refuse(absl::StrCat("optimizer state for \"", name,
                                 "\", which is not a parameter of the model"));
    }
    for (const auto& [buffer, value] : parameter_state.buffers) {
      if (value.shape() != p->second->shape() || value.dtype() != p->second->dtype()) {
        return refuse(absl::StrCat("the optimizer's \"", buffer, "\" of \"", name,
                                   "\" does not match its shape"));
      }
    }
  }
  std::map<std::string, Tensor> live;
  for (auto& [name, t] : module.StateDict()) live.emplace(name, t);
  for (const auto& [name, value] : state.best_weights) {
    auto it = live.find(name);
    if (it == live.end() || it->second.shape() != value.shape() ||
        it->second.dtype() != value.dtype()) {
      return refuse(absl::StrCat(
          "the best weights' \"", name, "\" ",
          it == live.end() ? "are not part of the model" : "do not match the model's shape"));
    }
  }
  if (!state.best_weights.empty() && state.best_weights.size() != live.size()) {
    return refuse("the best weights do not cover the whole model");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status SaveCheckpoint(const std::string& path, const MlpModel& model,
                            const TrainState& state) {
  ModelFile file = MakeModelFile(model);
  AddTrainState(state, &file);
  return io::SaveSafetensors(path, file.tensors, file.metadata);
}

absl::StatusOr<Checkpoint> LoadCheckpoint(const std::string& path) {
  absl::StatusOr<io::SafetensorsFile> file = io::LoadSafetensors(path);
  if (!file.ok()) return file.status();
  absl::StatusOr<TrainState> state = TakeTrainState(path, &*file);
  if (!state.ok()) return state.status();
  absl::StatusOr<MlpModel> model = ModelFromFile(path, &*file);
  if (!model.ok()) return model.status();
  if (absl::Status s = CheckTrainState(path, *state, *model->network); !s.ok()) return s;
  return Checkpoint{.model = *std::move(model), .state = *std::move(state)};
}

absl::Status SaveCheckpoint(const std::string& path, Module& module, const TrainState& state,
                            const std::map<std::string, std::string>& metadata) {
  ModelFile file;
  for (auto& [name, t] : module.StateDict()) {
    for (const char* reserved : {kOptimizerPrefix, kMomentumPrefix, kBestPrefix}) {
      if (absl::StartsWith(name, reserved)) {
        return absl::InvalidArgumentError(
            absl::StrCat("SaveCheckpoint: the module holds \"", name, "\"; names starting with \"",
                         reserved, "\" are reserved in checkpoints for the training state"));
      }
    }
    file.tensors.emplace_back(name, t);
  }
  file.metadata = metadata;
  file.metadata["format"] = kModuleCheckpointFormat;
  AddTrainState(state, &file);
  return io::SaveSafetensors(path, file.tensors, file.metadata);
}

absl::StatusOr<TrainState> LoadCheckpoint(const std::string& path, Module& module) {
  absl::StatusOr<io::SafetensorsFile> file = io::LoadSafetensors(path);
  if (!file.ok()) return file.status();
  absl::StatusOr<TrainState> state = TakeTrainState(path, &*file);
  if (!state.ok()) return state.status();
  if (absl::Status s = CheckTrainState(path, *state, module); !s.ok()) return s;
  absl::StatusOr<LoadReport> loaded = module.LoadStateDict(file->tensors, /*strict=*/true);
  if (!loaded.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", loaded.status().message()));
  }
  return state;
}

}  // namespace actgrad::nn
