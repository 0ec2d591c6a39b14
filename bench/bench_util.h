// Shared pieces of actgrad_bench: the timing and summary rules of
// shared/reference/WORKLOADS.md (steady clock, medians of an even count as
// the mean of the middle two, page faults and peak RSS from getrusage), and
// the entry points through which each benchmark file registers its
// benchmarks with Google Benchmark.

#ifndef ACTGRAD_BENCH_BENCH_UTIL_H_
#define ACTGRAD_BENCH_BENCH_UTIL_H_

#include <chrono>
#include <cstdint>
#include <vector>

#include "absl/strings/string_view.h"
#include "actgrad.h"
#include "benchmark/benchmark.h"

namespace actgrad::bench {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point start, Clock::time_point stop);

// Minor page faults so far. A never-touched page costs 10-20 us on the
// target VMs, so this shows whether buffers are reused between repetitions.
int64_t MinorFaults();

// getrusage's ru_maxrss in MiB: the process's peak, which is why compare runs
// each workload in a process of its own.
double PeakRssMib();

struct Summary {
  double median = 0.0;
  double min = 0.0;
};

// WORKLOADS.md's median: for an even count, the mean of the two middle values.
Summary Summarize(std::vector<double> sample);

// The sum of a float32 tensor's values, accumulated in double so that the
// checks do not depend on summation order.
double SumOf(const Tensor& t);

// The registered activation `name`, or nullptr after a message on stderr.
// The registry, not the benchmarks, is the list of ops: a row that is renamed
// or stops being an activation makes the binary fail instead of being
// measured through some other path.
const OpDef* FindActivation(absl::string_view name);

// Every workload benchmark is one Google Benchmark iteration holding all of
// its warm-up and timed repetitions (WORKLOADS.md fixes the counts and takes
// medians, which the framework's iteration estimate and mean aggregates would
// not reproduce). This applies that setup.
benchmark::internal::Benchmark* AsWorkload(benchmark::internal::Benchmark* b,
                                           benchmark::TimeUnit unit);

// W1_overhead and W2_activations/<act> (w1_w2_bench.cc). Returns false, after
// a message, when the registry lacks an activation the workloads need.
bool RegisterOverheadWorkloads();
// W3_mlp/<act>, W4_deep and W5_gemm (w3_w5_bench.cc).
bool RegisterTrainingWorkloads();
// W6_cnn (w6_bench.cc).
void RegisterConvolutionWorkloads();
// W7_lstm and W8_transformer (w7_w8_bench.cc).
void RegisterSequenceWorkloads();
// Activation/<name>/{forward,backward}/<n> for every registered activation
// (activation_bench.cc).
void RegisterActivationBenchmarks();
// optimizer_bench.cc: one optimizer step on W3's parameters, per optimizer.
void RegisterOptimizerBenchmarks();
// Jacobians, Hessians and Jacobian-vector products (autodiff_bench.cc).
void RegisterAutodiffBenchmarks();

}  // namespace actgrad::bench

#endif  // ACTGRAD_BENCH_BENCH_UTIL_H_
