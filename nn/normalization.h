// -----------------------------------------------------------------------------
// File: normalization.h
// -----------------------------------------------------------------------------
//
// Normalization layers: BatchNorm1d/2d, LayerNorm and GroupNorm, over the
// rows of ops/layer_ops.h, with PyTorch's parameter and buffer names:
// "weight" and "bias" (the affine scale and shift, ones and zeros at first)
// and, for batch norm, the buffers "running_mean", "running_var" and
// "num_batches_tracked". In training mode batch norm normalizes with the
// batch's statistics and moves the running ones toward them (the variance
// unbiased, as PyTorch); in evaluation mode it uses the running ones.
//
// Example:
//
//   actgrad::nn::BatchNorm2d bn({.num_features = 16});
//   actgrad::Tensor y = bn(x);  // x [N, 16, H, W]; running statistics updated
//   bn.Eval();
//   actgrad::Tensor z = bn(x);  // normalized with the running statistics

#ifndef ACTGRAD_NN_NORMALIZATION_H_
#define ACTGRAD_NN_NORMALIZATION_H_

#include <source_location>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "nn/module.h"

namespace actgrad::nn {

struct BatchNormOptions {
  int64_t num_features = 0;
  double eps = 1e-5;
  double momentum = 0.1;
  bool affine = true;
  // Without running statistics, batch statistics are used in both modes.
  bool track_running_stats = true;
  DType dtype = DType::kFloat32;
};

class BatchNorm : public Module {
 public:
  // 1: inputs [N, C] or [N, C, L]; 2: inputs [N, C, H, W].
  BatchNorm(int spatial_rank, const BatchNormOptions& options,
            std::source_location location = std::source_location::current());

  Tensor Forward(const Tensor& x) override;
  std::string ToString() const override;
  std::string Kind() const override { return spatial_rank_ == 1 ? "batch_norm1d" : "batch_norm2d"; }
  ModuleConfig Config() const override;

  Tensor& weight() { return weight_; }
  Tensor& bias() { return bias_; }
  Tensor& running_mean() { return running_mean_; }
  Tensor& running_var() { return running_var_; }
  const BatchNormOptions& options() const { return options_; }

  static absl::StatusOr<BatchNormOptions> OptionsFromConfig(const ModuleConfig& config);
  static std::vector<std::pair<std::string, Shape>> ShapesOf(const BatchNormOptions& options);

 private:
  int spatial_rank_;
  BatchNormOptions options_;
  Tensor weight_, bias_, running_mean_, running_var_, num_batches_tracked_;
};

class BatchNorm1d : public BatchNorm {
 public:
  explicit BatchNorm1d(const BatchNormOptions& options,
                       std::source_location location = std::source_location::current())
      : BatchNorm(1, options, location) {}
};

class BatchNorm2d : public BatchNorm {
 public:
  explicit BatchNorm2d(const BatchNormOptions& options,
                       std::source_location location = std::source_location::current())
      : BatchNorm(2, options, location) {}
};

struct LayerNormOptions {
  std::vector<int64_t> normalized_shape;  // the trailing dimensions normalized over
  double eps = 1e-5;
  bool elementwise_affine = true;
  DType dtype = DType::kFloat32;
};

class LayerNorm : public Module {
 public:
  explicit LayerNorm(const LayerNormOptions& options,
                     std::source_location location = std::source_location::current());
  Tensor Forward(const Tensor& x) override;
  std::string ToString() const override;
  std::string Kind() const override { return "layer_norm"; }
  ModuleConfig Config() const override;
  const LayerNormOptions& options() const { return options_; }

  static absl::StatusOr<LayerNormOptions> OptionsFromConfig(const ModuleConfig& config);
  static std::vector<std::pair<std::string, Shape>> ShapesOf(const LayerNormOptions& options);

 private:
  LayerNormOptions options_;
  Tensor weight_, bias_;
};

struct GroupNormOptions {
  int64_t groups = 1;
  int64_t channels = 0;
  double eps = 1e-5;
  bool affine = true;
  DType dtype = DType::kFloat32;
};

class GroupNorm : public Module {
 public:
  explicit GroupNorm(const GroupNormOptions& options,
                     std::source_location location = std::source_location::current());
  Tensor Forward(const Tensor& x) override;
  std::string ToString() const override;
  std::string Kind() const override { return "group_norm"; }
  ModuleConfig Config() const override;
  const GroupNormOptions& options() const { return options_; }

  static absl::StatusOr<GroupNormOptions> OptionsFromConfig(const ModuleConfig& config);
  static std::vector<std::pair<std::string, Shape>> ShapesOf(const GroupNormOptions& options);

 private:
  GroupNormOptions options_;
  Tensor weight_, bias_;
};

}  // namespace actgrad::nn

#endif  // ACTGRAD_NN_NORMALIZATION_H_
