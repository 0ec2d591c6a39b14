// -----------------------------------------------------------------------------
// File: dnnl_conv.h
// -----------------------------------------------------------------------------
//
// float32 convolutions on oneDNN's primitives (forward, backward data,
// backward weights), one of the two kernels the conv rows choose between
// (ops/conv.cc measures both on each new shape). The tensors stay in
// PyTorch's plain layouts; the primitives run on the blocked layouts oneDNN
// picks, with reorders in and out, which measured faster than the plain
// ones. Primitives, reorders and their buffers are built once per shape and
// thread count and cached per thread.
//
// Example:
//
//   actgrad::internal::ConvGeometry g{.batch = 64, .channels = 32, ...};
//   if (actgrad::internal::DnnlConvForward(g, x, w, bias, y)) { ... }  // else: im2col

#ifndef ACTGRAD_OPS_DNNL_CONV_H_
#define ACTGRAD_OPS_DNNL_CONV_H_

#include <cstdint>

namespace actgrad::internal {

// One convolution: input side [batch, channels, height, width], weight
// [out_channels, channels/groups, kh, kw], output side [batch, out_channels,
// out_height, out_width]; dilation 1 is a plain kernel.
struct ConvGeometry {
  int64_t batch = 0, channels = 0, height = 0, width = 0;
  int64_t out_channels = 0, out_height = 0, out_width = 0;
  int64_t kh = 1, kw = 1, groups = 1;
  int64_t sh = 1, sw = 1, pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int64_t dh = 1, dw = 1;
};

// Each runs the primitive and returns true, or returns false having
// written nothing when this build has no oneDNN or oneDNN cannot run the
// shape. `bias` may be null.
bool DnnlConvForward(const ConvGeometry& g, const float* x, const float* weight, const float* bias,
                     float* y);
bool DnnlConvBackwardData(const ConvGeometry& g, const float* dy, const float* weight, float* dx);
bool DnnlConvBackwardWeights(const ConvGeometry& g, const float* x, const float* dy,
                             float* dweight);

}  // namespace actgrad::internal

#endif  // ACTGRAD_OPS_DNNL_CONV_H_
