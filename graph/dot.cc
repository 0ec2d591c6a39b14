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

DotNode DefaultDotNode(const DotNodeInfo& info) {
  const std::string shape_and_type =
      absl::StrCat(info.shape.ToString(), " ", DTypeName(info.dtype));
  if (info.leaf.defined()) {
    return {.label = absl::StrCat("leaf\n", shape_and_type, "\nrequires_grad"),
            .attributes = "shape=box, style=filled, fillcolor=\"#dbe9f6\""};
  }
  return {.label = absl::StrCat(info.op, "\n", shape_and_type),
          .attributes = info.root ? "shape=ellipse, style=bold" : "shape=ellipse"};
}

std::string QuoteDotString(absl::string_view text) {
  std::string quoted = "\"";
  for (const char c : text) {
    switch (c) {
      case '"':
        quoted += "\\\"";
        break;
      case '\\':
        quoted += "\\\\";
        break;
      case '\n':
        quoted += "\\n";
        break;
      case '&':
        quoted += "&amp;";
        break;
      default:
        quoted += c;
    }
  }
  return quoted + "\"";
}

std::string EscapeDotHtml(absl::string_view text) {
  std::string escaped;
  for (const char c : text) {
    switch (c) {
      case '&':
        escaped += "&amp;";
        break;
      case '<':
        escaped += "&lt;";
        break;
      case '>':
        escaped += "&gt;";
        break;
      case '"':
        escaped += "&quot;";
        break;
      case '\n':
        escaped += "<BR/>";
        break;
      default:
        escaped += c;
    }
  }
  return escaped;
}

void WriteStyledDot(const Tensor& output, std::ostream& out, const DotStyle& style,
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
    DotNodeInfo info{
        .epoch = graph.epoch(), .node = v, .shape = n.shape, .dtype = n.dtype, .root = v == root};
    if (n.leaf != nullptr) {
      n.leaf->Ref();  // the Tensor takes over this reference
      info.leaf = Tensor(n.leaf);
    } else {
      info.op = n.op->name;
    }
    const DotNode drawn = style.node ? style.node(info) : DefaultDotNode(info);
    os << "[" << drawn.attributes << (drawn.attributes.empty() ? "" : ", ") << "label="
       << (drawn.html_label.empty() ? QuoteDotString(drawn.label)
                                    : absl::StrCat("<", drawn.html_label, ">"))
       << "]";
  };
  auto edge_label = [](std::ostream& os, const internal::Edge&) { os << "[dir=back]"; };
  auto graph_attributes = [&](std::ostream& os) {
    os << "rankdir=BT;\nnode [fontname=\"Helvetica\"];\n" << style.statements;
  };
  boost::write_graphviz(out, reachable, vertex_label, edge_label, graph_attributes);
}

}  // namespace internal

void WriteDot(const Tensor& output, std::ostream& out, std::source_location location) {
  internal::WriteStyledDot(output, out, {}, location);
}

}  // namespace actgrad
