// -----------------------------------------------------------------------------
// File: model_options.h
// -----------------------------------------------------------------------------
//
// The data, model and optimizer options that `train` and `profile` share,
// and the plan made from them: what the task is, how the data is split and
// scaled, which activations and initializers the network gets, each with
// the reason (the article's defaults, claims C8-C20, or the flag that chose
// it).
//
// Example:
//
//   auto flags = std::make_shared<ModelFlags>();
//   AddModelOptions(sub, flags.get());
//   ...
//   absl::StatusOr<ModelPlan> plan = MakePlan(*flags);
//   PrintPlan(std::cout, *flags, *plan, model.ToString());

#ifndef ACTGRAD_TOOLS_MODEL_OPTIONS_H_
#define ACTGRAD_TOOLS_MODEL_OPTIONS_H_

#include <CLI/CLI.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "io/csv.h"
#include "nn/nn.h"
#include "optim/factory.h"
#include "optim/schedule.h"
#include "tools/distributed.h"

namespace actgrad::tools {

struct ModelFlags {
  std::vector<std::string> plugins;
  // Empty: the bundled breast-cancer data (experiments/data.h finds it).
  std::string data;
  std::string target;
  std::string task = "auto";
  std::string hidden = "64,32";
  // A layer spec (nn/layer_spec.h) instead of --hidden, and the shape of
  // one row as the spec's first layer sees it ("1,8,8").
  std::string layers;
  std::string input_shape;
  std::string activation = "relu";
  std::string output_activation = "auto";
  std::string init = "auto";
  std::string scale = "auto";
  int epochs = 200;
  int64_t batch = 32;
  std::string optimizer = "sgd";
  // The article's SGD defaults; other optimizers take their own defaults for
  // what is not given on the command line (see `given`).
  double lr = 0.05;
  double momentum = 0.9;
  double dampening = 0.0;
  bool nesterov = false;
  double weight_decay = 0.0;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double alpha = 0.99;
  double lr_decay = 0.0;
  bool amsgrad = false;
  bool centered = false;
  std::vector<std::string> no_decay_on;
  // The optimizer options given on the command line, by flag ("--lr").
  std::vector<std::pair<std::string, const CLI::Option*>> optimizer_flags;
  std::string schedule = "constant";
  double clip_norm = 0.0;
  double test_fraction = 0.2;
  // Of the training rows, held out for early stopping and the plateau
  // (train only); 0 with --early-stopping means 0.1.
  double validation_fraction = 0;
  int early_stopping = 0;  // patience in epochs; 0: off
  uint64_t split_seed = 0;
  uint64_t seed = 0;
  int threads = 1;
  // The most memory training may take ("8G"); the machine's when empty.
  std::string max_memory;
  std::string save;
  bool json = false;
  bool no_progress = false;
  bool detect_anomaly = false;
  std::string checkpoint = "actgrad.checkpoint.safetensors";
  int checkpoint_every = 0;
  bool resume = false;
  bool distributed = false;
  DistributedFlags dist;
  // Write outputs through symbolic links to their targets (train, profile).
  bool follow_symlinks = false;
};

// Everything `train` decided before training, with the reason for each.
// Everything decided before training, with the reason for each.
struct ModelPlan {
  io::Dataset data;
  nn::Task task;
  std::string task_reason;
  // Classification: the class names by index (text labels, or the target's
  // distinct whole numbers), the targets in `data` replaced by the index.
  std::vector<std::string> labels;
  io::Split split;
  // Rows of `data` held out of split.train for validation (may be empty).
  std::vector<int64_t> validation;
  std::string validation_reason;
  nn::MlpOptions mlp;
  // With --layers: one sample's shape, and what the network may take.
  std::vector<int64_t> input_shape;
  double memory_limit = 0;
  std::string output_reason;
  std::string init_reason;
  nn::Scaling scaling;
  std::string scaling_reason;
  std::optional<optim::Schedule> schedule;
  // The optimizer and the hyperparameters given for it, the learning rate
  // always resolved (given, or the optimizer's default).
  optim::OptimizerSpec optimizer;
};

// The optimizer the plan names, over `model`'s parameters in the groups
// --no-decay-on asks for.
absl::StatusOr<std::unique_ptr<optim::Optimizer>> MakePlannedOptimizer(const ModelFlags& flags,
                                                                       const ModelPlan& plan,
                                                                       nn::Module& model);

// An empty --data becomes the bundled breast-cancer file's path.
void ResolveBundledData(ModelFlags& flags);

// Adds --data, --target, ..., --threads and --plugin to `command`.
void AddModelOptions(CLI::App* command, ModelFlags* flags);

// Reads the data and decides the rest; outside-input errors come back as a
// Status.
absl::StatusOr<ModelPlan> MakePlan(const ModelFlags& flags);

// The network the plan describes: an MLP, or the --layers spec built with
// `gen`.
absl::StatusOr<std::unique_ptr<nn::Sequential>> BuildPlannedNetwork(const ModelFlags& flags,
                                                                    const ModelPlan& plan,
                                                                    Generator& gen);

// The decisions, one line each, then the model.
void PrintPlan(std::ostream& out, const ModelFlags& flags, const ModelPlan& plan,
               const std::string& model_text);

}  // namespace actgrad::tools

#endif  // ACTGRAD_TOOLS_MODEL_OPTIONS_H_
