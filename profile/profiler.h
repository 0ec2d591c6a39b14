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
// recorded (an op that runs other ops inside its own forward or backward is
// charged its own time only, the inner ops having rows of their own) with its layer (named by the
// layers, e.g. "2.linear"), shapes, forward and backward wall time, the share of that time spent in
// the op's kernel (the rest is framework overhead: recording, dispatch, allocation, accumulation),
// the bytes kept for backward and produced, and an estimate of its FLOPs. Without a live Profiler
// the recording hooks cost one branch per op.
//
// Memory: every storage a node keeps for backward is followed from the op
// that produced it to the backward that let go of it (`SavedBuffer`). What
// counts as saved memory is what exists only because the step runs: the
// outputs of ops run under the profiler that some node keeps, and the
// extras rows save (dropout's mask, softmax's probabilities), each storage
// once however many nodes keep it. Parameters, the data batch and other
// tensors made before the profiler started live anyway and are not counted.
// A buffer is allocated when its producer's forward ends and freed when the
// backward of the last node keeping it ends (never, within the profile,
// under retain_graph). `Profile::Memory()` turns this into a timeline of
// live saved bytes with its peak and what is alive there.
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
#include <span>
#include <string>
#include <string_view>
#include <utility>
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
  int64_t forward_ns = 0;         // the whole op, recording included, less nested ops
  int64_t forward_wall_ns = 0;    // nested ops included: the span on the clock
  int64_t forward_kernel_ns = 0;  // inside the row's forward
  int64_t backward_start_ns = -1;
  int64_t backward_ns = 0;
  int64_t backward_wall_ns = 0;
  int64_t backward_kernel_ns = 0;  // inside the row's backward
  int64_t saved_bytes = 0;         // kept for backward, each storage once
  int64_t activation_bytes = 0;    // of that, saved memory as defined above
  int64_t output_bytes = 0;
  // Memory traffic, estimated from the shapes: forward reads its inputs and
  // writes its output; backward reads the output's gradient and the values
  // it keeps, and writes a gradient per input that needs one.
  int64_t forward_bytes = 0;
  int64_t backward_bytes = 0;
  double forward_flops = 0;
  double backward_flops = 0;
  // A ProfileScope ("optimizer.step"), not an op: `op` is its name and
  // forward_ns its own time, less the ops run inside it.
  bool scope = false;
  // For a leaf's accumulation: the parameter's name ("2.weight") when the
  // profiler was given the parameters; `layer` is then the layer of the
  // first op that read it.
  std::string parameter;
  bool recorded = false;     // a graph node was made (gradients were needed)
  bool recompute = false;    // run again inside backward (a checkpoint)
  uint64_t graph_epoch = 0;  // which graph node, when recorded
  uint32_t node = 0;
  // The SavedBuffers this node keeps: Profile::saved_refs()[first_saved,
  // first_saved + num_saved).
  uint32_t first_saved = 0;
  uint32_t num_saved = 0;
  bool saved_released = false;  // its backward let go of them
};

// One storage kept for backward (saved memory, as defined above).
struct SavedBuffer {
  const void* storage = nullptr;  // identity while the profile records
  int64_t bytes = 0;
  Shape shape;           // as the first node keeping it saw it
  size_t producer = 0;   // the record of the op that made it
  int64_t alloc_ns = 0;  // since the profile started
  int64_t free_ns = -1;  // -1: still kept when the profile ended
  int savers = 0;        // nodes that kept it
};

// Live saved bytes over the profile.
struct MemoryTimeline {
  struct Point {
    int64_t ns;
    int64_t live_bytes;  // after the change at `ns`
  };
  std::vector<Point> points;
  int64_t peak_bytes = 0;
  int64_t peak_ns = 0;
  std::vector<size_t> alive_at_peak;  // indices into Profile::saved_buffers()
  int64_t total_bytes = 0;            // every buffer, alive at the peak or not
};

// Saved memory of a group of buffers (an op type, a layer, a module),
// attributed to the op that produced each buffer.
struct MemoryGroup {
  std::string name;
  int64_t buffers = 0;
  int64_t total_bytes = 0;    // over the profile
  int64_t at_peak_bytes = 0;  // alive at the peak
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
  double bytes = 0;         // memory traffic, forward and backward
  // Every op in the group computes by matrix products (IsMatrixProduct), so
  // a GEMM roof applies to it.
  bool matrix_product = false;
  std::string kind;  // module tables: the module's kind ("linear")
  double BackwardForwardRatio() const {
    return forward_ns > 0 ? double(backward_ns) / double(forward_ns) : 0.0;
  }
};

// Whether the op row `op` computes by matrix products (linear, matmul, the
// convolutions, the recurrent and attention rows): the ops a GEMM peak is a
// fair roof for.
bool IsMatrixProduct(std::string_view op);

class Profile {
 public:
  const std::vector<OpRecord>& records() const { return records_; }
  // Forward plus backward time of every record.
  int64_t TotalNs() const;
  // Groups sorted by forward + backward time, largest first. Both end with
  // the step's gaps (GapGroups()) when the profile knows its wall time, so
  // that the rows add up to the whole step.
  std::vector<ProfileGroup> ByOp() const;
  std::vector<ProfileGroup> ByLayer() const;
  // Time rolled up through the module tree: one group per module path, as
  // state_dict names them ("block1.fc1", kind "linear"), each including its
  // descendants, in tree order, then "(outside modules)". Layer paths
  // alternate a module's name and its kind, which is how they are read.
  std::vector<ProfileGroup> ByModule() const;

  // When the Profiler was made and how long it lived: the profiled step as
  // the caller ran it. `start_ns` is on the steady clock; every other time
  // of the profile counts from it.
  int64_t start_ns() const { return start_ns_; }
  int64_t wall_ns() const { return wall_ns_; }
  // The stretches of the step no record covers (the profiler's own
  // bookkeeping, dispatch, Python-free glue), as (start, duration): found
  // from the records' spans, not by subtracting totals, so that rows adding
  // up to the step is something to check, not a definition.
  std::vector<std::pair<int64_t, int64_t>> Gaps() const;
  // The gaps as two groups, "(gaps, forward)" before the first backward and
  // "(gaps, backward)" from it on; empty without a wall time.
  std::vector<ProfileGroup> GapGroups() const;

  const std::vector<SavedBuffer>& saved_buffers() const { return buffers_; }
  const std::vector<uint32_t>& saved_refs() const { return saved_refs_; }
  MemoryTimeline Memory() const;
  // Groups sorted by bytes alive at the peak, then by total bytes. Modules
  // are the layer paths and every enclosing module ("block1.residual" for
  // "block1.residual.fc1.linear"), so a module's figures include its
  // children's.
  std::vector<MemoryGroup> MemoryByOp(const MemoryTimeline& timeline) const;
  std::vector<MemoryGroup> MemoryByLayer(const MemoryTimeline& timeline) const;
  std::vector<MemoryGroup> MemoryByModule(const MemoryTimeline& timeline) const;
  // The time of the last event recorded (forward or backward end).
  int64_t EndNs() const;
  // The start of the first backward, -1 when none ran.
  int64_t FirstBackwardNs() const;

  // Empties the profile but keeps its capacity, so that profiling the next
  // step into it allocates nothing new (fresh pages would fault inside the
  // ops being timed).
  void Clear() {
    records_.clear();
    buffers_.clear();
    saved_refs_.clear();
    spans_.clear();
    start_ns_ = wall_ns_ = 0;
  }

 private:
  friend class Profiler;
  friend Profile MedianProfile(std::span<const Profile> steps);
  std::vector<MemoryGroup> MemoryBy(const MemoryTimeline& timeline,
                                    std::vector<std::string> (*keys)(const OpRecord&)) const;
  std::vector<OpRecord> records_;
  std::vector<SavedBuffer> buffers_;
  std::vector<uint32_t> saved_refs_;
  // Every event's span, (start, end), for Gaps().
  std::vector<std::pair<int64_t, int64_t>> spans_;
  int64_t start_ns_ = 0;
  int64_t wall_ns_ = 0;
};

// Several profiled steps of one program, summarised per op, per layer and
// per module: each figure is the median over the steps of that group's
// figure in each step (a group absent from a step counts as zero there), so
// that one step's page-fault spike lands nowhere. Sorted like ByOp().
std::vector<ProfileGroup> MedianByOp(std::span<const Profile> steps);
std::vector<ProfileGroup> MedianByLayer(std::span<const Profile> steps);
std::vector<ProfileGroup> MedianByModule(std::span<const Profile> steps);
// The median of the steps' wall times.
int64_t MedianWallNs(std::span<const Profile> steps);
// The last step with every record's times replaced by that record's median
// over the steps, when all steps ran the same records (same count, same ops
// in the same order); otherwise the step with the median wall time. What a
// graph or a per-node view of "the typical step" shows.
Profile MedianProfile(std::span<const Profile> steps);

// What the profiler may be told about the program it records.
struct ProfilerOptions {
  // Named parameters (a module's NamedParameters() or StateDict() as pairs):
  // their gradient accumulations are named and attributed to their layer.
  std::vector<std::pair<std::string, Tensor>> parameters;
};

// Records into `profile` for its lifetime, on the calling thread. Nesting a
// second Profiler on the same thread is an error (`Error`). Layers name
// their ops with `LayerScope` (graph/profile_hooks.h).
class Profiler : public OpObserver {
 public:
  explicit Profiler(Profile* profile, const ProfilerOptions& options = {});
  ~Profiler() override;
  Profiler(const Profiler&) = delete;
  Profiler& operator=(const Profiler&) = delete;

  void OnForward(const ForwardEvent& event) override;
  void OnBackward(const BackwardEvent& event) override;
  void OnScope(const ScopeEvent& event) override;

 private:
  Profile* profile_;
  int64_t start_ns_;
  // Which record a graph node's forward went to: (graph epoch, node) -> index.
  absl::flat_hash_map<std::pair<uint64_t, uint32_t>, size_t> record_of_node_;
  // The record whose op last produced each storage, and the buffer of each
  // storage some node still keeps.
  absl::flat_hash_map<const void*, size_t> producer_of_;
  absl::flat_hash_map<const void*, uint32_t> live_;
  // Named parameters by storage, and the layer of the first op that read
  // each.
  absl::flat_hash_map<const void*, std::string> parameter_names_;
  absl::flat_hash_map<const void*, std::string> parameter_layers_;
  // Events already reported that no enclosing event has claimed yet, as
  // (start, duration): ops run inside another op's forward or backward (a
  // fused row calling ops, a checkpoint recomputing) are reported before
  // it, and their time is taken out of it so that no time counts twice.
  std::vector<std::pair<int64_t, int64_t>> unclaimed_;
  int64_t ClaimNested(int64_t start_ns, int64_t end_ns);
  ScopedOpObserver installed_;
};

}  // namespace actgrad

#endif  // ACTGRAD_PROFILE_PROFILER_H_
