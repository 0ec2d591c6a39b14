#include "profile/graph_dot.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <source_location>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "graph/dot.h"
#include "graph/tensor_impl.h"
#include "io/file.h"

namespace actgrad {

namespace {

using internal::DotNode;
using internal::DotNodeInfo;
using internal::EscapeDotHtml;

using NodeKey = std::pair<uint64_t, uint32_t>;  // (graph epoch, node)

std::string Micros(int64_t ns) { return absl::StrFormat("%.1f µs", double(ns) / 1e3); }

// White at no backward time through red at the slowest: red stays full and
// green and blue fall together, so every shade reads as one hue.
std::string Shade(double share) {
  const int level = 255 - static_cast<int>(std::lround(200.0 * std::clamp(share, 0.0, 1.0)));
  return absl::StrFormat("#ff%02x%02x", level, level);
}

// The times go in a smaller font under the names, so that the eye finds the
// op first.
std::string SmallText(const std::string& text) {
  return absl::StrCat("<FONT POINT-SIZE=\"10\">", EscapeDotHtml(text), "</FONT>");
}

// The legend: swatches at fixed shares of the slowest backward, each with
// the time it stands for, in a cluster of its own so that GraphViz frames
// it apart from the graph.
std::string Legend(int64_t slowest_ns) {
  std::string rows;
  for (const int percent : {0, 25, 50, 75, 100}) {
    absl::StrAppend(
        &rows, "<TR><TD BGCOLOR=\"", Shade(percent / 100.0),
        "\" WIDTH=\"24\"></TD><TD ALIGN=\"LEFT\">",
        EscapeDotHtml(absl::StrCat(percent, "% · ", Micros(slowest_ns * percent / 100))),
        "</TD></TR>");
  }
  return absl::StrCat(
      "subgraph cluster_legend {\nlabel=\"backward time\\n(share of the slowest op)\";\n"
      // The graph runs bottom to top, which turns "b" into the top.
      "labelloc=b;\nfontname=\"Helvetica\";\nfontsize=12;\nstyle=rounded;\ncolor=\"#999999\";\n"
      "legend [shape=plaintext, label=<<TABLE BORDER=\"0\" CELLBORDER=\"1\" CELLSPACING=\"0\" "
      "CELLPADDING=\"4\">",
      rows, "</TABLE>>];\n}\n");
}

}  // namespace

absl::Status WriteProfileDot(const Profile& profile, const Tensor& output,
                             const std::vector<std::pair<std::string, Tensor>>& parameters,
                             const std::string& path, const std::string& title) {
  absl::flat_hash_map<NodeKey, const OpRecord*> by_node;
  for (const OpRecord& r : profile.records()) {
    if (!r.recorded && r.op != "accumulate_grad") continue;
    by_node[{r.graph_epoch, r.node}] = &r;
  }
  // Tied weights share a storage: the leaf is drawn under all their names.
  absl::flat_hash_map<const void*, std::vector<std::string>> names;
  for (const auto& [name, tensor] : parameters) {
    if (tensor.defined()) names[tensor.impl()->storage].push_back(name);
  }

  // The scale runs to the slowest backward among the ops drawn: a profile of
  // several steps holds records of graphs other than this one, and a leaf's
  // accumulation is not an op of the graph (leaves keep their own colour).
  // So a first pass finds the ops drawn.
  absl::flat_hash_set<NodeKey> drawn_ops;
  auto find_ops = [&](const DotNodeInfo& info) {
    if (!info.leaf.defined()) drawn_ops.insert({info.epoch, info.node});
    return DotNode();
  };
  std::ostringstream discard;
  internal::WriteStyledDot(output, discard, {.node = find_ops}, std::source_location::current());
  int64_t slowest = 1;
  for (const NodeKey& key : drawn_ops) {
    auto it = by_node.find(key);
    if (it != by_node.end()) slowest = std::max(slowest, it->second->backward_ns);
  }

  auto draw = [&](const DotNodeInfo& info) -> DotNode {
    DotNode drawn = internal::DefaultDotNode(info);
    auto record = by_node.find({info.epoch, info.node});
    const OpRecord* r = record == by_node.end() ? nullptr : record->second;
    if (info.leaf.defined()) {
      auto named = names.find(info.leaf.impl()->storage);
      if (named == names.end()) return drawn;
      drawn.html_label = absl::StrCat("<B>", EscapeDotHtml(absl::StrJoin(named->second, ", ")),
                                      "</B> ", EscapeDotHtml(info.shape.ToString()));
      if (r != nullptr) {
        absl::StrAppend(&drawn.html_label, "<BR/>",
                        SmallText(absl::StrCat("accumulate ", Micros(r->backward_ns))));
      }
      return drawn;
    }
    if (r == nullptr) return drawn;  // recorded before the profiler started
    drawn.html_label =
        absl::StrCat("<B>", EscapeDotHtml(info.op), "</B> ", EscapeDotHtml(info.shape.ToString()));
    if (!r->layer.empty()) absl::StrAppend(&drawn.html_label, "<BR/>", EscapeDotHtml(r->layer));
    absl::StrAppend(
        &drawn.html_label, "<BR/>",
        SmallText(absl::StrCat("fwd ", Micros(r->forward_ns), " · bwd ", Micros(r->backward_ns))));
    drawn.attributes =
        absl::StrCat("shape=box, style=\"rounded,filled", info.root ? ",bold" : "",
                     "\", fillcolor=\"", Shade(double(r->backward_ns) / double(slowest)), "\"");
    return drawn;
  };

  std::string statements;
  if (!title.empty()) {
    absl::StrAppend(&statements, "label=<<B>", EscapeDotHtml(title),
                    "</B>>;\nlabelloc=t;\nfontname=\"Helvetica\";\nfontsize=16;\n");
  }
  absl::StrAppend(&statements, Legend(slowest));
  std::ostringstream dot;
  internal::WriteStyledDot(output, dot, {.node = draw, .statements = statements},
                           std::source_location::current());
  const std::string text = dot.str();
  const absl::string_view pieces[] = {text};
  return io::WriteFileAtomically(path, pieces);
}

absl::Status WriteProfileDot(const Profile& profile, const Tensor& output,
                             const std::string& path) {
  return WriteProfileDot(profile, output, {}, path);
}

}  // namespace actgrad
