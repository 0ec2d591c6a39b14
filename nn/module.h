// -----------------------------------------------------------------------------
// File: module.h
// -----------------------------------------------------------------------------
//
// `Module` is the base of every layer: a function of one tensor with named
// parameters. Names follow PyTorch's state_dict ("0.weight", "2.bias"), so
// saved weights load into the equivalent PyTorch model.
//
// Example:
//
//   class Residual : public actgrad::nn::Module {
//    public:
//     explicit Residual(std::unique_ptr<Module> inner) : inner_(std::move(inner)) {}
//     actgrad::Tensor Forward(const actgrad::Tensor& x) override { return x + (*inner_)(x); }
//     void CollectParameters(const std::string& prefix,
//                            std::vector<NamedParameter>* out) override {
//       inner_->CollectParameters(prefix + "inner.", out);
//     }
//     std::string ToString() const override { return "Residual(" + inner_->ToString() + ")"; }
//     std::string Kind() const override { return "residual"; }
//    private:
//     std::unique_ptr<Module> inner_;
//   };

#ifndef ACTGRAD_NN_MODULE_H_
#define ACTGRAD_NN_MODULE_H_

#include <string>
#include <vector>

#include "graph/tensor.h"

namespace actgrad::nn {

// A parameter and its name; the pointer lets loaders and tests replace it.
struct NamedParameter {
  std::string name;
  Tensor* tensor;
};

class Module {
 public:
  virtual ~Module() = default;

  virtual Tensor Forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return Forward(x); }

  // Appends this module's parameters, each name prefixed with `prefix`.
  virtual void CollectParameters(const std::string& prefix, std::vector<NamedParameter>* out) {}

  // A description of the module and its settings, one line per layer.
  virtual std::string ToString() const = 0;
  // A short lowercase kind, used to name the layer in profiles ("linear").
  virtual std::string Kind() const { return "module"; }

  std::vector<NamedParameter> NamedParameters();
  std::vector<Tensor> Parameters();
  int64_t NumParameters();
  // Zeroes the gradients of all parameters (keeping their buffers).
  void ZeroGrad();
};

}  // namespace actgrad::nn

#endif  // ACTGRAD_NN_MODULE_H_
