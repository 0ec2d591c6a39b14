#include "graph/profile_hooks.h"

#include <algorithm>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "graph/anomaly.h"
#include "graph/error.h"
#include "graph/graph.h"
#include "graph/storage.h"
#include "graph/tensor_impl.h"

namespace actgrad {

ScopedOpObserver::ScopedOpObserver(OpObserver* observer) {
  ACTGRAD_REQUIRE(internal::active_observer == nullptr, std::source_location::current(),
                  "Profiler: a profiler is already recording on this thread");
  internal::active_observer = observer;
}

ScopedOpObserver::~ScopedOpObserver() { internal::active_observer = nullptr; }

bool IsProfiling() { return internal::ActiveObserver() != nullptr; }

// Layer paths are kept while an observer or anomaly detection wants them.
LayerScope::LayerScope(const std::string& name) {
  if (!IsProfiling() && !IsAnomalyDetectionEnabled()) [[likely]]
    return;
  active_ = true;
  std::string& path = internal::layer_path;
  restore_ = path.size();
  absl::StrAppend(&path, path.empty() ? "" : ".", name);
}

LayerScope::LayerScope(size_t index, const std::string& kind) {
  if (!IsProfiling() && !IsAnomalyDetectionEnabled()) [[likely]]
    return;
  active_ = true;
  std::string& path = internal::layer_path;
  restore_ = path.size();
  absl::StrAppend(&path, path.empty() ? "" : ".", index, ".", kind);
}

LayerScope::~LayerScope() {
  if (active_) internal::layer_path.resize(restore_);
}

ProfileScope::ProfileScope(std::string_view name) : name_(name) {
  if (internal::ActiveObserver() == nullptr) [[likely]]
    return;
  start_ns_ = internal::ObserverClockNs();
}

ProfileScope::~ProfileScope() {
  if (start_ns_ < 0) [[likely]]
    return;
  // The observer may have gone while the scope was open.
  if (OpObserver* observer = internal::ActiveObserver(); observer != nullptr) {
    observer->OnScope({.name = name_,
                       .layer = internal::layer_path,
                       .start_ns = start_ns_,
                       .end_ns = internal::ObserverClockNs()});
  }
}

RecomputeScope::RecomputeScope() : restore_(internal::recomputing) { internal::recomputing = true; }

RecomputeScope::~RecomputeScope() { internal::recomputing = restore_; }

namespace internal {

void ReportForward(OpObserver& observer, const OpDef& op, std::span<const Tensor> inputs,
                   const Tensor& output, const Attrs& attrs, const Graph* graph, uint32_t node,
                   int64_t start, int64_t kernel_start, int64_t kernel_end, int64_t end) {
  ForwardEvent event{.op = &op,
                     .inputs = inputs,
                     .output = &output,
                     .attrs = &attrs,
                     .layer = layer_path,
                     .output_storage = output.impl()->storage,
                     .recompute = recomputing,
                     .start_ns = start,
                     .kernel_start_ns = kernel_start,
                     .kernel_end_ns = kernel_end,
                     .end_ns = end};
  for (const Tensor& input : inputs) {
    event.output_is_view |= input.impl()->storage == output.impl()->storage;
  }
  absl::InlinedVector<SavedStorage, kMaxSaved> saved;
  if (graph != nullptr && node != kNoNode) {
    event.recorded = true;
    event.graph_epoch = graph->epoch();
    event.node = node;
    const Node& n = graph->node(node);
    for (int i = 0; i < n.num_saved; ++i) {
      const TensorImpl* v = n.saved[i].value;
      const bool repeated = std::any_of(saved.begin(), saved.end(), [v](const SavedStorage& s) {
        return s.storage == v->storage;
      });
      if (repeated) continue;
      SavedStorage::Kind kind = SavedStorage::Kind::kInput;
      if (i == n.saved_output_slot) kind = SavedStorage::Kind::kOutput;
      if (n.first_extra_slot >= 0 && i >= n.first_extra_slot) kind = SavedStorage::Kind::kExtra;
      saved.push_back({.storage = v->storage,
                       .bytes = static_cast<int64_t>(v->storage->bytes()),
                       .kind = kind,
                       .from_node = n.saved[i].node != kNoNode,
                       .shape = v->shape});
      event.saved_bytes += saved.back().bytes;
    }
    event.saved = saved;
  }
  observer.OnForward(event);
}

void ReportBackward(OpObserver& observer, const Graph& graph, uint32_t node, int64_t start,
                    int64_t kernel_start, int64_t kernel_end, int64_t end) {
  const Node& n = graph.node(node);
  observer.OnBackward({.op = n.op,
                       .shape = n.shape,
                       .dtype = n.dtype,
                       .leaf_storage = n.leaf != nullptr ? n.leaf->storage : nullptr,
                       .graph_epoch = graph.epoch(),
                       .node = node,
                       .start_ns = start,
                       .kernel_start_ns = kernel_start,
                       .kernel_end_ns = kernel_end,
                       .end_ns = end,
                       .released_saved = n.freed});
}

}  // namespace internal
}  // namespace actgrad
