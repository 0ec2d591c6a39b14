// -----------------------------------------------------------------------------
// File: graph.h
// -----------------------------------------------------------------------------
//
// Internal: the recorded graph. Nodes are appended as ops run, so creation
// order is a topological order. Nodes and edges live in two flat vectors
// whose capacity survives from one training step to the next, so recording
// allocates nothing per node in steady state. graph_traits.h adapts this
// store to the Boost Graph Library's concepts, which the DOT export runs
// on; the backward sweep walks the store itself (graph/backward.h).
//
// Each thread records into its own graph. A graph lives while any tensor
// produced in it is alive; when the last one goes, the graph clears itself
// (keeping its capacity) and starts a new incarnation (`epoch()`).
//
// Example (inside the library):
//
//   internal::Graph* g = internal::Graph::ForRecording(inputs, location);
//   uint32_t id = g->AddNode(op, attrs, location);

#ifndef ACTGRAD_GRAPH_GRAPH_H_
#define ACTGRAD_GRAPH_GRAPH_H_

#include <cstdint>
#include <source_location>
#include <span>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "graph/op_def.h"
#include "graph/tensor.h"

namespace actgrad {
namespace internal {

// A value kept for backward: a tensor cut from the graph (so that keeping it
// does not keep the graph alive) plus, for outputs of recorded ops, the node
// that produced it.
struct SavedValue {
  TensorImpl* value = nullptr;  // Owns one reference.
  uint32_t node = kNoNode;
};

// An edge runs from a consumer node to one of its inputs, the direction in
// which gradients flow. `input` is kNoNode for inputs that need no gradient.
struct Edge {
  uint32_t consumer;
  uint32_t input;
};

struct Node {
  Node() = default;
  // A node for `op`, its other fields at their defaults. Written once, in
  // place: a node is a few cache lines, and every recorded op adds one.
  Node(const OpDef& op, uint32_t first_edge, DType dtype, const Shape& shape, const Attrs& attrs,
       const std::source_location& location)
      : op(&op),
        first_edge(first_edge),
        dtype(dtype),
        shape(shape),
        attrs(attrs),
        location(location) {}

  const OpDef* op = nullptr;   // nullptr for the accumulator of a leaf
  TensorImpl* leaf = nullptr;  // accumulator nodes: the leaf (owns one reference)
  uint32_t first_edge = 0;
  uint16_t num_inputs = 0;
  uint8_t num_saved = 0;
  bool freed = false;  // saved values released by a Backward()
  bool has_hooks = false;
  DType dtype = DType::kFloat32;
  Shape shape;  // of the output (or of the leaf)
  Attrs attrs;
  SavedValue saved[kMaxSaved];
  int8_t saved_input_slot[kMaxSavedInputs] = {-1, -1, -1, -1, -1, -1, -1};
  int8_t saved_output_slot = -1;
  int8_t first_extra_slot = -1;
  std::source_location location;
};

class Graph {
 public:
  // The graph that an op with these inputs records into: the graph of its
  // recorded inputs (they must agree), else this thread's graph.
  static Graph* ForRecording(std::span<const Tensor> inputs, const std::source_location& location);
  // This thread's graph.
  static Graph* ForThisThread();

  // Graphs are made by ForThisThread() and deleted by Unref(); the
  // constructor and destructor are public for the BGL concept checks.
  Graph();
  ~Graph() = default;

  // Incarnation number, unique across all graphs of the process.
  uint64_t epoch() const { return epoch_; }

  uint32_t num_nodes() const { return static_cast<uint32_t>(nodes_.size()); }
  Node& node(uint32_t id) { return nodes_[id]; }
  const Node& node(uint32_t id) const { return nodes_[id]; }
  std::span<const Edge> edges() const { return edges_; }
  std::span<const Edge> inputs_of(uint32_t id) const {
    const Node& n = nodes_[id];
    return {edges_.data() + n.first_edge, n.num_inputs};
  }

  // Appends a node for `op`; edges are added with AddEdge() right after.
  uint32_t AddNode(const OpDef& op, const Attrs& attrs, const Shape& shape, DType dtype,
                   const std::source_location& location);
  void AddEdge(uint32_t consumer, uint32_t input) { edges_.push_back({consumer, input}); }
  // The accumulator node standing for `leaf` in this incarnation.
  uint32_t LeafNode(TensorImpl* leaf);

  // The layer a node was made in, kept only under anomaly detection.
  void SetLayer(uint32_t id, const std::string& layer) { layers_[id] = layer; }
  std::string LayerOf(uint32_t id) const {
    auto it = layers_.find(id);
    return it == layers_.end() ? std::string() : it->second;
  }

  // Hooks of non-leaf tensors, by node.
  std::vector<GradHook>* hooks(uint32_t id);
  void AddHook(uint32_t id, GradHook hook);

  // Releases the saved values of a node after a Backward() without
  // retain_graph.
  void FreeNode(uint32_t id);

  // Drops the storage reference of `output`, a tensor produced in this graph
  // that is being destroyed.
  void ReleaseOutputStorage(const TensorImpl& output);

  // A reference is held by every tensor produced in this graph.
  void Ref() { ++refs_; }
  void Unref();

  // Scratch reused by Backward() (one gradient slot per node).
  std::vector<Tensor>& grad_slots() { return grad_slots_; }

 private:
  friend class ThreadGraphHolder;
  void Reset();

  std::vector<Node> nodes_;
  std::vector<Edge> edges_;
  absl::flat_hash_map<uint32_t, std::vector<GradHook>> hooks_;
  absl::flat_hash_map<uint32_t, std::string> layers_;
  std::vector<Tensor> grad_slots_;
  uint64_t epoch_;
  int64_t refs_ = 0;
  bool owned_by_thread_ = false;
};

}  // namespace internal
}  // namespace actgrad

#endif  // ACTGRAD_GRAPH_GRAPH_H_
