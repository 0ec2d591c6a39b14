// -----------------------------------------------------------------------------
// File: layer_spec.h
// -----------------------------------------------------------------------------
//
// Networks from a one-line layer spec, as `actgrad train --layers` takes
// them: comma-separated layers, each a name, positional arguments and
// key=value options separated by colons:
//
//   conv2d:OUT:K[:stride=S][:pad=P|same][:dilation=D][:groups=G][:bias=0]
//   conv1d:OUT:K[...]   conv_transpose2d:OUT:K[:stride=S][:pad=P][:output_padding=P]
//   maxpool:K[:stride=S][:pad=P][:dilation=D][:ceil=1]
//   avgpool:K[:stride=S][:pad=P][:ceil=1][:count_pad=0]   adaptive_avgpool:H[xW]
//   batchnorm[:eps=E][:momentum=M]   layernorm[:eps=E]   groupnorm:G[:eps=E]
//   dropout[:P]   flatten   linear:N[:bias=0]   any activation (relu, elu:alpha=0.5, ...)
//
// and for sequences, batch-first [T, F] samples (--input-shape T,F):
//
//   lstm:H[:layers=N][:bidirectional=1][:dropout=P][:bias=0]   [T, F] -> [T, directions*H]
//   gru:H[...]                            the same options
//   last   mean                           [T, F] -> [F]: the last step, the mean over steps
//   embedding:V:D[:padding=P]             [T] token indices (whole numbers; first) -> [T, D]
//   posembed                              [T, D] + a learned [T, D] table of positions
//   transformer:HEADS:FF[:gelu][:prenorm][:dropout=P]    [T, D] -> [T, D]
//   attention:HEADS[:bias=0]              self-attention, [T, D] -> [T, D]
//
// K may be "3" or "3x5". Pools, batch norm and convolutions take their 1-D
// or 2-D form from the shape that reaches them; linear:N and layernorm on
// a [T, F] sequence act on each step. Recurrent, attention and embedding layers
// keep PyTorch's initialization. The builder tracks the shape of one
// sample through the layers, so sizes are never given twice; it appends
// the task's output layer (after a flatten when the last shape is not
// flat). Each weight layer is initialized for the activation that
// follows it (He or Xavier with the activation's gain, claims C18-C20) and
// says so in its printed form; a layer with no activation after it gets
// PyTorch's default (convolutions) or Xavier (linear). Every size is checked
// against the memory limit before it is allocated. Errors are statuses that
// name the layer by its position and text.
//
// Example:
//
//   actgrad::Generator gen(0);
//   absl::StatusOr<actgrad::nn::BuiltNetwork> built = actgrad::nn::BuildFromLayerSpec(
//       "conv2d:16:3:pad=1,batchnorm,relu,maxpool:2,flatten,linear:64,relu",
//       {.input_shape = {1, 8, 8}, .outputs = 10, .output_activation = &actgrad::ops::kSoftmax},
//       gen);
//   std::cout << built->network->ToString();
//
//   // The rows of an 8x8 image as a sequence of 8 steps of 8 features:
//   built = actgrad::nn::BuildFromLayerSpec("lstm:64,last",
//                                           {.input_shape = {8, 8}, .outputs = 10}, gen);

#ifndef ACTGRAD_NN_LAYER_SPEC_H_
#define ACTGRAD_NN_LAYER_SPEC_H_

#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "graph/generator.h"
#include "graph/op_def.h"
#include "nn/sequential.h"

namespace actgrad::nn {

struct LayerSpecOptions {
  // One sample's shape: {C, H, W} for images, {C, L} for sequences, {F}
  // for flat rows. The network takes rows [N, prod(shape)] and unflattens
  // them first when the shape has more than one dimension.
  std::vector<int64_t> input_shape;
  int64_t outputs = 1;
  const OpDef* output_activation = nullptr;  // nullptr: identity
  // An initializer spec (Initializer::Parse) for every hidden weight layer,
  // instead of the recommended one; its gain is the following activation's.
  std::string init;
  DType dtype = DType::kFloat32;
  // Training the network may take at most this much memory (weights with
  // gradients and optimizer state, and a batch's activations).
  double memory_limit = std::numeric_limits<double>::infinity();
  int64_t batch = 32;
};

struct BuiltNetwork {
  std::unique_ptr<Sequential> network;
  // The first activation of the spec (nullptr when there is none): what
  // the recommended input scaling follows.
  const OpDef* first_activation = nullptr;
  Attrs first_activation_attrs;
  // The network's parameters, counted as the memory limit counts them.
  double parameters = 0;
  // The first layer is an embedding: the rows hold token indices, which
  // must reach it unscaled.
  bool takes_indices = false;
};

absl::StatusOr<BuiltNetwork> BuildFromLayerSpec(absl::string_view spec,
                                                const LayerSpecOptions& options, Generator& gen);

}  // namespace actgrad::nn

#endif  // ACTGRAD_NN_LAYER_SPEC_H_
