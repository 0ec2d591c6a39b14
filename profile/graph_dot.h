// -----------------------------------------------------------------------------
// File: graph_dot.h
// -----------------------------------------------------------------------------
//
// The profiled step's graph as DOT (render it with `dot -Tsvg`). Each op is
// drawn with its op, its layer and its forward and backward times, shaded
// white to red by its backward time, with a legend saying what the shades
// stand for. Parameters are drawn under their names ("0.weight [8,4]") with
// the time their gradient took to accumulate.
//
// Example:
//
//   absl::Status s = actgrad::WriteProfileDot(profile, loss, model.StateDict(), "step.dot",
//                                             "median over 20 profiled steps");
//
// draws an op as
//
//   linear [16,3]              (bold op, output shape)
//   2.linear                   (its layer)
//   fwd 1.5 µs · bwd 5.0 µs    (its times, in the shade of its backward)
//
// and a parameter as "0.weight [8,4]" over "accumulate 0.1 µs"; see
// docs/profile_graph.svg.

#ifndef ACTGRAD_PROFILE_GRAPH_DOT_H_
#define ACTGRAD_PROFILE_GRAPH_DOT_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "graph/tensor.h"
#include "profile/profiler.h"

namespace actgrad {

// The graph behind `output` as DOT, written to `path`. Each op node is
// labelled with its op, its layer and its forward and backward times in
// `profile`, and coloured by its share of the slowest backward; a legend
// gives the time each shade stands for. A leaf that shares its storage with
// one of `parameters` (as `Module::StateDict()` returns them) is labelled by
// its name and shape; other leaves keep WriteDot's label. `title`, when not
// empty, heads the graph: say there what the times are ("median over 20
// profiled steps").
absl::Status WriteProfileDot(const Profile& profile, const Tensor& output,
                             const std::vector<std::pair<std::string, Tensor>>& parameters,
                             const std::string& path, const std::string& title = "");

// As above, without parameter names.
absl::Status WriteProfileDot(const Profile& profile, const Tensor& output, const std::string& path);

}  // namespace actgrad

#endif  // ACTGRAD_PROFILE_GRAPH_DOT_H_
