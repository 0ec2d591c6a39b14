// -----------------------------------------------------------------------------
// File: sequential.h
// -----------------------------------------------------------------------------
//
// `Sequential` chains modules; it registers its children as "0", "1", ... so
// that parameters are "0.weight", "2.bias" as in a PyTorch nn.Sequential. A Linear
// layer followed by an identity, sigmoid, tanh, relu or leaky_relu Activation
// runs as one fused op (LinearActivation in ops/functional.h), profiled as
// that op in the Linear's layer, except while anomalies are checked (then
// every layer runs as itself, so that its messages are its own) or when
// fusion is turned off (`set_fusion(false)`: a profile then has a row per
// activation). `Mlp`
// builds the usual multilayer perceptron from hidden sizes, a hidden
// activation and an output activation (different layers may use different
// activations, claim C7), choosing each Linear layer's initializer from the
// activation that follows it unless told otherwise (claims C18-C20).
//
// Example:
//
//   actgrad::Generator gen(0);
//   auto mlp = actgrad::nn::Mlp({.inputs = 30, .hidden = {64, 32}, .outputs = 1,
//                                .hidden_activation = &actgrad::ops::kRelu,
//                                .output_activation = &actgrad::ops::kSigmoid},
//                               gen);
//   std::cout << mlp->ToString();
//   actgrad::Tensor logits = mlp->Logits(x);  // without the output activation
//   actgrad::Tensor p = mlp->Forward(x);      // sigmoid(logits)

#ifndef ACTGRAD_NN_SEQUENTIAL_H_
#define ACTGRAD_NN_SEQUENTIAL_H_

#include <memory>
#include <optional>
#include <source_location>
#include <vector>

#include "graph/generator.h"
#include "nn/activation.h"
#include "nn/init.h"
#include "nn/module.h"
#include "ops/builtin_ops.h"

namespace actgrad::nn {

class Sequential : public Module {
 public:
  Sequential() = default;
  // Appends `layer` and registers it under its index. Throws `Error` for a
  // null layer or one that belongs to another module.
  void Add(std::unique_ptr<Module> layer,
           std::source_location location = std::source_location::current());

  Tensor Forward(const Tensor& x) override;
  // The output of the first `count` layers.
  Tensor ForwardThrough(const Tensor& x, size_t count);
  // Everything except a trailing Activation layer: the logits a matched loss
  // (binary cross-entropy with logits, softmax cross-entropy) wants.
  Tensor Logits(const Tensor& x);
  // The trailing Activation layer, if the last layer is one.
  const Activation* OutputActivation() const;

  std::string ToString() const override;
  std::string Kind() const override { return "sequential"; }

  // Whether Linear + activation pairs run as one op (the default).
  void set_fusion(bool on) { fusion_ = on; }
  bool fusion() const { return fusion_; }

  size_t size() const { return layers_.size(); }
  Module& layer(size_t i) { return *layers_[i]; }

 private:
  std::vector<std::unique_ptr<Module>> layers_;
  // fuse_with_next_[i]: layer i is a Linear and layer i + 1 an Activation
  // that LinearActivation() computes together with it.
  std::vector<bool> fuse_with_next_;
  bool fusion_ = true;
  // Layers i and i + 1 as one LinearActivation.
  Tensor ForwardFused(const Tensor& x, size_t i);
};

struct MlpOptions {
  int64_t inputs = 0;
  std::vector<int64_t> hidden;
  int64_t outputs = 1;
  const OpDef* hidden_activation = &ops::kRelu;
  Attrs hidden_attrs;
  const OpDef* output_activation = &ops::kIdentity;
  // Overrides of the recommended initializers.
  std::optional<Initializer> hidden_init;
  std::optional<Initializer> output_init;
  DType dtype = DType::kFloat32;
};

// Linear, activation, ..., Linear, output activation. Throws `Error` for
// non-positive sizes or an op that is not an activation.
std::unique_ptr<Sequential> Mlp(const MlpOptions& options, Generator& gen,
                                std::source_location location = std::source_location::current());

}  // namespace actgrad::nn

#endif  // ACTGRAD_NN_SEQUENTIAL_H_
