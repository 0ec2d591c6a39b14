// -----------------------------------------------------------------------------
// File: export.h
// -----------------------------------------------------------------------------
//
// A Profile as people and tools read it: tables by op type and by layer
// (text and JSON), Chrome trace-event JSON for Perfetto or chrome://tracing
// (forward and backward on two tracks, an arrow from each forward op to its
// backward), and the step's graph as DOT, each node shaded by its backward
// time. Files are written to a temporary name and renamed.
//
// Example:
//
//   actgrad::Profile profile;
//   {
//     actgrad::Profiler profiler(&profile);
//     loss = model.Forward(x) ...;
//     loss.Backward();
//   }
//   std::cout << actgrad::FormatGroupTable(profile.ByOp(), profile, "op",
//                                          actgrad::MeasureGemmGflops());
//   absl::Status s = actgrad::WriteChromeTrace(profile, "step.trace.json");

#ifndef ACTGRAD_PROFILE_EXPORT_H_
#define ACTGRAD_PROFILE_EXPORT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "graph/tensor.h"
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

// This machine's single-thread float32 GEMM rate at 512^3, best of five: the
// roof the tables compare achieved GFLOP/s with.
double MeasureGemmGflops();

// The graph behind `output` as DOT, each node coloured by its share of the
// backward time in `profile` and labelled with its forward and backward
// times.
absl::Status WriteProfileDot(const Profile& profile, const Tensor& output, const std::string& path);

// Chrome trace-event JSON, object form.
absl::Status WriteChromeTrace(const Profile& profile, const std::string& path);
std::string ChromeTraceJson(const Profile& profile);

}  // namespace actgrad

#endif  // ACTGRAD_PROFILE_EXPORT_H_
