// -----------------------------------------------------------------------------
// File: backward.h
// -----------------------------------------------------------------------------
//
// Internal: the reverse sweep behind `Tensor::Backward()`. It visits, in
// reverse creation order, only the nodes from which the root can be reached
// (found with a non-recursive BGL depth-first search), calls each row's
// backward, and accumulates gradients on fan-out; leaves receive theirs in
// `grad()`. Deep graphs (a chain of a million ops) need no recursion.
//
// Example:
//
//   internal::RunBackward(loss, Tensor(), {}, std::source_location::current());

#ifndef ACTGRAD_GRAPH_BACKWARD_H_
#define ACTGRAD_GRAPH_BACKWARD_H_

#include <source_location>
#include <span>
#include <vector>

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

}  // namespace internal
}  // namespace actgrad

#endif  // ACTGRAD_GRAPH_BACKWARD_H_
