#include "nn/layer_kinds.h"

#include "absl/strings/str_cat.h"
#include "nn/activation_checkpoint.h"
#include "nn/conv.h"
#include "nn/dropout.h"
#include "nn/flatten.h"
#include "nn/layer_config.h"
#include "nn/normalization.h"
#include "nn/pooling.h"
#include "nn/residual.h"

namespace actgrad::nn {

namespace {

using Shapes = std::vector<std::pair<std::string, Shape>>;

ModuleKind ConvKind(ConvLayer::Form form, std::string name) {
  return internal::OptionsKind<ConvOptions>(
      std::move(name),
      [form](const ModuleConfig& c) { return ConvLayer::OptionsFromConfig(form, c); },
      [form](const ConvOptions& o) -> std::unique_ptr<Module> {
        Generator unused(0);  // the file's weights replace the drawn ones
        return MakeConvLayer(form, o, unused);
      },
      [form](const ConvOptions& o) { return ConvLayer::ShapesOf(form, o); });
}

ModuleKind PoolKind(PoolLayer::Form form, std::string name) {
  return internal::OptionsKind<PoolOptions>(
      std::move(name),
      [form](const ModuleConfig& c) { return PoolLayer::OptionsFromConfig(form, c); },
      [form](const PoolOptions& o) -> std::unique_ptr<Module> {
        return std::make_unique<PoolLayer>(form, o);
      },
      [](const PoolOptions&) { return Shapes{}; });
}

ModuleKind BatchNormKind(int spatial_rank, std::string name) {
  return internal::OptionsKind<BatchNormOptions>(
      std::move(name), &BatchNorm::OptionsFromConfig,
      [spatial_rank](const BatchNormOptions& o) -> std::unique_ptr<Module> {
        return std::make_unique<BatchNorm>(spatial_rank, o);
      },
      &BatchNorm::ShapesOf);
}

struct FlattenOptions {
  int64_t start = 1, end = -1;
};

absl::StatusOr<FlattenOptions> ReadFlatten(const ModuleConfig& config) {
  if (absl::Status s = OnlyKeysOf(config, {"start", "end"}); !s.ok()) return s;
  FlattenOptions o;
  ACTGRAD_CONFIG_ASSIGN(o.start,
                        IntInRangeOr(config, "start", -Shape::kMaxRank, Shape::kMaxRank, 1));
  ACTGRAD_CONFIG_ASSIGN(o.end, IntInRangeOr(config, "end", -Shape::kMaxRank, Shape::kMaxRank, -1));
  return o;
}

struct UnflattenOptions {
  int64_t dim = 1;
  std::vector<int64_t> sizes;
};

absl::StatusOr<UnflattenOptions> ReadUnflatten(const ModuleConfig& config) {
  if (absl::Status s = OnlyKeysOf(config, {"dim", "sizes"}); !s.ok()) return s;
  UnflattenOptions o;
  ACTGRAD_CONFIG_ASSIGN(o.dim, IntInRangeOr(config, "dim", -Shape::kMaxRank, Shape::kMaxRank, 1));
  ACTGRAD_CONFIG_ASSIGN(o.sizes, config.Ints("sizes"));
  if (o.sizes.empty() || o.sizes.size() >= size_t(Shape::kMaxRank)) {
    return absl::InvalidArgumentError("sizes: needs 1 to 7 extents");
  }
  int64_t product = 1;
  for (int64_t v : o.sizes) {
    if (v < 1 || v > kMaxLayerExtent) {
      return absl::InvalidArgumentError(
          absl::StrCat("sizes: ", v, " is outside [1, ", kMaxLayerExtent, "]"));
    }
    if (__builtin_mul_overflow(product, v, &product)) {
      return absl::InvalidArgumentError("sizes: their product does not fit in 64 bits");
    }
  }
  return o;
}

absl::StatusOr<double> ReadDropout(const ModuleConfig& config) {
  if (absl::Status s = OnlyKeysOf(config, {"p"}); !s.ok()) return s;
  absl::StatusOr<double> p = config.Number("p", 0.5);
  if (p.ok() && !(*p >= 0 && *p <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("p: ", *p, " is outside [0, 1]"));
  }
  return p;
}

ModuleKind ResidualKind() {
  return {
      .name = "residual",
      .build = [](const ModuleConfig& config,
                  std::vector<NamedModule>& children) -> absl::StatusOr<std::unique_ptr<Module>> {
        if (absl::Status s = config.OnlyKeys({}); !s.ok()) return s;
        const bool shaped = (children.size() == 1 && children[0].first == "body") ||
                            (children.size() == 2 && children[0].first == "body" &&
                             children[1].first == "shortcut");
        if (!shaped) {
          return absl::InvalidArgumentError(
              "children: a residual holds \"body\" and optionally \"shortcut\"");
        }
        std::unique_ptr<Module> shortcut =
            children.size() == 2 ? std::move(children[1].second) : nullptr;
        return std::unique_ptr<Module>(
            std::make_unique<Residual>(std::move(children[0].second), std::move(shortcut)));
      },
      .takes_children = true,
      .own_shapes = [](const ModuleConfig&) -> absl::StatusOr<Shapes> { return Shapes{}; }};
}

// A checkpoint keeps nothing of its own: it holds one child, "module", and
// saves as the module it wraps, so the weights load into the same names
// ("1.module.weight") with or without checkpointing on the other side.
ModuleKind CheckpointKind() {
  return {
      .name = "checkpoint",
      .build = [](const ModuleConfig& config,
                  std::vector<NamedModule>& children) -> absl::StatusOr<std::unique_ptr<Module>> {
        if (absl::Status s = config.OnlyKeys({}); !s.ok()) return s;
        if (children.size() != 1 || children[0].first != "module") {
          return absl::InvalidArgumentError("children: a checkpoint holds one, \"module\"");
        }
        return std::unique_ptr<Module>(
            std::make_unique<ActivationCheckpoint>(std::move(children[0].second)));
      },
      .takes_children = true,
      .own_shapes = [](const ModuleConfig&) -> absl::StatusOr<Shapes> { return Shapes{}; }};
}

}  // namespace

std::vector<ModuleKind> ConvolutionalLayerKinds() {
  std::vector<ModuleKind> kinds = {
      ConvKind(ConvLayer::Form::kConv1d, "conv1d"),
      ConvKind(ConvLayer::Form::kConv2d, "conv2d"),
      ConvKind(ConvLayer::Form::kConvTranspose2d, "conv_transpose2d"),
      PoolKind(PoolLayer::Form::kMax1d, "max_pool1d"),
      PoolKind(PoolLayer::Form::kMax2d, "max_pool2d"),
      PoolKind(PoolLayer::Form::kAvg1d, "avg_pool1d"),
      PoolKind(PoolLayer::Form::kAvg2d, "avg_pool2d"),
      PoolKind(PoolLayer::Form::kAdaptiveAvg2d, "adaptive_avg_pool2d"),
      BatchNormKind(1, "batch_norm1d"),
      BatchNormKind(2, "batch_norm2d"),
      internal::OptionsKind<LayerNormOptions>(
          "layer_norm", &LayerNorm::OptionsFromConfig,
          [](const LayerNormOptions& o) -> std::unique_ptr<Module> {
            return std::make_unique<LayerNorm>(o);
          },
          &LayerNorm::ShapesOf),
      internal::OptionsKind<GroupNormOptions>(
          "group_norm", &GroupNorm::OptionsFromConfig,
          [](const GroupNormOptions& o) -> std::unique_ptr<Module> {
            return std::make_unique<GroupNorm>(o);
          },
          &GroupNorm::ShapesOf),
      internal::OptionsKind<double>(
          "dropout", &ReadDropout,
          [](double p) -> std::unique_ptr<Module> {
            Generator unused(0);
            return std::make_unique<Dropout>(p, unused);
          },
          [](double) { return Shapes{}; }),
      internal::OptionsKind<FlattenOptions>(
          "flatten", &ReadFlatten,
          [](const FlattenOptions& o) -> std::unique_ptr<Module> {
            return std::make_unique<Flatten>(o.start, o.end);
          },
          [](const FlattenOptions&) { return Shapes{}; }),
      internal::OptionsKind<UnflattenOptions>(
          "unflatten", &ReadUnflatten,
          [](const UnflattenOptions& o) -> std::unique_ptr<Module> {
            return std::make_unique<Unflatten>(o.dim, o.sizes);
          },
          [](const UnflattenOptions&) { return Shapes{}; }),
      ResidualKind(),
      CheckpointKind(),
  };
  return kinds;
}

}  // namespace actgrad::nn
