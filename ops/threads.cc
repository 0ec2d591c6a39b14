#include "ops/threads.h"

#include <cblas.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
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

absl::Status CheckThreadsCanStart(int n) {
  std::vector<std::thread> started;
  std::mutex mutex;
  std::condition_variable release;
  bool done = false;
  std::string failure;
  // All alive at once, as a runtime's pool is.
  for (int i = 1; i < n; ++i) {
    try {
      started.emplace_back([&] {
        std::unique_lock<std::mutex> lock(mutex);
        release.wait(lock, [&] { return done; });
      });
    } catch (const std::system_error& e) {
      failure = e.what();
      break;
    }
  }
  {
    std::lock_guard<std::mutex> lock(mutex);
    done = true;
  }
  release.notify_all();
  for (std::thread& t : started) t.join();
  if (failure.empty()) return absl::OkStatus();
  return absl::ResourceExhaustedError(
      absl::StrCat(n, " threads: only ", started.size() + 1, " could be started here (", failure,
                   "); the process's memory or thread limit allows no more"));
}

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
