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
//
// Exports that draw more per node (the profiler's, profile/graph_dot.h) pass
// a callback to internal::WriteStyledDot that redraws each node:
//
//   internal::DotStyle style;
//   style.node = [](const internal::DotNodeInfo& info) {
//     internal::DotNode drawn = internal::DefaultDotNode(info);
//     if (info.leaf.defined()) drawn.label = "weight";
//     return drawn;
//   };
//   internal::WriteStyledDot(loss, file, style, std::source_location::current());

#ifndef ACTGRAD_GRAPH_DOT_H_
#define ACTGRAD_GRAPH_DOT_H_

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <source_location>
#include <string>

#include "absl/strings/string_view.h"
#include "graph/dtype.h"
#include "graph/shape.h"
#include "graph/tensor.h"

namespace actgrad {

// Throws when `output` was not produced by a recorded op.
void WriteDot(const Tensor& output, std::ostream& out,
              std::source_location location = std::source_location::current());

namespace internal {

// What WriteStyledDot knows of one node, handed to DotStyle::node.
struct DotNodeInfo {
  uint64_t epoch = 0;    // the graph incarnation (Graph::epoch())
  uint32_t node = 0;     // the node's id in it: what a profile's records name
  absl::string_view op;  // the op's name; empty for a leaf
  Shape shape;           // of the op's output, or of the leaf
  DType dtype = DType::kFloat32;
  bool root = false;  // the node of the exported tensor
  // A leaf's own tensor (so that callers can tell it by its storage);
  // undefined for op nodes.
  Tensor leaf;
};

// How one node is drawn. Exactly one of `label` and `html_label` is used:
// `html_label` when it is not empty.
struct DotNode {
  // Plain text, lines separated by '\n'; escaped by the writer.
  std::string label;
  // The inside of an HTML-like label (written between `<` and `>`), for
  // fonts and tables; its text must be escaped with EscapeDotHtml.
  std::string html_label;
  // Every other attribute, as DOT text: "shape=box, style=filled".
  std::string attributes;
};

// What WriteStyledDot adds to the plain export.
struct DotStyle {
  // Draws a node; unset, every node is drawn by DefaultDotNode.
  std::function<DotNode(const DotNodeInfo&)> node;
  // DOT statements written inside the graph before its nodes: a title
  // (`label=...`), a legend (`subgraph cluster_legend {...}`).
  std::string statements;
};

// The node as WriteDot draws it.
DotNode DefaultDotNode(const DotNodeInfo& info);

// `text` as a quoted DOT string: '"' and '\' are escaped, a newline becomes
// DOT's "\n", and '&' becomes "&amp;" (GraphViz reads entities inside
// quoted strings too, so a literal "&lt;" would otherwise draw as "<").
std::string QuoteDotString(absl::string_view text);
// `text` for the inside of an HTML-like label: '&', '<', '>' and '"' as
// entities, a newline as a line break.
std::string EscapeDotHtml(absl::string_view text);

// WriteDot with each node drawn by `style.node` and `style.statements`
// added: the profiler labels nodes with their times and colours them by
// cost with it.
void WriteStyledDot(const Tensor& output, std::ostream& out, const DotStyle& style,
                    const std::source_location& location);

}  // namespace internal

}  // namespace actgrad

#endif  // ACTGRAD_GRAPH_DOT_H_
