#include "profile/memory_advice.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace actgrad {

namespace {

// A layer path's enclosing units, outermost first: "block1.residual",
// "block1.residual.fc1.linear" for "block1.residual.fc1.linear" (layer
// paths alternate a module's name and its kind).
std::vector<std::string> Units(const std::string& layer) {
  std::vector<std::string> out;
  size_t dots = 0;
  for (size_t i = 0; i < layer.size(); ++i) {
    if (layer[i] == '.' && ++dots % 2 == 0) out.push_back(layer.substr(0, i));
  }
  out.push_back(layer);
  return out;
}

std::string Parent(const std::string& unit) {
  const std::vector<std::string> units = Units(unit);
  return units.size() > 1 ? units[units.size() - 2] : std::string();
}

bool Overlap(const CheckpointCandidate& a, const CheckpointCandidate& b) {
  const auto within = [](const std::string& inner, const std::string& outer) {
    return inner == outer ||
           (inner.size() > outer.size() && inner.compare(0, outer.size(), outer) == 0 &&
            inner[outer.size()] == '.');
  };
  for (const std::string& x : a.layers) {
    for (const std::string& y : b.layers) {
      if (within(x, y) || within(y, x)) return true;
    }
  }
  return false;
}

// The forward's peak with `plan.chosen` checkpointed, or the peak while one
// of them is recomputed in backward, whichever is larger.
int64_t PredictedPeak(const CheckpointPlan& plan, const std::vector<SavedBuffer>& buffers,
                      const MemoryTimeline& timeline) {
  std::vector<bool> removed(buffers.size());
  int64_t forward = plan.peak_bytes;
  for (size_t i : plan.chosen) {
    const CheckpointCandidate& c = plan.ranked[i];
    for (size_t b : c.removed) removed[b] = true;
    forward -= c.recompute_bytes - c.input_bytes;
  }
  int64_t peak = forward;
  for (size_t i : plan.chosen) {
    const CheckpointCandidate& c = plan.ranked[i];
    int64_t alive = c.recompute_bytes + c.input_bytes;
    for (size_t b : timeline.alive_at_peak) {
      if (!removed[b] && buffers[b].alloc_ns < c.start_ns) alive += buffers[b].bytes;
    }
    for (size_t k : plan.chosen) {
      if (k != i && plan.ranked[k].start_ns < c.start_ns) alive += plan.ranked[k].input_bytes;
    }
    peak = std::max(peak, alive);
  }
  return peak;
}

}  // namespace

CheckpointPlan AdviseCheckpoints(const Profile& profile, const MemoryTimeline& timeline,
                                 int64_t budget_bytes) {
  CheckpointPlan plan;
  plan.peak_bytes = timeline.peak_bytes;
  plan.budget_bytes = budget_bytes;
  const std::vector<OpRecord>& records = profile.records();
  const std::vector<SavedBuffer>& buffers = profile.saved_buffers();

  // The children of each parent, in the order they first ran, and each
  // record's unit per level.
  std::map<std::string, std::vector<std::string>> children;
  std::vector<std::vector<std::string>> units_of(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    if (records[i].recompute || records[i].layer.empty()) continue;
    units_of[i] = Units(records[i].layer);
    for (const std::string& unit : units_of[i]) {
      std::vector<std::string>& siblings = children[Parent(unit)];
      if (std::find(siblings.begin(), siblings.end(), unit) == siblings.end()) {
        siblings.push_back(unit);
      }
    }
  }
  // Every node keeping each buffer, its producer first.
  std::vector<std::vector<size_t>> keepers(buffers.size());
  for (size_t b = 0; b < buffers.size(); ++b) keepers[b].push_back(buffers[b].producer);
  for (size_t r = 0; r < records.size(); ++r) {
    for (uint32_t k = 0; k < records[r].num_saved; ++k) {
      keepers[profile.saved_refs()[records[r].first_saved + k]].push_back(r);
    }
  }
  std::vector<bool> at_peak(buffers.size());
  for (size_t b : timeline.alive_at_peak) at_peak[b] = true;
  std::vector<bool> output_kept(records.size());
  for (size_t b : timeline.alive_at_peak) output_kept[buffers[b].producer] = true;

  for (const auto& [parent, siblings] : children) {
    const int n = static_cast<int>(siblings.size());
    // Which sibling a record runs in (-1: outside this parent).
    const auto child_of = [&](size_t r) {
      for (const std::string& unit : units_of[r]) {
        if (Parent(unit) != parent) continue;
        return static_cast<int>(std::find(siblings.begin(), siblings.end(), unit) -
                                siblings.begin());
      }
      return -1;
    };
    std::vector<int> child(records.size());
    std::vector<int64_t> forward_ns(n + 1, 0);  // prefix sums over siblings
    std::vector<int64_t> own(n, 0);
    for (size_t r = 0; r < records.size(); ++r) {
      child[r] = units_of[r].empty() ? -1 : child_of(r);
      if (child[r] >= 0) own[child[r]] += records[r].forward_ns;
    }
    for (int i = 0; i < n; ++i) forward_ns[i + 1] = forward_ns[i] + own[i];
    // What a checkpoint starting at sibling i adds: its input, the output of
    // the op run just before it, unless that is kept at the peak already.
    std::vector<int64_t> input_bytes(n, -1), first_start(n, 0);
    for (size_t r = 0, previous = records.size(); r < records.size(); ++r) {
      if (records[r].recompute || records[r].forward_ns == 0) continue;
      if (child[r] >= 0 && input_bytes[child[r]] < 0) {
        first_start[child[r]] = records[r].forward_start_ns;
        const bool fresh = previous < records.size() && !output_kept[previous];
        input_bytes[child[r]] = fresh ? records[previous].output_bytes : 0;
      }
      previous = r;
    }
    // The sibling range each peak buffer spans, with its bytes; buffers kept
    // outside this parent are left out.
    std::vector<std::pair<int, int>> spans;
    std::vector<int64_t> span_bytes;
    std::vector<size_t> span_buffer;
    for (size_t b = 0; b < buffers.size(); ++b) {
      if (!at_peak[b]) continue;
      int lo = n, hi = -1;
      for (size_t r : keepers[b]) {
        lo = std::min(lo, child[r]);
        hi = std::max(hi, child[r]);
      }
      if (lo < 0) continue;
      spans.push_back({lo, hi});
      span_bytes.push_back(buffers[b].bytes);
      span_buffer.push_back(b);
    }
    for (int i = 0; i < n; ++i) {
      for (int j = i; j < n; ++j) {
        CheckpointCandidate c;
        for (size_t s = 0; s < spans.size(); ++s) {
          if (spans[s].first >= i && spans[s].second <= j) {
            c.saved_bytes += span_bytes[s];
            c.removed.push_back(span_buffer[s]);
          }
        }
        c.recompute_bytes = c.saved_bytes;
        c.input_bytes = std::max<int64_t>(0, input_bytes[i]);
        c.start_ns = first_start[i];
        c.saved_bytes -= c.input_bytes;
        if (c.saved_bytes <= 0) continue;
        c.added_ns = forward_ns[j + 1] - forward_ns[i];
        c.layers.assign(siblings.begin() + i, siblings.begin() + j + 1);
        c.name = i == j ? siblings[i]
                        : absl::StrCat(siblings[i], "..",
                                       siblings[j].substr(parent.empty() ? 0 : parent.size() + 1));
        plan.ranked.push_back(std::move(c));
      }
    }
  }
  std::sort(plan.ranked.begin(), plan.ranked.end(),
            [](const CheckpointCandidate& a, const CheckpointCandidate& b) {
              if (a.saved_bytes != b.saved_bytes) return a.saved_bytes > b.saved_bytes;
              if (a.added_ns != b.added_ns) return a.added_ns < b.added_ns;
              return a.name < b.name;
            });
  plan.predicted_peak_bytes = plan.peak_bytes;
  if (budget_bytes < 0) return plan;
  // Two searches, the better plan kept: even splits of each parent's
  // children into k segments (as checkpoint_sequential does), and a greedy
  // pick by bytes saved per nanosecond added.
  std::map<std::pair<std::string, std::string>, size_t> by_ends;
  for (size_t i = 0; i < plan.ranked.size(); ++i) {
    by_ends[{plan.ranked[i].layers.front(), plan.ranked[i].layers.back()}] = i;
  }
  std::vector<size_t> best_split;
  int64_t best_peak = plan.peak_bytes, best_added = 0;
  for (const auto& [parent, siblings] : children) {
    const int n = static_cast<int>(siblings.size());
    for (int k = 1; k <= n; ++k) {
      CheckpointPlan trial = plan;
      int64_t added = 0;
      for (int s = 0; s < k; ++s) {
        const int first = s * n / k, last = (s + 1) * n / k - 1;
        if (last < first) continue;
        auto it = by_ends.find({siblings[first], siblings[last]});
        if (it == by_ends.end()) continue;
        trial.chosen.push_back(it->second);
        added += plan.ranked[it->second].added_ns;
      }
      if (trial.chosen.empty()) continue;
      const int64_t peak = PredictedPeak(trial, buffers, timeline);
      const bool fits = peak <= budget_bytes, best_fits = best_peak <= budget_bytes;
      if ((fits && (!best_fits || added < best_added)) ||
          (!fits && !best_fits && peak < best_peak)) {
        best_split = trial.chosen;
        best_peak = peak;
        best_added = added;
      }
    }
  }
  // Greedy by bytes saved per nanosecond added, skipping overlaps.
  std::vector<size_t> order(plan.ranked.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const CheckpointCandidate &x = plan.ranked[a], &y = plan.ranked[b];
    return double(x.saved_bytes) * double(std::max<int64_t>(1, y.added_ns)) >
           double(y.saved_bytes) * double(std::max<int64_t>(1, x.added_ns));
  });
  for (size_t i : order) {
    if (plan.predicted_peak_bytes <= budget_bytes) break;
    bool overlaps = false;
    for (size_t k : plan.chosen) overlaps |= Overlap(plan.ranked[i], plan.ranked[k]);
    if (overlaps) continue;
    plan.chosen.push_back(i);
    const int64_t predicted = PredictedPeak(plan, buffers, timeline);
    if (predicted >= plan.predicted_peak_bytes) {
      plan.chosen.pop_back();
      continue;
    }
    plan.predicted_peak_bytes = predicted;
    plan.added_ns += plan.ranked[i].added_ns;
  }
  const bool greedy_fits = plan.predicted_peak_bytes <= budget_bytes;
  if (!best_split.empty() &&
      ((best_peak <= budget_bytes && (!greedy_fits || best_added < plan.added_ns)) ||
       (!greedy_fits && best_peak < plan.predicted_peak_bytes))) {
    plan.chosen = best_split;
    plan.predicted_peak_bytes = best_peak;
    plan.added_ns = best_added;
  }
  plan.fits = plan.predicted_peak_bytes <= budget_bytes;
  return plan;
}

std::string FormatCheckpointPlan(const CheckpointPlan& plan, int max_rows) {
  const auto mib = [](int64_t bytes) { return double(bytes) / (1024.0 * 1024.0); };
  std::string out = absl::StrFormat("%-44s %14s %12s %10s\n", "checkpoint (module or segment)",
                                    "MiB off peak", "ms added", "MiB/ms");
  for (size_t i = 0; i < plan.ranked.size() && i < static_cast<size_t>(max_rows); ++i) {
    const CheckpointCandidate& c = plan.ranked[i];
    absl::StrAppendFormat(&out, "%-44s %14.3f %12.3f %10.1f\n", c.name.substr(0, 44),
                          mib(c.saved_bytes), c.added_ns / 1e6,
                          c.added_ns > 0 ? mib(c.saved_bytes) / (c.added_ns / 1e6) : 0.0);
  }
  if (plan.budget_bytes < 0) return out;
  absl::StrAppendFormat(&out,
                        "\nfor a budget of %.3f MiB (peak now %.3f MiB): ", mib(plan.budget_bytes),
                        mib(plan.peak_bytes));
  if (plan.chosen.empty()) {
    out += plan.fits ? "the peak fits already\n" : "no checkpoint lowers the peak\n";
    return out;
  }
  absl::StrAppendFormat(&out, "checkpoint %d segment%s, predicted peak %.3f MiB%s, +%.3f ms\n",
                        plan.chosen.size(), plan.chosen.size() == 1 ? "" : "s",
                        mib(plan.predicted_peak_bytes), plan.fits ? "" : " (still over)",
                        plan.added_ns / 1e6);
  for (size_t i : plan.chosen) absl::StrAppend(&out, "  ", plan.ranked[i].name, "\n");
  return out;
}

absl::StatusOr<int64_t> ParseByteSize(absl::string_view text) {
  const std::string s(text);
  char* end = nullptr;
  const double value = std::strtod(s.c_str(), &end);
  std::string unit(end);
  for (char& ch : unit) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  double scale = -1;
  if (unit.empty() || unit == "b") scale = 1;
  if (unit == "kib" || unit == "k") scale = 1024.0;
  if (unit == "mib" || unit == "m") scale = 1024.0 * 1024;
  if (unit == "gib" || unit == "g") scale = 1024.0 * 1024 * 1024;
  if (unit == "kb") scale = 1e3;
  if (unit == "mb") scale = 1e6;
  if (unit == "gb") scale = 1e9;
  if (end == s.c_str() || scale < 0 || !(value >= 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", text, "\" is not a size; write bytes or a number with KiB, MiB or GiB (\"50MiB\")"));
  }
  return static_cast<int64_t>(value * scale);
}

}  // namespace actgrad
