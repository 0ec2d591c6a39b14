// -----------------------------------------------------------------------------
// File: graph_dot.h
// -----------------------------------------------------------------------------
//
// The profiled step's graph as DOT (render it with `dot -Tsvg`), each node
// shaded by its backward time.
//
// Example:
//
//   absl::Status s = actgrad::WriteProfileDot(profile, loss, "step.dot");

#ifndef ACTGRAD_PROFILE_GRAPH_DOT_H_
#define ACTGRAD_PROFILE_GRAPH_DOT_H_

#include <string>

#include "absl/status/status.h"
#include "graph/tensor.h"
#include "profile/profiler.h"

namespace actgrad {

// The graph behind `output` as DOT, each node coloured by its share of the
// backward time in `profile` and labelled with its forward and backward
// times.
absl::Status WriteProfileDot(const Profile& profile, const Tensor& output, const std::string& path);

}  // namespace actgrad

#endif  // ACTGRAD_PROFILE_GRAPH_DOT_H_
