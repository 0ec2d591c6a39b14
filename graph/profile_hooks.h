// -----------------------------------------------------------------------------
// File: profile_hooks.h
// -----------------------------------------------------------------------------
//
// The points where the engine reports what it ran, for a profiler to record.
// The engine knows only the `OpObserver` interface; the profiler (profile/)
// implements it and installs itself on its thread with `ScopedOpObserver`.
// With no observer installed, each hook costs one branch per op (a
// thread-local pointer is null). Times are steady-clock nanoseconds.
//
// `LayerScope` names the ops run inside it as part of a layer ("2.linear");
// layers open one around their forward, and the name reaches the observer
// and anomaly messages.
//
// Memory: each recorded forward lists the storages its node keeps for
// backward (`SavedStorage`, one entry per distinct storage), and each
// backward says whether the node let go of them, so an observer can follow
// every saved buffer from the op that produced it to the backward that
// released it. `RecomputeScope` marks ops run again inside a backward (an
// activation checkpoint recomputing its forward).
//
// Example (an observer that counts ops):
//
//   class Counter : public actgrad::OpObserver {
//    public:
//     void OnForward(const actgrad::ForwardEvent& e) override { ++forward; }
//     void OnBackward(const actgrad::BackwardEvent& e) override { ++backward; }
//     int forward = 0, backward = 0;
//   };
//   Counter counter;
//   {
//     actgrad::ScopedOpObserver observe(&counter);
//     loss.Backward();
//   }

#ifndef ACTGRAD_GRAPH_PROFILE_HOOKS_H_
#define ACTGRAD_GRAPH_PROFILE_HOOKS_H_

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "graph/op_def.h"
#include "graph/tensor.h"

namespace actgrad {

// A storage a recorded node keeps for backward.
struct SavedStorage {
  enum class Kind : uint8_t { kInput, kOutput, kExtra };
  const void* storage = nullptr;  // identity only; shared storage repeats it
  int64_t bytes = 0;              // the storage's size
  Kind kind = Kind::kInput;
  // An input that is the output of a recorded op (as opposed to a leaf: a
  // parameter, the data, a constant).
  bool from_node = false;
  Shape shape;  // of the value as the node keeps it
};

// One op's forward, as Apply() ran it.
struct ForwardEvent {
  const OpDef* op = nullptr;
  std::span<const Tensor> inputs;
  const Tensor* output = nullptr;
  const Attrs* attrs = nullptr;
  std::string_view layer;  // "2.linear"; empty outside layers
  // Whether a graph node was made (gradients were needed), and which.
  bool recorded = false;
  uint64_t graph_epoch = 0;
  uint32_t node = 0;
  int64_t saved_bytes = 0;  // kept for backward, each storage once
  std::span<const SavedStorage> saved;
  const void* output_storage = nullptr;  // identity only
  // The output shares its storage with an input (reshape, a view).
  bool output_is_view = false;
  // Run again inside a backward (RecomputeScope).
  bool recompute = false;
  int64_t start_ns = 0;
  int64_t kernel_start_ns = 0;  // the row's forward alone
  int64_t kernel_end_ns = 0;
  int64_t end_ns = 0;  // recording included
};

// One node's backward (or, for a leaf, the accumulation into its grad()).
struct BackwardEvent {
  const OpDef* op = nullptr;  // null for a leaf
  Shape shape;                // the node's output shape
  DType dtype = DType::kFloat32;
  // A leaf's storage (identity only), so that an observer that knows the
  // parameters can name the accumulation ("2.weight"); null for op nodes.
  const void* leaf_storage = nullptr;
  uint64_t graph_epoch = 0;
  uint32_t node = 0;
  int64_t start_ns = 0;
  int64_t kernel_start_ns = 0;  // the row's backward alone
  int64_t kernel_end_ns = 0;
  int64_t end_ns = 0;  // accumulation included
  // The node released its saved values (a Backward() without retain_graph).
  bool released_saved = false;
};

// A stretch of code named by a `ProfileScope`: work outside ops (the
// optimizer's step, zero_grad, the backward engine's set-up, a data loader)
// that a profile of the whole step must account for.
struct ScopeEvent {
  std::string_view name;   // "optimizer.step"
  std::string_view layer;  // the layer it ran in; empty outside layers
  int64_t start_ns = 0;
  int64_t end_ns = 0;
};

class OpObserver {
 public:
  virtual ~OpObserver() = default;
  virtual void OnForward(const ForwardEvent& event) = 0;
  virtual void OnBackward(const BackwardEvent& event) = 0;
  // Reported when the scope closes, after the ops run inside it.
  virtual void OnScope(const ScopeEvent& event) {}
};

// Installs `observer` on the calling thread for its lifetime. Installing a
// second one on the same thread is an error (`Error`).
class ScopedOpObserver {
 public:
  explicit ScopedOpObserver(OpObserver* observer);
  ~ScopedOpObserver();
  ScopedOpObserver(const ScopedOpObserver&) = delete;
  ScopedOpObserver& operator=(const ScopedOpObserver&) = delete;
};

// Whether an observer (a Profiler) records on this thread.
bool IsProfiling();

// Names the ops run in its scope as part of a layer; scopes nest with ".".
// Costs one branch when neither an observer nor anomaly detection is live.
class LayerScope {
 public:
  explicit LayerScope(const std::string& name);
  // "<index>.<kind>", formatted only when someone listens.
  LayerScope(size_t index, const std::string& kind);
  ~LayerScope();
  LayerScope(const LayerScope&) = delete;
  LayerScope& operator=(const LayerScope&) = delete;

 private:
  size_t restore_ = 0;
  bool active_ = false;
};

// Names a stretch of code for the profiler: its time becomes a row of its own
// ("optimizer.step") and a slice in the trace, less the time of ops run
// inside it, which keep their own rows. Costs one branch when no observer is
// live.
//
//   {
//     actgrad::ProfileScope scope("optimizer.step");
//     optimizer.Step();
//   }
class ProfileScope {
 public:
  // `name` must outlive the scope (a literal, typically).
  explicit ProfileScope(std::string_view name);
  ~ProfileScope();
  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;

 private:
  std::string_view name_;
  int64_t start_ns_ = -1;  // -1: nobody listens
};

// Marks the ops run in its scope as a recomputation of an earlier forward:
// an activation checkpoint opens one around its forward inside backward.
class RecomputeScope {
 public:
  RecomputeScope();
  ~RecomputeScope();
  RecomputeScope(const RecomputeScope&) = delete;
  RecomputeScope& operator=(const RecomputeScope&) = delete;

 private:
  bool restore_;
};

namespace internal {

class Graph;

inline thread_local OpObserver* active_observer = nullptr;
inline thread_local bool recomputing = false;
inline OpObserver* ActiveObserver() { return active_observer; }

inline int64_t ObserverClockNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Called by Apply() after an op ran; `graph` is null when it was not recorded.
void ReportForward(OpObserver& observer, const OpDef& op, std::span<const Tensor> inputs,
                   const Tensor& output, const Attrs& attrs, const Graph* graph, uint32_t node,
                   int64_t start, int64_t kernel_start, int64_t kernel_end, int64_t end);
// Called by the backward sweep after a node's backward and accumulation.
void ReportBackward(OpObserver& observer, const Graph& graph, uint32_t node, int64_t start,
                    int64_t kernel_start, int64_t kernel_end, int64_t end);

}  // namespace internal
}  // namespace actgrad

#endif  // ACTGRAD_GRAPH_PROFILE_HOOKS_H_
