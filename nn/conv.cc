#include "nn/conv.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/factories.h"
#include "nn/layer_config.h"
#include "ops/layer_ops.h"

namespace actgrad::nn {

namespace {

int Spatial(ConvLayer::Form form) { return form == ConvLayer::Form::kConv1d ? 1 : 2; }

// The entries a form uses: [1] for 1-D, both for 2-D.
std::vector<int64_t> Used(ConvLayer::Form form, const std::array<int64_t, 2>& v) {
  if (Spatial(form) == 1) return {v[1]};
  return {v[0], v[1]};
}

std::string Extent(ConvLayer::Form form, const std::array<int64_t, 2>& v) {
  return absl::StrJoin(Used(form, v), "x");
}

// The fan-in PyTorch's default draws from: the weight's dim 1 times its
// kernel area.
double FanIn(const Shape& weight) {
  double fan = double(weight[1]);
  for (int d = 2; d < weight.rank(); ++d) fan *= double(weight[d]);
  return fan;
}

}  // namespace

Shape ConvLayer::WeightShape(Form form, const ConvOptions& o) {
  const int64_t per_group_in = o.in_channels / std::max<int64_t>(1, o.groups);
  const int64_t per_group_out = o.out_channels / std::max<int64_t>(1, o.groups);
  switch (form) {
    case Form::kConv1d:
      return Shape{o.out_channels, per_group_in, o.kernel[1]};
    case Form::kConv2d:
      return Shape{o.out_channels, per_group_in, o.kernel[0], o.kernel[1]};
    case Form::kConvTranspose2d:
      return Shape{o.in_channels, per_group_out, o.kernel[0], o.kernel[1]};
  }
  return Shape{};
}

std::vector<std::pair<std::string, Shape>> ConvLayer::ShapesOf(Form form, const ConvOptions& o) {
  std::vector<std::pair<std::string, Shape>> shapes = {{"weight", WeightShape(form, o)}};
  if (o.bias) shapes.emplace_back("bias", Shape{o.out_channels});
  return shapes;
}

ConvLayer::ConvLayer(Form form, const ConvOptions& options, Generator& gen,
                     const std::source_location& location)
    : form_(form), options_(options) {
  const std::string kind = Kind();
  const ConvOptions& o = options;
  ACTGRAD_REQUIRE(o.in_channels > 0 && o.out_channels > 0 && o.groups > 0 &&
                      o.in_channels % o.groups == 0 && o.out_channels % o.groups == 0,
                  location, kind, ": channels must be positive and divisible by groups, got ",
                  o.in_channels, " -> ", o.out_channels, " in ", o.groups, " groups");
  for (int axis = 2 - Spatial(form); axis < 2; ++axis) {
    ACTGRAD_REQUIRE(o.kernel[axis] > 0 && o.stride[axis] > 0 && o.dilation[axis] > 0 &&
                        o.padding[axis] >= 0 && o.output_padding[axis] >= 0,
                    location, kind,
                    ": kernel, stride and dilation must be positive and padding >= 0, got kernel ",
                    Extent(form, o.kernel), ", stride ", Extent(form, o.stride), ", dilation ",
                    Extent(form, o.dilation), ", padding ", Extent(form, o.padding));
  }
  ACTGRAD_REQUIRE(
      !o.same || (form != Form::kConvTranspose2d &&
                  Used(form, o.stride) == std::vector<int64_t>(size_t(Spatial(form)), 1)),
      location, kind, ": padding \"same\" needs stride 1 and a forward convolution");
  const Shape weight_shape = WeightShape(form, o);
  const double bound = 1.0 / std::sqrt(FanIn(weight_shape));
  weight_init_ = o.weight_init.value_or(Initializer::HeUniform(1.0 / std::sqrt(3.0)));
  bias_init_ = o.bias_init.value_or(Initializer::Uniform(-bound, bound));
  weight_ = Zeros(weight_shape, o.dtype);
  weight_init_.Fill(weight_, gen);
  RegisterParameter("weight", &weight_, location);
  if (o.bias) {
    bias_ = Zeros({o.out_channels}, o.dtype);
    bias_init_.Fill(bias_, gen);
    RegisterParameter("bias", &bias_, location);
  }
}

Tensor ConvLayer::Forward(const Tensor& x) {
  const ConvOptions& o = options_;
  switch (form_) {
    case Form::kConv1d:
      return actgrad::Conv1d(x, weight_, bias_,
                             {.stride = o.stride[1],
                              .padding = o.padding[1],
                              .same = o.same,
                              .dilation = o.dilation[1],
                              .groups = o.groups});
    case Form::kConv2d:
      return actgrad::Conv2d(x, weight_, bias_,
                             {.stride = o.stride,
                              .padding = o.padding,
                              .same = o.same,
                              .dilation = o.dilation,
                              .groups = o.groups});
    case Form::kConvTranspose2d:
      return actgrad::ConvTranspose2d(x, weight_, bias_,
                                      {.stride = o.stride,
                                       .padding = o.padding,
                                       .output_padding = o.output_padding,
                                       .dilation = o.dilation,
                                       .groups = o.groups});
  }
  return Tensor();
}

std::string ConvLayer::Kind() const {
  switch (form_) {
    case Form::kConv1d:
      return "conv1d";
    case Form::kConv2d:
      return "conv2d";
    case Form::kConvTranspose2d:
      return "conv_transpose2d";
  }
  return "conv";
}

std::string ConvLayer::ToString() const {
  const ConvOptions& o = options_;
  const char* name = form_ == Form::kConv1d   ? "Conv1d"
                     : form_ == Form::kConv2d ? "Conv2d"
                                              : "ConvTranspose2d";
  std::string out = absl::StrCat(name, "(", o.in_channels, " -> ", o.out_channels, ", kernel ",
                                 Extent(form_, o.kernel));
  const std::vector<int64_t> ones(size_t(Spatial(form_)), 1), zeros(size_t(Spatial(form_)), 0);
  if (Used(form_, o.stride) != ones) absl::StrAppend(&out, ", stride ", Extent(form_, o.stride));
  if (o.same) {
    absl::StrAppend(&out, ", padding same");
  } else if (Used(form_, o.padding) != zeros) {
    absl::StrAppend(&out, ", padding ", Extent(form_, o.padding));
  }
  if (form_ == Form::kConvTranspose2d && Used(form_, o.output_padding) != zeros) {
    absl::StrAppend(&out, ", output_padding ", Extent(form_, o.output_padding));
  }
  if (Used(form_, o.dilation) != ones) {
    absl::StrAppend(&out, ", dilation ", Extent(form_, o.dilation));
  }
  if (o.groups != 1) absl::StrAppend(&out, ", groups ", o.groups);
  absl::StrAppend(&out, ", weight=", weight_init_.ToString(),
                  o.bias ? absl::StrCat(", bias=", bias_init_.ToString()) : ", no bias", ")");
  return out;
}

ModuleConfig ConvLayer::Config() const {
  const ConvOptions& o = options_;
  ModuleConfig config;
  config.Set("in_channels", o.in_channels)
      .Set("out_channels", o.out_channels)
      .Set("kernel", Used(form_, o.kernel))
      .Set("stride", Used(form_, o.stride))
      .Set("padding", Used(form_, o.padding))
      .Set("same", o.same);
  if (form_ == Form::kConvTranspose2d) config.Set("output_padding", Used(form_, o.output_padding));
  config.Set("dilation", Used(form_, o.dilation))
      .Set("groups", o.groups)
      .Set("bias", o.bias)
      .Set("dtype", DTypeName(o.dtype))
      .Set("weight_init", weight_init_.ToString())
      .Set("bias_init", bias_init_.ToString());
  return config;
}

absl::StatusOr<ConvOptions> ConvLayer::OptionsFromConfig(Form form, const ModuleConfig& config) {
  std::vector<absl::string_view> keys = {"in_channels", "out_channels", "kernel",      "stride",
                                         "padding",     "same",         "dilation",    "groups",
                                         "bias",        "dtype",        "weight_init", "bias_init"};
  if (form == Form::kConvTranspose2d) keys.push_back("output_padding");
  if (absl::Status s = OnlyKeysOf(config, keys); !s.ok()) return s;
  ConvOptions o;
  const int spatial = Spatial(form);
  ACTGRAD_CONFIG_ASSIGN(o.in_channels, config.IntInRange("in_channels", 1, kMaxLayerExtent));
  ACTGRAD_CONFIG_ASSIGN(o.out_channels, config.IntInRange("out_channels", 1, kMaxLayerExtent));
  ACTGRAD_CONFIG_ASSIGN(o.groups, IntInRangeOr(config, "groups", 1, kMaxLayerExtent, 1));
  ACTGRAD_CONFIG_ASSIGN(o.kernel, SpatialList(config, "kernel", spatial, 1, std::nullopt));
  ACTGRAD_CONFIG_ASSIGN(o.stride, SpatialList(config, "stride", spatial, 1, 1));
  ACTGRAD_CONFIG_ASSIGN(o.padding, SpatialList(config, "padding", spatial, 0, 0));
  ACTGRAD_CONFIG_ASSIGN(o.dilation, SpatialList(config, "dilation", spatial, 1, 1));
  if (form == Form::kConvTranspose2d) {
    ACTGRAD_CONFIG_ASSIGN(o.output_padding, SpatialList(config, "output_padding", spatial, 0, 0));
  }
  ACTGRAD_CONFIG_ASSIGN(o.same, config.Bool("same", false));
  ACTGRAD_CONFIG_ASSIGN(o.bias, config.Bool("bias", true));
  ACTGRAD_CONFIG_ASSIGN(o.dtype, FloatDTypeOf(config));
  ACTGRAD_CONFIG_ASSIGN(o.weight_init, OptionalInitializer(config, "weight_init"));
  ACTGRAD_CONFIG_ASSIGN(o.bias_init, OptionalInitializer(config, "bias_init"));
  if (o.in_channels % o.groups != 0 || o.out_channels % o.groups != 0) {
    return absl::InvalidArgumentError(absl::StrCat("groups: ", o.groups,
                                                   " does not divide the channels ", o.in_channels,
                                                   " -> ", o.out_channels));
  }
  return o;
}

std::unique_ptr<ConvLayer> MakeConvLayer(ConvLayer::Form form, const ConvOptions& options,
                                         Generator& gen, std::source_location location) {
  switch (form) {
    case ConvLayer::Form::kConv1d:
      return std::make_unique<Conv1d>(options, gen, location);
    case ConvLayer::Form::kConv2d:
      return std::make_unique<Conv2d>(options, gen, location);
    case ConvLayer::Form::kConvTranspose2d:
      return std::make_unique<ConvTranspose2d>(options, gen, location);
  }
  return nullptr;
}

}  // namespace actgrad::nn
