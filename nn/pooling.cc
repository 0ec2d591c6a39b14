#include "nn/pooling.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nn/layer_config.h"
#include "ops/layer_ops.h"

namespace actgrad::nn {

namespace {

bool OneDimensional(PoolLayer::Form form) {
  return form == PoolLayer::Form::kMax1d || form == PoolLayer::Form::kAvg1d;
}
bool IsMax(PoolLayer::Form form) {
  return form == PoolLayer::Form::kMax1d || form == PoolLayer::Form::kMax2d;
}
bool IsAdaptive(PoolLayer::Form form) { return form == PoolLayer::Form::kAdaptiveAvg2d; }

std::vector<int64_t> Used(PoolLayer::Form form, const std::array<int64_t, 2>& v) {
  if (OneDimensional(form)) return {v[1]};
  return {v[0], v[1]};
}

std::array<int64_t, 2> Stride(const PoolOptions& o) {
  return {o.stride[0] == 0 ? o.window[0] : o.stride[0],
          o.stride[1] == 0 ? o.window[1] : o.stride[1]};
}

}  // namespace

PoolLayer::PoolLayer(Form form, const PoolOptions& options, std::source_location location)
    : form_(form), options_(options) {
  for (int axis = OneDimensional(form) ? 1 : 0; axis < 2; ++axis) {
    ACTGRAD_REQUIRE(options.window[axis] > 0 && options.stride[axis] >= 0 &&
                        options.dilation[axis] > 0 && options.padding[axis] >= 0 &&
                        2 * options.padding[axis] <= options.window[axis],
                    location, Kind(),
                    ": window and dilation must be positive, stride >= 0 (0: the window) and "
                    "padding at most half the window, got window ",
                    absl::StrJoin(Used(form, options.window), "x"), ", stride ",
                    absl::StrJoin(Used(form, options.stride), "x"), ", padding ",
                    absl::StrJoin(Used(form, options.padding), "x"));
  }
}

Tensor PoolLayer::Forward(const Tensor& x) {
  const PoolOptions& o = options_;
  const std::array<int64_t, 2> stride = Stride(o);
  switch (form_) {
    case Form::kMax1d:
      return actgrad::MaxPool1d(x, {.window = o.window[1],
                                    .stride = stride[1],
                                    .padding = o.padding[1],
                                    .dilation = o.dilation[1],
                                    .ceil_mode = o.ceil_mode});
    case Form::kMax2d:
      return actgrad::MaxPool2d(x, {.window = o.window,
                                    .stride = stride,
                                    .padding = o.padding,
                                    .dilation = o.dilation,
                                    .ceil_mode = o.ceil_mode});
    case Form::kAvg1d:
      return actgrad::AvgPool1d(x, {.window = o.window[1],
                                    .stride = stride[1],
                                    .padding = o.padding[1],
                                    .ceil_mode = o.ceil_mode,
                                    .count_include_pad = o.count_include_pad});
    case Form::kAvg2d:
      return actgrad::AvgPool2d(x, {.window = o.window,
                                    .stride = stride,
                                    .padding = o.padding,
                                    .ceil_mode = o.ceil_mode,
                                    .count_include_pad = o.count_include_pad});
    case Form::kAdaptiveAvg2d:
      return actgrad::AdaptiveAvgPool2d(x, o.window);
  }
  return Tensor();
}

std::string PoolLayer::Kind() const {
  switch (form_) {
    case Form::kMax1d:
      return "max_pool1d";
    case Form::kMax2d:
      return "max_pool2d";
    case Form::kAvg1d:
      return "avg_pool1d";
    case Form::kAvg2d:
      return "avg_pool2d";
    case Form::kAdaptiveAvg2d:
      return "adaptive_avg_pool2d";
  }
  return "pool";
}

std::string PoolLayer::ToString() const {
  const PoolOptions& o = options_;
  const char* name = form_ == Form::kMax1d   ? "MaxPool1d"
                     : form_ == Form::kMax2d ? "MaxPool2d"
                     : form_ == Form::kAvg1d ? "AvgPool1d"
                     : form_ == Form::kAvg2d ? "AvgPool2d"
                                             : "AdaptiveAvgPool2d";
  if (IsAdaptive(form_)) {
    return absl::StrCat(name, "(output ", absl::StrJoin(Used(form_, o.window), "x"), ")");
  }
  std::string out = absl::StrCat(name, "(window ", absl::StrJoin(Used(form_, o.window), "x"),
                                 ", stride ", absl::StrJoin(Used(form_, Stride(o)), "x"));
  if (Used(form_, o.padding) != std::vector<int64_t>(Used(form_, o.padding).size(), 0)) {
    absl::StrAppend(&out, ", padding ", absl::StrJoin(Used(form_, o.padding), "x"));
  }
  if (IsMax(form_) &&
      Used(form_, o.dilation) != std::vector<int64_t>(Used(form_, o.dilation).size(), 1)) {
    absl::StrAppend(&out, ", dilation ", absl::StrJoin(Used(form_, o.dilation), "x"));
  }
  if (o.ceil_mode) absl::StrAppend(&out, ", ceil_mode");
  if (!IsMax(form_) && !o.count_include_pad) absl::StrAppend(&out, ", padding not counted");
  return out + ")";
}

ModuleConfig PoolLayer::Config() const {
  const PoolOptions& o = options_;
  ModuleConfig config;
  if (IsAdaptive(form_)) return config.Set("output_size", Used(form_, o.window));
  config.Set("window", Used(form_, o.window))
      .Set("stride", Used(form_, Stride(o)))
      .Set("padding", Used(form_, o.padding))
      .Set("ceil_mode", o.ceil_mode);
  if (IsMax(form_)) {
    config.Set("dilation", Used(form_, o.dilation));
  } else {
    config.Set("count_include_pad", o.count_include_pad);
  }
  return config;
}

absl::StatusOr<PoolOptions> PoolLayer::OptionsFromConfig(Form form, const ModuleConfig& config) {
  PoolOptions o;
  const int spatial = OneDimensional(form) ? 1 : 2;
  if (IsAdaptive(form)) {
    if (absl::Status s = OnlyKeysOf(config, {"output_size"}); !s.ok()) return s;
    ACTGRAD_CONFIG_ASSIGN(o.window, SpatialList(config, "output_size", spatial, 1, std::nullopt));
    return o;
  }
  std::vector<absl::string_view> keys = {"window", "stride", "padding", "ceil_mode"};
  keys.push_back(IsMax(form) ? "dilation" : "count_include_pad");
  if (absl::Status s = OnlyKeysOf(config, keys); !s.ok()) return s;
  ACTGRAD_CONFIG_ASSIGN(o.window, SpatialList(config, "window", spatial, 1, std::nullopt));
  ACTGRAD_CONFIG_ASSIGN(o.stride, SpatialList(config, "stride", spatial, 1, o.window[1]));
  if (!config.Has("stride")) o.stride = o.window;
  ACTGRAD_CONFIG_ASSIGN(o.padding, SpatialList(config, "padding", spatial, 0, 0));
  ACTGRAD_CONFIG_ASSIGN(o.ceil_mode, config.Bool("ceil_mode", false));
  if (IsMax(form)) {
    ACTGRAD_CONFIG_ASSIGN(o.dilation, SpatialList(config, "dilation", spatial, 1, 1));
  } else {
    ACTGRAD_CONFIG_ASSIGN(o.count_include_pad, config.Bool("count_include_pad", true));
  }
  for (int axis = 2 - spatial; axis < 2; ++axis) {
    if (2 * o.padding[axis] > o.window[axis]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "padding: ", o.padding[axis], " is more than half the window ", o.window[axis]));
    }
  }
  return o;
}

}  // namespace actgrad::nn
