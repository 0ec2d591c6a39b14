#include "graph/dot.h"

#include <boost/graph/depth_first_search.hpp>
#include <boost/graph/filtered_graph.hpp>
#include <boost/graph/graphviz.hpp>
#include <functional>
#include <ostream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "graph/graph.h"
#include "graph/graph_traits.h"

namespace actgrad {

namespace {

using internal::Graph;
using internal::Node;

struct Reaches {
  const std::vector<boost::default_color_type>* color = nullptr;
  bool operator()(uint32_t v) const {
    return v < color->size() && (*color)[v] == boost::black_color;
  }
};

}  // namespace

namespace internal {

void WriteStyledDot(const Tensor& output, std::ostream& out,
                    const std::function<std::string(uint64_t, uint32_t)>& style,
                    const std::source_location& location) {
  ACTGRAD_REQUIRE(output.defined() && output.impl()->graph != nullptr, location,
                  "WriteDot: the tensor was not produced by a recorded op (it is a leaf, or "
                  "was computed under NoGradGuard)");
  const Graph& graph = *output.impl()->graph;
  const uint32_t root = output.impl()->node;
  std::vector<boost::default_color_type> color(graph.num_nodes(), boost::white_color);
  boost::depth_first_visit(
      graph, root, boost::dfs_visitor<>(),
      boost::make_iterator_property_map(color.begin(), get(boost::vertex_index, graph)));
  const boost::filtered_graph<Graph, boost::keep_all, Reaches> reachable(graph, boost::keep_all(),
                                                                         Reaches{&color});

  auto vertex_label = [&](std::ostream& os, uint32_t v) {
    const Node& n = graph.node(v);
    const std::string shape_and_type = absl::StrCat(n.shape.ToString(), " ", DTypeName(n.dtype));
    if (n.leaf != nullptr) {
      os << "[shape=box, style=filled, fillcolor=\"#dbe9f6\", label="
         << boost::escape_dot_string(absl::StrCat("leaf\\n", shape_and_type, "\\nrequires_grad"))
         << "]";
    } else {
      os << "[shape=ellipse, label="
         << boost::escape_dot_string(absl::StrCat(n.op->name, "\\n", shape_and_type))
         << (v == root ? ", style=bold" : "") << (style ? style(graph.epoch(), v) : "") << "]";
    }
  };
  auto edge_label = [](std::ostream& os, const internal::Edge&) { os << "[dir=back]"; };
  auto graph_attributes = [](std::ostream& os) {
    os << "rankdir=BT;\nnode [fontname=\"Helvetica\"];\n";
  };
  boost::write_graphviz(out, reachable, vertex_label, edge_label, graph_attributes);
}

}  // namespace internal

void WriteDot(const Tensor& output, std::ostream& out, std::source_location location) {
  internal::WriteStyledDot(output, out, nullptr, location);
}

}  // namespace actgrad
