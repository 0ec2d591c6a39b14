#include "profile/tables.h"

#include <algorithm>
#include <limits>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "io/json.h"

namespace actgrad {

namespace {

double Us(int64_t ns) { return double(ns) / 1e3; }

// What a time table says about one group, computed once for the text and
// the JSON.
struct GroupRates {
  int64_t time_ns = 0;  // forward and backward
  double share = 0;     // of the step
  double gflops = 0;
  double gbytes_per_s = 0;
  std::optional<double> intensity;   // FLOPs per byte; none without bytes
  std::optional<double> gemm_share;  // matrix products against a known peak
  const char* bound = nullptr;       // "compute", "memory", or none
  std::optional<double> roof_share;  // of the bound's roof
  double overhead_share = 0;
};

GroupRates RatesOf(const ProfileGroup& g, int64_t step_ns, const MachineRoofs& roofs) {
  GroupRates r;
  r.time_ns = g.forward_ns + g.backward_ns;
  r.share = double(r.time_ns) / std::max<double>(1.0, double(step_ns));
  // FLOPs per nanosecond are GFLOP/s, bytes per nanosecond GB/s.
  const double time = double(r.time_ns);
  if (r.time_ns > 0) {
    r.gflops = g.flops / time;
    r.gbytes_per_s = g.bytes / time;
    r.overhead_share = double(g.overhead_ns) / time;
  }
  if (g.bytes > 0) r.intensity = g.flops / g.bytes;
  if (g.matrix_product && roofs.gemm_gflops > 0) r.gemm_share = r.gflops / roofs.gemm_gflops;
  // Roofline: below the machine balance, moving the group's bytes at the
  // copy bandwidth takes longer than doing its FLOPs at the FMA roof.
  const double balance = roofs.Balance();
  if (balance <= 0 || (g.flops <= 0 && g.bytes <= 0)) return r;
  const bool compute = !r.intensity.has_value() || *r.intensity >= balance;
  r.bound = compute ? "compute" : "memory";
  r.roof_share = compute ? r.gflops / roofs.fma_gflops : r.gbytes_per_s / roofs.copy_gbytes_per_s;
  return r;
}

std::string Percent(const std::optional<double>& fraction) {
  return fraction.has_value() ? absl::StrFormat("%.0f%%", 100 * *fraction) : "";
}

}  // namespace

std::string FormatGroupTable(const std::vector<ProfileGroup>& groups, int64_t step_ns,
                             const std::string& title, const MachineRoofs& roofs) {
  // As wide as the longest name (module paths nest deep), within reason.
  size_t width = std::max<size_t>(34, title.size());
  for (const ProfileGroup& g : groups) width = std::max(width, g.name.size());
  const int name_width = static_cast<int>(std::min<size_t>(width, 64));
  std::string out =
      absl::StrFormat("%-*s %6s %11s %11s %8s %7s %9s %7s %8s %8s %7s %9s\n", name_width, title,
                      "calls", "forward us", "backward us", "bwd/fwd", "share", "GFLOP/s", "% GEMM",
                      "GB/s", "bound", "% roof", "overhead");
  for (const ProfileGroup& g : groups) {
    const GroupRates r = RatesOf(g, step_ns, roofs);
    absl::StrAppendFormat(
        &out, "%-*s %6d %11.1f %11.1f %8.2f %6.1f%% %9.2f %7s %8.2f %8s %7s %8.1f%%\n", name_width,
        g.name.substr(0, name_width), g.count, Us(g.forward_ns), Us(g.backward_ns),
        g.BackwardForwardRatio(), 100 * r.share, r.gflops, Percent(r.gemm_share), r.gbytes_per_s,
        r.bound ? r.bound : "-", Percent(r.roof_share), 100 * r.overhead_share);
  }
  return out;
}

std::string GroupsJson(const std::vector<ProfileGroup>& groups, int64_t step_ns,
                       const MachineRoofs& roofs) {
  io::JsonWriter out;
  const auto number_or_null = [&out](const std::optional<double>& value) {
    if (value.has_value()) {
      out.Number(*value);
    } else {
      out.Null();
    }
  };
  out.BeginArray();
  for (const ProfileGroup& g : groups) {
    const GroupRates r = RatesOf(g, step_ns, roofs);
    out.BeginObject()
        .Key("name")
        .String(g.name)
        .Key("count")
        .Int(g.count)
        .Key("forward_ms")
        .Number(g.forward_ns / 1e6)
        .Key("backward_ms")
        .Number(g.backward_ns / 1e6)
        .Key("backward_forward_ratio")
        .Number(g.BackwardForwardRatio())
        .Key("share")
        .Number(r.share)
        .Key("flops")
        .Number(g.flops)
        .Key("bytes")
        .Number(g.bytes)
        .Key("intensity");
    number_or_null(r.intensity);
    out.Key("gflops").Number(r.gflops).Key("gbytes_per_s").Number(r.gbytes_per_s);
    out.Key("gemm_share");
    number_or_null(r.gemm_share);
    out.Key("bound");
    if (r.bound != nullptr) {
      out.String(r.bound);
    } else {
      out.Null();
    }
    out.Key("roof_share");
    number_or_null(r.roof_share);
    out.Key("overhead_share").Number(r.overhead_share).EndObject();
  }
  out.EndArray();
  return out.str();
}

std::string RoofsLegend(const MachineRoofs& roofs) {
  std::vector<std::string> parts;
  if (roofs.fma_gflops > 0) parts.push_back(absl::StrFormat("FMA %.0f GFLOP/s", roofs.fma_gflops));
  if (roofs.copy_gbytes_per_s > 0) {
    parts.push_back(absl::StrFormat("copy %.1f GB/s", roofs.copy_gbytes_per_s));
  }
  if (roofs.gemm_gflops > 0) {
    parts.push_back(absl::StrFormat("GEMM %.0f GFLOP/s", roofs.gemm_gflops));
  }
  if (parts.empty()) return "roofs unknown";
  std::string out = absl::StrCat("roofs measured at start: ", absl::StrJoin(parts, ", "), ", ",
                                 roofs.threads, roofs.threads == 1 ? " thread" : " threads");
  if (roofs.Balance() > 0) {
    absl::StrAppendFormat(&out, "; balance %.1f FLOP/byte", roofs.Balance());
  }
  return out;
}

namespace {

// The roofs the old overloads know of: a GEMM peak at most.
MachineRoofs GemmPeakOnly(double peak_gflops) {
  MachineRoofs roofs;
  roofs.gemm_gflops = std::max(0.0, peak_gflops);
  return roofs;
}

// The step the rows of ByOp() and ByLayer() add up to, gaps included; the
// records alone for a profile that never knew its wall time.
int64_t StepOf(const Profile& profile) {
  return profile.wall_ns() > 0 ? profile.wall_ns() : profile.TotalNs();
}

}  // namespace

std::string FormatGroupTable(const std::vector<ProfileGroup>& groups, const Profile& profile,
                             const std::string& title, double peak_gflops) {
  return FormatGroupTable(groups, StepOf(profile), title, GemmPeakOnly(peak_gflops));
}

std::string GroupsJson(const std::vector<ProfileGroup>& groups, const Profile& profile) {
  return GroupsJson(groups, StepOf(profile), GemmPeakOnly(0));
}

namespace {

double MiB(int64_t bytes) { return double(bytes) / (1024.0 * 1024.0); }

std::string NameOf(const OpRecord& r) {
  return r.layer.empty() ? r.op : absl::StrCat(r.layer, ":", r.op);
}

const char* PhaseAt(const Profile& profile, int64_t ns) {
  const int64_t backward = profile.FirstBackwardNs();
  return backward >= 0 && ns >= backward ? "backward" : "forward";
}

}  // namespace

int64_t RecordAt(const Profile& profile, int64_t ns) {
  int64_t best = -1, best_end = -1;
  const std::vector<OpRecord>& records = profile.records();
  for (size_t i = 0; i < records.size(); ++i) {
    const OpRecord& r = records[i];
    const std::pair<int64_t, int64_t> spans[] = {
        {r.forward_start_ns, r.forward_start_ns + r.forward_ns},
        {r.backward_start_ns, r.backward_start_ns + r.backward_ns}};
    for (const auto& [start, end] : spans) {
      if (start < 0 || start > ns) continue;
      // Innermost wins: the latest start among those still running, else the
      // latest end.
      const int64_t key = end >= ns ? std::numeric_limits<int64_t>::max() / 2 + start : end;
      if (key > best_end) best_end = key, best = static_cast<int64_t>(i);
    }
  }
  return best;
}

std::string FormatMemoryReport(const Profile& profile, const MemoryTimeline& timeline,
                               int max_buffers) {
  std::string out;
  const int64_t at = RecordAt(profile, timeline.peak_ns);
  absl::StrAppendFormat(
      &out,
      "saved for backward: peak %.3f MiB at %.3f ms (%s, %s), %d buffers alive of %d; %.3f MiB "
      "saved over the step\n\n",
      MiB(timeline.peak_bytes), timeline.peak_ns / 1e6, PhaseAt(profile, timeline.peak_ns),
      at >= 0 ? NameOf(profile.records()[at]) : "-", timeline.alive_at_peak.size(),
      profile.saved_buffers().size(), MiB(timeline.total_bytes));
  const auto table = [&](const std::vector<MemoryGroup>& groups, const char* title) {
    absl::StrAppendFormat(&out, "%-40s %8s %12s %12s %7s\n", title, "buffers", "saved MiB",
                          "at peak MiB", "share");
    for (const MemoryGroup& g : groups) {
      absl::StrAppendFormat(&out, "%-40s %8d %12.3f %12.3f %6.1f%%\n", g.name.substr(0, 40),
                            g.buffers, MiB(g.total_bytes), MiB(g.at_peak_bytes),
                            timeline.peak_bytes > 0
                                ? 100.0 * double(g.at_peak_bytes) / double(timeline.peak_bytes)
                                : 0.0);
    }
    out += "\n";
  };
  table(profile.MemoryByOp(timeline), "op (saved memory)");
  table(profile.MemoryByLayer(timeline), "layer (saved memory)");
  table(profile.MemoryByModule(timeline), "module (saved memory)");
  std::vector<size_t> order(profile.saved_buffers().size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  const std::vector<SavedBuffer>& buffers = profile.saved_buffers();
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return buffers[a].bytes > buffers[b].bytes; });
  absl::StrAppendFormat(&out, "%-40s %-16s %10s %10s %10s\n", "largest buffers (made by)", "shape",
                        "MiB", "alloc ms", "free ms");
  for (size_t k = 0; k < order.size() && k < static_cast<size_t>(max_buffers); ++k) {
    const SavedBuffer& b = buffers[order[k]];
    absl::StrAppendFormat(
        &out, "%-40s %-16s %10.3f %10.3f %10s\n",
        NameOf(profile.records()[b.producer]).substr(0, 40), b.shape.ToString(), MiB(b.bytes),
        b.alloc_ns / 1e6,
        b.free_ns < 0 ? std::string("kept") : absl::StrFormat("%.3f", b.free_ns / 1e6));
  }
  return out;
}

std::string MemoryJson(const Profile& profile, const MemoryTimeline& timeline) {
  io::JsonWriter out;
  const int64_t at = RecordAt(profile, timeline.peak_ns);
  out.BeginObject()
      .Key("peak_bytes")
      .Int(timeline.peak_bytes)
      .Key("peak_ms")
      .Number(timeline.peak_ns / 1e6)
      .Key("peak_phase")
      .String(PhaseAt(profile, timeline.peak_ns))
      .Key("peak_op")
      .String(at >= 0 ? NameOf(profile.records()[at]) : "")
      .Key("total_bytes")
      .Int(timeline.total_bytes);
  const std::pair<const char*, std::vector<MemoryGroup>> tables[] = {
      {"ops", profile.MemoryByOp(timeline)},
      {"layers", profile.MemoryByLayer(timeline)},
      {"modules", profile.MemoryByModule(timeline)}};
  for (const auto& [key, groups] : tables) {
    out.Key(key).BeginArray();
    for (const MemoryGroup& g : groups) {
      out.BeginObject()
          .Key("name")
          .String(g.name)
          .Key("buffers")
          .Int(g.buffers)
          .Key("total_bytes")
          .Int(g.total_bytes)
          .Key("at_peak_bytes")
          .Int(g.at_peak_bytes)
          .EndObject();
    }
    out.EndArray();
  }
  out.Key("buffers").BeginArray();
  for (const SavedBuffer& b : profile.saved_buffers()) {
    const OpRecord& r = profile.records()[b.producer];
    out.BeginObject()
        .Key("op")
        .String(r.op)
        .Key("layer")
        .String(r.layer)
        .Key("shape")
        .String(b.shape.ToString())
        .Key("bytes")
        .Int(b.bytes)
        .Key("alloc_ms")
        .Number(b.alloc_ns / 1e6)
        .Key("free_ms");
    if (b.free_ns < 0) {
      out.Null();
    } else {
      out.Number(b.free_ns / 1e6);
    }
    out.EndObject();
  }
  out.EndArray().Key("nodes").BeginArray();
  for (const OpRecord& r : profile.records()) {
    if (!r.recorded) continue;
    out.BeginObject()
        .Key("op")
        .String(r.op)
        .Key("layer")
        .String(r.layer)
        .Key("saved_bytes")
        .Int(r.saved_bytes)
        .Key("activation_bytes")
        .Int(r.activation_bytes)
        .EndObject();
  }
  out.EndArray().Key("timeline").BeginArray();
  for (const MemoryTimeline::Point& p : timeline.points) {
    out.BeginArray().Number(p.ns / 1e6).Int(p.live_bytes).EndArray();
  }
  out.EndArray().EndObject();
  return out.str();
}

}  // namespace actgrad
