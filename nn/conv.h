// -----------------------------------------------------------------------------
// File: conv.h
// -----------------------------------------------------------------------------
//
// Convolution layers: Conv1d, Conv2d and ConvTranspose2d, over the rows of
// ops/layer_ops.h. Parameters are "weight" ([out, in/groups, kh, kw]; a
// transposed convolution's is [in, out/groups, kh, kw]) and "bias" [out],
// as PyTorch names and lays them out, so state dicts load both ways.
// Unless told otherwise the weight and bias are drawn as PyTorch draws them,
// U(+-1/sqrt(fan_in)); the layer-spec builder (nn/layer_spec.h) picks He or
// Xavier by the activation that follows instead, and prints the choice.
//
// Example:
//
//   actgrad::Generator gen(0);
//   actgrad::nn::Conv2d conv({.in_channels = 1, .out_channels = 16, .kernel = {3, 3},
//                             .padding = {1, 1}},
//                            gen);
//   actgrad::Tensor y = conv(images);  // [N, 16, H, W]
//   std::cout << conv.ToString();
//   // Conv2d(1 -> 16, kernel 3x3, padding 1x1, weight=he_uniform(gain=0.5774, fan_in), ...)

#ifndef ACTGRAD_NN_CONV_H_
#define ACTGRAD_NN_CONV_H_

#include <array>
#include <memory>
#include <optional>
#include <source_location>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/generator.h"
#include "nn/init.h"
#include "nn/module.h"

namespace actgrad::nn {

// The options of every convolution layer; the 1-D layer reads the width
// entries ([1]) and keeps the height entries at their identity values.
struct ConvOptions {
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  std::array<int64_t, 2> kernel = {3, 3};
  std::array<int64_t, 2> stride = {1, 1};
  std::array<int64_t, 2> padding = {0, 0};
  bool same = false;  // padding "same" (stride 1; not for transposed layers)
  std::array<int64_t, 2> output_padding = {0, 0};  // transposed layers only
  std::array<int64_t, 2> dilation = {1, 1};
  int64_t groups = 1;
  bool bias = true;
  // Unset: PyTorch's default, U(+-1/sqrt(fan_in)) for both.
  std::optional<Initializer> weight_init;
  std::optional<Initializer> bias_init;
  DType dtype = DType::kFloat32;
};

// What the three layers share: options, parameters, config and printing.
class ConvLayer : public Module {
 public:
  enum class Form { kConv1d, kConv2d, kConvTranspose2d };

  Tensor Forward(const Tensor& x) override;
  std::string ToString() const override;
  std::string Kind() const override;
  ModuleConfig Config() const override;

  Tensor& weight() { return weight_; }
  Tensor& bias() { return bias_; }
  const ConvOptions& options() const { return options_; }
  Form form() const { return form_; }

  // The weight's shape for `options` in `form`.
  static Shape WeightShape(Form form, const ConvOptions& options);
  // The options a saved config holds, checked (sizes within bounds, groups
  // dividing the channels); kInvalidArgument naming the option otherwise.
  static absl::StatusOr<ConvOptions> OptionsFromConfig(Form form, const ModuleConfig& config);
  // Parameter shapes by local name, from the options alone.
  static std::vector<std::pair<std::string, Shape>> ShapesOf(Form form, const ConvOptions& options);

 protected:
  // Throws `Error` for options that do not describe a layer.
  ConvLayer(Form form, const ConvOptions& options, Generator& gen,
            const std::source_location& location);

 private:
  Form form_;
  ConvOptions options_;
  Initializer weight_init_, bias_init_;
  Tensor weight_;
  Tensor bias_;
};

class Conv1d : public ConvLayer {
 public:
  Conv1d(const ConvOptions& options, Generator& gen,
         std::source_location location = std::source_location::current())
      : ConvLayer(Form::kConv1d, options, gen, location) {}
};

class Conv2d : public ConvLayer {
 public:
  Conv2d(const ConvOptions& options, Generator& gen,
         std::source_location location = std::source_location::current())
      : ConvLayer(Form::kConv2d, options, gen, location) {}
};

class ConvTranspose2d : public ConvLayer {
 public:
  ConvTranspose2d(const ConvOptions& options, Generator& gen,
                  std::source_location location = std::source_location::current())
      : ConvLayer(Form::kConvTranspose2d, options, gen, location) {}
};

// A layer of `form` built from `options`.
std::unique_ptr<ConvLayer> MakeConvLayer(
    ConvLayer::Form form, const ConvOptions& options, Generator& gen,
    std::source_location location = std::source_location::current());

}  // namespace actgrad::nn

#endif  // ACTGRAD_NN_CONV_H_
