#include "profile/roofs.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <optional>
#include <source_location>
#include <thread>
#include <utility>
#include <vector>

#ifdef __linux__
#include <pthread.h>
#include <sched.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ACTGRAD_ROOFS_X86 1
#endif

#include "absl/cleanup/cleanup.h"
#include "graph/error.h"
#include "graph/factories.h"
#include "graph/parallel.h"
#include "ops/functional.h"
#include "ops/threads.h"

namespace actgrad {

namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Results go here so that the compiler cannot drop the work producing them.
volatile float sink = 0;

// A barrier whose waiters spin instead of sleeping: a thread woken from
// sleep on a loaded machine waits for its core, and each repetition would
// include that wait. Nor do they yield at once, which would hand the core
// to another process for a whole time slice; after a millisecond they do,
// in case the thread awaited needs this core (more threads than CPUs).
// `last` runs on the last thread to arrive, before any thread leaves.
class SpinBarrier {
 public:
  explicit SpinBarrier(int threads) : threads_(threads) {}

  template <typename Last>
  void ArriveAndWait(Last last) {
    const uint64_t generation = generation_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == threads_) {
      arrived_.store(0, std::memory_order_relaxed);
      last();
      generation_.store(generation + 1, std::memory_order_release);
      return;
    }
    const Clock::time_point since = Clock::now();
    while (generation_.load(std::memory_order_acquire) == generation) {
      if (Clock::now() - since < std::chrono::milliseconds(1)) {
#ifdef ACTGRAD_ROOFS_X86
        __builtin_ia32_pause();
#endif
      } else {
        std::this_thread::yield();
      }
    }
  }

 private:
  const int threads_;
  std::atomic<int> arrived_{0};
  std::atomic<uint64_t> generation_{0};
};

// Keeps the calling thread on one CPU for its lifetime, then lets it run
// where it could before. Without it, two measuring threads can share one
// core for a whole measurement while other processes have the other: the
// scheduler balances the number of runnable tasks per core, not whose they
// are. With three compilers running on this project's 2-core machine, the
// 2-thread FMA roof read 248 GFLOP/s, one core's worth, in 9 of 10 runs.
class PinnedToCpu {
 public:
  // Pins to the `index`-th CPU (modulo their count) of those allowed now.
  explicit PinnedToCpu(int index) {
#ifdef __linux__
    if (pthread_getaffinity_np(pthread_self(), sizeof(allowed_), &allowed_) != 0) return;
    std::vector<int> cpus;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (CPU_ISSET(cpu, &allowed_)) cpus.push_back(cpu);
    }
    if (cpus.empty()) return;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpus[index % cpus.size()], &one);
    pinned_ = pthread_setaffinity_np(pthread_self(), sizeof(one), &one) == 0;
#endif
  }
  ~PinnedToCpu() {
#ifdef __linux__
    if (pinned_) pthread_setaffinity_np(pthread_self(), sizeof(allowed_), &allowed_);
#endif
  }
  PinnedToCpu(const PinnedToCpu&) = delete;
  PinnedToCpu& operator=(const PinnedToCpu&) = delete;

 private:
#ifdef __linux__
  cpu_set_t allowed_;
  bool pinned_ = false;
#endif
};

// Runs `setup(t)` once and then `body(t)` repeatedly on threads t = 0 ..
// threads - 1 at once (the calling thread is thread 0), until at least
// `min_reps` repetitions taking `min_seconds` in all have run, and returns
// the shortest repetition: from a barrier all threads leave together to the
// one they all reach after. Timing from barrier to barrier measures the
// threads as one machine, the slowest setting the pace, as in an op split
// over them. Neither function may throw.
template <typename Setup, typename Body>
double ShortestRepetition(int threads, int min_reps, double min_seconds, Setup setup, Body body) {
  Clock::time_point start;
  double best = std::numeric_limits<double>::infinity(), total = 0;
  int reps = 0;
  bool stop = false;  // written by the last arrival only, read after the barrier
  const auto start_clock = [&] { start = Clock::now(); };
  const auto stop_clock = [&] {
    const double seconds = SecondsSince(start);
    best = std::min(best, seconds);
    total += seconds;
    ++reps;
    stop = reps >= min_reps && total >= min_seconds;
  };
  SpinBarrier barrier(threads);
  const auto worker = [&](int t) {
    const PinnedToCpu pinned(t);
    setup(t);
    barrier.ArriveAndWait(start_clock);
    while (true) {
      body(t);
      barrier.ArriveAndWait(stop_clock);
      if (stop) break;  // the same for every thread
      barrier.ArriveAndWait(start_clock);
    }
  };
  std::vector<std::jthread> others;
  for (int t = 1; t < threads; ++t) others.emplace_back(worker, t);
  worker(0);
  return best;
}

// Runs `body(t)` repeatedly on threads t = 0 .. threads - 1, started
// together and pinned as above, each until it has run at least `min_reps`
// repetitions taking `min_seconds`, and returns each thread's shortest
// repetition on its own clock. For work whose threads share nothing (FMAs
// in registers): a thread's best repetition need not coincide with the
// others', so threads taking turns with other processes on their cores
// still each find one. Timed together from barrier to barrier instead, the
// 2-thread FMA roof read 44-135 GFLOP/s instead of ~490 in 7 of 30 runs
// under two and three busy processes on two cores: the threads' turns on
// their cores fell out of step, so that one always waited for the other.
template <typename Body>
std::vector<double> ShortestRepetitionPerThread(int threads, int min_reps, double min_seconds,
                                                Body body) {
  std::vector<double> best(threads, std::numeric_limits<double>::infinity());
  SpinBarrier barrier(threads);
  const auto worker = [&](int t) {
    const PinnedToCpu pinned(t);
    barrier.ArriveAndWait([] {});
    double total = 0;
    for (int reps = 0; reps < min_reps || total < min_seconds; ++reps) {
      const Clock::time_point start = Clock::now();
      body(t);
      const double seconds = SecondsSince(start);
      best[t] = std::min(best[t], seconds);
      total += seconds;
    }
  };
  std::vector<std::jthread> others;
  for (int t = 1; t < threads; ++t) others.emplace_back(worker, t);
  worker(0);
  others.clear();  // joins them
  return best;
}

// FMA throughput from registers: 12 independent chains of FMAs, enough to
// cover the FMA latency (4 to 5 cycles) on two FMA units, so that the units,
// not the dependencies, set the pace. The chains are named variables, not an
// array: GCC keeps an array of vectors in memory here, and the loop would
// then measure store-to-load forwarding. The empty asm keeps each
// accumulator in a register and the loop from being folded.
constexpr int kChains = 12;

#ifdef ACTGRAD_ROOFS_X86
__attribute__((target("avx512f"), always_inline)) inline void Fma(__m512& acc, __m512 m, __m512 k) {
  acc = _mm512_fmadd_ps(acc, m, k);
  __asm__ volatile("" : "+v"(acc));
}

__attribute__((target("avx512f"))) float FmaAvx512(int64_t iterations) {
  const __m512 m = _mm512_set1_ps(0.999999f), k = _mm512_set1_ps(1e-7f);
  __m512 a0 = _mm512_set1_ps(0.0f), a1 = _mm512_set1_ps(0.1f), a2 = _mm512_set1_ps(0.2f),
         a3 = _mm512_set1_ps(0.3f), a4 = _mm512_set1_ps(0.4f), a5 = _mm512_set1_ps(0.5f),
         a6 = _mm512_set1_ps(0.6f), a7 = _mm512_set1_ps(0.7f), a8 = _mm512_set1_ps(0.8f),
         a9 = _mm512_set1_ps(0.9f), a10 = _mm512_set1_ps(1.0f), a11 = _mm512_set1_ps(1.1f);
  for (int64_t i = 0; i < iterations; ++i) {
    Fma(a0, m, k), Fma(a1, m, k), Fma(a2, m, k), Fma(a3, m, k), Fma(a4, m, k), Fma(a5, m, k);
    Fma(a6, m, k), Fma(a7, m, k), Fma(a8, m, k), Fma(a9, m, k), Fma(a10, m, k), Fma(a11, m, k);
  }
  const __m512 sum =
      _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                                  _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7))),
                    _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
  return _mm512_reduce_add_ps(sum);
}

__attribute__((target("avx2,fma"), always_inline)) inline void Fma(__m256& acc, __m256 m,
                                                                   __m256 k) {
  acc = _mm256_fmadd_ps(acc, m, k);
  __asm__ volatile("" : "+x"(acc));
}

__attribute__((target("avx2,fma"))) float FmaAvx2(int64_t iterations) {
  const __m256 m = _mm256_set1_ps(0.999999f), k = _mm256_set1_ps(1e-7f);
  __m256 a0 = _mm256_set1_ps(0.0f), a1 = _mm256_set1_ps(0.1f), a2 = _mm256_set1_ps(0.2f),
         a3 = _mm256_set1_ps(0.3f), a4 = _mm256_set1_ps(0.4f), a5 = _mm256_set1_ps(0.5f),
         a6 = _mm256_set1_ps(0.6f), a7 = _mm256_set1_ps(0.7f), a8 = _mm256_set1_ps(0.8f),
         a9 = _mm256_set1_ps(0.9f), a10 = _mm256_set1_ps(1.0f), a11 = _mm256_set1_ps(1.1f);
  for (int64_t i = 0; i < iterations; ++i) {
    Fma(a0, m, k), Fma(a1, m, k), Fma(a2, m, k), Fma(a3, m, k), Fma(a4, m, k), Fma(a5, m, k);
    Fma(a6, m, k), Fma(a7, m, k), Fma(a8, m, k), Fma(a9, m, k), Fma(a10, m, k), Fma(a11, m, k);
  }
  const __m256 sum =
      _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                                  _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7))),
                    _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, sum);
  float total = 0;
  for (float v : lanes) total += v;
  return total;
}
#endif  // ACTGRAD_ROOFS_X86

// Any other CPU: 4-lane vectors in whatever the baseline has, a multiply and
// an add (fused or not) counted as two FLOPs.
typedef float V4 __attribute__((vector_size(16)));

inline void Fma(V4& acc, V4 m, V4 k) {
  acc = acc * m + k;
#if defined(ACTGRAD_ROOFS_X86)
  __asm__ volatile("" : "+x"(acc));
#elif defined(__aarch64__)
  __asm__ volatile("" : "+w"(acc));
#endif
}

float FmaPortable(int64_t iterations) {
  const V4 m = V4{} + 0.999999f, k = V4{} + 1e-7f;
  V4 a0 = V4{} + 0.0f, a1 = V4{} + 0.1f, a2 = V4{} + 0.2f, a3 = V4{} + 0.3f, a4 = V4{} + 0.4f,
     a5 = V4{} + 0.5f, a6 = V4{} + 0.6f, a7 = V4{} + 0.7f, a8 = V4{} + 0.8f, a9 = V4{} + 0.9f,
     a10 = V4{} + 1.0f, a11 = V4{} + 1.1f;
  for (int64_t i = 0; i < iterations; ++i) {
    Fma(a0, m, k), Fma(a1, m, k), Fma(a2, m, k), Fma(a3, m, k), Fma(a4, m, k), Fma(a5, m, k);
    Fma(a6, m, k), Fma(a7, m, k), Fma(a8, m, k), Fma(a9, m, k), Fma(a10, m, k), Fma(a11, m, k);
  }
  const V4 sum = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
  return sum[0] + sum[1] + sum[2] + sum[3];
}

// The widest FMA this CPU runs, whatever -march the library was built for
// (the portable preset stops at AVX2), so that the roof is the machine's.
struct FmaKernel {
  float (*run)(int64_t iterations);
  int lanes;
};

FmaKernel WidestFma() {
#ifdef ACTGRAD_ROOFS_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return {FmaAvx512, 16};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return {FmaAvx2, 8};
#endif
  return {FmaPortable, 4};
}

double FmaGflops(int threads) {
  const FmaKernel kernel = WidestFma();
  // 500k iterations are 192 MFLOP in 16 lanes: about 0.8 ms at ~250
  // GFLOP/s per core, long against reading the clock.
  constexpr int64_t kIterations = 500'000;
  const double flops = double(kIterations) * kChains * kernel.lanes * 2;
  double gflops = 0;
  for (const double seconds :
       ShortestRepetitionPerThread(threads, /*min_reps=*/10, /*min_seconds=*/0.04,
                                   [&](int) { sink = sink + kernel.run(kIterations); })) {
    gflops += flops / seconds / 1e9;
  }
  return gflops;
}

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};

double CopyGbytesPerSecond(int threads) {
  constexpr int64_t kElements = int64_t{16} * 1024 * 1024 / sizeof(float);
  // Not value-initialized: each thread touches its own part first, so its
  // pages are mapped where (NUMA node) and when (not in the timed copies)
  // that thread runs.
  const std::unique_ptr<float[], FreeDeleter> a(
      static_cast<float*>(std::aligned_alloc(64, kElements * sizeof(float))));
  const std::unique_ptr<float[], FreeDeleter> c(
      static_cast<float*>(std::aligned_alloc(64, kElements * sizeof(float))));
  ACTGRAD_REQUIRE(a != nullptr && c != nullptr, std::source_location::current(),
                  "MeasureMachineRoofs: cannot allocate two arrays of 16 MiB");
  // Parts start at multiples of 16 elements, keeping 64-byte alignment.
  const auto part = [&](int t) {
    const auto edge = [&](int i) { return kElements * i / threads / 16 * 16; };
    return std::pair<int64_t, int64_t>(edge(t), t + 1 == threads ? kElements : edge(t + 1));
  };
  const double seconds = ShortestRepetition(
      threads, /*min_reps=*/10, /*min_seconds=*/0.03,
      [&](int t) {
        const auto [begin, end] = part(t);
        std::fill(a.get() + begin, a.get() + end, 1.0f);
        std::fill(c.get() + begin, c.get() + end, 0.0f);
      },
      [&](int t) {
        const auto [begin, end] = part(t);
        float* __restrict dst = c.get();
        const float* __restrict src = a.get();
        for (int64_t i = begin; i < end; ++i) dst[i] = src[i];
      });
  sink = sink + c[kElements / 3];
  return 2.0 * kElements * sizeof(float) / seconds / 1e9;
}

// The float32 512^3 product through Matmul at `threads` threads.
//
// The old measurement, the best of five single products with no warm-up,
// read 33-56 GFLOP/s instead of ~220 in 6 of 36 runs at 2 threads; on this
// project's 2-core machine shared with three compilers it read 17-35
// instead of ~460 in 8 of 10. Two causes, two remedies:
//
//   - A 6 ms window falls entirely inside whatever holds a thread back (the
//     library's threads being started or woken, oneDNN making its kernel,
//     the clock ramping up, another process on a core), and a product split
//     over two threads runs at the pace of the slower one. So: a 30 ms
//     warm-up of products, then products for at least 150 ms, keeping the
//     fastest, so that a slow spell spoils some products and not the best.
//     A product at 512^3 reaches well over half the FMA roof with any GEMM
//     library this project builds with; a best below half of it means the
//     whole window was disturbed, and the products run 150 ms more.
//   - Under load, the scheduler can keep both OpenMP threads of the product
//     on one core for seconds (see PinnedToCpu): with the remedy above
//     alone, 7 of 30 runs next to three compilers still read 60-72 GFLOP/s,
//     however long the window. So the OpenMP team the products run on (the
//     one ParallelForItems uses) is pinned one thread per CPU while they
//     run. Next to one to three busy processes, 0 of 110 runs were then
//     slow, against 67 of 110 for the old measurement.
double GemmGflops(int threads, double fma_gflops) {
  const int previous = NumThreads();
  if (threads != previous) SetNumThreads(threads);
  const absl::Cleanup restore = [&] {
    if (threads != previous) SetNumThreads(previous);
  };
  // Team thread t pins itself to CPU t and, once the products are done,
  // unpins itself (a pool thread keeps its place in the team between
  // regions). Without OpenMP, the one call covering every item pins nothing.
  std::vector<std::optional<PinnedToCpu>> pins(threads);
  const auto each_team_thread = [threads](auto fn) {
    internal::ParallelForItems(threads, [&](int64_t begin, int64_t end) {
      if (end - begin == 1) fn(begin);
    });
  };
  each_team_thread([&](int64_t t) { pins[t].emplace(static_cast<int>(t)); });
  const absl::Cleanup unpin = [&] { each_team_thread([&](int64_t t) { pins[t].reset(); }); };

  constexpr int64_t kN = 512;
  constexpr double kFlops = 2.0 * kN * kN * kN;
  Generator gen(0);
  const Tensor a = Normal({kN, kN}, 0, 1, gen);
  const Tensor b = Normal({kN, kN}, 0, 1, gen);
  // The fastest product among those run in `seconds` (at least 3), as
  // GFLOP/s.
  const auto best_of = [&](double seconds) {
    double best = std::numeric_limits<double>::infinity();
    const Clock::time_point start = Clock::now();
    for (int i = 0; i < 3 || SecondsSince(start) < seconds; ++i) {
      const Clock::time_point one = Clock::now();
      const Tensor product = Matmul(a, b);
      best = std::min(best, SecondsSince(one));
    }
    return kFlops / best / 1e9;
  };
  best_of(0.03);
  double gflops = best_of(0.15);
  if (gflops < 0.5 * fma_gflops) gflops = std::max(gflops, best_of(0.15));
  return gflops;
}

}  // namespace

MachineRoofs MeasureMachineRoofs(int threads) {
  ACTGRAD_REQUIRE(threads >= 1, std::source_location::current(), "MeasureMachineRoofs: ", threads,
                  " threads requested; need at least 1");
  MachineRoofs roofs;
  roofs.threads = threads;
  // FMA first: its register-only loops also bring the cores to full clock
  // for what follows.
  roofs.fma_gflops = FmaGflops(threads);
  roofs.copy_gbytes_per_s = CopyGbytesPerSecond(threads);
  roofs.gemm_gflops = GemmGflops(threads, roofs.fma_gflops);
  return roofs;
}

MachineRoofs MeasureMachineRoofs() { return MeasureMachineRoofs(NumThreads()); }

double MeasureGemmGflops() {
  const int threads = NumThreads();
  return GemmGflops(threads, FmaGflops(threads));
}

}  // namespace actgrad
