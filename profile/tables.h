// -----------------------------------------------------------------------------
// File: tables.h
// -----------------------------------------------------------------------------
//
// A Profile as people read it: time tables by op type and by layer, and the
// saved-memory report, as text and as JSON.
//
// Example:
//
//   std::cout << actgrad::FormatGroupTable(profile.ByOp(), profile, "op");

#ifndef ACTGRAD_PROFILE_TABLES_H_
#define ACTGRAD_PROFILE_TABLES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "profile/profiler.h"

namespace actgrad {

// Tables with calls, forward and backward totals, backward/forward ratio,
// share of the step, achieved GFLOP/s (and the fraction of `peak_gflops`,
// when positive) and the overhead share.
std::string FormatGroupTable(const std::vector<ProfileGroup>& groups, const Profile& profile,
                             const std::string& title, double peak_gflops = 0);

// The same groups as a JSON array of objects: name, count, forward_ms,
// backward_ms, backward_forward_ratio, share, gflops, overhead_share.
std::string GroupsJson(const std::vector<ProfileGroup>& groups, const Profile& profile);

// Saved memory: the peak and when it happens, the bytes alive there per op
// type, layer and module, and the largest buffers with the op that made them,
// when they were allocated and when freed (at most `max_buffers` of them).
std::string FormatMemoryReport(const Profile& profile, const MemoryTimeline& timeline,
                               int max_buffers = 12);

// The same as JSON: peak_bytes, peak_ms, peak_phase, peak_op, total_bytes,
// ops, layers and modules (name, buffers, total_bytes, at_peak_bytes),
// buffers (op, layer, shape, bytes, alloc_ms, free_ms; free_ms is null for
// one kept past the profile), nodes (op, layer, saved_bytes,
// activation_bytes) and the timeline as [ms, live bytes] pairs.
std::string MemoryJson(const Profile& profile, const MemoryTimeline& timeline);

// The record running (forward or backward) at `ns`, or the last one that
// ended before it; -1 when none.
int64_t RecordAt(const Profile& profile, int64_t ns);

}  // namespace actgrad

#endif  // ACTGRAD_PROFILE_TABLES_H_
