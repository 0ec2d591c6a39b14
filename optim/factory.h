// -----------------------------------------------------------------------------
// File: factory.h
// -----------------------------------------------------------------------------
//
// An optimizer chosen by name, as a command line or a configuration file
// names it, with the hyperparameters that were given; those left unset keep
// the optimizer's own (PyTorch's) defaults. Bad names and values come back
// as kInvalidArgument naming the hyperparameter, never as an exception.
// `SplitDecay` builds the usual two parameter groups: decay on weights, none
// on biases (and on any parameter whose name has a listed component).
//
// Example:
//
//   actgrad::optim::OptimizerSpec spec{.name = "adamw", .learning_rate = 3e-4};
//   absl::StatusOr<std::unique_ptr<actgrad::optim::Optimizer>> optimizer =
//       actgrad::optim::MakeOptimizer(spec, actgrad::optim::SplitDecay(
//                                              model.NamedParameters(), {"bias"}));

#ifndef ACTGRAD_OPTIM_FACTORY_H_
#define ACTGRAD_OPTIM_FACTORY_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/tensor.h"
#include "optim/optimizer.h"

namespace actgrad::optim {

struct OptimizerSpec {
  std::string name = "sgd";  // sgd, adam, adamw, rmsprop, adagrad
  std::optional<double> learning_rate;
  std::optional<double> weight_decay;
  std::optional<double> momentum;   // sgd, rmsprop
  std::optional<double> dampening;  // sgd
  std::optional<double> beta1;      // adam, adamw
  std::optional<double> beta2;      // adam, adamw
  std::optional<double> eps;        // adam, adamw, rmsprop, adagrad
  std::optional<double> alpha;      // rmsprop
  std::optional<double> lr_decay;   // adagrad
  bool nesterov = false;            // sgd
  bool amsgrad = false;             // adam, adamw
  bool centered = false;            // rmsprop
};

// "sgd", "adam", "adamw", "rmsprop", "adagrad".
const std::vector<std::string>& OptimizerNames();

// kInvalidArgument for an unknown name (listing the known ones), a
// hyperparameter the optimizer does not take, or a value it refuses.
absl::StatusOr<std::unique_ptr<Optimizer>> MakeOptimizer(const OptimizerSpec& spec,
                                                         std::vector<ParamGroup> groups);

// A named parameter, as Module::NamedParameters() lists them.
struct NamedParameterRef {
  std::string name;
  Tensor tensor;
};
// Two groups: the parameters to decay, then those whose dotted name has a
// component in `no_decay` (e.g. "bias" matches "0.bias"), with weight decay
// 0. An empty group is left out.
std::vector<ParamGroup> SplitDecay(const std::vector<NamedParameterRef>& parameters,
                                   const std::vector<std::string>& no_decay);

}  // namespace actgrad::optim

#endif  // ACTGRAD_OPTIM_FACTORY_H_
