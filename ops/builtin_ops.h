// -----------------------------------------------------------------------------
// File: builtin_ops.h
// -----------------------------------------------------------------------------
//
// The built-in op rows. Each is defined next to its kernels in ops/*.cc; the
// registry (ops/registry.h) lists them, and the functions of ops/functional.h
// apply them. Code that wants "every op" asks the registry, not this file.
//
// Example:
//
//   actgrad::Tensor y = actgrad::Apply(actgrad::ops::kTanh, {x});

#ifndef ACTGRAD_OPS_BUILTIN_OPS_H_
#define ACTGRAD_OPS_BUILTIN_OPS_H_

#include "graph/op_def.h"

namespace actgrad {
namespace ops {

// Activations (claims C1-C5) and normalizations.
extern const OpDef kIdentity;
extern const OpDef kSigmoid;
extern const OpDef kTanh;
extern const OpDef kRelu;
extern const OpDef kLeakyRelu;
extern const OpDef kElu;
extern const OpDef kSelu;
extern const OpDef kGelu;
extern const OpDef kGeluTanh;
extern const OpDef kSoftplus;
extern const OpDef kSilu;
extern const OpDef kSwish;
extern const OpDef kMish;
extern const OpDef kHardtanh;
extern const OpDef kHardsigmoid;
extern const OpDef kSoftsign;
extern const OpDef kPrelu;  // the slope is a learnable second input
extern const OpDef kSoftmax;
extern const OpDef kLogSoftmax;

// Elementwise arithmetic.
extern const OpDef kAdd;
extern const OpDef kSub;
extern const OpDef kMul;
extern const OpDef kDiv;
extern const OpDef kNeg;
extern const OpDef kExp;
extern const OpDef kLog;
extern const OpDef kSqrt;
extern const OpDef kSquare;
extern const OpDef kPow;
extern const OpDef kAbs;
extern const OpDef kClamp;

// Linear algebra and shapes.
extern const OpDef kMatmul;
extern const OpDef kLinear;
extern const OpDef kLinearActivation;  // linear and an activation fused
extern const OpDef kTranspose;
extern const OpDef kReshape;
extern const OpDef kConcatenate;
extern const OpDef kSlice;

// Convolutional layers (ops/conv.cc, pooling.cc, normalization.cc,
// dropout.cc, layout_ops.cc).
extern const OpDef kConv2d;
extern const OpDef kConv1d;
extern const OpDef kConvTranspose2d;
extern const OpDef kConv2dWeightGrad;  // conv2d's weight gradient, as a row
extern const OpDef kMaxPool2d;
extern const OpDef kMaxPool1d;
extern const OpDef kAvgPool2d;
extern const OpDef kAvgPool1d;
extern const OpDef kAdaptiveAvgPool2d;
extern const OpDef kAvgPoolAdjoint;  // the average pools' gradient, as a row
extern const OpDef kMaxUnpool;       // scatter by index (max pooling's gradient)
extern const OpDef kGatherByIndex;   // gather by index (max_unpool's gradient)
extern const OpDef kBatchNorm;
extern const OpDef kLayerNorm;
extern const OpDef kGroupNorm;
extern const OpDef kDropout;
extern const OpDef kPermute;
extern const OpDef kPad;
extern const OpDef kLstm;
extern const OpDef kGru;
extern const OpDef kEmbedding;
extern const OpDef kEmbeddingBackward;  // embedding's gradient (a scatter-add), as a row
extern const OpDef kScaledDotProductAttention;
extern const OpDef kMultiHeadAttention;      // attention on [L, B, heads d], in place
extern const OpDef kMultiHeadSelfAttention;  // attention on a packed [L, B, 3 E] qkv

// Reductions.
extern const OpDef kSum;
extern const OpDef kMean;
extern const OpDef kMax;
extern const OpDef kSumTo;        // undoes a broadcast
extern const OpDef kBroadcastTo;  // repeats along broadcast dimensions

// Internal: the elementwise derivative of a formula-defined activation
// (Attrs::target names it), so that recorded backwards differentiate again.
extern const OpDef kActivationDerivative;

// Losses.
extern const OpDef kMseLoss;
extern const OpDef kBinaryCrossEntropy;
extern const OpDef kBinaryCrossEntropyWithLogits;
extern const OpDef kCrossEntropy;

}  // namespace ops
}  // namespace actgrad

#endif  // ACTGRAD_OPS_BUILTIN_OPS_H_
