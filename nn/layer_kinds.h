// -----------------------------------------------------------------------------
// File: layer_kinds.h
// -----------------------------------------------------------------------------
//
// The module kinds of the convolutional layers (convolution, pooling,
// normalization, dropout, flatten, residual), which the registry of
// nn/module_kinds.h starts with. Each reads and bounds its options with the
// layer's own OptionsFromConfig and reports its parameter shapes before
// anything is allocated.
//
// Example:
//
//   for (actgrad::nn::ModuleKind& kind : actgrad::nn::ConvolutionalLayerKinds()) {
//     std::cout << kind.name << "\n";  // conv1d, conv2d, ...
//   }

#ifndef ACTGRAD_NN_LAYER_KINDS_H_
#define ACTGRAD_NN_LAYER_KINDS_H_

#include <vector>

#include "nn/module_kinds.h"

namespace actgrad::nn {

std::vector<ModuleKind> ConvolutionalLayerKinds();

}  // namespace actgrad::nn

#endif  // ACTGRAD_NN_LAYER_KINDS_H_
