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

bool IsMatrixProduct(std::string_view op) {
  static constexpr std::string_view kProducts[] = {"matmul",
                                                   "linear",
                                                   "linear_activation",
                                                   "conv1d",
                                                   "conv2d",
                                                   "conv_transpose2d",
                                                   "conv2d_weight_grad",
                                                   "lstm",
                                                   "gru",
                                                   "scaled_dot_product_attention",
                                                   "multi_head_attention",
                                                   "multi_head_self_attention"};
  return std::find(std::begin(kProducts), std::end(kProducts), op) != std::end(kProducts);
}

Profiler::Profiler(Profile* profile)
    : profile_(profile), start_ns_(internal::ObserverClockNs()), installed_(this) {}

int64_t Profiler::ClaimNested(int64_t start_ns, int64_t end_ns) {
  int64_t nested = 0;
  while (!unclaimed_.empty() && unclaimed_.back().first >= start_ns) {
    nested += unclaimed_.back().second;
    unclaimed_.pop_back();
  }
  unclaimed_.push_back({start_ns, end_ns - start_ns});
  return nested;
}

void Profiler::OnForward(const ForwardEvent& e) {
  const int64_t nested = ClaimNested(e.start_ns, e.end_ns);
  OpRecord r;
  r.op = std::string(e.op->name);
  r.layer = std::string(e.layer);
  r.shapes = absl::StrCat(
      absl::StrJoin(e.inputs, " x ",
                    [](std::string* out, const Tensor& t) { out->append(t.shape().ToString()); }),
      " -> ", e.output->shape().ToString());
  r.forward_start_ns = e.start_ns - start_ns_;
  r.forward_ns = e.end_ns - e.start_ns - nested;
  r.forward_kernel_ns = std::max<int64_t>(0, e.kernel_end_ns - e.kernel_start_ns - nested);
  r.output_bytes = Bytes(*e.output);
  r.forward_bytes = r.output_bytes;
  for (const Tensor& t : e.inputs) r.forward_bytes += Bytes(t);
  r.forward_flops = e.op->forward_flops != nullptr ? e.op->forward_flops(e.inputs, *e.output)
                                                   : double(e.output->numel());
  // Backward computes one product like forward's per matrix input that needs
  // a gradient (bias-like vectors aside).
  int matrices_needing_grad = 0;
  for (const Tensor& t : e.inputs) matrices_needing_grad += t.requires_grad() && t.rank() >= 2;
  r.backward_flops = r.forward_flops * std::max(1, matrices_needing_grad);
  r.recompute = e.recompute;
  const size_t index = profile_->records_.size();
  const int64_t made = e.end_ns - start_ns_;
  // A view keeps the producer of the storage it shares.
  if (!e.output_is_view) {
    producer_of_[e.output_storage] = index;
  } else {
    producer_of_.try_emplace(e.output_storage, index);
  }
  if (e.recorded) {
    r.recorded = true;
    r.saved_bytes = e.saved_bytes;
    r.backward_bytes = r.output_bytes + e.saved_bytes;
    for (const Tensor& t : e.inputs) r.backward_bytes += t.requires_grad() ? Bytes(t) : 0;
    r.graph_epoch = e.graph_epoch;
    r.node = e.node;
    record_of_node_[{e.graph_epoch, e.node}] = index;
    r.first_saved = static_cast<uint32_t>(profile_->saved_refs_.size());
    for (const SavedStorage& s : e.saved) {
      auto producer = producer_of_.find(s.storage);
      const bool counted =
          s.kind != SavedStorage::Kind::kInput || s.from_node || producer != producer_of_.end();
      if (!counted) continue;
      auto [it, fresh] =
          live_.try_emplace(s.storage, static_cast<uint32_t>(profile_->buffers_.size()));
      if (fresh) {
        SavedBuffer b{.storage = s.storage, .bytes = s.bytes, .shape = s.shape};
        if (s.kind != SavedStorage::Kind::kExtra && producer != producer_of_.end()) {
          b.producer = producer->second;
          const OpRecord& p = producer->second == index ? r : profile_->records_[producer->second];
          b.alloc_ns = p.forward_start_ns + p.forward_ns;
        } else {
          b.producer = index;
          b.alloc_ns = made;
        }
        profile_->buffers_.push_back(std::move(b));
      }
      ++profile_->buffers_[it->second].savers;
      profile_->saved_refs_.push_back(it->second);
      r.activation_bytes += s.bytes;
      ++r.num_saved;
    }
  } else {
    r.backward_flops = 0;
  }
  profile_->records_.push_back(std::move(r));
}

void Profiler::OnBackward(const BackwardEvent& e) {
  const int64_t nested = ClaimNested(e.start_ns, e.end_ns);
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
    // Reads the incoming gradient and the grad() so far, writes the sum.
    leaf.backward_bytes = 3 * e.shape.NumElements() * int64_t{4};
    leaf.graph_epoch = e.graph_epoch;
    leaf.node = e.node;
    profile_->records_.push_back(std::move(leaf));
    r = &profile_->records_.back();
  }
  r->backward_start_ns = r->backward_start_ns < 0 ? start : r->backward_start_ns;
  r->backward_ns += e.end_ns - e.start_ns - nested;
  r->backward_kernel_ns += std::max<int64_t>(0, e.kernel_end_ns - e.kernel_start_ns - nested);
  if (!e.released_saved || r->saved_released) return;
  r->saved_released = true;
  const uint32_t first = r->first_saved, count = r->num_saved;
  for (uint32_t k = first; k < first + count; ++k) {
    SavedBuffer& b = profile_->buffers_[profile_->saved_refs_[k]];
    if (--b.savers > 0) continue;
    b.free_ns = e.end_ns - start_ns_;
    live_.erase(b.storage);
  }
}

MemoryTimeline Profile::Memory() const {
  MemoryTimeline t;
  // (time, change); at equal times releases come first, so a buffer freed
  // as another is made is not counted twice.
  std::vector<std::pair<int64_t, int64_t>> changes;
  for (const SavedBuffer& b : buffers_) {
    t.total_bytes += b.bytes;
    changes.push_back({b.alloc_ns, b.bytes});
    if (b.free_ns >= 0) changes.push_back({b.free_ns, -b.bytes});
  }
  std::sort(changes.begin(), changes.end());
  int64_t live = 0;
  for (size_t i = 0; i < changes.size(); ++i) {
    live += changes[i].second;
    if (i + 1 < changes.size() && changes[i + 1].first == changes[i].first) continue;
    t.points.push_back({changes[i].first, live});
    if (live > t.peak_bytes) {
      t.peak_bytes = live;
      t.peak_ns = changes[i].first;
    }
  }
  for (size_t i = 0; i < buffers_.size(); ++i) {
    const SavedBuffer& b = buffers_[i];
    if (t.peak_bytes > 0 && b.alloc_ns <= t.peak_ns && (b.free_ns < 0 || b.free_ns > t.peak_ns)) {
      t.alive_at_peak.push_back(i);
    }
  }
  return t;
}

std::vector<MemoryGroup> Profile::MemoryBy(
    const MemoryTimeline& timeline, std::vector<std::string> (*keys)(const OpRecord&)) const {
  absl::flat_hash_map<std::string, MemoryGroup> groups;
  std::vector<bool> at_peak(buffers_.size());
  for (size_t i : timeline.alive_at_peak) at_peak[i] = true;
  for (size_t i = 0; i < buffers_.size(); ++i) {
    const SavedBuffer& b = buffers_[i];
    for (const std::string& key : keys(records_[b.producer])) {
      MemoryGroup& g = groups[key];
      g.name = key;
      ++g.buffers;
      g.total_bytes += b.bytes;
      if (at_peak[i]) g.at_peak_bytes += b.bytes;
    }
  }
  std::vector<MemoryGroup> out;
  for (auto& [name, g] : groups) out.push_back(std::move(g));
  std::sort(out.begin(), out.end(), [](const MemoryGroup& a, const MemoryGroup& b) {
    if (a.at_peak_bytes != b.at_peak_bytes) return a.at_peak_bytes > b.at_peak_bytes;
    if (a.total_bytes != b.total_bytes) return a.total_bytes > b.total_bytes;
    return a.name < b.name;
  });
  return out;
}

std::vector<MemoryGroup> Profile::MemoryByOp(const MemoryTimeline& timeline) const {
  return MemoryBy(timeline, [](const OpRecord& r) { return std::vector<std::string>{r.op}; });
}

std::vector<MemoryGroup> Profile::MemoryByLayer(const MemoryTimeline& timeline) const {
  return MemoryBy(timeline, [](const OpRecord& r) {
    return std::vector<std::string>{r.layer.empty() ? std::string("(outside layers)") : r.layer};
  });
}

std::vector<MemoryGroup> Profile::MemoryByModule(const MemoryTimeline& timeline) const {
  return MemoryBy(timeline, [](const OpRecord& r) {
    // Layer paths alternate a module's name and its kind ("block1.residual.
    // fc1.linear"); each name-and-kind pair closes an enclosing module.
    std::vector<std::string> out;
    if (r.layer.empty()) return std::vector<std::string>{"(outside modules)"};
    size_t dots = 0;
    for (size_t i = 0; i < r.layer.size(); ++i) {
      if (r.layer[i] != '.') continue;
      if (++dots % 2 == 0) out.push_back(r.layer.substr(0, i));
    }
    out.push_back(r.layer);
    return out;
  });
}

int64_t Profile::EndNs() const {
  int64_t end = 0;
  for (const OpRecord& r : records_) {
    end = std::max(end, r.forward_start_ns + r.forward_ns);
    if (r.backward_start_ns >= 0) end = std::max(end, r.backward_start_ns + r.backward_ns);
  }
  return end;
}

int64_t Profile::FirstBackwardNs() const {
  int64_t first = -1;
  for (const OpRecord& r : records_) {
    if (r.backward_start_ns >= 0 && (first < 0 || r.backward_start_ns < first)) {
      first = r.backward_start_ns;
    }
  }
  return first;
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
    auto [it, fresh] = groups.try_emplace(key(r));
    ProfileGroup& g = it->second;
    if (fresh) g.matrix_product = true;
    g.matrix_product = g.matrix_product && IsMatrixProduct(r.op);
    g.name = key(r);
    ++g.count;
    g.forward_ns += r.forward_ns;
    g.backward_ns += r.backward_ns;
    g.kernel_ns += r.forward_kernel_ns + r.backward_kernel_ns;
    g.overhead_ns += (r.forward_ns - r.forward_kernel_ns) + (r.backward_ns - r.backward_kernel_ns);
    g.flops += r.forward_flops + (r.backward_start_ns >= 0 ? r.backward_flops : 0);
    g.bytes += double(r.forward_bytes) + (r.backward_start_ns >= 0 ? r.backward_bytes : 0);
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
