// -----------------------------------------------------------------------------
// File: parallel.h
// -----------------------------------------------------------------------------
//
// Internal: splits large elementwise work (activations, optimizer steps,
// gradient accumulation) over the threads that SetNumThreads() allows.
// Below kParallelMinElements an op stays on the calling thread, where
// starting a second one would cost more than the work.
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

#ifndef ACTGRAD_GRAPH_PARALLEL_H_
#define ACTGRAD_GRAPH_PARALLEL_H_

#include <algorithm>
#include <cstdint>

#include "absl/functional/function_ref.h"

namespace actgrad::internal {

// How many threads ParallelFor may use. SetNumThreads() (ops/threads.h) sets
// it together with the GEMM libraries' count; until then it follows
// OPENBLAS_NUM_THREADS as they do, or is 1.
int ParallelThreads();
void SetParallelThreads(int n);

// 1 MiB of float32: the work takes tens of microseconds, against a few for
// waking a second thread.
inline constexpr int64_t kParallelMinElements = int64_t{1} << 18;

// The split itself (below).
void ParallelForSplit(int64_t n, absl::FunctionRef<void(int64_t, int64_t)> fn);

// Calls fn(begin, end) on disjoint ranges of [0, count) items (channels,
// image planes), one per thread. For items that each hold enough work: the
// caller decides the whole is worth the threads. `fn` must not throw.
void ParallelForItems(int64_t count, absl::FunctionRef<void(int64_t, int64_t)> fn);

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

// Ranges at least this long are walked as two streams by ForTwoStreams.
inline constexpr int64_t kTwoStreamMinElements = int64_t{1} << 20;

// Calls fn(begin, end) over [first, last) in blocks of 1024 elements taken
// alternately from the two halves of the range, for kernels that compute a
// lot per element (sigmoid, tanh, gelu) on arrays larger than the caches:
// with two streams to fetch, the prefetchers keep twice as much memory in
// flight while the core computes. W2's 16 MiB sigmoid forward went from 0.63
// to 0.51 ms here, tanh from 0.63 to 0.52; a memory-bound kernel (relu) runs
// slower this way (0.51 to 0.61 ms) and keeps the plain loop. Blocks start
// at multiples of 16 elements from `first`.
template <typename Fn>
void ForTwoStreams(int64_t first, int64_t last, Fn&& fn) {
  constexpr int64_t kBlock = 1024;
  if (last - first < kTwoStreamMinElements) {
    fn(first, last);
    return;
  }
  const int64_t middle = first + ((last - first) / 2 + 15) / 16 * 16;
  for (int64_t a = first, b = middle; a < middle || b < last; a += kBlock, b += kBlock) {
    if (a < middle) fn(a, std::min(a + kBlock, middle));
    if (b < last) fn(b, std::min(b + kBlock, last));
  }
}

}  // namespace actgrad::internal

#endif  // ACTGRAD_GRAPH_PARALLEL_H_
