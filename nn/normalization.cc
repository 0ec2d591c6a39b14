#include "nn/normalization.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/factories.h"
#include "graph/grad_mode.h"
#include "nn/layer_config.h"
#include "ops/layer_ops.h"

namespace actgrad::nn {

namespace {

void CheckEps(double eps, absl::string_view kind, const std::source_location& location) {
  ACTGRAD_REQUIRE(eps > 0 && std::isfinite(eps), location, kind,
                  ": eps must be a finite number > 0, got ", eps);
}

absl::StatusOr<double> PositiveNumber(const ModuleConfig& config, absl::string_view key,
                                      double fallback, double max) {
  absl::StatusOr<double> v = config.Number(key, fallback);
  if (!v.ok()) return v.status();
  if (!(*v > 0 && *v <= max)) {
    return absl::InvalidArgumentError(absl::StrCat(key, ": ", *v, " is outside (0, ", max, "]"));
  }
  return v;
}

}  // namespace

// ---------------------------------------------------------------- BatchNorm
BatchNorm::BatchNorm(int spatial_rank, const BatchNormOptions& options,
                     std::source_location location)
    : spatial_rank_(spatial_rank), options_(options) {
  const std::string kind = Kind();
  ACTGRAD_REQUIRE(options.num_features > 0, location, kind, ": num_features must be positive, got ",
                  options.num_features);
  CheckEps(options.eps, kind, location);
  ACTGRAD_REQUIRE(options.momentum >= 0 && options.momentum <= 1, location, kind,
                  ": momentum must be in [0, 1], got ", options.momentum);
  const Shape channels{options.num_features};
  if (options.affine) {
    weight_ = Ones(channels, options.dtype);
    bias_ = Zeros(channels, options.dtype);
    RegisterParameter("weight", &weight_, location);
    RegisterParameter("bias", &bias_, location);
  }
  if (options.track_running_stats) {
    running_mean_ = Zeros(channels, options.dtype);
    running_var_ = Ones(channels, options.dtype);
    num_batches_tracked_ = Zeros(Shape{}, DType::kInt64);
    RegisterBuffer("running_mean", &running_mean_, location);
    RegisterBuffer("running_var", &running_var_, location);
    RegisterBuffer("num_batches_tracked", &num_batches_tracked_, location);
  }
}

Tensor BatchNorm::Forward(const Tensor& x) {
  ACTGRAD_REQUIRE(
      x.defined() && (spatial_rank_ == 2 ? x.rank() == 4 : (x.rank() == 2 || x.rank() == 3)),
      std::source_location::current(), Kind(), ": the input must be ",
      spatial_rank_ == 2 ? "[N, C, H, W]" : "[N, C] or [N, C, L]", ", got ",
      x.defined() ? x.shape().ToString() : "undefined");
  const bool training = is_training();
  if (training && options_.track_running_stats) {
    ++num_batches_tracked_.data<int64_t>()[0];
  }
  return actgrad::BatchNorm(
      x, weight_, bias_, running_mean_, running_var_,
      {.training = training, .momentum = options_.momentum, .eps = options_.eps});
}

std::string BatchNorm::ToString() const {
  return absl::StrCat(spatial_rank_ == 1 ? "BatchNorm1d(" : "BatchNorm2d(", options_.num_features,
                      ", eps=", options_.eps, ", momentum=", options_.momentum,
                      options_.affine ? "" : ", no affine",
                      options_.track_running_stats ? "" : ", no running statistics", ")");
}

ModuleConfig BatchNorm::Config() const {
  return ModuleConfig()
      .Set("num_features", options_.num_features)
      .Set("eps", options_.eps)
      .Set("momentum", options_.momentum)
      .Set("affine", options_.affine)
      .Set("track_running_stats", options_.track_running_stats)
      .Set("dtype", DTypeName(options_.dtype));
}

absl::StatusOr<BatchNormOptions> BatchNorm::OptionsFromConfig(const ModuleConfig& config) {
  if (absl::Status s = OnlyKeysOf(
          config, {"num_features", "eps", "momentum", "affine", "track_running_stats", "dtype"});
      !s.ok()) {
    return s;
  }
  BatchNormOptions o;
  ACTGRAD_CONFIG_ASSIGN(o.num_features, config.IntInRange("num_features", 1, kMaxLayerExtent));
  ACTGRAD_CONFIG_ASSIGN(o.eps, PositiveNumber(config, "eps", 1e-5, 1.0));
  ACTGRAD_CONFIG_ASSIGN(o.momentum, config.Number("momentum", 0.1));
  if (!(o.momentum >= 0 && o.momentum <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("momentum: ", o.momentum, " is outside [0, 1]"));
  }
  ACTGRAD_CONFIG_ASSIGN(o.affine, config.Bool("affine", true));
  ACTGRAD_CONFIG_ASSIGN(o.track_running_stats, config.Bool("track_running_stats", true));
  ACTGRAD_CONFIG_ASSIGN(o.dtype, FloatDTypeOf(config));
  return o;
}

std::vector<std::pair<std::string, Shape>> BatchNorm::ShapesOf(const BatchNormOptions& o) {
  std::vector<std::pair<std::string, Shape>> shapes;
  const Shape channels{o.num_features};
  if (o.affine) {
    shapes.emplace_back("weight", channels);
    shapes.emplace_back("bias", channels);
  }
  if (o.track_running_stats) {
    shapes.emplace_back("running_mean", channels);
    shapes.emplace_back("running_var", channels);
    shapes.emplace_back("num_batches_tracked", Shape{});
  }
  return shapes;
}

// ---------------------------------------------------------------- LayerNorm
LayerNorm::LayerNorm(const LayerNormOptions& options, std::source_location location)
    : options_(options) {
  ACTGRAD_REQUIRE(!options.normalized_shape.empty(), location,
                  "layer_norm: normalized_shape must name at least one dimension");
  const Shape shape(std::span<const int64_t>(options.normalized_shape), location);
  ACTGRAD_REQUIRE(shape.NumElements() > 0, location, "layer_norm: normalized_shape ",
                  shape.ToString(), " must have positive extents");
  CheckEps(options.eps, "layer_norm", location);
  if (options.elementwise_affine) {
    weight_ = Ones(shape, options.dtype);
    bias_ = Zeros(shape, options.dtype);
    RegisterParameter("weight", &weight_, location);
    RegisterParameter("bias", &bias_, location);
  }
}

Tensor LayerNorm::Forward(const Tensor& x) {
  return actgrad::LayerNorm(x, options_.normalized_shape, weight_, bias_, options_.eps);
}

std::string LayerNorm::ToString() const {
  return absl::StrCat("LayerNorm([", absl::StrJoin(options_.normalized_shape, ", "),
                      "], eps=", options_.eps, options_.elementwise_affine ? "" : ", no affine",
                      ")");
}

ModuleConfig LayerNorm::Config() const {
  return ModuleConfig()
      .Set("normalized_shape", options_.normalized_shape)
      .Set("eps", options_.eps)
      .Set("elementwise_affine", options_.elementwise_affine)
      .Set("dtype", DTypeName(options_.dtype));
}

absl::StatusOr<LayerNormOptions> LayerNorm::OptionsFromConfig(const ModuleConfig& config) {
  if (absl::Status s =
          OnlyKeysOf(config, {"normalized_shape", "eps", "elementwise_affine", "dtype"});
      !s.ok()) {
    return s;
  }
  LayerNormOptions o;
  ACTGRAD_CONFIG_ASSIGN(o.normalized_shape, config.Ints("normalized_shape"));
  if (o.normalized_shape.empty() || o.normalized_shape.size() > size_t(Shape::kMaxRank)) {
    return absl::InvalidArgumentError("normalized_shape: needs 1 to 8 extents");
  }
  for (int64_t v : o.normalized_shape) {
    if (v < 1 || v > kMaxLayerExtent) {
      return absl::InvalidArgumentError(
          absl::StrCat("normalized_shape: ", v, " is outside [1, ", kMaxLayerExtent, "]"));
    }
  }
  ACTGRAD_CONFIG_ASSIGN(o.eps, PositiveNumber(config, "eps", 1e-5, 1.0));
  ACTGRAD_CONFIG_ASSIGN(o.elementwise_affine, config.Bool("elementwise_affine", true));
  ACTGRAD_CONFIG_ASSIGN(o.dtype, FloatDTypeOf(config));
  return o;
}

std::vector<std::pair<std::string, Shape>> LayerNorm::ShapesOf(const LayerNormOptions& o) {
  if (!o.elementwise_affine) return {};
  const Shape shape{std::span<const int64_t>(o.normalized_shape)};
  return {{"weight", shape}, {"bias", shape}};
}

// ---------------------------------------------------------------- GroupNorm
GroupNorm::GroupNorm(const GroupNormOptions& options, std::source_location location)
    : options_(options) {
  ACTGRAD_REQUIRE(
      options.groups > 0 && options.channels > 0 && options.channels % options.groups == 0,
      location, "group_norm: ", options.groups, " groups must be positive and divide the channels ",
      options.channels);
  CheckEps(options.eps, "group_norm", location);
  if (options.affine) {
    weight_ = Ones(Shape{options.channels}, options.dtype);
    bias_ = Zeros(Shape{options.channels}, options.dtype);
    RegisterParameter("weight", &weight_, location);
    RegisterParameter("bias", &bias_, location);
  }
}

Tensor GroupNorm::Forward(const Tensor& x) {
  return actgrad::GroupNorm(x, options_.groups, weight_, bias_, options_.eps);
}

std::string GroupNorm::ToString() const {
  return absl::StrCat("GroupNorm(", options_.groups, " groups, ", options_.channels,
                      " channels, eps=", options_.eps, options_.affine ? "" : ", no affine", ")");
}

ModuleConfig GroupNorm::Config() const {
  return ModuleConfig()
      .Set("groups", options_.groups)
      .Set("channels", options_.channels)
      .Set("eps", options_.eps)
      .Set("affine", options_.affine)
      .Set("dtype", DTypeName(options_.dtype));
}

absl::StatusOr<GroupNormOptions> GroupNorm::OptionsFromConfig(const ModuleConfig& config) {
  if (absl::Status s = OnlyKeysOf(config, {"groups", "channels", "eps", "affine", "dtype"});
      !s.ok()) {
    return s;
  }
  GroupNormOptions o;
  ACTGRAD_CONFIG_ASSIGN(o.groups, config.IntInRange("groups", 1, kMaxLayerExtent));
  ACTGRAD_CONFIG_ASSIGN(o.channels, config.IntInRange("channels", 1, kMaxLayerExtent));
  if (o.channels % o.groups != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("groups: ", o.groups, " does not divide the channels ", o.channels));
  }
  ACTGRAD_CONFIG_ASSIGN(o.eps, PositiveNumber(config, "eps", 1e-5, 1.0));
  ACTGRAD_CONFIG_ASSIGN(o.affine, config.Bool("affine", true));
  ACTGRAD_CONFIG_ASSIGN(o.dtype, FloatDTypeOf(config));
  return o;
}

std::vector<std::pair<std::string, Shape>> GroupNorm::ShapesOf(const GroupNormOptions& o) {
  if (!o.affine) return {};
  return {{"weight", Shape{o.channels}}, {"bias", Shape{o.channels}}};
}

}  // namespace actgrad::nn
