// -----------------------------------------------------------------------------
// File: layer_ops.h
// -----------------------------------------------------------------------------
//
// The functions behind convolutional networks: convolution, pooling,
// normalization, dropout and the layout ops they need. Each is one line over
// `Apply()` with its row (ops/conv.cc, pooling.cc, normalization.cc,
// dropout.cc, layout_ops.cc), so every one is gradient-checked to first and
// second order and profiled like any other op. Layouts are PyTorch's:
// images [N, C, H, W], sequences [N, C, L], conv weights [out, in/groups,
// kh, kw], transposed-conv weights [in, out/groups, kh, kw].
//
// Example:
//
//   using namespace actgrad;
//   Tensor h = Conv2d(images, w1, b1, {.padding = {1, 1}});    // [N,16,28,28]
//   h = Relu(BatchNorm(h, gamma, beta, running_mean, running_var, {.training = true}));
//   h = MaxPool2d(h, {.window = {2, 2}});                      // [N,16,14,14]
//   Tensor logits = Linear(Flatten(h), w2, b2);

#ifndef ACTGRAD_OPS_LAYER_OPS_H_
#define ACTGRAD_OPS_LAYER_OPS_H_

#include <array>
#include <cstdint>
#include <source_location>
#include <string>
#include <vector>

#include "graph/tensor.h"

namespace actgrad {

// --- Convolution -------------------------------------------------------------
struct Conv2dOptions {
  std::array<int64_t, 2> stride = {1, 1};
  std::array<int64_t, 2> padding = {0, 0};  // on both sides of each axis
  // PyTorch's padding="same": the output keeps the input's size (stride 1
  // only); an even span puts the extra row and column at the bottom right.
  bool same = false;
  std::array<int64_t, 2> dilation = {1, 1};
  int64_t groups = 1;
};
// y[n,o] = b[o] + sum over the group's channels c of w[o,c] * x[n,c] (a
// cross-correlation, as in every framework).
Tensor Conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              const Conv2dOptions& options = {},
              std::source_location location = std::source_location::current());

struct Conv1dOptions {
  int64_t stride = 1;
  int64_t padding = 0;
  bool same = false;
  int64_t dilation = 1;
  int64_t groups = 1;
};
Tensor Conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              const Conv1dOptions& options = {},
              std::source_location location = std::source_location::current());

struct ConvTranspose2dOptions {
  std::array<int64_t, 2> stride = {1, 1};
  std::array<int64_t, 2> padding = {0, 0};
  // Extra rows and columns at the far side, to pick among the input sizes a
  // strided convolution maps to the same output size; below the stride or
  // the dilation.
  std::array<int64_t, 2> output_padding = {0, 0};
  std::array<int64_t, 2> dilation = {1, 1};
  int64_t groups = 1;
};
// The adjoint of Conv2d with respect to its input ("deconvolution"); the
// weight is [in, out/groups, kh, kw].
Tensor ConvTranspose2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
                       const ConvTranspose2dOptions& options = {},
                       std::source_location location = std::source_location::current());

// Which kernel the float32 convolutions run (float64 always runs im2col):
// im2col and the project's GEMM, or oneDNN's convolution primitives on
// blocked layouts. kFastest times both on each new shape (per direction:
// forward, input gradient, weight gradient) and keeps the faster.
enum class ConvKernel { kFastest, kIm2col, kOneDnn };
void SetConvKernel(ConvKernel kernel);
// What kFastest chose so far in this process, in the order it chose.
struct ConvKernelChoice {
  std::string work;  // "conv2d forward [64,32,14,14] * [64,32,3,3], 1 thread"
  ConvKernel kernel = ConvKernel::kIm2col;
  double im2col_us = 0;  // the faster timed run of each (0: oneDNN could not run it)
  double onednn_us = 0;
};
std::vector<ConvKernelChoice> ConvKernelChoices();

// --- Pooling -----------------------------------------------------------------
struct Pool2dOptions {
  std::array<int64_t, 2> window = {2, 2};
  std::array<int64_t, 2> stride = {0, 0};    // 0: the window
  std::array<int64_t, 2> padding = {0, 0};   // at most half the window
  std::array<int64_t, 2> dilation = {1, 1};  // max pooling only
  bool ceil_mode = false;
  bool count_include_pad = true;  // average pooling only
};
struct Pool1dOptions {
  int64_t window = 2;
  int64_t stride = 0;
  int64_t padding = 0;
  int64_t dilation = 1;
  bool ceil_mode = false;
  bool count_include_pad = true;
};
// Each output is its window's maximum. Ties go to the first maximum in
// row-major window order, and a NaN in the window wins (both as PyTorch's
// CPU kernel); the gradient flows to that one element only.
Tensor MaxPool2d(const Tensor& x, const Pool2dOptions& options = {},
                 std::source_location location = std::source_location::current());
Tensor MaxPool1d(const Tensor& x, const Pool1dOptions& options = {},
                 std::source_location location = std::source_location::current());
Tensor AvgPool2d(const Tensor& x, const Pool2dOptions& options = {},
                 std::source_location location = std::source_location::current());
Tensor AvgPool1d(const Tensor& x, const Pool1dOptions& options = {},
                 std::source_location location = std::source_location::current());
// Averages over windows that tile the input into `output_size` cells, as
// torch.nn.functional.adaptive_avg_pool2d does.
Tensor AdaptiveAvgPool2d(const Tensor& x, std::array<int64_t, 2> output_size,
                         std::source_location location = std::source_location::current());

// --- Normalization -----------------------------------------------------------
struct BatchNormOptions {
  // Training: normalize with the batch's mean and biased variance and move
  // the running statistics toward the batch's (the variance unbiased, as
  // PyTorch). Evaluation: normalize with the running statistics.
  bool training = true;
  double momentum = 0.1;
  double eps = 1e-5;
};
// x is [N, C], [N, C, L] or [N, C, H, W]; statistics are per channel C.
// `weight` and `bias` are [C]; `running_mean` and `running_var` are [C] and
// updated in place in training, or both undefined (batch statistics always).
Tensor BatchNorm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                 const Tensor& running_mean, const Tensor& running_var,
                 const BatchNormOptions& options = {},
                 std::source_location location = std::source_location::current());
// Normalizes over the last normalized_shape.size() dimensions, which must
// equal normalized_shape; weight and bias have that shape or are undefined.
Tensor LayerNorm(const Tensor& x, const std::vector<int64_t>& normalized_shape,
                 const Tensor& weight = Tensor(), const Tensor& bias = Tensor(), double eps = 1e-5,
                 std::source_location location = std::source_location::current());
// x is [N, C, ...]; statistics per sample over each of `groups` channel
// groups; weight and bias are per channel [C] or undefined.
Tensor GroupNorm(const Tensor& x, int64_t groups, const Tensor& weight = Tensor(),
                 const Tensor& bias = Tensor(), double eps = 1e-5,
                 std::source_location location = std::source_location::current());

// --- Dropout -----------------------------------------------------------------
// Zeroes each element with probability p and scales the rest by 1/(1-p). The
// mask is a function of `seed` and the element's index alone, so a seed
// replays the same mask on any thread count; backward keeps it as one bit
// per element. For training only: in evaluation, do not call it.
Tensor Dropout(const Tensor& x, double p, uint64_t seed,
               std::source_location location = std::source_location::current());

// --- Layout ------------------------------------------------------------------
// Dimensions start..end (inclusive; negative counts from the back) become one.
Tensor Flatten(const Tensor& x, int64_t start = 1, int64_t end = -1,
               std::source_location location = std::source_location::current());
// Reorders the dimensions: output dimension i is input dimension axes[i].
Tensor Permute(const Tensor& x, std::vector<int64_t> axes,
               std::source_location location = std::source_location::current());
// Pads with `value`: pads holds (before, after) pairs from the last dimension
// backwards, as torch.nn.functional.pad; negative amounts crop.
Tensor Pad(const Tensor& x, std::vector<int64_t> pads, double value = 0.0,
           std::source_location location = std::source_location::current());

}  // namespace actgrad

#endif  // ACTGRAD_OPS_LAYER_OPS_H_
