#include "profile/profiler.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/op_def.h"

namespace actgrad {

namespace {

int64_t Bytes(const Tensor& t) { return t.numel() * static_cast<int64_t>(DTypeSize(t.dtype())); }

}  // namespace

Profiler::Profiler(Profile* profile)
    : profile_(profile), start_ns_(internal::ObserverClockNs()), installed_(this) {}

void Profiler::OnForward(const ForwardEvent& e) {
  OpRecord r;
  r.op = std::string(e.op->name);
  r.layer = std::string(e.layer);
  r.shapes = absl::StrCat(
      absl::StrJoin(e.inputs, " x ",
                    [](std::string* out, const Tensor& t) { out->append(t.shape().ToString()); }),
      " -> ", e.output->shape().ToString());
  r.forward_start_ns = e.start_ns - start_ns_;
  r.forward_ns = e.end_ns - e.start_ns;
  r.forward_kernel_ns = e.kernel_end_ns - e.kernel_start_ns;
  r.output_bytes = Bytes(*e.output);
  r.forward_flops = e.op->forward_flops != nullptr ? e.op->forward_flops(e.inputs, *e.output)
                                                   : double(e.output->numel());
  // Backward computes one product like forward's per matrix input that needs
  // a gradient (bias-like vectors aside).
  int matrices_needing_grad = 0;
  for (const Tensor& t : e.inputs) matrices_needing_grad += t.requires_grad() && t.rank() >= 2;
  r.backward_flops = r.forward_flops * std::max(1, matrices_needing_grad);
  if (e.recorded) {
    r.recorded = true;
    r.saved_bytes = e.saved_bytes;
    r.graph_epoch = e.graph_epoch;
    r.node = e.node;
    record_of_node_[{e.graph_epoch, e.node}] = profile_->records_.size();
  } else {
    r.backward_flops = 0;
  }
  profile_->records_.push_back(std::move(r));
}

void Profiler::OnBackward(const BackwardEvent& e) {
  const int64_t start = e.start_ns - start_ns_;
  auto it = record_of_node_.find({e.graph_epoch, e.node});
  OpRecord* r = nullptr;
  if (it != record_of_node_.end()) {
    r = &profile_->records_[it->second];
  } else {
    // Leaf accumulators (and nodes recorded before the profiler started)
    // get a record of their own.
    OpRecord leaf;
    leaf.op = e.op != nullptr ? std::string(e.op->name) : "accumulate_grad";
    leaf.shapes = e.shape.ToString();
    leaf.forward_start_ns = start;
    leaf.backward_flops = double(e.shape.NumElements());
    leaf.graph_epoch = e.graph_epoch;
    leaf.node = e.node;
    profile_->records_.push_back(std::move(leaf));
    r = &profile_->records_.back();
  }
  r->backward_start_ns = r->backward_start_ns < 0 ? start : r->backward_start_ns;
  r->backward_ns += e.end_ns - e.start_ns;
  r->backward_kernel_ns += e.kernel_end_ns - e.kernel_start_ns;
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
