// -----------------------------------------------------------------------------
// File: dot.h
// -----------------------------------------------------------------------------
//
// GraphViz export of the recorded graph behind a tensor: every node from
// which the tensor can be reached, labelled with its op, output shape and
// dtype; leaves that require a gradient are drawn as boxes. Arrows follow
// the data, from inputs to the ops that consume them. Written through
// `boost::write_graphviz`; render with `dot -Tsvg graph.dot -o graph.svg`.
//
// Example:
//
//   actgrad::Tensor loss = actgrad::Mean(actgrad::Tanh(actgrad::Matmul(x, w)));
//   std::ofstream file("graph.dot");
//   actgrad::WriteDot(loss, file);

#ifndef ACTGRAD_GRAPH_DOT_H_
#define ACTGRAD_GRAPH_DOT_H_

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <source_location>
#include <string>

#include "graph/tensor.h"

namespace actgrad {

// Throws when `output` was not produced by a recorded op.
void WriteDot(const Tensor& output, std::ostream& out,
              std::source_location location = std::source_location::current());

namespace internal {
// WriteDot with extra attributes per op node, e.g. ", fillcolor=...": the
// profiler colours nodes by cost with it.
void WriteStyledDot(const Tensor& output, std::ostream& out,
                    const std::function<std::string(uint64_t epoch, uint32_t node)>& style,
                    const std::source_location& location);
}  // namespace internal

}  // namespace actgrad

#endif  // ACTGRAD_GRAPH_DOT_H_
