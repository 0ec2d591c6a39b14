#include "bench/training_steps.h"

#include <cmath>

#include "bench/bench_util.h"

namespace actgrad::bench {

std::unique_ptr<nn::Linear> TorchLikeLinear(int64_t in, int64_t out, Generator& gen) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  return std::make_unique<nn::Linear>(
      nn::LinearOptions{.in = in,
                        .out = out,
                        .weight_init = nn::Initializer::Uniform(-bound, bound),
                        .bias_init = nn::Initializer::Uniform(-bound, bound)},
      gen);
}

StepStats TrainSteps(int warmup, int steps, optim::Optimizer& optimizer,
                     const std::function<Tensor()>& loss_of_batch) {
  StepStats stats;
  for (int step = 0; step < warmup + steps; ++step) {
    const int64_t faults_before = MinorFaults();
    const Clock::time_point t0 = Clock::now();
    optimizer.ClearGrad();
    Tensor loss = loss_of_batch();
    loss.Backward();
    optimizer.Step();
    const Clock::time_point t1 = Clock::now();
    if (step >= warmup) {
      stats.faults += MinorFaults() - faults_before;
      stats.ms.push_back(Seconds(t0, t1) * 1e3);
    }
    if (step == 0) stats.loss_first = loss.item();
    if (step == warmup + steps - 1) stats.loss_last = loss.item();
  }
  return stats;
}

}  // namespace actgrad::bench
