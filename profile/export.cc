#include "profile/export.h"

#include <algorithm>
#include <chrono>
#include <sstream>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "graph/dot.h"
#include "graph/factories.h"
#include "io/file.h"
#include "io/json_writer.h"
#include "ops/functional.h"

namespace actgrad {

namespace {

double Us(int64_t ns) { return double(ns) / 1e3; }

// Microseconds with three decimals: whole nanoseconds, so that rounding can
// never make a slice outlast its neighbour on the same track.
std::string Micros(int64_t ns) { return absl::StrFormat("%d.%03d", ns / 1000, ns % 1000); }

std::string Escaped(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

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
  using io::JsonNumber;
  using io::JsonString;
  std::string out = "[";
  const double total = std::max<double>(1.0, double(profile.TotalNs()));
  for (size_t i = 0; i < groups.size(); ++i) {
    const ProfileGroup& g = groups[i];
    const int64_t time = g.forward_ns + g.backward_ns;
    absl::StrAppendFormat(
        &out,
        "%s{\"name\": %s, \"count\": %d, \"forward_ms\": %s, \"backward_ms\": %s, "
        "\"backward_forward_ratio\": %s, \"share\": %s, \"gflops\": %s, \"overhead_share\": %s}",
        i ? ", " : "", JsonString(g.name), g.count, JsonNumber(g.forward_ns / 1e6),
        JsonNumber(g.backward_ns / 1e6), JsonNumber(g.BackwardForwardRatio()),
        JsonNumber(time / total), JsonNumber(time > 0 ? g.flops / time : 0.0),
        JsonNumber(time > 0 ? double(g.overhead_ns) / time : 0.0));
  }
  return out + "]";
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
  std::string out = "{\"displayTimeUnit\": \"ns\", \"traceEvents\": [\n";
  absl::StrAppend(&out,
                  "{\"name\": \"process_name\", \"ph\": \"M\", \"pid\": 1, \"args\": {\"name\": "
                  "\"actgrad\"}},\n"
                  "{\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": 1, \"tid\": 1, \"args\": "
                  "{\"name\": \"forward\"}},\n"
                  "{\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": 1, \"tid\": 2, \"args\": "
                  "{\"name\": \"backward\"}},\n"
                  "{\"name\": \"thread_sort_index\", \"ph\": \"M\", \"pid\": 1, \"tid\": 1, "
                  "\"args\": {\"sort_index\": 1}},\n"
                  "{\"name\": \"thread_sort_index\", \"ph\": \"M\", \"pid\": 1, \"tid\": 2, "
                  "\"args\": {\"sort_index\": 2}}");
  int flow = 0;
  for (const OpRecord& r : profile.records()) {
    const std::string args = absl::StrFormat(
        "{\"layer\": \"%s\", \"shapes\": \"%s\", \"saved_bytes\": %d, \"output_bytes\": %d}",
        Escaped(r.layer), Escaped(r.shapes), r.saved_bytes, r.output_bytes);
    const std::string name = Escaped(r.layer.empty() ? r.op : absl::StrCat(r.layer, ":", r.op));
    if (r.forward_ns > 0) {
      absl::StrAppendFormat(
          &out,
          ",\n{\"name\": \"%s\", \"cat\": \"forward\", \"ph\": \"X\", \"ts\": %s, "
          "\"dur\": %s, \"pid\": 1, \"tid\": 1, \"args\": %s}",
          name, Micros(r.forward_start_ns), Micros(r.forward_ns), args);
    }
    if (r.backward_start_ns < 0) continue;
    absl::StrAppendFormat(&out,
                          ",\n{\"name\": \"%s\", \"cat\": \"backward\", \"ph\": \"X\", \"ts\": %s, "
                          "\"dur\": %s, \"pid\": 1, \"tid\": 2, \"args\": %s}",
                          name, Micros(r.backward_start_ns), Micros(r.backward_ns), args);
    if (r.forward_ns > 0) {
      ++flow;
      absl::StrAppendFormat(
          &out,
          ",\n{\"name\": \"fwdbwd\", \"cat\": \"fwdbwd\", \"ph\": \"s\", \"id\": %d, "
          "\"ts\": %s, \"pid\": 1, \"tid\": 1}"
          ",\n{\"name\": \"fwdbwd\", \"cat\": \"fwdbwd\", \"ph\": \"f\", \"bp\": \"e\", "
          "\"id\": %d, \"ts\": %s, \"pid\": 1, \"tid\": 2}",
          flow, Micros(r.forward_start_ns), flow, Micros(r.backward_start_ns));
    }
  }
  out += "\n]}\n";
  return out;
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
