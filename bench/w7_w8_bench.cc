// Reference workloads W7 (an LSTM's training step) and W8 (one transformer
// encoder layer's training step with Adam) of shared/reference/WORKLOADS.md,
// built from this library's own modules as a user would build them. The
// counters carry the field names of the LibTorch reference's JSON lines.

#include <cstdint>
#include <memory>
#include <vector>

#include "actgrad.h"
#include "bench/bench_util.h"
#include "bench/training_steps.h"
#include "benchmark/benchmark.h"
#include "nn/attention.h"
#include "nn/recurrent.h"
#include "optim/adam.h"
#include "optim/sgd.h"

namespace actgrad::bench {
namespace {

// W7: T steps of batch B, input I, hidden H; the gate products WORKLOADS.md
// counts (forward input and hidden products, their weight gradients, and the
// recurrent input gradients of all steps but the first).
constexpr int64_t kLstmSteps = 32, kLstmBatch = 32, kLstmInput = 64, kLstmHidden = 128;
constexpr int kLstmWarmup = 5;
constexpr int kLstmTimed = 100;
constexpr double kLstmForwardFlop =
    2.0 * kLstmSteps * kLstmBatch * (kLstmInput + kLstmHidden) * 4 * kLstmHidden;
constexpr double kLstmStepFlop =
    2 * kLstmForwardFlop + 2.0 * (kLstmSteps - 1) * kLstmBatch * 4 * kLstmHidden * kLstmHidden;

// W8: S tokens of batch B, model width E, h heads, feed-forward F.
constexpr int64_t kSeq = 64, kTokenBatch = 16, kModel = 256, kHeads = 4, kFeedForward = 1024;
constexpr int kTransformerWarmup = 5;
constexpr int kTransformerTimed = 50;
constexpr double kTokens = double(kSeq * kTokenBatch);
constexpr double kTransformerForwardFlop =
    2 * kTokens * kModel * 3 * kModel                                   // packed projection
    + 2 * 2.0 * kTokenBatch * kHeads * kSeq * kSeq * (kModel / kHeads)  // scores, A V
    + 2 * kTokens * kModel * kModel                                     // output projection
    + 2 * 2 * kTokens * kModel * kFeedForward;                          // feed-forward
constexpr double kTransformerStepFlop =
    3 * kTransformerForwardFlop - 2 * kTokens * kModel * 3 * kModel;

void SetSequenceCounters(benchmark::State& state, const StepStats& stats, double step_flop,
                         int timed, int warmup) {
  const Summary s = Summarize(stats.ms);
  state.counters["step_ms"] = s.median;
  state.counters["step_ms_min"] = s.min;
  state.counters["gflops_effective"] = step_flop / (s.median * 1e-3) / 1e9;
  state.counters["mflop_per_step"] = step_flop / 1e6;
  state.counters["minflt_per_step"] = static_cast<double>(stats.faults) / timed;
  state.counters["check_loss_first"] = stats.loss_first;
  state.counters["check_loss_last"] = stats.loss_last;
  state.counters["steps"] = timed;
  state.counters["warmup"] = warmup;
  state.counters["threads"] = NumThreads();
  state.counters["peak_rss_mib"] = PeakRssMib();
}

void LstmBenchmark(benchmark::State& state) {
  Generator gen(0);
  // Lstm's default initialisation is LibTorch's.
  nn::Lstm lstm({.input_size = kLstmInput, .hidden_size = kLstmHidden}, gen);
  std::unique_ptr<nn::Linear> head = TorchLikeLinear(kLstmHidden, 10, gen);
  const Tensor x = Normal({kLstmSteps, kLstmBatch, kLstmInput}, 0.0, 1.0, gen);
  std::vector<int64_t> label_values(kLstmBatch);
  for (int64_t& label : label_values) label = static_cast<int64_t>(gen.NextBelow(10));
  const Tensor labels = Labels(label_values);
  std::vector<Tensor> parameters = lstm.Parameters();
  for (const Tensor& p : head->Parameters()) parameters.push_back(p);
  optim::Sgd sgd(parameters, {.learning_rate = 0.01, .momentum = 0.9});

  StepStats stats;
  for (auto _ : state) {
    stats = TrainSteps(kLstmWarmup, kLstmTimed, sgd, [&] {
      const Tensor last = Reshape(lstm.ForwardWithState(x).h_n, {kLstmBatch, kLstmHidden});
      return CrossEntropy(head->Forward(last), labels);
    });
    state.SetIterationTime(Summarize(stats.ms).median * 1e-3);
  }
  SetSequenceCounters(state, stats, kLstmStepFlop, kLstmTimed, kLstmWarmup);
  state.counters["batch"] = kLstmBatch;
  state.counters["seq_len"] = kLstmSteps;
  state.counters["input_size"] = kLstmInput;
  state.counters["hidden"] = kLstmHidden;
}

void TransformerBenchmark(benchmark::State& state) {
  Generator gen(0);
  nn::TransformerEncoderLayer layer({.d_model = kModel,
                                     .nhead = kHeads,
                                     .dim_feedforward = kFeedForward,
                                     .dropout = 0.0,
                                     .activation = "gelu"},
                                    gen);
  const Tensor x = Normal({kSeq, kTokenBatch, kModel}, 0.0, 1.0, gen);
  const Tensor target = Normal({kSeq, kTokenBatch, kModel}, 0.0, 1.0, gen);
  optim::Adam adam({{.parameters = layer.Parameters()}}, {.learning_rate = 1e-3});

  StepStats stats;
  for (auto _ : state) {
    stats = TrainSteps(kTransformerWarmup, kTransformerTimed, adam,
                       [&] { return MseLoss(layer.Forward(x), target); });
    state.SetIterationTime(Summarize(stats.ms).median * 1e-3);
  }
  SetSequenceCounters(state, stats, kTransformerStepFlop, kTransformerTimed, kTransformerWarmup);
  state.counters["batch"] = kTokenBatch;
  state.counters["seq_len"] = kSeq;
  state.counters["d_model"] = kModel;
  state.counters["heads"] = kHeads;
  state.counters["ff"] = kFeedForward;
}

}  // namespace

void RegisterSequenceWorkloads() {
  AsWorkload(benchmark::RegisterBenchmark("W7_lstm", LstmBenchmark), benchmark::kMillisecond);
  AsWorkload(benchmark::RegisterBenchmark("W8_transformer", TransformerBenchmark),
             benchmark::kMillisecond);
}

}  // namespace actgrad::bench
