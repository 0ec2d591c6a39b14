// -----------------------------------------------------------------------------
// File: profiler.h
// -----------------------------------------------------------------------------
//
// What the forward and backward passes cost, op by op and layer by layer. A
// `Profiler` is a scope: while it lives, every op run on its thread is
// recorded with its layer (named by the layers, e.g. "2.linear"), shapes,
// forward and backward wall time, the share of that time spent in the op's
// kernel (the rest is framework overhead: recording, dispatch, allocation,
// accumulation), the bytes kept for backward and produced, and an estimate
// of its FLOPs. Without a live Profiler the recording hooks cost one branch
// per op.
//
// The data comes out as tables (by op type, by layer), as Chrome trace-event
// JSON (open it in https://ui.perfetto.dev or chrome://tracing: forward and
// backward on two tracks, an arrow from each forward op to its backward), and
// as a DOT graph coloured by backward cost.
//
// Example:
//
//   actgrad::Profile profile;
//   {
//     actgrad::Profiler profiler(&profile);
//     loss = model.Forward(x) ...;
//     loss.Backward();
//   }
//   std::cout << actgrad::FormatOpTable(profile.ByOp(), profile);
//   absl::Status s = actgrad::WriteChromeTrace(profile, "step.trace.json");

#ifndef ACTGRAD_GRAPH_PROFILER_H_
#define ACTGRAD_GRAPH_PROFILER_H_

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "graph/tensor.h"

namespace actgrad {

struct OpDef;

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
  friend struct ProfileAccess;
  std::vector<OpRecord> records_;
};

// Records into `profile` for its lifetime, on the calling thread. Nesting a
// second Profiler on the same thread is an error (`Error`).
class Profiler {
 public:
  explicit Profiler(Profile* profile);
  ~Profiler();
  Profiler(const Profiler&) = delete;
  Profiler& operator=(const Profiler&) = delete;

 private:
  Profile* profile_;
};

// Names the ops run in its scope as part of a layer; scopes nest with ".".
// Costs one branch when no Profiler is live.
class LayerScope {
 public:
  explicit LayerScope(const std::string& name);
  // "<index>.<kind>", formatted only when a Profiler is live.
  LayerScope(size_t index, const std::string& kind);
  ~LayerScope();
  LayerScope(const LayerScope&) = delete;
  LayerScope& operator=(const LayerScope&) = delete;

 private:
  size_t restore_ = 0;
  bool active_ = false;
};

// Tables with calls, forward and backward totals, backward/forward ratio,
// share of the step, achieved GFLOP/s (and the fraction of `peak_gflops`,
// when positive) and the overhead share.
std::string FormatGroupTable(const std::vector<ProfileGroup>& groups, const Profile& profile,
                             const std::string& title, double peak_gflops = 0);

// Whether a Profiler records on this thread.
bool IsProfiling();

// The graph behind `output` as DOT, each node coloured by its share of the
// backward time in `profile` and labelled with its forward and backward
// times; written to a temporary name and renamed.
absl::Status WriteProfileDot(const Profile& profile, const Tensor& output, const std::string& path);

// Chrome trace-event JSON, object form; written to a temporary name and
// renamed.
absl::Status WriteChromeTrace(const Profile& profile, const std::string& path);
std::string ChromeTraceJson(const Profile& profile);

}  // namespace actgrad

#endif  // ACTGRAD_GRAPH_PROFILER_H_
