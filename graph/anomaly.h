// -----------------------------------------------------------------------------
// File: anomaly.h
// -----------------------------------------------------------------------------
//
// Anomaly detection: while a `DetectAnomalyGuard` lives, every forward output
// and every gradient a backward produces is checked for NaN and infinity, and
// the first offender stops the run with an `Error` that names the node, its
// op, its layer, where it was created, the shapes and a few values — at the
// place the trouble starts, not epochs later. Off, it costs one branch per op.
//
// Example:
//
//   actgrad::DetectAnomalyGuard detect;
//   loss = model.Forward(x) ...;  // throws at the first op that makes NaN or Inf
//   loss.Backward();              // and at the first backward that does

#ifndef ACTGRAD_GRAPH_ANOMALY_H_
#define ACTGRAD_GRAPH_ANOMALY_H_

#include <string>

#include "graph/tensor.h"

namespace actgrad {

namespace internal {
inline thread_local bool detect_anomaly = false;
// The layer path ("2.linear") of the ops being run, kept while a profiler or
// anomaly detection wants it.
inline thread_local std::string layer_path;

// "" when every value of `t` is finite; otherwise a description of the first
// non-finite one and a few neighbours, e.g. "NaN at [3,1] (values: ...)".
std::string DescribeNonFinite(const Tensor& t);
}  // namespace internal

inline bool IsAnomalyDetectionEnabled() { return internal::detect_anomaly; }

class DetectAnomalyGuard {
 public:
  DetectAnomalyGuard() : previous_(internal::detect_anomaly) { internal::detect_anomaly = true; }
  ~DetectAnomalyGuard() { internal::detect_anomaly = previous_; }
  DetectAnomalyGuard(const DetectAnomalyGuard&) = delete;
  DetectAnomalyGuard& operator=(const DetectAnomalyGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace actgrad

#endif  // ACTGRAD_GRAPH_ANOMALY_H_
