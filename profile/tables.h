// -----------------------------------------------------------------------------
// File: tables.h
// -----------------------------------------------------------------------------
//
// A Profile as people read it: time tables by op type and by layer, and the
// saved-memory report, as text and as JSON.
//
// Given the machine's roofs (profile/roofs.h), each row of a time table is
// also placed on a roofline: its arithmetic intensity (FLOPs per byte of
// memory traffic) against the machine balance says whether compute or
// memory bounds it, and the row reports how much of that roof it reaches,
// so that a slow row reads as "a memory-bound op at 80% of the bandwidth"
// (little left to gain) or "a product at 20% of the FMA roof" (much left).
//
// Example:
//
//   const actgrad::MachineRoofs roofs = actgrad::MeasureMachineRoofs();
//   std::cout << actgrad::FormatGroupTable(profile.ByOp(), step_ns, "op", roofs)
//             << actgrad::RoofsLegend(roofs) << "\n";
//
//   op                  calls  ...  GFLOP/s  % GEMM    GB/s    bound  % roof  overhead
//   linear_activation       2  ...   186.63     81%    3.64  compute     75%      0.1%
//   accumulate_grad         6  ...     4.20           50.35   memory    171%    100.0%
//   backward.setup          1  ...     0.00            0.00        -              0.0%
//   roofs measured at start: FMA 249 GFLOP/s, copy 29.5 GB/s, GEMM 231 GFLOP/s, 1 thread; ...

#ifndef ACTGRAD_PROFILE_TABLES_H_
#define ACTGRAD_PROFILE_TABLES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "profile/profiler.h"
#include "profile/roofs.h"

namespace actgrad {

// A time table: per group, calls, forward and backward totals
// (microseconds), backward/forward ratio, share of the step (of `step_ns`,
// the whole step, so that the rows need not add up to 100%), achieved
// GFLOP/s, its share of the GEMM peak ("% GEMM", only for groups of matrix
// products, where that peak is a fair roof), achieved GB/s, the bound
// ("compute" when the group's FLOPs per byte reach the machine balance,
// "memory" below it, "-" for a group that neither computes nor moves data,
// or when the roofs are unknown), the share of that roof reached (GFLOP/s
// over the FMA roof, or GB/s over the copy bandwidth; above 100% for small
// tensors that caches closer than the copy's serve) and the overhead share
// (time outside the kernels). Rates are over the group's whole time,
// overhead included, as the step pays it.
std::string FormatGroupTable(const std::vector<ProfileGroup>& groups, int64_t step_ns,
                             const std::string& title, const MachineRoofs& roofs);

// The same rows as a JSON array of objects: name, count, forward_ms,
// backward_ms, backward_forward_ratio, share, flops, bytes, intensity (FLOPs
// per byte; null without bytes), gflops, gbytes_per_s, gemm_share (null
// unless a matrix product against a known GEMM peak), bound ("compute",
// "memory" or null), roof_share (null without a bound) and overhead_share.
// Shares are fractions, not percentages.
std::string GroupsJson(const std::vector<ProfileGroup>& groups, int64_t step_ns,
                       const MachineRoofs& roofs);

// The roofs in one line, as a footnote to the tables: "roofs measured at
// start: FMA 247 GFLOP/s, copy 29.1 GB/s, GEMM 212 GFLOP/s, 1 thread;
// balance 8.5 FLOP/byte". Unknown roofs are left out.
std::string RoofsLegend(const MachineRoofs& roofs);

// The tables as before the roofs: shares of the profiled step (the
// profiler's lifetime, which the rows add up to, gaps included), "% GEMM"
// against `peak_gflops` when positive, and no bound
// (the FMA and copy roofs unknown).
std::string FormatGroupTable(const std::vector<ProfileGroup>& groups, const Profile& profile,
                             const std::string& title, double peak_gflops = 0);
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
