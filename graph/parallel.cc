#include "graph/parallel.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>

#if ACTGRAD_HAS_OPENMP
#include <omp.h>
#endif

namespace actgrad::internal {

namespace {

constexpr int64_t kAlignElements = 16;

// 0 until first read or set.
std::atomic<int> parallel_threads{0};

int ThreadsFromEnvironment() {
  const char* value = std::getenv("OPENBLAS_NUM_THREADS");
  const int n = value != nullptr ? std::atoi(value) : 1;
  return n >= 1 ? n : 1;
}

}  // namespace

int ParallelThreads() {
  int n = parallel_threads.load(std::memory_order_relaxed);
  if (n == 0) [[unlikely]] {
    int unset = 0;
    n = ThreadsFromEnvironment();
    if (!parallel_threads.compare_exchange_strong(unset, n)) n = unset;
  }
  return n;
}

void SetParallelThreads(int n) { parallel_threads.store(n >= 1 ? n : 1); }

namespace {

// Runs fn on [0, n) in `parts` ranges of `chunk` (the last one shorter) on
// as many threads, or as one call when that is not worth it or a parallel
// region is already running.
void RunInParts(int64_t n, int64_t parts, int64_t chunk,
                absl::FunctionRef<void(int64_t, int64_t)> fn) {
#if ACTGRAD_HAS_OPENMP
  if (parts >= 2 && omp_get_level() == 0) {
    const int threads = static_cast<int>(parts);
#pragma omp parallel num_threads(threads)
    {
      const int64_t begin = std::min(n, omp_get_thread_num() * chunk);
      const int64_t end = std::min(n, begin + chunk);
      if (begin < end) fn(begin, end);
    }
    return;
  }
#endif
  fn(0, n);
}

}  // namespace

void ParallelForSplit(int64_t n, absl::FunctionRef<void(int64_t, int64_t)> fn) {
  const int64_t parts =
      std::max<int64_t>(1, std::min<int64_t>(ParallelThreads(), n / (kParallelMinElements / 2)));
  const int64_t per_part = (n + parts - 1) / parts;
  RunInParts(n, parts, (per_part + kAlignElements - 1) / kAlignElements * kAlignElements, fn);
}

void ParallelForItems(int64_t count, absl::FunctionRef<void(int64_t, int64_t)> fn) {
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(ParallelThreads(), count));
  RunInParts(count, parts, (count + parts - 1) / parts, fn);
}

}  // namespace actgrad::internal
