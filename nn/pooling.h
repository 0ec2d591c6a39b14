// -----------------------------------------------------------------------------
// File: pooling.h
// -----------------------------------------------------------------------------
//
// Pooling layers: MaxPool1d/2d, AvgPool1d/2d and AdaptiveAvgPool2d, over the
// rows of ops/layer_ops.h. They hold no parameters; their options are part
// of the saved model.
//
// Example:
//
//   actgrad::nn::MaxPool2d pool({.window = {2, 2}});
//   actgrad::Tensor y = pool(x);  // [N, C, H/2, W/2]
//   actgrad::nn::AdaptiveAvgPool2d global({.window = {1, 1}});  // [N, C, 1, 1]

#ifndef ACTGRAD_NN_POOLING_H_
#define ACTGRAD_NN_POOLING_H_

#include <array>
#include <memory>
#include <source_location>
#include <string>

#include "absl/status/statusor.h"
#include "nn/module.h"

namespace actgrad::nn {

// The 1-D layers read the width entries ([1]). Adaptive pooling reads only
// `window`, as the output size.
struct PoolOptions {
  std::array<int64_t, 2> window = {2, 2};
  std::array<int64_t, 2> stride = {0, 0};  // 0: the window
  std::array<int64_t, 2> padding = {0, 0};
  std::array<int64_t, 2> dilation = {1, 1};  // max pooling
  bool ceil_mode = false;
  bool count_include_pad = true;  // average pooling
};

class PoolLayer : public Module {
 public:
  enum class Form { kMax1d, kMax2d, kAvg1d, kAvg2d, kAdaptiveAvg2d };

  // Throws `Error` for windows, strides or paddings that describe no pool.
  PoolLayer(Form form, const PoolOptions& options,
            std::source_location location = std::source_location::current());

  Tensor Forward(const Tensor& x) override;
  std::string ToString() const override;
  std::string Kind() const override;
  ModuleConfig Config() const override;
  const PoolOptions& options() const { return options_; }
  Form form() const { return form_; }

  static absl::StatusOr<PoolOptions> OptionsFromConfig(Form form, const ModuleConfig& config);

 private:
  Form form_;
  PoolOptions options_;
};

class MaxPool1d : public PoolLayer {
 public:
  explicit MaxPool1d(const PoolOptions& options = {},
                     std::source_location location = std::source_location::current())
      : PoolLayer(Form::kMax1d, options, location) {}
};

class MaxPool2d : public PoolLayer {
 public:
  explicit MaxPool2d(const PoolOptions& options = {},
                     std::source_location location = std::source_location::current())
      : PoolLayer(Form::kMax2d, options, location) {}
};

class AvgPool1d : public PoolLayer {
 public:
  explicit AvgPool1d(const PoolOptions& options = {},
                     std::source_location location = std::source_location::current())
      : PoolLayer(Form::kAvg1d, options, location) {}
};

class AvgPool2d : public PoolLayer {
 public:
  explicit AvgPool2d(const PoolOptions& options = {},
                     std::source_location location = std::source_location::current())
      : PoolLayer(Form::kAvg2d, options, location) {}
};

class AdaptiveAvgPool2d : public PoolLayer {
 public:
  explicit AdaptiveAvgPool2d(const PoolOptions& options = {},
                             std::source_location location = std::source_location::current())
      : PoolLayer(Form::kAdaptiveAvg2d, options, location) {}
};

}  // namespace actgrad::nn

#endif  // ACTGRAD_NN_POOLING_H_
