// -----------------------------------------------------------------------------
// File: profile_hooks.h
// -----------------------------------------------------------------------------
//
// Internal: the points where Apply() and the backward sweep report to a live
// Profiler. `ActiveSession()` is a thread-local pointer, null when nobody
// profiles, so the hooks cost one branch per op otherwise.
//
// Example (inside the library):
//
//   if (internal::ProfileSession* s = internal::ActiveSession()) [[unlikely]] { ... }

#ifndef ACTGRAD_GRAPH_PROFILE_HOOKS_H_
#define ACTGRAD_GRAPH_PROFILE_HOOKS_H_

#include <chrono>
#include <cstdint>
#include <span>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "graph/profiler.h"

namespace actgrad {
namespace internal {

class Graph;

struct ProfileSession {
  Profile* profile = nullptr;
  std::chrono::steady_clock::time_point start;
  // Which record a graph node's forward went to: (graph epoch, node) -> index.
  absl::flat_hash_map<std::pair<uint64_t, uint32_t>, size_t> record_of_node;

  int64_t Now() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                                start)
        .count();
  }
};

inline thread_local ProfileSession* active_session = nullptr;
inline ProfileSession* ActiveSession() { return active_session; }

// Called by Apply() after an op ran (times from session->Now()).
void RecordForward(ProfileSession& session, const OpDef& op, std::span<const Tensor> inputs,
                   const Tensor& output, const Attrs& attrs, Graph* graph, uint32_t node,
                   int64_t start, int64_t kernel_start, int64_t kernel_end, int64_t end);
// Called by the backward sweep after a node's backward and accumulation.
void RecordBackward(ProfileSession& session, const Graph& graph, uint32_t node, int64_t start,
                    int64_t kernel_start, int64_t kernel_end, int64_t end);

}  // namespace internal
}  // namespace actgrad

#endif  // ACTGRAD_GRAPH_PROFILE_HOOKS_H_
