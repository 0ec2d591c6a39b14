// -----------------------------------------------------------------------------
// File: accumulate.h
// -----------------------------------------------------------------------------
//
// Internal: the one kernel and the one row the engine needs for itself, to
// sum the gradients that reach a tensor along several paths. `AddInPlace`
// adds into a buffer nothing else sees; `kGradAccumulate` is the same sum as
// an op row, recorded when a backward pass is itself recorded
// (BackwardOptions::create_graph), so the sum can be differentiated again.
// Both take two tensors of one shape and dtype: gradients of one tensor.
//
// Example (inside the backward sweep):
//
//   if (recording) slot = Apply(internal::kGradAccumulate, {slot, dx});
//   else internal::AddInPlace(slot, dx);

#ifndef ACTGRAD_GRAPH_ACCUMULATE_H_
#define ACTGRAD_GRAPH_ACCUMULATE_H_

#include "graph/op_def.h"
#include "graph/tensor.h"

namespace actgrad::internal {

// acc += x, split over the threads for large tensors (graph/parallel.h).
void AddInPlace(const Tensor& acc, const Tensor& x);

// "grad_accumulate": y = a + b for a and b of one shape and dtype;
// da = db = dy.
extern const OpDef kGradAccumulate;

}  // namespace actgrad::internal

#endif  // ACTGRAD_GRAPH_ACCUMULATE_H_
