#include "profile/profiler.h"

#include <algorithm>
#include <cmath>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "graph/op_def.h"
#include "graph/tensor_impl.h"

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

Profiler::Profiler(Profile* profile, const ProfilerOptions& options)
    : profile_(profile), start_ns_(internal::ObserverClockNs()), installed_(this) {
  // The profiler's own set-up is part of the profiled step (a gap), as its
  // teardown is: the rows then account for all the time the caller saw.
  profile_->start_ns_ = start_ns_;
  for (const auto& [name, tensor] : options.parameters) {
    if (tensor.defined()) parameter_names_.try_emplace(tensor.impl()->storage, name);
  }
  // A profile reused for the next step keeps its capacity (Profile::Clear());
  // the maps get room for as many entries as it held, so that neither grows
  // while ops are timed.
  const size_t records = std::max<size_t>(profile_->records_.capacity(), 64);
  record_of_node_.reserve(records);
  producer_of_.reserve(records);
  live_.reserve(records);
  unclaimed_.reserve(64);
}

Profiler::~Profiler() {
  record_of_node_ = {};
  producer_of_ = {};
  live_ = {};
  parameter_names_ = {};
  parameter_layers_ = {};
  profile_->wall_ns_ = internal::ObserverClockNs() - start_ns_;
}

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
  r.forward_wall_ns = e.end_ns - e.start_ns;
  profile_->spans_.push_back({r.forward_start_ns, r.forward_start_ns + r.forward_wall_ns});
  r.forward_kernel_ns = std::max<int64_t>(0, e.kernel_end_ns - e.kernel_start_ns - nested);
  r.output_bytes = Bytes(*e.output);
  r.forward_bytes = r.output_bytes;
  for (const Tensor& t : e.inputs) r.forward_bytes += Bytes(t);
  if (!parameter_names_.empty()) {
    for (const Tensor& t : e.inputs) {
      const void* storage = t.impl()->storage;
      if (parameter_names_.contains(storage)) parameter_layers_.try_emplace(storage, e.layer);
    }
  }
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
    if (auto name = parameter_names_.find(e.leaf_storage); name != parameter_names_.end()) {
      leaf.parameter = name->second;
      if (auto layer = parameter_layers_.find(e.leaf_storage); layer != parameter_layers_.end()) {
        leaf.layer = layer->second;
      }
    }
    leaf.forward_start_ns = start;
    leaf.backward_flops = double(e.shape.NumElements());
    // Reads the incoming gradient and the grad() so far, writes the sum.
    leaf.backward_bytes = 3 * e.shape.NumElements() * static_cast<int64_t>(DTypeSize(e.dtype));
    leaf.graph_epoch = e.graph_epoch;
    leaf.node = e.node;
    profile_->records_.push_back(std::move(leaf));
    r = &profile_->records_.back();
  }
  r->backward_start_ns = r->backward_start_ns < 0 ? start : r->backward_start_ns;
  r->backward_ns += e.end_ns - e.start_ns - nested;
  r->backward_wall_ns += e.end_ns - e.start_ns;
  profile_->spans_.push_back({start, e.end_ns - start_ns_});
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

void Profiler::OnScope(const ScopeEvent& e) {
  const int64_t nested = ClaimNested(e.start_ns, e.end_ns);
  OpRecord r;
  r.op = std::string(e.name);
  r.layer = std::string(e.layer);
  r.scope = true;
  r.forward_start_ns = e.start_ns - start_ns_;
  r.forward_ns = e.end_ns - e.start_ns - nested;
  r.forward_wall_ns = e.end_ns - e.start_ns;
  profile_->spans_.push_back({r.forward_start_ns, r.forward_start_ns + r.forward_wall_ns});
  profile_->records_.push_back(std::move(r));
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

std::vector<std::pair<int64_t, int64_t>> Profile::Gaps() const {
  std::vector<std::pair<int64_t, int64_t>> spans = spans_, gaps;
  std::sort(spans.begin(), spans.end());
  int64_t covered_to = 0;
  for (const auto& [start, end] : spans) {
    if (start > covered_to) gaps.push_back({covered_to, start - covered_to});
    covered_to = std::max(covered_to, end);
  }
  if (wall_ns_ > covered_to) gaps.push_back({covered_to, wall_ns_ - covered_to});
  return gaps;
}

std::vector<ProfileGroup> Profile::GapGroups() const {
  if (wall_ns_ <= 0) return {};
  ProfileGroup forward{.name = "(gaps, forward)"}, backward{.name = "(gaps, backward)"};
  const int64_t first_backward = FirstBackwardNs();
  for (const auto& [start, duration] : Gaps()) {
    const bool in_backward = first_backward >= 0 && start >= first_backward;
    ProfileGroup& g = in_backward ? backward : forward;
    ++g.count;
    (in_backward ? g.backward_ns : g.forward_ns) += duration;
    g.overhead_ns += duration;
  }
  std::vector<ProfileGroup> out;
  for (ProfileGroup* g : {&forward, &backward}) {
    if (g->count > 0) out.push_back(std::move(*g));
  }
  return out;
}

namespace {

// The group keys of a record: one for ops and layers, one per enclosing
// module for modules.
using GroupKeys = absl::InlinedVector<std::pair<std::string, std::string>, 4>;

GroupKeys OpKey(const OpRecord& r) { return {{r.op, ""}}; }

GroupKeys LayerKey(const OpRecord& r) {
  return {{r.layer.empty() ? std::string("(outside layers)") : r.layer, ""}};
}

// "block1.residual.fc1.linear" -> ("block1", "residual"), ("block1.fc1",
// "linear"): names and kinds alternate, and names never hold a dot.
GroupKeys ModuleKeys(const OpRecord& r) {
  if (r.layer.empty()) return {{"(outside modules)", ""}};
  GroupKeys keys;
  std::string path;
  const std::vector<absl::string_view> parts = absl::StrSplit(r.layer, '.');
  for (size_t i = 0; i + 1 < parts.size(); i += 2) {
    absl::StrAppend(&path, path.empty() ? "" : ".", parts[i]);
    keys.push_back({path, std::string(parts[i + 1])});
  }
  return keys;
}

void AddRecord(const OpRecord& r, ProfileGroup& g) {
  ++g.count;
  g.forward_ns += r.forward_ns;
  g.backward_ns += r.backward_ns;
  g.kernel_ns += r.forward_kernel_ns + r.backward_kernel_ns;
  g.overhead_ns += (r.forward_ns - r.forward_kernel_ns) + (r.backward_ns - r.backward_kernel_ns);
  if (r.scope) g.kernel_ns += r.forward_ns, g.overhead_ns -= r.forward_ns;
  g.flops += r.forward_flops + (r.backward_start_ns >= 0 ? r.backward_flops : 0);
  g.bytes += double(r.forward_bytes) + (r.backward_start_ns >= 0 ? r.backward_bytes : 0);
}

// Groups in order of first appearance.
std::vector<ProfileGroup> Collect(const std::vector<OpRecord>& records,
                                  GroupKeys (*keys)(const OpRecord&)) {
  absl::flat_hash_map<std::string, size_t> index;
  std::vector<ProfileGroup> out;
  for (const OpRecord& r : records) {
    for (const auto& [name, kind] : keys(r)) {
      auto [it, fresh] = index.try_emplace(name, out.size());
      if (fresh) out.push_back({.name = name, .matrix_product = true, .kind = kind});
      ProfileGroup& g = out[it->second];
      g.matrix_product = g.matrix_product && !r.scope && IsMatrixProduct(r.op);
      AddRecord(r, g);
    }
  }
  return out;
}

void SortByTime(std::vector<ProfileGroup>& groups) {
  std::stable_sort(groups.begin(), groups.end(), [](const ProfileGroup& a, const ProfileGroup& b) {
    const int64_t ta = a.forward_ns + a.backward_ns, tb = b.forward_ns + b.backward_ns;
    return ta != tb ? ta > tb : a.name < b.name;
  });
}

// Module paths in tree order: each after its parent, siblings in order of
// first appearance; "(outside modules)" last.
void SortAsTree(std::vector<ProfileGroup>& groups) {
  absl::flat_hash_map<std::string, size_t> first_seen;
  for (size_t i = 0; i < groups.size(); ++i) first_seen[groups[i].name] = i;
  auto ancestry = [&](const ProfileGroup& g) {
    std::vector<size_t> chain;
    if (g.name.front() == '(') return std::vector<size_t>{groups.size()};
    for (size_t dot = 0; (dot = g.name.find('.', dot)) != std::string::npos; ++dot) {
      auto it = first_seen.find(g.name.substr(0, dot));
      chain.push_back(it != first_seen.end() ? it->second : 0);
    }
    chain.push_back(first_seen[g.name]);
    return chain;
  };
  std::stable_sort(groups.begin(), groups.end(), [&](const ProfileGroup& a, const ProfileGroup& b) {
    return ancestry(a) < ancestry(b);
  });
}

std::vector<ProfileGroup> MedianOf(std::span<const Profile> steps,
                                   std::vector<ProfileGroup> (Profile::*by)() const) {
  std::vector<std::vector<ProfileGroup>> per_step;
  std::vector<ProfileGroup> out;  // every group of any step, in first-seen order
  absl::flat_hash_map<std::string, size_t> index;
  for (const Profile& step : steps) {
    per_step.push_back((step.*by)());
    for (const ProfileGroup& g : per_step.back()) {
      if (index.try_emplace(g.name, out.size()).second) out.push_back(g);
    }
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n == 0 ? 0.0 : (n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2);
  };
  for (ProfileGroup& g : out) {
    std::vector<double> count, forward, backward, kernel, overhead, flops, bytes;
    for (const std::vector<ProfileGroup>& groups : per_step) {
      auto it = std::find_if(groups.begin(), groups.end(),
                             [&](const ProfileGroup& s) { return s.name == g.name; });
      const ProfileGroup zero;
      const ProfileGroup& s = it != groups.end() ? *it : zero;
      count.push_back(double(s.count));
      forward.push_back(double(s.forward_ns));
      backward.push_back(double(s.backward_ns));
      kernel.push_back(double(s.kernel_ns));
      overhead.push_back(double(s.overhead_ns));
      flops.push_back(s.flops);
      bytes.push_back(s.bytes);
    }
    g.count = std::llround(median(count));
    g.forward_ns = std::llround(median(forward));
    g.backward_ns = std::llround(median(backward));
    g.kernel_ns = std::llround(median(kernel));
    g.overhead_ns = std::llround(median(overhead));
    g.flops = median(flops);
    g.bytes = median(bytes);
  }
  return out;
}

}  // namespace

std::vector<ProfileGroup> Profile::ByOp() const {
  std::vector<ProfileGroup> groups = Collect(records_, OpKey);
  SortByTime(groups);
  for (ProfileGroup& g : GapGroups()) groups.push_back(std::move(g));
  return groups;
}

std::vector<ProfileGroup> Profile::ByLayer() const {
  std::vector<ProfileGroup> groups = Collect(records_, LayerKey);
  SortByTime(groups);
  for (ProfileGroup& g : GapGroups()) groups.push_back(std::move(g));
  return groups;
}

std::vector<ProfileGroup> Profile::ByModule() const {
  std::vector<ProfileGroup> groups = Collect(records_, ModuleKeys);
  SortAsTree(groups);
  return groups;
}

namespace {

// Sorted by time as ByOp() and ByLayer() sort, the gaps staying last as in
// each step's table.
std::vector<ProfileGroup> SortedGapsLast(std::vector<ProfileGroup> groups) {
  auto gaps = std::stable_partition(groups.begin(), groups.end(), [](const ProfileGroup& g) {
    return g.name.rfind("(gaps", 0) != 0;
  });
  std::vector<ProfileGroup> tail(std::make_move_iterator(gaps),
                                 std::make_move_iterator(groups.end()));
  groups.erase(gaps, groups.end());
  SortByTime(groups);
  groups.insert(groups.end(), tail.begin(), tail.end());
  return groups;
}

}  // namespace

std::vector<ProfileGroup> MedianByOp(std::span<const Profile> steps) {
  return SortedGapsLast(MedianOf(steps, &Profile::ByOp));
}

std::vector<ProfileGroup> MedianByLayer(std::span<const Profile> steps) {
  return SortedGapsLast(MedianOf(steps, &Profile::ByLayer));
}

std::vector<ProfileGroup> MedianByModule(std::span<const Profile> steps) {
  std::vector<ProfileGroup> groups = MedianOf(steps, &Profile::ByModule);
  SortAsTree(groups);
  return groups;
}

int64_t MedianWallNs(std::span<const Profile> steps) {
  std::vector<int64_t> walls;
  for (const Profile& p : steps) walls.push_back(p.wall_ns());
  if (walls.empty()) return 0;
  std::sort(walls.begin(), walls.end());
  const size_t n = walls.size();
  return n % 2 == 1 ? walls[n / 2] : (walls[n / 2 - 1] + walls[n / 2]) / 2;
}

Profile MedianProfile(std::span<const Profile> steps) {
  if (steps.empty()) return {};
  const Profile& last = steps.back();
  bool same = true;
  for (const Profile& p : steps) {
    same = same && p.records().size() == last.records().size();
    for (size_t i = 0; same && i < p.records().size(); ++i) {
      same = p.records()[i].op == last.records()[i].op;
    }
  }
  if (!same) {
    std::vector<size_t> order(steps.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return steps[a].wall_ns() < steps[b].wall_ns(); });
    return steps[order[order.size() / 2]];
  }
  Profile out = last;
  out.wall_ns_ = MedianWallNs(steps);
  std::vector<int64_t> v(steps.size());
  auto median_of = [&](int64_t OpRecord::*field, size_t i) {
    for (size_t s = 0; s < steps.size(); ++s) v[s] = steps[s].records()[i].*field;
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    return v[v.size() / 2];
  };
  for (size_t i = 0; i < out.records_.size(); ++i) {
    OpRecord& r = out.records_[i];
    for (int64_t OpRecord::*field :
         {&OpRecord::forward_ns, &OpRecord::forward_wall_ns, &OpRecord::forward_kernel_ns,
          &OpRecord::backward_ns, &OpRecord::backward_wall_ns, &OpRecord::backward_kernel_ns}) {
      r.*field = median_of(field, i);
    }
  }
  return out;
}

}  // namespace actgrad
