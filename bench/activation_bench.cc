// Forward and backward of every registered activation, at 4,096 elements
// (16 KiB: the kernel and the per-op overhead, from cache) and at 4,194,304
// elements (16 MiB: memory-bound, fresh outputs included). Registered from the
// op table, so an activation added by anyone is benchmarked without being
// listed here. Unlike the workloads, these use Google Benchmark's own
// iteration machinery; items and bytes processed give elements/s and the
// effective bandwidth, counting bytes as W2 does (forward 8 per element: read
// x, write y; backward 12: read dy and the one saved tensor, write dx).
//
// `mish_generic` is mish defined by its forward alone, x tanh(log(1 + e^x)),
// registered here so that the path such a user or plugin activation takes
// (packets of floats, ops/generic_packet.h) is timed beside the built-in
// kernel; a plugin's own activations get rows with actgrad_bench --plugin.
//
// Forward is timed on an input that requires a gradient, so it includes
// recording the node and saving what backward needs, as in training.
// Releasing the output and clearing the input's gradient happen between
// timed regions (manual time), as in W2.

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <utility>

#include "actgrad.h"
#include "bench/bench_util.h"
#include "benchmark/benchmark.h"
#include "ops/scalar_activation.h"

namespace actgrad::bench {
namespace {

constexpr int64_t kCacheResident = int64_t{1} << 12;
constexpr int64_t kMemoryBound = int64_t{1} << 22;

Tensor RequiresGradInput(int64_t n) {
  Generator gen(0);
  Tensor x = Uniform({n}, -4.0, 4.0, gen);
  x.set_requires_grad(true);
  return x;
}

void SetRates(benchmark::State& state, int64_t n, double bytes_per_element, int64_t faults) {
  state.SetItemsProcessed(state.iterations() * n);
  state.SetBytesProcessed(
      static_cast<int64_t>(static_cast<double>(state.iterations()) * bytes_per_element * n));
  state.counters["minflt_per_iter"] =
      benchmark::Counter(static_cast<double>(faults), benchmark::Counter::kAvgIterations);
}

void ForwardBenchmark(benchmark::State& state, const OpDef& op) {
  const int64_t n = state.range(0);
  const Tensor x = RequiresGradInput(n);
  int64_t faults = 0;
  for (auto _ : state) {
    const int64_t faults_before = MinorFaults();
    const Clock::time_point t0 = Clock::now();
    Tensor y = Apply(op, {x});
    const Clock::time_point t1 = Clock::now();
    faults += MinorFaults() - faults_before;
    benchmark::DoNotOptimize(y.raw_data());
    state.SetIterationTime(Seconds(t0, t1));
  }
  SetRates(state, n, 8.0, faults);
}

void BackwardBenchmark(benchmark::State& state, const OpDef& op) {
  const int64_t n = state.range(0);
  Tensor x = RequiresGradInput(n);
  const Tensor seed = Ones({n});
  int64_t faults = 0;
  for (auto _ : state) {
    // A fresh gradient each time, as in W2: backward writes a new dx rather
    // than accumulating into the previous one.
    x.ClearGrad();
    const Tensor y = Apply(op, {x});
    const int64_t faults_before = MinorFaults();
    const Clock::time_point t0 = Clock::now();
    y.Backward(seed);
    const Clock::time_point t1 = Clock::now();
    faults += MinorFaults() - faults_before;
    state.SetIterationTime(Seconds(t0, t1));
  }
  benchmark::DoNotOptimize(x.grad().raw_data());
  SetRates(state, n, 12.0, faults);
}

// Rows come from anyone, so one that throws on these inputs is reported as
// that benchmark's error instead of ending the whole run.
template <void (*kBody)(benchmark::State&, const OpDef&)>
void Guarded(benchmark::State& state, const OpDef& op) {
  try {
    kBody(state, op);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

}  // namespace

void RegisterActivationBenchmarks() {
  if (!OpRegistry::Global().Find("mish_generic").ok()) {
    const absl::StatusOr<const OpDef*> op = DefineActivation({
        .name = "mish_generic",
        .formula = "y = x tanh(log(1 + e^x)), from its forward alone",
        .generic = Generic([](auto x, const Attrs&) {
          using std::exp, std::log1p, std::tanh;
          return x * tanh(log1p(exp(x)));
        }),
        .recommended_init = InitFamily::kHe,
    });
    if (!op.ok()) std::fprintf(stderr, "mish_generic: %s\n", op.status().ToString().c_str());
  }
  for (const OpDef* op : OpRegistry::Global().Activations()) {
    // An activation with a second, learned input has no one-input form to
    // time here.
    if (op->min_inputs > 1) continue;
    const std::string prefix = "Activation/" + std::string(op->name);
    for (const auto& [pass, run] : {std::pair{"/forward", &Guarded<&ForwardBenchmark>},
                                    std::pair{"/backward", &Guarded<&BackwardBenchmark>}}) {
      benchmark::RegisterBenchmark((prefix + pass).c_str(),
                                   [op, run = run](benchmark::State& state) { run(state, *op); })
          ->Arg(kCacheResident)
          ->Arg(kMemoryBound)
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond);
    }
  }
}

}  // namespace actgrad::bench
