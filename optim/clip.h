// -----------------------------------------------------------------------------
// File: clip.h
// -----------------------------------------------------------------------------
//
// Gradient clipping by global norm, as torch.nn.utils.clip_grad_norm_ does it:
// the L2 norm of all gradients taken together is computed, and when it
// exceeds `max_norm` every gradient is scaled by max_norm / (norm + 1e-6).
//
// Example:
//
//   loss.Backward();
//   double norm = actgrad::optim::ClipGradNorm(model.Parameters(), 1.0);
//   sgd.Step();

#ifndef ACTGRAD_OPTIM_CLIP_H_
#define ACTGRAD_OPTIM_CLIP_H_

#include <span>

#include "graph/tensor.h"

namespace actgrad::optim {

// Returns the global norm before clipping. Parameters without a gradient are
// ignored. A non-finite norm is returned as is and nothing is scaled.
double ClipGradNorm(std::span<const Tensor> parameters, double max_norm);

}  // namespace actgrad::optim

#endif  // ACTGRAD_OPTIM_CLIP_H_
