// Reference workloads W3 (MLP training step, GEMM-bound), W4 (deep narrow
// network, per-op overhead bound) and W5 (a 1024^3 matrix product) of
// shared/reference/WORKLOADS.md, measured with this library's own layers and
// optimiser, as a user would train with them. The counters carry the field
// names of the LibTorch reference's JSON lines.
//
// --threads sets the BLAS threads, so at T = 2 the matrix products here run
// on two threads while the elementwise ops, the losses and the optimiser
// stay on the calling thread.

#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actgrad.h"
#include "bench/bench_util.h"
#include "bench/training_steps.h"
#include "benchmark/benchmark.h"
#include "nn/nn.h"
#include "optim/sgd.h"

namespace actgrad::bench {
namespace {

// --- W3 mlp ---------------------------------------------------------------------

constexpr int64_t kMlpBatch = 128;
constexpr int64_t kMlpInputs = 784;
constexpr int64_t kMlpClasses = 10;
constexpr int kMlpWarmup = 10;
constexpr int kMlpSteps = 100;
// GEMM work per step: forward 2*B*sum(in*out); the weight gradients the same
// again; input gradients for every layer but the first (the data needs none).
constexpr double kMlpForwardFlop = 2.0 * kMlpBatch * (784.0 * 512 + 512.0 * 256 + 256.0 * 10);
constexpr double kMlpInputGradFlop = 2.0 * kMlpBatch * (512.0 * 256 + 256.0 * 10);
constexpr double kMlpStepFlop = 2 * kMlpForwardFlop + kMlpInputGradFlop;

void MlpBenchmark(benchmark::State& state, const OpDef& activation) {
  Generator gen(0);
  nn::Sequential model;
  model.Add(TorchLikeLinear(kMlpInputs, 512, gen));
  model.Add(std::make_unique<nn::Activation>(activation));
  model.Add(TorchLikeLinear(512, 256, gen));
  model.Add(std::make_unique<nn::Activation>(activation));
  model.Add(TorchLikeLinear(256, kMlpClasses, gen));
  // The same batch every step.
  const Tensor x = Normal({kMlpBatch, kMlpInputs}, 0.0, 1.0, gen);
  std::vector<int64_t> label_values(kMlpBatch);
  for (int64_t& label : label_values) label = gen.NextBelow(kMlpClasses);
  const Tensor labels = Labels(label_values);
  optim::Sgd sgd(model.Parameters(), {.learning_rate = 0.01, .momentum = 0.9});

  StepStats stats;
  for (auto _ : state) {
    stats = TrainSteps(kMlpWarmup, kMlpSteps, sgd,
                       [&] { return CrossEntropy(model.Forward(x), labels); });
    state.SetIterationTime(Summarize(stats.ms).median * 1e-3);
  }

  const Summary s = Summarize(stats.ms);
  // The same steps again, each under a profiler of its own as `actgrad
  // profile` runs them: one scratch profile reused (so it allocates nothing
  // new while ops are timed), and the step timed as the profiler saw it, its
  // own set-up and teardown included. The program is the same: fused.
  Profile scratch;
  std::vector<double> profiled_ms, first_layer_us, direct_us;
  // The dominant op is also timed on its own after each profiled step, at
  // the same shapes and recorded as in the step: the profiler's figure for
  // it should agree within a few percent.
  auto& first = static_cast<nn::Linear&>(model.layer(0));
  const auto& first_activation = static_cast<const nn::Activation&>(model.layer(1));
  for (int i = 0; i <= kMlpSteps; ++i) {
    scratch.Clear();
    {
      Profiler profiler(&scratch);
      TrainSteps(0, 1, sgd, [&] { return CrossEntropy(model.Forward(x), labels); });
    }
    const auto start = std::chrono::steady_clock::now();
    const Tensor h = LinearActivation(x, first.weight(), first.bias(), first_activation.op(),
                                      first_activation.attrs());
    const double direct =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
    // The first round fills the scratch profile's capacity.
    if (i == 0) continue;
    direct_us.push_back(direct);
    profiled_ms.push_back(scratch.wall_ns() / 1e6);
    for (const OpRecord& r : scratch.records()) {
      if (r.layer == "0.linear") {
        first_layer_us.push_back(r.forward_ns / 1e3);
        break;
      }
    }
  }
  const double profiled_median = Summarize(profiled_ms).median;
  state.counters["first_layer_forward_us_profiled"] = Summarize(first_layer_us).median;
  state.counters["first_layer_forward_us_direct"] = Summarize(direct_us).median;
  state.counters["profiled_step_ms"] = profiled_median;
  state.counters["profiler_overhead_pct"] = 100.0 * (profiled_median / s.median - 1.0);
  state.counters["step_ms"] = s.median;
  state.counters["step_ms_min"] = s.min;
  state.counters["gemm_gflops_effective"] = kMlpStepFlop / (s.median * 1e-3) / 1e9;
  state.counters["gemm_mflop_per_step"] = kMlpStepFlop / 1e6;
  state.counters["minflt_per_step"] = static_cast<double>(stats.faults) / kMlpSteps;
  state.counters["check_loss_first"] = stats.loss_first;
  state.counters["check_loss_last"] = stats.loss_last;
  state.counters["batch"] = kMlpBatch;
  state.counters["steps"] = kMlpSteps;
  state.counters["warmup"] = kMlpWarmup;
  state.counters["threads"] = NumThreads();
  state.counters["peak_rss_mib"] = PeakRssMib();
}

// --- W4 deep --------------------------------------------------------------------

constexpr int kDeepDepth = 16;
constexpr int64_t kDeepWidth = 64;
constexpr int64_t kDeepBatch = 32;
constexpr int kDeepWarmup = 20;
constexpr int kDeepSteps = 300;

void DeepBenchmark(benchmark::State& state, const OpDef& tanh) {
  Generator gen(0);
  nn::Sequential model;
  for (int i = 0; i < kDeepDepth; ++i) {
    model.Add(TorchLikeLinear(kDeepWidth, kDeepWidth, gen));
    if (i + 1 < kDeepDepth) model.Add(std::make_unique<nn::Activation>(tanh));
  }
  const Tensor x = Normal({kDeepBatch, kDeepWidth}, 0.0, 1.0, gen);
  const Tensor target = Normal({kDeepBatch, kDeepWidth}, 0.0, 1.0, gen);
  optim::Sgd sgd(model.Parameters(), {.learning_rate = 0.01});

  StepStats stats;
  for (auto _ : state) {
    stats =
        TrainSteps(kDeepWarmup, kDeepSteps, sgd, [&] { return MseLoss(model.Forward(x), target); });
    state.SetIterationTime(Summarize(stats.ms).median * 1e-3);
  }

  const Summary s = Summarize(stats.ms);
  state.counters["step_ms"] = s.median;
  state.counters["step_ms_min"] = s.min;
  state.counters["minflt_per_step"] = static_cast<double>(stats.faults) / kDeepSteps;
  state.counters["check_loss_first"] = stats.loss_first;
  state.counters["check_loss_last"] = stats.loss_last;
  state.counters["depth"] = kDeepDepth;
  state.counters["width"] = kDeepWidth;
  state.counters["batch"] = kDeepBatch;
  state.counters["steps"] = kDeepSteps;
  state.counters["warmup"] = kDeepWarmup;
  state.counters["threads"] = NumThreads();
  state.counters["peak_rss_mib"] = PeakRssMib();
}

// --- W5 gemm --------------------------------------------------------------------

constexpr int64_t kGemmN = 1024;
constexpr int kGemmWarmup = 3;
constexpr int kGemmReps = 20;

void GemmBenchmark(benchmark::State& state) {
  Generator gen(0);
  const Tensor a = Normal({kGemmN, kGemmN}, 0.0, 1.0, gen);
  const Tensor b = Normal({kGemmN, kGemmN}, 0.0, 1.0, gen);

  std::vector<double> ms;
  double check_sum = 0.0;
  int64_t faults = 0;
  for (auto _ : state) {
    for (int rep = 0; rep < kGemmWarmup + kGemmReps; ++rep) {
      const int64_t faults_before = MinorFaults();
      const Clock::time_point t0 = Clock::now();
      // A new C per call; it is released after the clock stops.
      const Tensor c = Matmul(a, b);
      const Clock::time_point t1 = Clock::now();
      if (rep == 0) check_sum = SumOf(c);
      if (rep < kGemmWarmup) continue;
      faults += MinorFaults() - faults_before;
      ms.push_back(Seconds(t0, t1) * 1e3);
    }
    state.SetIterationTime(Summarize(ms).median * 1e-3);
  }

  const Summary s = Summarize(ms);
  const double flop = 2.0 * kGemmN * kGemmN * kGemmN;
  state.counters["ms"] = s.median;
  state.counters["gflops"] = flop / (s.median * 1e-3) / 1e9;
  state.counters["gflops_best"] = flop / (s.min * 1e-3) / 1e9;
  state.counters["minflt_per_rep"] = static_cast<double>(faults) / kGemmReps;
  state.counters["check_sum"] = check_sum;
  state.counters["n"] = kGemmN;
  state.counters["reps"] = kGemmReps;
  state.counters["warmup"] = kGemmWarmup;
  state.counters["threads"] = NumThreads();
  state.counters["peak_rss_mib"] = PeakRssMib();
}

}  // namespace

bool RegisterTrainingWorkloads() {
  for (const char* name : {"relu", "tanh", "sigmoid"}) {
    const OpDef* op = FindActivation(name);
    if (op == nullptr) return false;
    AsWorkload(
        benchmark::RegisterBenchmark(("W3_mlp/" + std::string(name)).c_str(),
                                     [op](benchmark::State& state) { MlpBenchmark(state, *op); }),
        benchmark::kMillisecond);
  }
  const OpDef* tanh = FindActivation("tanh");
  if (tanh == nullptr) return false;
  AsWorkload(benchmark::RegisterBenchmark(
                 "W4_deep", [tanh](benchmark::State& state) { DeepBenchmark(state, *tanh); }),
             benchmark::kMillisecond);
  AsWorkload(benchmark::RegisterBenchmark("W5_gemm", GemmBenchmark), benchmark::kMillisecond);
  return true;
}

}  // namespace actgrad::bench
