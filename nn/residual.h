// -----------------------------------------------------------------------------
// File: residual.h
// -----------------------------------------------------------------------------
//
// A residual connection: y = body(x) + shortcut(x), where the shortcut is
// the identity unless a module is given (a 1x1 convolution or a linear
// layer when the body changes the shape). The children are registered as
// "body" and "shortcut", so a saved Residual describes and reloads both.
//
// Example:
//
//   auto body = std::make_unique<actgrad::nn::Sequential>();
//   body->Add(std::make_unique<actgrad::nn::Conv2d>(
//       actgrad::nn::ConvOptions{.in_channels = 16, .out_channels = 16, .same = true}, gen));
//   body->Add(std::make_unique<actgrad::nn::Activation>(actgrad::ops::kRelu));
//   actgrad::nn::Residual block(std::move(body));
//   actgrad::Tensor y = block(x);  // x + relu(conv(x))

#ifndef ACTGRAD_NN_RESIDUAL_H_
#define ACTGRAD_NN_RESIDUAL_H_

#include <memory>
#include <source_location>
#include <string>

#include "nn/module.h"

namespace actgrad::nn {

class Residual : public Module {
 public:
  // Throws `Error` for a null body.
  explicit Residual(std::unique_ptr<Module> body, std::unique_ptr<Module> shortcut = nullptr,
                    std::source_location location = std::source_location::current());
  Tensor Forward(const Tensor& x) override;
  std::string ToString() const override;
  std::string Kind() const override { return "residual"; }

  Module& body() { return *body_; }
  Module* shortcut() { return shortcut_.get(); }

 private:
  std::unique_ptr<Module> body_;
  std::unique_ptr<Module> shortcut_;
};

}  // namespace actgrad::nn

#endif  // ACTGRAD_NN_RESIDUAL_H_
