#include "profile/graph_dot.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <sstream>
#include <type_traits>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "graph/dot.h"
#include "io/file.h"

namespace actgrad {

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

}  // namespace actgrad
