// Reference workload W6 (a small convolutional network's training step) of
// shared/reference/WORKLOADS.md, built from this library's own layers as a
// user would build it: conv 1->32, batch norm, relu, max pool, conv 32->64,
// batch norm, relu, max pool, flatten, linear 3136->128, relu, linear
// 128->10; batch 64 of 28x28 images, cross-entropy, SGD with momentum. The
// counters carry the field names of the LibTorch reference's JSON lines.

#include <cstdint>
#include <cstdio>
#include <memory>
#include <vector>

#include "actgrad.h"
#include "bench/bench_util.h"
#include "bench/training_steps.h"
#include "benchmark/benchmark.h"
#include "nn/nn.h"
#include "optim/sgd.h"

namespace actgrad::bench {
namespace {

constexpr int64_t kCnnBatch = 64;
constexpr int kCnnWarmup = 5;
constexpr int kCnnSteps = 50;
// Convolution and linear FLOPs per step, counted densely (padding taps
// included) as WORKLOADS.md does: forward; the weight gradients the same
// again; input gradients for every layer but the first convolution.
constexpr double kConv1Flop = 2.0 * kCnnBatch * (28 * 28) * 32 * (1 * 9);
constexpr double kConv2Flop = 2.0 * kCnnBatch * (14 * 14) * 64 * (32 * 9);
constexpr double kFcFlop = 2.0 * kCnnBatch * (3136.0 * 128 + 128.0 * 10);
constexpr double kCnnStepFlop = 2 * (kConv1Flop + kConv2Flop + kFcFlop) + (kConv2Flop + kFcFlop);

void ConvBlock(nn::Sequential& model, int64_t in, int64_t out, Generator& gen) {
  // ConvLayer's default initialisation is LibTorch's.
  model.Add(std::make_unique<nn::Conv2d>(
      nn::ConvOptions{.in_channels = in, .out_channels = out, .kernel = {3, 3}, .padding = {1, 1}},
      gen));
  model.Add(std::make_unique<nn::BatchNorm2d>(nn::BatchNormOptions{.num_features = out}));
  model.Add(std::make_unique<nn::Activation>(ops::kRelu));
  model.Add(std::make_unique<nn::MaxPool2d>(nn::PoolOptions{.window = {2, 2}}));
}

void CnnBenchmark(benchmark::State& state) {
  Generator gen(0);
  nn::Sequential model;
  ConvBlock(model, 1, 32, gen);
  ConvBlock(model, 32, 64, gen);
  model.Add(std::make_unique<nn::Flatten>());
  model.Add(TorchLikeLinear(3136, 128, gen));
  model.Add(std::make_unique<nn::Activation>(ops::kRelu));
  model.Add(TorchLikeLinear(128, 10, gen));
  // The same batch every step.
  const Tensor x = Normal({kCnnBatch, 1, 28, 28}, 0.0, 1.0, gen);
  std::vector<int64_t> label_values(kCnnBatch);
  for (int64_t& label : label_values) label = static_cast<int64_t>(gen.NextBelow(10));
  const Tensor labels = Labels(label_values);
  optim::Sgd sgd(model.Parameters(), {.learning_rate = 0.01, .momentum = 0.9});

  StepStats stats;
  for (auto _ : state) {
    stats = TrainSteps(kCnnWarmup, kCnnSteps, sgd,
                       [&] { return CrossEntropy(model.Forward(x), labels); });
    state.SetIterationTime(Summarize(stats.ms).median * 1e-3);
  }
  const Summary s = Summarize(stats.ms);
  // Which convolution kernel each shape and direction measured faster.
  for (const ConvKernelChoice& c : ConvKernelChoices()) {
    std::fprintf(stderr, "W6_cnn: %s: %s (im2col %.0f us, oneDNN %.0f us)\n", c.work.c_str(),
                 c.kernel == ConvKernel::kOneDnn ? "oneDNN" : "im2col", c.im2col_us, c.onednn_us);
  }
  state.counters["step_ms"] = s.median;
  state.counters["step_ms_min"] = s.min;
  state.counters["gflops_effective"] = kCnnStepFlop / (s.median * 1e-3) / 1e9;
  state.counters["mflop_per_step"] = kCnnStepFlop / 1e6;
  state.counters["minflt_per_step"] = static_cast<double>(stats.faults) / kCnnSteps;
  state.counters["check_loss_first"] = stats.loss_first;
  state.counters["check_loss_last"] = stats.loss_last;
  state.counters["batch"] = kCnnBatch;
  state.counters["steps"] = kCnnSteps;
  state.counters["warmup"] = kCnnWarmup;
  state.counters["threads"] = NumThreads();
  state.counters["peak_rss_mib"] = PeakRssMib();
}

}  // namespace

void RegisterConvolutionWorkloads() {
  AsWorkload(benchmark::RegisterBenchmark("W6_cnn", CnnBenchmark), benchmark::kMillisecond);
}

}  // namespace actgrad::bench
