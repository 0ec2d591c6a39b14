// -----------------------------------------------------------------------------
// File: parallel.h
// -----------------------------------------------------------------------------
//
// Internal: splits large elementwise work over the threads that
// SetNumThreads() allows. Below kParallelMinElements an op stays on the
// calling thread, where starting a second one would cost more than the work.
// The threads are OpenMP's, the same team oneDNN's products run on, so a
// product followed by an elementwise op never has two sets of threads
// competing for the cores. Without OpenMP (a build without oneDNN) the work
// runs on the calling thread.
//
// Example (inside an op's forward):
//
//   internal::ParallelFor(n, [&](int64_t begin, int64_t end) {
//     for (int64_t i = begin; i < end; ++i) y[i] = x[i] * 2;
//   });

#ifndef ACTGRAD_OPS_PARALLEL_H_
#define ACTGRAD_OPS_PARALLEL_H_

#include <cstdint>

#include "absl/functional/function_ref.h"

namespace actgrad::internal {

// 1 MiB of float32: the work takes tens of microseconds, against a few for
// waking a second thread.
inline constexpr int64_t kParallelMinElements = int64_t{1} << 18;

// The split itself (below).
void ParallelForSplit(int64_t n, absl::FunctionRef<void(int64_t, int64_t)> fn);

// Calls fn(begin, end) on disjoint ranges covering [0, n), one per thread,
// each starting at a multiple of 16 elements so that every range keeps the
// buffer's 64-byte alignment for float32 and float64. Returns after all are
// done. `fn` must not throw. Small work is a direct call, inlined.
template <typename Fn>
void ParallelFor(int64_t n, Fn&& fn) {
  if (n < kParallelMinElements) {
    fn(int64_t{0}, n);
  } else {
    ParallelForSplit(n, fn);
  }
}

}  // namespace actgrad::internal

#endif  // ACTGRAD_OPS_PARALLEL_H_
