// -----------------------------------------------------------------------------
// File: checkpoint.h
// -----------------------------------------------------------------------------
//
// A trained MLP saved as safetensors: the weights under PyTorch's names and
// shapes ("0.weight" is [out, in]), so that a PyTorch user loads them into
// the same nn.Sequential with `model.load_state_dict(load_file(path))`; the
// architecture, activations, initializers, task, feature names and the
// fitted scaler in the file's __metadata__, so that the file alone can be
// applied to raw data. Files are written to a temporary name and renamed.
//
// Example:
//
//   actgrad::nn::MlpModel model = ...;  // trained
//   absl::Status saved = actgrad::nn::SaveMlpModel("model.safetensors", model);
//   absl::StatusOr<actgrad::nn::MlpModel> loaded =
//       actgrad::nn::LoadMlpModel("model.safetensors");
//   actgrad::Tensor p = loaded->Predict(raw_features);
//
//   // Any module: checkpoint during training, resume later.
//   options.on_checkpoint = [&](const actgrad::nn::TrainState& state) {
//     (void)actgrad::nn::SaveCheckpoint("run.ckpt", model, state);
//   };
//   absl::StatusOr<actgrad::nn::TrainState> state = actgrad::nn::LoadCheckpoint("run.ckpt", model);

#ifndef ACTGRAD_NN_CHECKPOINT_H_
#define ACTGRAD_NN_CHECKPOINT_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nn/module.h"
#include "nn/scaler.h"
#include "nn/sequential.h"
#include "nn/task.h"
#include "nn/trainer.h"

namespace actgrad::nn {

struct MlpModel {
  MlpOptions options;
  Task task = Task::kBinary;
  Scaler scaler;
  std::vector<std::string> feature_names;
  std::string target_name;
  std::unique_ptr<Sequential> network;

  // Scales raw features and applies the network (output activation
  // included), without recording.
  Tensor Predict(const Tensor& raw_features) const;
};

absl::Status SaveMlpModel(const std::string& path, const MlpModel& model);

// Refuses (never half-loads) a file that is not an actgrad MLP, names an
// activation that is not registered, lacks a tensor the architecture needs,
// holds one it does not, has a shape that differs, or holds a weight that is
// not finite.
absl::StatusOr<MlpModel> LoadMlpModel(const std::string& path);

// A training checkpoint: the model file plus, in the metadata and under
// "optimizer.<parameter>.<buffer>" (SGD's "momentum_buffer", Adam's
// "exp_avg", ...), what TrainOptions::resume_from needs to continue bitwise
// as if never stopped. Written to a temporary name and renamed, so a crash
// leaves the previous checkpoint intact. Checkpoints of earlier versions,
// with SGD's momentum under "momentum.<parameter>", load too.
absl::Status SaveCheckpoint(const std::string& path, const MlpModel& model,
                            const TrainState& state);

struct Checkpoint {
  MlpModel model;
  TrainState state;
};
absl::StatusOr<Checkpoint> LoadCheckpoint(const std::string& path);

// A training checkpoint of any module: its state dict (parameters and
// buffers under their dotted names), the TrainState as above, and
// `metadata` of the caller's own. Refuses a module whose tensor names start
// with the prefixes the state uses ("optimizer.", "momentum.", "best.").
absl::Status SaveCheckpoint(const std::string& path, Module& module, const TrainState& state,
                            const std::map<std::string, std::string>& metadata = {});
// Loads the weights into `module` — strictly: every key, shape and dtype
// must match, or nothing changes — and returns the state to pass as
// TrainOptions::resume_from.
absl::StatusOr<TrainState> LoadCheckpoint(const std::string& path, Module& module);

}  // namespace actgrad::nn

#endif  // ACTGRAD_NN_CHECKPOINT_H_
