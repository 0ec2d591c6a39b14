// -----------------------------------------------------------------------------
// File: activation.h
// -----------------------------------------------------------------------------
//
// A layer that applies any registered activation — built-in or registered at
// run time by a user or a plugin — with its attributes. There is no class
// per activation: the op row is the activation.
//
// Example:
//
//   actgrad::nn::Activation act(actgrad::ops::kLeakyRelu, {.alpha = 0.2});
//   auto by_name = actgrad::nn::Activation::Named("tanh");  // StatusOr<unique_ptr>
//   actgrad::Tensor y = act(x);

#ifndef ACTGRAD_NN_ACTIVATION_H_
#define ACTGRAD_NN_ACTIVATION_H_

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "graph/op_def.h"
#include "nn/module.h"

namespace actgrad::nn {

// Activations and the softmax family (as an output layer) qualify.
bool IsActivationLike(const OpDef& op);

// "alpha=0.2,grad_at_zero=1" for the real-valued attributes `op` declares;
// exact to the last bit.
std::string FormatAttrs(const OpDef& op, const Attrs& attrs);
// Sets the attributes named in such text; kInvalidArgument names an
// attribute the op does not declare or a value that is not a number.
absl::Status ParseAttrs(const OpDef& op, absl::string_view text, Attrs* attrs);

// An activation op and its attributes, as a command line or a file names
// them: "NAME" or "NAME:key=value,...", e.g. "leaky_relu:alpha=0.2".
struct ActivationSpec {
  const OpDef* op = nullptr;
  Attrs attrs;
};
// kNotFound (suggesting close names) for an unregistered op,
// kInvalidArgument for an op that is not an activation or attributes it
// does not declare.
absl::StatusOr<ActivationSpec> ParseActivationSpec(absl::string_view spec);

class Activation : public Module {
 public:
  explicit Activation(const OpDef& op, const Attrs& attrs = {}) : op_(&op), attrs_(attrs) {}
  // The registered op `name`; kNotFound (suggesting close names) otherwise,
  // kInvalidArgument when the op is not an activation.
  static absl::StatusOr<std::unique_ptr<Activation>> Named(absl::string_view name,
                                                           const Attrs& attrs = {});
  // The layer of ParseActivationSpec(spec).
  static absl::StatusOr<std::unique_ptr<Activation>> Parse(absl::string_view spec);

  Tensor Forward(const Tensor& x) override;
  std::string ToString() const override;
  std::string Kind() const override { return std::string(op_->name); }
  // The attributes the op declares, by name.
  ModuleConfig Config() const override;

  const OpDef& op() const { return *op_; }
  const Attrs& attrs() const { return attrs_; }

 private:
  const OpDef* op_;
  Attrs attrs_;
};

}  // namespace actgrad::nn

#endif  // ACTGRAD_NN_ACTIVATION_H_
