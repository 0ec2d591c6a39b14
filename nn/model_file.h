// -----------------------------------------------------------------------------
// File: model_file.h
// -----------------------------------------------------------------------------
//
// Models that describe themselves. `Save` writes any module whose kinds are
// registered (nn/module_kinds.h) to one safetensors file: the state dict
// under PyTorch's names, and in the metadata key "actgrad" one JSON object
// with the architecture (the module tree: each module's kind, options and
// children) and what the data needs (task, what the outputs mean, scaler,
// feature and label names). `Load` rebuilds the module from the file alone.
// `tools/actgrad_torch.py` builds the same network in PyTorch from the same
// file.
//
//   {"format": "actgrad.model.v1",
//    "architecture": {"kind": "sequential", "options": {}, "children": [
//        {"name": "0", "kind": "linear", "options": {"in": 30, "out": 64, ...}, "children": []},
//        {"name": "1", "kind": "relu", "options": {"grad_at_zero": 0}, "children": []}, ...]},
//    "task": "binary", "output": "probabilities", "features": ["mean_radius", ...],
//    "target": "benign", "labels": ["0", "1"],
//    "scaler": {"scaling": "unit", "scale": [...], "shift": [...]}}
//
// Loading trusts nothing: the JSON is parsed with a depth limit, every field
// is type-checked and named when wrong ("architecture.children[0] \"0\"
// (linear): out: expected an integer, found text"), the shapes the
// description asks for are compared with the tensors the file holds before
// any layer is built, and the weights must match the rebuilt module key for
// key and be finite. Files written by SaveMlpModel (format actgrad.mlp.v1)
// load too.
//
// Example:
//
//   actgrad::nn::ModelInfo info{.task = actgrad::nn::Task::kMulticlass,
//                               .output = actgrad::nn::ModelOutput::kLogits,
//                               .labels = {"setosa", "versicolor", "virginica"}};
//   absl::Status saved = actgrad::nn::Save("iris.safetensors", model, info);
//
//   absl::StatusOr<actgrad::nn::SavedModel> loaded = actgrad::nn::Load("iris.safetensors");
//   actgrad::nn::Predictions p = loaded->Predict(raw_features);
//   std::cout << loaded->info.labels[p.classes[0]] << " " << p.probabilities[0][0];

#ifndef ACTGRAD_NN_MODEL_FILE_H_
#define ACTGRAD_NN_MODEL_FILE_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nn/module.h"
#include "nn/scaler.h"
#include "nn/task.h"

namespace actgrad::nn {

// What the module's outputs are.
enum class ModelOutput {
  kValues,         // predictions as they are (regression, or anything else)
  kProbabilities,  // class probabilities (a sigmoid or softmax output layer)
  kLogits,         // scores before the sigmoid (one column) or softmax
};
// "values", "probabilities", "logits".
const char* ModelOutputName(ModelOutput output);

// What a saved model says about the data it expects.
struct ModelInfo {
  std::optional<Task> task;
  ModelOutput output = ModelOutput::kValues;
  Scaler scaler;  // applied to raw features before the module; none by default
  std::vector<std::string> feature_names;
  std::string target_name;
  // Class names by class index; "0", "1", ... when not given.
  std::vector<std::string> labels;
};

// Per row: the class and the probability of each class (binary: p(0) and
// p(1)), or the output values for regression and other models.
struct Predictions {
  std::vector<int64_t> classes;
  std::vector<std::vector<double>> probabilities;
  std::vector<std::vector<double>> values;
};

struct SavedModel {
  std::unique_ptr<Module> module;
  ModelInfo info;

  // The module's outputs for raw features ([rows, features]): converted to
  // the module's dtype, scaled, computed in evaluation mode without
  // recording.
  Tensor Outputs(const Tensor& raw_features) const;
  Predictions Predict(const Tensor& raw_features) const;
  // Whether Predict() gives classes and probabilities (a classification
  // task whose outputs are probabilities or logits) rather than values.
  bool Classifies() const;
  // The dtype of the module's parameters (float32 when it has none): read
  // features in it to lose nothing on the way in.
  DType dtype() const;
  // info.labels, or "0".."k-1" for k classes when it is empty.
  std::string LabelOf(int64_t class_index) const;
};

// Writes `module` and `info` to `path` (atomically, as io::SaveSafetensors
// does). Refuses (kInvalidArgument, nothing written) a module with a kind
// that is not registered, naming it and where it sits in the tree.
absl::Status Save(const std::string& path, Module& module, const ModelInfo& info = {});

// Rebuilds the module `path` describes, with its weights. A kind from a
// plugin needs the plugin loaded first.
absl::StatusOr<SavedModel> Load(const std::string& path);

}  // namespace actgrad::nn

#endif  // ACTGRAD_NN_MODEL_FILE_H_
