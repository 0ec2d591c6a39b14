#include "graph/graph.h"

#include <atomic>

namespace actgrad {
namespace internal {

namespace {

uint64_t NextEpoch() {
  static std::atomic<uint64_t> counter{1};
  return counter.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

// Owns this thread's graph; at thread exit the graph lives on while tensors
// produced in it do.
class ThreadGraphHolder {
 public:
  ThreadGraphHolder() : graph_(new Graph()) {
    graph_->owned_by_thread_ = true;
    graph_->refs_ = 1;
  }
  ~ThreadGraphHolder() {
    graph_->owned_by_thread_ = false;
    graph_->Unref();
  }
  Graph* graph() const { return graph_; }

 private:
  Graph* graph_;
};

Graph::Graph() : epoch_(NextEpoch()) {}

Graph* Graph::ForThisThread() {
  thread_local ThreadGraphHolder holder;
  return holder.graph();
}

Graph* Graph::ForRecording(std::span<const Tensor> inputs, const std::source_location& location) {
  Graph* chosen = nullptr;
  for (const Tensor& input : inputs) {
    Graph* g = input.defined() ? input.impl()->graph : nullptr;
    if (g == nullptr) continue;
    ACTGRAD_REQUIRE(chosen == nullptr || chosen == g, location,
                    "inputs were recorded in the graphs of different threads; "
                    "Detach() one of them first");
    chosen = g;
  }
  return chosen != nullptr ? chosen : ForThisThread();
}

uint32_t Graph::AddNode(const OpDef& op, const Attrs& attrs, const Shape& shape, DType dtype,
                        const std::source_location& location) {
  const uint32_t id = static_cast<uint32_t>(nodes_.size());
  nodes_.emplace_back(op, static_cast<uint32_t>(edges_.size()), dtype, shape, attrs, location);
  return id;
}

uint32_t Graph::LeafNode(TensorImpl* leaf) {
  if (leaf->leaf_epoch == epoch_) return leaf->leaf_node;
  const uint32_t id = static_cast<uint32_t>(nodes_.size());
  Node& n = nodes_.emplace_back();
  leaf->Ref();
  n.leaf = leaf;
  n.first_edge = static_cast<uint32_t>(edges_.size());
  n.shape = leaf->shape;
  n.dtype = leaf->dtype;
  leaf->leaf_epoch = epoch_;
  leaf->leaf_node = id;
  return id;
}

std::vector<GradHook>* Graph::hooks(uint32_t id) {
  auto it = hooks_.find(id);
  return it == hooks_.end() ? nullptr : &it->second;
}

void Graph::AddHook(uint32_t id, GradHook hook) {
  hooks_[id].push_back(std::move(hook));
  nodes_[id].has_hooks = true;
}

void Graph::FreeNode(uint32_t id) {
  Node& n = nodes_[id];
  for (int i = 0; i < n.num_saved; ++i) {
    n.saved[i].value->Unref();
    n.saved[i].value = nullptr;
  }
  n.num_saved = 0;
  n.freed = n.op != nullptr;
}

void Graph::ReleaseOutputStorage(const TensorImpl& output) {
  // Most often the only other holder of the storage is the copy of the
  // output that its node saved for backward. The graph and what it saves
  // belong to one thread at a time (its count is not atomic), and no handle
  // to that copy exists outside the node, so no other thread can be changing
  // the count then, and the atomic decrement is spared.
  Storage* storage = output.storage;
  if (storage->use_count() == 2) {
    const Node& n = nodes_[output.node];
    if (n.saved_output_slot >= 0 && n.saved_output_slot < n.num_saved) {
      const TensorImpl* kept = n.saved[n.saved_output_slot].value;
      if (kept->storage == storage && kept->refs.load(std::memory_order_relaxed) == 1) {
        storage->UnrefUnshared();
        return;
      }
    }
  }
  storage->Unref();
}

void Graph::Unref() {
  --refs_;
  if (refs_ == 0) {
    Reset();
    delete this;
  } else if (refs_ == 1 && owned_by_thread_) {
    Reset();
  }
}

void Graph::Reset() {
  // Releasing saved values and leaves may destroy tensors, but none of them
  // belongs to this graph (saved values are cut from it, leaves were never in
  // it), so this cannot re-enter Unref().
  for (Node& n : nodes_) {
    for (int i = 0; i < n.num_saved; ++i) n.saved[i].value->Unref();
    if (n.leaf != nullptr) n.leaf->Unref();
  }
  nodes_.clear();
  edges_.clear();
  hooks_.clear();
  layers_.clear();
  epoch_ = NextEpoch();
}

}  // namespace internal
}  // namespace actgrad
