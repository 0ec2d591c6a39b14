// -----------------------------------------------------------------------------
// File: training_steps.h
// -----------------------------------------------------------------------------
//
// What the training-step workloads (W3, W4, W6, W7, W8) share: LibTorch's
// default initialisation for linear layers, and the timed loop of zero_grad
// + forward + loss + backward + step that WORKLOADS.md defines. Its
// zero_grad drops the gradients (Optimizer::ClearGrad, PyTorch's
// zero_grad(set_to_none=True), the default since PyTorch 2.0) where
// LibTorch 1.13's zeroes them in place: every parameter gets a gradient
// each step, so the updates are the same.
//
// Example:
//
//   StepStats stats = TrainSteps(5, 50, sgd, [&] { return CrossEntropy(model(x), labels); });
//   double median_ms = Summarize(stats.ms).median;

#ifndef ACTGRAD_BENCH_TRAINING_STEPS_H_
#define ACTGRAD_BENCH_TRAINING_STEPS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "graph/generator.h"
#include "graph/tensor.h"
#include "nn/linear.h"
#include "optim/optimizer.h"

namespace actgrad::bench {

// LibTorch's default initialisation: weights and biases uniform in
// +-1/sqrt(fan_in). WORKLOADS.md leaves initialisation free (it changes no
// work), but the same distribution puts the loss checks in LibTorch's range,
// so a wrong gradient shows up as a different loss curve.
std::unique_ptr<nn::Linear> TorchLikeLinear(int64_t in, int64_t out, Generator& gen);

struct StepStats {
  std::vector<double> ms;  // The timed steps only.
  double loss_first = 0.0;
  double loss_last = 0.0;
  int64_t faults = 0;
};

// Runs `warmup + steps` training steps, timing zero_grad + forward + loss +
// backward + step as WORKLOADS.md does. `loss_of_batch` is forward and loss.
StepStats TrainSteps(int warmup, int steps, optim::Optimizer& optimizer,
                     const std::function<Tensor()>& loss_of_batch);

}  // namespace actgrad::bench

#endif  // ACTGRAD_BENCH_TRAINING_STEPS_H_
