#include "ops/threads.h"

#include <cblas.h>

#include <atomic>
#include <cstdlib>
#include <mutex>

#include "graph/error.h"
#include "graph/parallel.h"

namespace actgrad {

namespace {

std::once_flag default_applied;
std::atomic<int> threads{0};

}  // namespace

namespace internal {

void EnsureBlasThreads() {
  std::call_once(default_applied, [] {
    if (threads.load() != 0) return;
    if (std::getenv("OPENBLAS_NUM_THREADS") != nullptr) {
      threads = openblas_get_num_threads();
      SetParallelThreads(threads);
      return;
    }
    threads = 1;
    openblas_set_num_threads(1);
    SetParallelThreads(1);
  });
}

}  // namespace internal

void SetNumThreads(int n) {
  ACTGRAD_REQUIRE(n >= 1, std::source_location::current(), "SetNumThreads: ", n,
                  " threads requested; need at least 1");
  threads = n;
  openblas_set_num_threads(n);
  internal::SetParallelThreads(n);
  internal::EnsureBlasThreads();
}

int NumThreads() {
  internal::EnsureBlasThreads();
  return threads.load();
}

std::string BlasCoreName() {
  const char* name = openblas_get_corename();
  return name != nullptr ? name : "unknown";
}

}  // namespace actgrad
