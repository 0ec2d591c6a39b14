// -----------------------------------------------------------------------------
// File: memory_advice.h
// -----------------------------------------------------------------------------
//
// Checkpointing advice from a profile's saved-memory timeline: for each
// module, and each run of consecutive sibling modules (a segment of a
// Sequential), the bytes that wrapping it in nn::ActivationCheckpoint would
// take off the peak and the forward time it would add, ranked; and, for a
// memory budget, a set of non-overlapping segments that brings the peak
// under it for the least added time.
//
// The estimate: a checkpointed segment keeps its input instead of what its
// ops keep, so a buffer alive at the peak leaves it when the segment made
// it and no node outside the segment keeps it too (the segment's output,
// kept by the next layer, stays). The recomputation costs the segment's
// measured forward time. The peak may move into the backward pass once the
// forward's buffers are gone; measure the checkpointed network to see the
// new peak (the README shows one such measurement).
//
// Example:
//
//   actgrad::MemoryTimeline timeline = profile.Memory();
//   actgrad::CheckpointPlan plan =
//       actgrad::AdviseCheckpoints(profile, timeline, 50 << 20);
//   std::cout << actgrad::FormatCheckpointPlan(plan);

#ifndef ACTGRAD_PROFILE_MEMORY_ADVICE_H_
#define ACTGRAD_PROFILE_MEMORY_ADVICE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "profile/profiler.h"

namespace actgrad {

// One candidate: a module, or consecutive siblings ("3.linear..6.tanh").
struct CheckpointCandidate {
  std::string name;
  std::vector<std::string> layers;  // the layer paths it wraps
  int64_t saved_bytes = 0;          // off the forward peak
  int64_t added_ns = 0;             // forward time recomputed
  // For the plan: the peak buffers it removes, what its recomputation
  // holds at once in backward, the input it keeps, when it starts.
  std::vector<size_t> removed;
  int64_t recompute_bytes = 0;
  int64_t input_bytes = 0;
  int64_t start_ns = 0;
};

struct CheckpointPlan {
  std::vector<CheckpointCandidate> ranked;  // by saved_bytes, largest first
  int64_t peak_bytes = 0;
  int64_t budget_bytes = -1;  // -1: no budget given
  // For a budget: indices into `ranked`, the predicted peak and added time.
  std::vector<size_t> chosen;
  int64_t predicted_peak_bytes = 0;
  int64_t added_ns = 0;
  bool fits = false;
};

// `budget_bytes` < 0 ranks only.
CheckpointPlan AdviseCheckpoints(const Profile& profile, const MemoryTimeline& timeline,
                                 int64_t budget_bytes = -1);

// The top `max_rows` candidates and, with a budget, the chosen set.
std::string FormatCheckpointPlan(const CheckpointPlan& plan, int max_rows = 10);

// "50MiB", "1.5GiB", "800KiB", "1000000" (bytes); kInvalidArgument otherwise.
absl::StatusOr<int64_t> ParseByteSize(absl::string_view text);

}  // namespace actgrad

#endif  // ACTGRAD_PROFILE_MEMORY_ADVICE_H_
