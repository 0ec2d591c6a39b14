#include "profile/trace.h"

#include <cstdint>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "io/file.h"
#include "io/json.h"

namespace actgrad {

namespace {

// Microseconds. Trace viewers read numbers as doubles, and ns / 1e3 is the
// double nearest the exact figure: the trace holds whole nanoseconds, so that
// rounding can never make a slice outlast its neighbour on the same track.
double Us(int64_t ns) { return double(ns) / 1e3; }

double MiB(int64_t bytes) { return double(bytes) / (1024.0 * 1024.0); }

enum Track { kSteps = 1, kForward = 2, kBackward = 3 };

}  // namespace

std::string ChromeTraceJson(std::span<const Profile> steps) {
  io::JsonWriter out;
  out.BeginObject().Key("displayTimeUnit").String("ns").Key("traceEvents").BeginArray();
  // Metadata ("M") events: the process's name, and the tracks' names and
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
  const char* const kTracks[] = {"steps", "forward", "backward"};
  for (int tid = kSteps; tid <= kBackward; ++tid) {
    metadata("thread_name", tid, "name", kTracks[tid - 1]);
    metadata("thread_sort_index", tid, "sort_index", tid);
  }
  // A complete ("X") slice; `args` writes the slice's arguments.
  auto slice = [&out](const std::string& name, const char* category, int64_t start_ns,
                      int64_t duration_ns, int tid, auto args) {
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
        .BeginObject();
    args();
    out.EndObject().EndObject();
  };
  const int64_t origin = steps.empty() ? 0 : steps.front().start_ns();
  int flow = 0;
  for (size_t step = 0; step < steps.size(); ++step) {
    const Profile& profile = steps[step];
    // Every time of a profile counts from its own start.
    const int64_t at = profile.start_ns() - origin;
    if (profile.wall_ns() > 0) {
      slice(absl::StrCat("step ", step), "step", at, profile.wall_ns(), kSteps,
            [&] { out.Key("records").Int(static_cast<int64_t>(profile.records().size())); });
    }
    const int64_t first_backward = profile.FirstBackwardNs();
    for (const auto& [start, duration] : profile.Gaps()) {
      const bool backward = first_backward >= 0 && start >= first_backward;
      slice("(gap)", "gap", at + start, duration, backward ? kBackward : kForward, [] {});
    }
    // Live saved memory as a counter track ("C" events) beside the time
    // tracks.
    for (const MemoryTimeline::Point& p : profile.Memory().points) {
      out.BeginObject()
          .Key("name")
          .String("saved for backward")
          .Key("ph")
          .String("C")
          .Key("ts")
          .Number(Us(at + p.ns))
          .Key("pid")
          .Int(1)
          .Key("args")
          .BeginObject()
          .Key("MiB")
          .Number(MiB(p.live_bytes))
          .EndObject()
          .EndObject();
    }
    for (const OpRecord& r : profile.records()) {
      const std::string name = r.layer.empty() || r.scope ? r.op : absl::StrCat(r.layer, ":", r.op);
      auto args = [&] {
        out.Key("layer").String(r.layer);
        if (!r.parameter.empty()) out.Key("parameter").String(r.parameter);
        if (r.scope) return;
        out.Key("shapes")
            .String(r.shapes)
            .Key("saved_bytes")
            .Int(r.saved_bytes)
            .Key("output_bytes")
            .Int(r.output_bytes)
            .Key("activation_bytes")
            .Int(r.activation_bytes);
      };
      if (r.scope) {
        // The scope's whole span, so that the ops inside show under it.
        slice(name, "scope", at + r.forward_start_ns, r.forward_wall_ns, kSteps, args);
        continue;
      }
      if (r.forward_ns > 0) {
        slice(name, "forward", at + r.forward_start_ns, r.forward_ns, kForward, args);
      }
      if (r.backward_start_ns < 0) continue;
      slice(name, "backward", at + r.backward_start_ns, r.backward_ns, kBackward, args);
      if (r.forward_ns > 0) {
        // An arrow from the forward slice to the backward one: it starts
        // ("s") on the forward track and ends ("f", bound to the enclosing
        // slice) on the backward one.
        ++flow;
        for (const bool start : {true, false}) {
          out.BeginObject().Key("name").String("fwdbwd").Key("cat").String("fwdbwd");
          out.Key("ph").String(start ? "s" : "f");
          if (!start) out.Key("bp").String("e");
          out.Key("id").Int(flow).Key("ts").Number(
              Us(at + (start ? r.forward_start_ns : r.backward_start_ns)));
          out.Key("pid").Int(1).Key("tid").Int(start ? kForward : kBackward).EndObject();
        }
      }
    }
  }
  out.EndArray().EndObject();
  return out.str() + "\n";
}

std::string ChromeTraceJson(const Profile& profile) {
  return ChromeTraceJson(std::span<const Profile>(&profile, 1));
}

absl::Status WriteChromeTrace(std::span<const Profile> steps, const std::string& path) {
  const std::string json = ChromeTraceJson(steps);
  const absl::string_view pieces[] = {json};
  return io::WriteFileAtomically(path, pieces);
}

absl::Status WriteChromeTrace(const Profile& profile, const std::string& path) {
  return WriteChromeTrace(std::span<const Profile>(&profile, 1), path);
}

}  // namespace actgrad
