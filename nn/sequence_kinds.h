// -----------------------------------------------------------------------------
// File: sequence_kinds.h
// -----------------------------------------------------------------------------
//
// The module kinds of the sequence layers (embedding, lstm, gru,
// multihead_attention, transformer_encoder_layer, positional_embedding,
// last_step, mean_over_time), which the registry of nn/module_kinds.h
// starts with. Each reads and bounds its options with the layer's own
// OptionsFromConfig and reports the shapes of every tensor it builds, its
// children's included, so a loader compares them with the file before
// anything is allocated.
//
// Example:
//
//   for (actgrad::nn::ModuleKind& kind : actgrad::nn::SequenceLayerKinds()) {
//     std::cout << kind.name << "\n";  // embedding, lstm, gru, ...
//   }

#ifndef ACTGRAD_NN_SEQUENCE_KINDS_H_
#define ACTGRAD_NN_SEQUENCE_KINDS_H_

#include <vector>

#include "nn/module_kinds.h"

namespace actgrad::nn {

std::vector<ModuleKind> SequenceLayerKinds();

}  // namespace actgrad::nn

#endif  // ACTGRAD_NN_SEQUENCE_KINDS_H_
