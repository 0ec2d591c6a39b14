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

constexpr char kMomentumPrefix[] = "momentum.";

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

  Generator unused(0);
  model.network = Mlp(o, unused);
  std::map<std::string, Tensor> stored(file->tensors.begin(), file->tensors.end());
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

absl::Status SaveCheckpoint(const std::string& path, const MlpModel& model,
                            const TrainState& state) {
  ModelFile file = MakeModelFile(model);
  const std::vector<NamedParameter> params = model.network->NamedParameters();
  for (size_t i = 0; i < params.size() && i < state.momentum.size(); ++i) {
    if (state.momentum[i].defined()) {
      file.tensors.emplace_back(kMomentumPrefix + params[i].name, state.momentum[i].Detach());
    }
  }
  file.metadata["epochs_done"] = absl::StrCat(state.epochs_done);
  file.metadata["batch_order"] = state.batch_order;
  return io::SaveSafetensors(path, file.tensors, file.metadata);
}

absl::StatusOr<Checkpoint> LoadCheckpoint(const std::string& path) {
  absl::StatusOr<io::SafetensorsFile> file = io::LoadSafetensors(path);
  if (!file.ok()) return file.status();
  Checkpoint checkpoint;
  auto epochs = file->metadata.find("epochs_done");
  auto order = file->metadata.find("batch_order");
  if (epochs == file->metadata.end() || order == file->metadata.end() ||
      !absl::SimpleAtoi(epochs->second, &checkpoint.state.epochs_done) ||
      checkpoint.state.epochs_done < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a checkpoint (written by train --checkpoint)"));
  }
  checkpoint.state.batch_order = order->second;
  std::map<std::string, Tensor> momentum;
  std::vector<std::pair<std::string, Tensor>> weights;
  for (auto& [name, t] : file->tensors) {
    if (absl::StartsWith(name, kMomentumPrefix)) {
      momentum[name.substr(sizeof(kMomentumPrefix) - 1)] = t;
    } else {
      weights.emplace_back(name, t);
    }
  }
  file->tensors = std::move(weights);
  absl::StatusOr<MlpModel> model = ModelFromFile(path, &*file);
  if (!model.ok()) return model.status();
  for (const NamedParameter& p : model->network->NamedParameters()) {
    auto it = momentum.find(p.name);
    if (it != momentum.end() && it->second.shape() != p.tensor->shape()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": the momentum of \"", p.name, "\" does not match its shape"));
    }
    checkpoint.state.momentum.push_back(it != momentum.end() ? it->second : Tensor());
  }
  checkpoint.model = *std::move(model);
  return checkpoint;
}

}  // namespace actgrad::nn
