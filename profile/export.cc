#include "profile/export.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <sstream>
#include <type_traits>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "graph/dot.h"
#include "graph/factories.h"
#include "io/file.h"
#include "io/json.h"
#include "ops/functional.h"

namespace actgrad {

namespace {

// Microseconds. Trace viewers read numbers as doubles, and ns / 1e3 is the
// double nearest the exact figure: the trace holds whole nanoseconds, so that
// rounding can never make a slice outlast its neighbour on the same track.
double Us(int64_t ns) { return double(ns) / 1e3; }

}  // namespace

std::string FormatGroupTable(const std::vector<ProfileGroup>& groups, const Profile& profile,
                             const std::string& title, double peak_gflops) {
  const double total = std::max<double>(1.0, double(profile.TotalNs()));
  std::string out =
      absl::StrFormat("%-34s %6s %11s %11s %8s %7s %15s %9s\n", title, "calls", "forward us",
                      "backward us", "bwd/fwd", "share", "GFLOP/s", "overhead");
  for (const ProfileGroup& g : groups) {
    const int64_t time = g.forward_ns + g.backward_ns;
    const double gflops = time > 0 ? g.flops / double(time) : 0.0;
    std::string rate = absl::StrFormat("%.2f", gflops);
    if (peak_gflops > 0)
      rate = absl::StrFormat("%.2f (%.0f%%)", gflops, 100 * gflops / peak_gflops);
    absl::StrAppendFormat(&out, "%-34s %6d %11.1f %11.1f %8.2f %6.1f%% %15s %8.1f%%\n",
                          g.name.substr(0, 34), g.count, Us(g.forward_ns), Us(g.backward_ns),
                          g.BackwardForwardRatio(), 100.0 * double(time) / total, rate,
                          time > 0 ? 100.0 * double(g.overhead_ns) / double(time) : 0.0);
  }
  return out;
}

std::string GroupsJson(const std::vector<ProfileGroup>& groups, const Profile& profile) {
  io::JsonWriter out;
  out.BeginArray();
  const double total = std::max<double>(1.0, double(profile.TotalNs()));
  for (const ProfileGroup& g : groups) {
    const int64_t time = g.forward_ns + g.backward_ns;
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
        .Number(time / total)
        .Key("gflops")
        .Number(time > 0 ? g.flops / time : 0.0)
        .Key("overhead_share")
        .Number(time > 0 ? double(g.overhead_ns) / time : 0.0)
        .EndObject();
  }
  out.EndArray();
  return out.str();
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

double MeasureGemmGflops() {
  Generator gen(0);
  const Tensor a = Normal({512, 512}, 0, 1, gen);
  const Tensor b = Normal({512, 512}, 0, 1, gen);
  double best = 0;
  for (int i = 0; i < 5; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const Tensor c = Matmul(a, b);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, 2.0 * 512 * 512 * 512 / seconds / 1e9);
  }
  return best;
}

std::string ChromeTraceJson(const Profile& profile) {
  io::JsonWriter out;
  out.BeginObject().Key("displayTimeUnit").String("ns").Key("traceEvents").BeginArray();
  // Metadata ("M") events: the process's name, and the two tracks' names and
  // order. tid 0 stands for the process itself.
  auto metadata = [&out](const char* name, int tid, const char* arg_key, auto arg_value) {
    out.BeginObject().Key("name").String(name).Key("ph").String("M").Key("pid").Int(1);
    if (tid > 0) out.Key("tid").Int(tid);
    out.Key("args").BeginObject().Key(arg_key);
    if constexpr (std::is_integral_v<decltype(arg_value)>) {
      out.Int(arg_value);
    } else {
      out.String(arg_value);
    }
    out.EndObject().EndObject();
  };
  metadata("process_name", 0, "name", "actgrad");
  const char* const kTracks[] = {"forward", "backward"};
  for (int tid = 1; tid <= 2; ++tid) metadata("thread_name", tid, "name", kTracks[tid - 1]);
  for (int tid = 1; tid <= 2; ++tid) metadata("thread_sort_index", tid, "sort_index", tid);
  // A complete ("X") slice of `r` on track `tid`.
  auto slice = [&out](const OpRecord& r, const std::string& name, const char* category,
                      int64_t start_ns, int64_t duration_ns, int tid) {
    out.BeginObject()
        .Key("name")
        .String(name)
        .Key("cat")
        .String(category)
        .Key("ph")
        .String("X")
        .Key("ts")
        .Number(Us(start_ns))
        .Key("dur")
        .Number(Us(duration_ns))
        .Key("pid")
        .Int(1)
        .Key("tid")
        .Int(tid)
        .Key("args")
        .BeginObject()
        .Key("layer")
        .String(r.layer)
        .Key("shapes")
        .String(r.shapes)
        .Key("saved_bytes")
        .Int(r.saved_bytes)
        .Key("output_bytes")
        .Int(r.output_bytes)
        .Key("activation_bytes")
        .Int(r.activation_bytes)
        .EndObject()
        .EndObject();
  };
  // Live saved memory as a counter track ("C" events) beside the time tracks.
  for (const MemoryTimeline::Point& p : profile.Memory().points) {
    out.BeginObject()
        .Key("name")
        .String("saved for backward")
        .Key("ph")
        .String("C")
        .Key("ts")
        .Number(Us(p.ns))
        .Key("pid")
        .Int(1)
        .Key("args")
        .BeginObject()
        .Key("MiB")
        .Number(MiB(p.live_bytes))
        .EndObject()
        .EndObject();
  }
  int flow = 0;
  for (const OpRecord& r : profile.records()) {
    const std::string name = r.layer.empty() ? r.op : absl::StrCat(r.layer, ":", r.op);
    if (r.forward_ns > 0) slice(r, name, "forward", r.forward_start_ns, r.forward_ns, 1);
    if (r.backward_start_ns < 0) continue;
    slice(r, name, "backward", r.backward_start_ns, r.backward_ns, 2);
    if (r.forward_ns > 0) {
      // An arrow from the forward slice to the backward one: it starts ("s")
      // on the forward track and ends ("f", bound to the enclosing slice) on
      // the backward one.
      ++flow;
      for (const bool start : {true, false}) {
        out.BeginObject().Key("name").String("fwdbwd").Key("cat").String("fwdbwd");
        out.Key("ph").String(start ? "s" : "f");
        if (!start) out.Key("bp").String("e");
        out.Key("id").Int(flow).Key("ts").Number(
            Us(start ? r.forward_start_ns : r.backward_start_ns));
        out.Key("pid").Int(1).Key("tid").Int(start ? 1 : 2).EndObject();
      }
    }
  }
  out.EndArray().EndObject();
  return out.str() + "\n";
}

absl::Status WriteProfileDot(const Profile& profile, const Tensor& output,
                             const std::string& path) {
  absl::flat_hash_map<std::pair<uint64_t, uint32_t>, const OpRecord*> by_node;
  int64_t slowest = 1;
  for (const OpRecord& r : profile.records()) {
    if (!r.recorded && r.op != "accumulate_grad") continue;
    by_node[{r.graph_epoch, r.node}] = &r;
    slowest = std::max(slowest, r.backward_ns);
  }
  std::ostringstream dot;
  internal::WriteStyledDot(
      output, dot,
      [&](uint64_t epoch, uint32_t node) -> std::string {
        auto it = by_node.find({epoch, node});
        if (it == by_node.end()) return "";
        const OpRecord& r = *it->second;
        // White through red with the backward time.
        const int shade = 255 - static_cast<int>(200.0 * double(r.backward_ns) / double(slowest));
        return absl::StrFormat(
            ", style=filled, fillcolor=\"#ff%02x%02x\", xlabel=\"fwd %.1f us, bwd %.1f us\"", shade,
            shade, double(r.forward_ns) / 1e3, double(r.backward_ns) / 1e3);
      },
      std::source_location::current());
  const std::string text = dot.str();
  const absl::string_view pieces[] = {text};
  return io::WriteFileAtomically(path, pieces);
}

absl::Status WriteChromeTrace(const Profile& profile, const std::string& path) {
  const std::string json = ChromeTraceJson(profile);
  const absl::string_view pieces[] = {json};
  return io::WriteFileAtomically(path, pieces);
}

}  // namespace actgrad
