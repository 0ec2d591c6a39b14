#include "nn/sequential.h"

#include <algorithm>
#include <typeinfo>

#include "absl/strings/str_cat.h"
#include "graph/anomaly.h"
#include "graph/profile_hooks.h"
#include "nn/linear.h"
#include "ops/functional.h"

namespace actgrad::nn {

namespace {

// Hooks on either layer of a fused pair: the pair then runs apart, so that
// each layer's hooks see its own input and output.
bool PairHooked(const Module& linear, const Module& activation) {
  return internal::AnyModuleHooks() &&
         (internal::AnyGlobalModuleHooks() || linear.has_hooks() || activation.has_hooks());
}

}  // namespace

Tensor Sequential::Forward(const Tensor& x) { return ForwardThrough(x, layers_.size()); }

void Sequential::Add(std::unique_ptr<Module> layer, std::source_location location) {
  ACTGRAD_REQUIRE(layer != nullptr, location, "Sequential: cannot add a null layer");
  RegisterModule(absl::StrCat(layers_.size()), layer.get(), location);
  fuse_with_next_.push_back(false);
  // Exact types only: a subclass may compute something else in Forward().
  if (!layers_.empty() && typeid(*layers_.back()) == typeid(Linear) &&
      typeid(*layer) == typeid(Activation)) {
    const auto& activation = static_cast<const Activation&>(*layer);
    fuse_with_next_[layers_.size() - 1] = CanFuseWithLinear(activation.op(), activation.attrs());
  }
  layers_.push_back(std::move(layer));
}

Tensor Sequential::ForwardThrough(const Tensor& x, size_t count) {
  Tensor h = x;
  count = std::min(count, layers_.size());
  // Anomaly messages name one layer each, so nothing fuses under detection.
  const bool fuse = fusion_ && !IsAnomalyDetectionEnabled();
  // Hooks fire in a layer's operator(), which opens the same "<i>.<kind>"
  // layer scope as the loops below.
  const bool hooked = internal::AnyModuleHooks();
  if (IsProfiling() || IsAnomalyDetectionEnabled()) [[unlikely]] {
    for (size_t i = 0; i < count; ++i) {
      if (fuse && fuse_with_next_[i] && i + 1 < count &&
          !PairHooked(*layers_[i], *layers_[i + 1])) {
        // The profiled program is the program that runs: a fused pair is one
        // op, charged to the Linear's layer.
        LayerScope scope(i, layers_[i]->Kind());
        h = ForwardFused(h, i++);
      } else if (hooked) {
        h = (*layers_[i])(h);
      } else {
        LayerScope scope(i, layers_[i]->Kind());
        h = layers_[i]->Forward(h);
      }
    }
    return h;
  }
  for (size_t i = 0; i < count; ++i) {
    if (fuse && fuse_with_next_[i] && i + 1 < count && !PairHooked(*layers_[i], *layers_[i + 1])) {
      h = ForwardFused(h, i++);
    } else {
      h = hooked ? (*layers_[i])(h) : layers_[i]->Forward(h);
    }
  }
  return h;
}

Tensor Sequential::ForwardFused(const Tensor& x, size_t i) {
  auto& linear = static_cast<Linear&>(*layers_[i]);
  const auto& activation = static_cast<const Activation&>(*layers_[i + 1]);
  return LinearActivation(x, linear.weight(), linear.bias(), activation.op(), activation.attrs());
}

const Activation* Sequential::OutputActivation() const {
  if (layers_.empty()) return nullptr;
  return dynamic_cast<const Activation*>(layers_.back().get());
}

Tensor Sequential::Logits(const Tensor& x) {
  return ForwardThrough(x, layers_.size() - (OutputActivation() != nullptr ? 1 : 0));
}

std::string Sequential::ToString() const {
  std::string out = "Sequential(\n";
  for (size_t i = 0; i < layers_.size(); ++i) {
    absl::StrAppend(&out, "  (", i, "): ", layers_[i]->ToString(), "\n");
  }
  return out + ")";
}

std::unique_ptr<Sequential> Mlp(const MlpOptions& options, Generator& gen,
                                std::source_location location) {
  ACTGRAD_REQUIRE(options.inputs > 0 && options.outputs > 0, location,
                  "Mlp: inputs and outputs must be positive, got ", options.inputs, " and ",
                  options.outputs);
  for (const OpDef* act : {options.hidden_activation, options.output_activation}) {
    ACTGRAD_REQUIRE(act != nullptr && IsActivationLike(*act), location,
                    "Mlp: ", act != nullptr ? act->name : "null", " is not an activation");
  }
  auto model = std::make_unique<Sequential>();
  int64_t width = options.inputs;
  for (int64_t size : options.hidden) {
    ACTGRAD_REQUIRE(size > 0, location, "Mlp: hidden sizes must be positive, got ", size);
    model->Add(std::make_unique<Linear>(
        LinearOptions{.in = width,
                      .out = size,
                      .weight_init = options.hidden_init.value_or(
                          RecommendedInitializer(*options.hidden_activation, options.hidden_attrs)),
                      .dtype = options.dtype},
        gen, location));
    model->Add(std::make_unique<Activation>(*options.hidden_activation, options.hidden_attrs));
    width = size;
  }
  model->Add(std::make_unique<Linear>(
      LinearOptions{.in = width,
                    .out = options.outputs,
                    .weight_init = options.output_init.value_or(
                        RecommendedInitializer(*options.output_activation)),
                    .dtype = options.dtype},
      gen, location));
  model->Add(std::make_unique<Activation>(*options.output_activation));
  return model;
}

}  // namespace actgrad::nn
