// -----------------------------------------------------------------------------
// File: graph_traits.h
// -----------------------------------------------------------------------------
//
// Internal: makes `internal::Graph` a Boost Graph Library graph (a model of
// IncidenceGraph, VertexListGraph and EdgeListGraph) without copying it.
// Vertices are node ids; the out-edges of a node lead to those of its inputs
// that need a gradient, the direction in which gradients flow. Include only
// from .cc files: Boost stays out of public headers.
//
// Example:
//
//   std::vector<boost::default_color_type> color(g.num_nodes());
//   boost::depth_first_visit(g, root, boost::dfs_visitor<>(),
//                            boost::make_iterator_property_map(
//                                color.begin(), get(boost::vertex_index, g)));

#ifndef ACTGRAD_GRAPH_GRAPH_TRAITS_H_
#define ACTGRAD_GRAPH_GRAPH_TRAITS_H_

#include <boost/graph/graph_traits.hpp>
#include <boost/graph/properties.hpp>
#include <boost/iterator/counting_iterator.hpp>
#include <boost/iterator/filter_iterator.hpp>
#include <boost/property_map/property_map.hpp>
#include <utility>

#include "graph/graph.h"

namespace actgrad {
namespace internal {

inline bool operator==(const Edge& a, const Edge& b) {
  return a.consumer == b.consumer && a.input == b.input;
}

struct LeadsToGradient {
  bool operator()(const Edge& e) const { return e.input != kNoNode; }
};
using GraphEdgeIterator = boost::filter_iterator<LeadsToGradient, const Edge*>;

struct GraphTraversalCategory : boost::incidence_graph_tag,
                                boost::vertex_list_graph_tag,
                                boost::edge_list_graph_tag {};

}  // namespace internal
}  // namespace actgrad

namespace boost {

template <>
struct graph_traits<actgrad::internal::Graph> {
  using vertex_descriptor = uint32_t;
  using edge_descriptor = actgrad::internal::Edge;
  using directed_category = directed_tag;
  using edge_parallel_category = allow_parallel_edge_tag;
  using traversal_category = actgrad::internal::GraphTraversalCategory;
  using vertex_iterator = counting_iterator<uint32_t>;
  using out_edge_iterator = actgrad::internal::GraphEdgeIterator;
  using edge_iterator = actgrad::internal::GraphEdgeIterator;
  // Named because boost::filtered_graph's typedefs mention them; the graph
  // is not a BidirectionalGraph or AdjacencyGraph and never traversed as one.
  using in_edge_iterator = actgrad::internal::GraphEdgeIterator;
  using adjacency_iterator = void;
  using degree_size_type = uint32_t;
  using vertices_size_type = uint32_t;
  using edges_size_type = size_t;
  static vertex_descriptor null_vertex() { return actgrad::internal::kNoNode; }
};

template <>
struct property_map<actgrad::internal::Graph, vertex_index_t> {
  using type = typed_identity_property_map<uint32_t>;
  using const_type = type;
};

}  // namespace boost

namespace actgrad {
namespace internal {

inline uint32_t source(const Edge& e, const Graph&) { return e.consumer; }
inline uint32_t target(const Edge& e, const Graph&) { return e.input; }

inline std::pair<GraphEdgeIterator, GraphEdgeIterator> out_edges(uint32_t v, const Graph& g) {
  const std::span<const Edge> in = g.inputs_of(v);
  const Edge* end = in.data() + in.size();
  return {GraphEdgeIterator(LeadsToGradient(), in.data(), end),
          GraphEdgeIterator(LeadsToGradient(), end, end)};
}

inline uint32_t out_degree(uint32_t v, const Graph& g) {
  auto [first, last] = out_edges(v, g);
  return static_cast<uint32_t>(std::distance(first, last));
}

inline std::pair<boost::counting_iterator<uint32_t>, boost::counting_iterator<uint32_t>> vertices(
    const Graph& g) {
  return {boost::counting_iterator<uint32_t>(0), boost::counting_iterator<uint32_t>(g.num_nodes())};
}

inline uint32_t num_vertices(const Graph& g) { return g.num_nodes(); }

inline std::pair<GraphEdgeIterator, GraphEdgeIterator> edges(const Graph& g) {
  const std::span<const Edge> all = g.edges();
  const Edge* end = all.data() + all.size();
  return {GraphEdgeIterator(LeadsToGradient(), all.data(), end),
          GraphEdgeIterator(LeadsToGradient(), end, end)};
}

inline size_t num_edges(const Graph& g) {
  auto [first, last] = edges(g);
  return static_cast<size_t>(std::distance(first, last));
}

inline boost::typed_identity_property_map<uint32_t> get(boost::vertex_index_t, const Graph&) {
  return {};
}

}  // namespace internal
}  // namespace actgrad

#endif  // ACTGRAD_GRAPH_GRAPH_TRAITS_H_
