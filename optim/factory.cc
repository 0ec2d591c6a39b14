#include "optim/factory.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "graph/error.h"
#include "optim/adagrad.h"
#include "optim/adam.h"
#include "optim/rmsprop.h"
#include "optim/sgd.h"

namespace actgrad::optim {

namespace {

// The hyperparameters each optimizer takes, by the spec's field names.
struct Accepted {
  const char* name;
  std::vector<std::string> takes;
};

const std::vector<Accepted>& AcceptedHyperparameters() {
  static const auto* accepted = new std::vector<Accepted>{
      {"sgd", {"momentum", "dampening", "nesterov"}},
      {"adam", {"beta1", "beta2", "eps", "amsgrad"}},
      {"adamw", {"beta1", "beta2", "eps", "amsgrad"}},
      {"rmsprop", {"momentum", "eps", "alpha", "centered"}},
      {"adagrad", {"eps", "lr_decay"}},
  };
  return *accepted;
}

std::vector<std::string> GivenHyperparameters(const OptimizerSpec& s) {
  std::vector<std::string> given;
  auto note = [&](bool set, const char* name) {
    if (set) given.push_back(name);
  };
  note(s.momentum.has_value(), "momentum");
  note(s.dampening.has_value(), "dampening");
  note(s.beta1.has_value(), "beta1");
  note(s.beta2.has_value(), "beta2");
  note(s.eps.has_value(), "eps");
  note(s.alpha.has_value(), "alpha");
  note(s.lr_decay.has_value(), "lr_decay");
  note(s.nesterov, "nesterov");
  note(s.amsgrad, "amsgrad");
  note(s.centered, "centered");
  return given;
}

}  // namespace

const std::vector<std::string>& OptimizerNames() {
  static const auto* names =
      new std::vector<std::string>{"sgd", "adam", "adamw", "rmsprop", "adagrad"};
  return *names;
}

absl::StatusOr<std::unique_ptr<Optimizer>> MakeOptimizer(const OptimizerSpec& spec,
                                                         std::vector<ParamGroup> groups) {
  const auto& accepted = AcceptedHyperparameters();
  auto it = std::find_if(accepted.begin(), accepted.end(),
                         [&](const Accepted& a) { return spec.name == a.name; });
  if (it == accepted.end()) {
    return absl::InvalidArgumentError(absl::StrCat("unknown optimizer \"", spec.name,
                                                   "\"; the optimizers are ",
                                                   absl::StrJoin(OptimizerNames(), ", ")));
  }
  for (const std::string& given : GivenHyperparameters(spec)) {
    if (std::find(it->takes.begin(), it->takes.end(), given) == it->takes.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(spec.name, " takes no ", given, " (it takes learning_rate, weight_decay",
                       it->takes.empty() ? "" : ", ", absl::StrJoin(it->takes, ", "), ")"));
    }
  }
  try {
    if (spec.name == "sgd") {
      SgdOptions o;
      o.learning_rate = spec.learning_rate.value_or(o.learning_rate);
      o.weight_decay = spec.weight_decay.value_or(o.weight_decay);
      o.momentum = spec.momentum.value_or(o.momentum);
      o.dampening = spec.dampening.value_or(o.dampening);
      o.nesterov = spec.nesterov;
      return std::make_unique<Sgd>(std::move(groups), o);
    }
    if (spec.name == "adam" || spec.name == "adamw") {
      const bool w = spec.name == "adamw";
      AdamOptions o;
      o.learning_rate = spec.learning_rate.value_or(o.learning_rate);
      o.weight_decay = spec.weight_decay.value_or(w ? AdamWOptions().weight_decay : 0.0);
      o.beta1 = spec.beta1.value_or(o.beta1);
      o.beta2 = spec.beta2.value_or(o.beta2);
      o.eps = spec.eps.value_or(o.eps);
      o.amsgrad = spec.amsgrad;
      if (!w) return std::make_unique<Adam>(std::move(groups), o);
      return std::make_unique<AdamW>(std::move(groups),
                                     AdamWOptions{.learning_rate = o.learning_rate,
                                                  .beta1 = o.beta1,
                                                  .beta2 = o.beta2,
                                                  .eps = o.eps,
                                                  .weight_decay = o.weight_decay,
                                                  .amsgrad = o.amsgrad});
    }
    if (spec.name == "rmsprop") {
      RmsPropOptions o;
      o.learning_rate = spec.learning_rate.value_or(o.learning_rate);
      o.weight_decay = spec.weight_decay.value_or(o.weight_decay);
      o.momentum = spec.momentum.value_or(o.momentum);
      o.eps = spec.eps.value_or(o.eps);
      o.alpha = spec.alpha.value_or(o.alpha);
      o.centered = spec.centered;
      return std::make_unique<RmsProp>(std::move(groups), o);
    }
    AdagradOptions o;
    o.learning_rate = spec.learning_rate.value_or(o.learning_rate);
    o.weight_decay = spec.weight_decay.value_or(o.weight_decay);
    o.eps = spec.eps.value_or(o.eps);
    o.lr_decay = spec.lr_decay.value_or(o.lr_decay);
    return std::make_unique<Adagrad>(std::move(groups), o);
  } catch (const Error& e) {
    // The constructors' checks, without the library-internal location: the
    // values came from the caller's input.
    return absl::InvalidArgumentError(e.message());
  }
}

std::vector<ParamGroup> SplitDecay(const std::vector<NamedParameterRef>& parameters,
                                   const std::vector<std::string>& no_decay) {
  ParamGroup decayed, plain{.weight_decay = 0.0};
  for (const NamedParameterRef& p : parameters) {
    bool exempt = false;
    for (absl::string_view part : absl::StrSplit(p.name, '.')) {
      exempt |= std::find(no_decay.begin(), no_decay.end(), part) != no_decay.end();
    }
    (exempt ? plain : decayed).parameters.push_back(p.tensor);
  }
  std::vector<ParamGroup> groups;
  if (!decayed.parameters.empty() || plain.parameters.empty()) groups.push_back(decayed);
  if (!plain.parameters.empty()) groups.push_back(plain);
  return groups;
}

}  // namespace actgrad::optim
