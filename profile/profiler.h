// -----------------------------------------------------------------------------
// File: profiler.h
// -----------------------------------------------------------------------------
//
// profile/ is the home of the third use: what the backward pass costs, op by
// op and layer by layer, against the forward pass. The engine (graph/) only
// reports what it ran, through the hooks of graph/profile_hooks.h; this room
// records the reports and exports them (profile/export.h).
//
// A `Profiler` is a scope: while it lives, every op run on its thread is
// recorded with its layer (named by the layers, e.g. "2.linear"), shapes,
// forward and backward wall time, the share of that time spent in the op's
// kernel (the rest is framework overhead: recording, dispatch, allocation,
// accumulation), the bytes kept for backward and produced, and an estimate
// of its FLOPs. Without a live Profiler the recording hooks cost one branch
// per op.
//
// The data comes out as tables (by op type, by layer), as Chrome trace-event
// JSON and as a DOT graph coloured by backward cost.
//
// Example:
//
//   actgrad::Profile profile;
//   {
//     actgrad::Profiler profiler(&profile);
//     loss = model.Forward(x) ...;
//     loss.Backward();
//   }
//   std::cout << actgrad::FormatGroupTable(profile.ByOp(), profile, "op");
//   absl::Status s = actgrad::WriteChromeTrace(profile, "step.trace.json");

#ifndef ACTGRAD_PROFILE_PROFILER_H_
#define ACTGRAD_PROFILE_PROFILER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "graph/profile_hooks.h"
#include "graph/tensor.h"

namespace actgrad {

// One op run: its forward and, once Backward() reached it, its backward.
struct OpRecord {
  std::string op;                 // the row's name, or "accumulate_grad" for leaves
  std::string layer;              // e.g. "2.linear"; empty outside layers
  std::string shapes;             // "[32,30] x [64,30] -> [32,64]"
  int64_t forward_start_ns = 0;   // since the profile started
  int64_t forward_ns = 0;         // the whole op, recording included
  int64_t forward_kernel_ns = 0;  // inside the row's forward
  int64_t backward_start_ns = -1;
  int64_t backward_ns = 0;
  int64_t backward_kernel_ns = 0;  // inside the row's backward
  int64_t saved_bytes = 0;         // kept for backward
  int64_t output_bytes = 0;
  double forward_flops = 0;
  double backward_flops = 0;
  bool recorded = false;     // a graph node was made (gradients were needed)
  uint64_t graph_epoch = 0;  // which graph node, when recorded
  uint32_t node = 0;
};

// Totals over a group of records (an op type or a layer).
struct ProfileGroup {
  std::string name;
  int64_t count = 0;
  int64_t forward_ns = 0;
  int64_t backward_ns = 0;
  int64_t kernel_ns = 0;    // forward and backward kernels
  int64_t overhead_ns = 0;  // everything else
  double flops = 0;         // forward and backward
  double BackwardForwardRatio() const {
    return forward_ns > 0 ? double(backward_ns) / double(forward_ns) : 0.0;
  }
};

class Profile {
 public:
  const std::vector<OpRecord>& records() const { return records_; }
  // Forward plus backward time of every record.
  int64_t TotalNs() const;
  // Groups sorted by forward + backward time, largest first.
  std::vector<ProfileGroup> ByOp() const;
  std::vector<ProfileGroup> ByLayer() const;
  void Clear() { records_.clear(); }

 private:
  friend class Profiler;
  std::vector<OpRecord> records_;
};

// Records into `profile` for its lifetime, on the calling thread. Nesting a
// second Profiler on the same thread is an error (`Error`). Layers name
// their ops with `LayerScope` (graph/profile_hooks.h).
class Profiler : public OpObserver {
 public:
  explicit Profiler(Profile* profile);
  Profiler(const Profiler&) = delete;
  Profiler& operator=(const Profiler&) = delete;

  void OnForward(const ForwardEvent& event) override;
  void OnBackward(const BackwardEvent& event) override;

 private:
  Profile* profile_;
  int64_t start_ns_;
  // Which record a graph node's forward went to: (graph epoch, node) -> index.
  absl::flat_hash_map<std::pair<uint64_t, uint32_t>, size_t> record_of_node_;
  ScopedOpObserver installed_;
};

}  // namespace actgrad

#endif  // ACTGRAD_PROFILE_PROFILER_H_
