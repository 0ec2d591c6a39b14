// -----------------------------------------------------------------------------
// File: backward.h
// -----------------------------------------------------------------------------
//
// Internal: the reverse sweep behind `Tensor::Backward()`. It visits, in
// reverse creation order, only the nodes from which the root can be reached
// (those a gradient arrived at: a node fills its inputs' slots only when it
// is swept itself), calls each row's backward, and accumulates gradients on
// fan-out; leaves receive theirs in `grad()`. Deep graphs (a chain of a
// million ops) need no recursion, nor a search before the sweep.
//
// Example:
//
//   internal::RunBackward(loss, Tensor(), {}, std::source_location::current());

#ifndef ACTGRAD_GRAPH_BACKWARD_H_
#define ACTGRAD_GRAPH_BACKWARD_H_

#include <source_location>
#include <span>
#include <vector>

#include "graph/op_def.h"
#include "graph/tensor.h"

namespace actgrad {
namespace internal {

// `seed` may be undefined for a one-element root (the seed is then 1). With
// `captured`, the gradients reaching those tensors are returned instead of
// being accumulated into leaves (undefined where none arrives).
std::vector<Tensor> RunBackward(const Tensor& root, const Tensor& seed,
                                const BackwardOptions& options,
                                const std::source_location& location,
                                std::span<const Tensor> captured = {});

// One row's backward run outside any graph, on values at hand: `inputs`,
// `output` and the `extras` its forward saved, with `dy` arriving. Returns
// the gradient for each input with `needs_grad` (undefined for the others,
// or where the row gives none). With `recorded`, the row's backward_graph
// runs with recording on, so that the results are functions of `dy` and the
// values in the graph; forward mode derives Jacobian-vector products from
// that (graph/forward_mode.h).
std::vector<Tensor> RunRowBackward(const OpDef& op, std::span<const Tensor> inputs,
                                   const Tensor& output, std::span<const Tensor> extras,
                                   const Attrs& attrs, const Tensor& dy,
                                   std::span<const bool> needs_grad, bool recorded,
                                   const std::source_location& location);

}  // namespace internal
}  // namespace actgrad

#endif  // ACTGRAD_GRAPH_BACKWARD_H_
