#include "graph/profiler.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/anomaly.h"
#include "graph/graph.h"
#include "graph/profile_hooks.h"
#include "ops/op_def.h"

namespace actgrad {

struct ProfileAccess {
  static std::vector<OpRecord>& Records(Profile& p) { return p.records_; }
};

namespace internal {

namespace {

using ::actgrad::internal::layer_path;

int64_t Bytes(const Tensor& t) { return t.numel() * static_cast<int64_t>(DTypeSize(t.dtype())); }

}  // namespace

void RecordForward(ProfileSession& session, const OpDef& op, std::span<const Tensor> inputs,
                   const Tensor& output, const Attrs& attrs, Graph* graph, uint32_t node,
                   int64_t start, int64_t kernel_start, int64_t kernel_end, int64_t end) {
  OpRecord r;
  r.op = std::string(op.name);
  r.layer = layer_path;
  r.shapes = absl::StrCat(
      absl::StrJoin(inputs, " x ",
                    [](std::string* out, const Tensor& t) { out->append(t.shape().ToString()); }),
      " -> ", output.shape().ToString());
  r.forward_start_ns = start;
  r.forward_ns = end - start;
  r.forward_kernel_ns = kernel_end - kernel_start;
  r.output_bytes = Bytes(output);
  r.forward_flops =
      op.forward_flops != nullptr ? op.forward_flops(inputs, output) : double(output.numel());
  // Backward computes one product like forward's per matrix input that needs
  // a gradient (bias-like vectors aside).
  int matrices_needing_grad = 0;
  for (const Tensor& t : inputs) matrices_needing_grad += t.requires_grad() && t.rank() >= 2;
  r.backward_flops = r.forward_flops * std::max(1, matrices_needing_grad);
  if (graph != nullptr && node != kNoNode) {
    r.recorded = true;
    const Node& n = graph->node(node);
    for (int i = 0; i < n.num_saved; ++i) {
      const TensorImpl* v = n.saved[i].value;
      r.saved_bytes += v->shape.NumElements() * static_cast<int64_t>(DTypeSize(v->dtype));
    }
    session.record_of_node[{graph->epoch(), node}] =
        ProfileAccess::Records(*session.profile).size();
    r.graph_epoch = graph->epoch();
    r.node = node;
  } else {
    r.backward_flops = 0;
  }
  (void)attrs;
  ProfileAccess::Records(*session.profile).push_back(std::move(r));
}

void RecordBackward(ProfileSession& session, const Graph& graph, uint32_t node, int64_t start,
                    int64_t kernel_start, int64_t kernel_end, int64_t end) {
  auto it = session.record_of_node.find({graph.epoch(), node});
  OpRecord* r = nullptr;
  if (it != session.record_of_node.end()) {
    r = &ProfileAccess::Records(*session.profile)[it->second];
  } else {
    // Leaf accumulators (and nodes recorded before the profiler started)
    // get a record of their own.
    const Node& n = graph.node(node);
    OpRecord leaf;
    leaf.op = n.op != nullptr ? std::string(n.op->name) : "accumulate_grad";
    leaf.shapes = n.shape.ToString();
    leaf.forward_start_ns = start;
    leaf.backward_flops = double(n.shape.NumElements());
    leaf.graph_epoch = graph.epoch();
    leaf.node = node;
    ProfileAccess::Records(*session.profile).push_back(std::move(leaf));
    r = &ProfileAccess::Records(*session.profile).back();
  }
  r->backward_start_ns = r->backward_start_ns < 0 ? start : r->backward_start_ns;
  r->backward_ns += end - start;
  r->backward_kernel_ns += kernel_end - kernel_start;
}

}  // namespace internal

Profiler::Profiler(Profile* profile) : profile_(profile) {
  ACTGRAD_REQUIRE(internal::active_session == nullptr, std::source_location::current(),
                  "Profiler: a profiler is already recording on this thread");
  auto* session = new internal::ProfileSession();
  session->profile = profile;
  session->start = std::chrono::steady_clock::now();
  internal::active_session = session;
}

Profiler::~Profiler() {
  delete internal::active_session;
  internal::active_session = nullptr;
}

// Layer paths are kept while a profiler or anomaly detection wants them.
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

bool IsProfiling() { return internal::ActiveSession() != nullptr; }

LayerScope::~LayerScope() {
  if (active_) internal::layer_path.resize(restore_);
}

int64_t Profile::TotalNs() const {
  int64_t total = 0;
  for (const OpRecord& r : records_) total += r.forward_ns + r.backward_ns;
  return total;
}

namespace {

std::vector<ProfileGroup> GroupBy(const std::vector<OpRecord>& records,
                                  std::string (*key)(const OpRecord&)) {
  absl::flat_hash_map<std::string, ProfileGroup> groups;
  for (const OpRecord& r : records) {
    ProfileGroup& g = groups[key(r)];
    g.name = key(r);
    ++g.count;
    g.forward_ns += r.forward_ns;
    g.backward_ns += r.backward_ns;
    g.kernel_ns += r.forward_kernel_ns + r.backward_kernel_ns;
    g.overhead_ns += (r.forward_ns - r.forward_kernel_ns) + (r.backward_ns - r.backward_kernel_ns);
    g.flops += r.forward_flops + (r.backward_start_ns >= 0 ? r.backward_flops : 0);
  }
  std::vector<ProfileGroup> out;
  for (auto& [name, g] : groups) out.push_back(std::move(g));
  std::sort(out.begin(), out.end(), [](const ProfileGroup& a, const ProfileGroup& b) {
    const int64_t ta = a.forward_ns + a.backward_ns, tb = b.forward_ns + b.backward_ns;
    return ta != tb ? ta > tb : a.name < b.name;
  });
  return out;
}

}  // namespace

std::vector<ProfileGroup> Profile::ByOp() const {
  return GroupBy(records_, [](const OpRecord& r) { return r.op; });
}

std::vector<ProfileGroup> Profile::ByLayer() const {
  return GroupBy(records_, [](const OpRecord& r) {
    return r.layer.empty() ? std::string("(outside layers)") : r.layer;
  });
}

}  // namespace actgrad
