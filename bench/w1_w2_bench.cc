// Reference workloads W1 (per-op autodiff overhead) and W2 (activation
// bandwidth) of shared/reference/WORKLOADS.md, measured with this library.
// The counters carry the field names of the LibTorch reference's JSON lines,
// so that bench/compare can put the two side by side.
//
// W1's scalar ops always run on the calling thread; W2's 4M-element ops are
// split over the --threads count (ops/parallel.h), as ATen splits them.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "actgrad.h"
#include "bench/bench_util.h"
#include "benchmark/benchmark.h"

namespace actgrad::bench {
namespace {

// --- W1 overhead --------------------------------------------------------------

constexpr int kChainOps = 1000;
constexpr int kOverheadWarmup = 20;
constexpr int kOverheadReps = 200;

Tensor Chain(const Tensor& x) {
  Tensor y = x;
  for (int i = 0; i < kChainOps; ++i) {
    switch (i % 4) {
      case 0:
        y = Sigmoid(y);
        break;
      case 1:
        y = Tanh(y);
        break;
      case 2:
        y = Relu(y);
        break;
      default:
        y = LeakyRelu(y, 0.01);
        break;
    }
  }
  return Sum(y);
}

double NsPerOp(double seconds) { return seconds * 1e9 / kChainOps; }

void OverheadBenchmark(benchmark::State& state) {
  Tensor x = Full({1}, 0.5);
  x.set_requires_grad(true);

  std::vector<double> fwd, bwd, total, teardown, nograd;
  double check_loss = 0.0;
  double check_grad_x = 0.0;
  int64_t faults = 0;
  for (auto _ : state) {
    for (int rep = 0; rep < kOverheadWarmup + kOverheadReps; ++rep) {
      // Backward must allocate the leaf's gradient afresh, as in the reference.
      x.ClearGrad();
      const int64_t faults_before = MinorFaults();
      const Clock::time_point t0 = Clock::now();
      Tensor loss = Chain(x);
      const Clock::time_point t1 = Clock::now();
      loss.Backward();
      const Clock::time_point t2 = Clock::now();
      if (rep == 0) {
        check_loss = loss.item();
        check_grad_x = x.grad().item();
      }
      const Clock::time_point t3 = Clock::now();
      loss = Tensor();  // The last reference to the graph.
      const Clock::time_point t4 = Clock::now();
      if (rep < kOverheadWarmup) continue;
      faults += MinorFaults() - faults_before;
      fwd.push_back(NsPerOp(Seconds(t0, t1)));
      bwd.push_back(NsPerOp(Seconds(t1, t2)));
      total.push_back(NsPerOp(Seconds(t0, t2)));
      teardown.push_back(NsPerOp(Seconds(t3, t4)));
    }
    {
      NoGradGuard no_grad;
      for (int rep = 0; rep < kOverheadWarmup + kOverheadReps; ++rep) {
        const Clock::time_point t0 = Clock::now();
        Tensor out = Chain(x);
        const Clock::time_point t1 = Clock::now();
        if (rep >= kOverheadWarmup) nograd.push_back(NsPerOp(Seconds(t0, t1)));
      }
    }
    // The framework's own time column: one repetition's forward + backward.
    state.SetIterationTime(Summarize(total).median * kChainOps * 1e-9);
  }

  const Summary f = Summarize(fwd);
  const Summary b = Summarize(bwd);
  const Summary t = Summarize(total);
  const Summary d = Summarize(teardown);
  const Summary n = Summarize(nograd);
  state.counters["fwd_ns_per_op"] = f.median;
  state.counters["bwd_ns_per_op"] = b.median;
  state.counters["total_ns_per_op"] = t.median;
  state.counters["nograd_fwd_ns_per_op"] = n.median;
  state.counters["teardown_ns_per_op"] = d.median;
  state.counters["fwd_ns_per_op_min"] = f.min;
  state.counters["bwd_ns_per_op_min"] = b.min;
  state.counters["total_ns_per_op_min"] = t.min;
  state.counters["nograd_fwd_ns_per_op_min"] = n.min;
  state.counters["minflt_per_rep"] = static_cast<double>(faults) / kOverheadReps;
  state.counters["check_loss"] = check_loss;
  state.counters["check_grad_x"] = check_grad_x;
  state.counters["chain_ops"] = kChainOps;
  state.counters["reps"] = kOverheadReps;
  state.counters["warmup"] = kOverheadWarmup;
  state.counters["threads"] = NumThreads();
  state.counters["peak_rss_mib"] = PeakRssMib();
}

// --- W2 activations -----------------------------------------------------------

constexpr int64_t kActivationN = int64_t{1} << 22;  // 16 MiB of float32.
constexpr int kActivationWarmup = 3;
constexpr int kActivationReps = 30;
constexpr std::array<const char*, 4> kActivationNames = {"sigmoid", "tanh", "relu", "leaky_relu"};

// The reference makes x and the seed once for all four activations; sharing
// them keeps the allocator's state comparable too.
struct ActivationInputs {
  Tensor x;
  Tensor seed;
};

ActivationInputs& SharedActivationInputs() {
  static ActivationInputs* inputs = [] {
    Generator gen(0);
    auto* made = new ActivationInputs;
    made->x = Uniform({kActivationN}, -4.0, 4.0, gen);
    made->x.set_requires_grad(true);
    made->seed = Ones({kActivationN});
    return made;
  }();
  return *inputs;
}

void ActivationBenchmark(benchmark::State& state, const OpDef& op) {
  ActivationInputs& inputs = SharedActivationInputs();
  Tensor& x = inputs.x;

  std::vector<double> fwd, bwd, total;
  double check_grad_sum = 0.0;
  int64_t faults = 0;
  for (auto _ : state) {
    for (int rep = 0; rep < kActivationWarmup + kActivationReps; ++rep) {
      x.ClearGrad();
      const int64_t faults_before = MinorFaults();
      const Clock::time_point t0 = Clock::now();
      Tensor y = Apply(op, {x});
      const Clock::time_point t1 = Clock::now();
      y.Backward(inputs.seed);
      const Clock::time_point t2 = Clock::now();
      if (rep >= kActivationWarmup) faults += MinorFaults() - faults_before;
      if (rep == 0) check_grad_sum = SumOf(x.grad());
      y = Tensor();
      if (rep < kActivationWarmup) continue;
      fwd.push_back(Seconds(t0, t1) * 1e3);
      bwd.push_back(Seconds(t1, t2) * 1e3);
      total.push_back(Seconds(t0, t2) * 1e3);
    }
    state.SetIterationTime(Summarize(total).median * 1e-3);
  }

  const Summary f = Summarize(fwd);
  const Summary b = Summarize(bwd);
  // Bytes that must move at least: read x, write y; read dy, read the one
  // saved tensor, write dx (GB = 1e9 bytes).
  const double fwd_bytes = 8.0 * kActivationN;
  const double bwd_bytes = 12.0 * kActivationN;
  state.counters["fwd_ms"] = f.median;
  state.counters["bwd_ms"] = b.median;
  state.counters["fwd_ms_min"] = f.min;
  state.counters["bwd_ms_min"] = b.min;
  state.counters["fwd_gbs"] = fwd_bytes / (f.median * 1e-3) / 1e9;
  state.counters["bwd_gbs"] = bwd_bytes / (b.median * 1e-3) / 1e9;
  state.counters["minflt_per_rep"] = static_cast<double>(faults) / kActivationReps;
  state.counters["check_grad_sum"] = check_grad_sum;
  state.counters["n"] = static_cast<double>(kActivationN);
  state.counters["reps"] = kActivationReps;
  state.counters["warmup"] = kActivationWarmup;
  state.counters["threads"] = NumThreads();
  state.counters["peak_rss_mib"] = PeakRssMib();
}

}  // namespace

bool RegisterOverheadWorkloads() {
  AsWorkload(benchmark::RegisterBenchmark("W1_overhead", OverheadBenchmark),
             benchmark::kMicrosecond);
  for (const char* name : kActivationNames) {
    const OpDef* op = FindActivation(name);
    if (op == nullptr) return false;
    AsWorkload(benchmark::RegisterBenchmark(
                   ("W2_activations/" + std::string(name)).c_str(),
                   [op](benchmark::State& state) { ActivationBenchmark(state, *op); }),
               benchmark::kMillisecond);
  }
  return true;
}

}  // namespace actgrad::bench
