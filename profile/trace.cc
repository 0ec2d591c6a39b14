#include "profile/trace.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <sstream>
#include <type_traits>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "io/file.h"
#include "io/json.h"

namespace actgrad {

namespace {

// Microseconds. Trace viewers read numbers as doubles, and ns / 1e3 is the
// double nearest the exact figure: the trace holds whole nanoseconds, so that
// rounding can never make a slice outlast its neighbour on the same track.
double Us(int64_t ns) { return double(ns) / 1e3; }

double MiB(int64_t bytes) { return double(bytes) / (1024.0 * 1024.0); }

}  // namespace

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

absl::Status WriteChromeTrace(const Profile& profile, const std::string& path) {
  const std::string json = ChromeTraceJson(profile);
  const absl::string_view pieces[] = {json};
  return io::WriteFileAtomically(path, pieces);
}

}  // namespace actgrad
