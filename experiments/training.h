// -----------------------------------------------------------------------------
// File: training.h
// -----------------------------------------------------------------------------
//
// What every experiment does over and over: build an MLP, train it with
// nn::Train, and keep the curves (training loss, test loss and metric per
// epoch), the first epoch at which the training loss reaches a target, and
// the wall time; and look inside a network (`ProbeLayers`): the pre-
// activations and activations of each hidden layer and the gradients that
// reach them, the measurements behind Glorot & Bengio (2010) and He et al.
// (2015). `MapSeeds` runs one such training per seed over several threads.
//
// Example:
//
//   RunOptions run;
//   run.mlp = {.hidden = {64, 32}, .hidden_activation = &actgrad::ops::kTanh};
//   run.train.epochs = 50;
//   run.seed = 3;
//   run.target_loss = 0.1;
//   Run r = TrainMlp(data, run);
//   std::cout << r.epochs_to_target << " epochs, " << r.train_loss.back();
//   std::vector<LayerProbe> layers =
//       ProbeLayers(data.task, *r.model, data.x_train, data.y_train);
//
//   std::vector<Run> runs = MapSeeds(options, repeats, [&](int rep) {
//     RunOptions one = run;
//     one.seed = options.seed + rep;
//     return TrainMlp(data, one);
//   });

#ifndef ACTGRAD_EXPERIMENTS_TRAINING_H_
#define ACTGRAD_EXPERIMENTS_TRAINING_H_

#include <algorithm>
#include <atomic>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <thread>
#include <type_traits>
#include <vector>

#include "experiments/data.h"
#include "experiments/experiment.h"
#include "nn/nn.h"

namespace actgrad::experiments {

struct RunOptions {
  // inputs and outputs are taken from the data.
  nn::MlpOptions mlp;
  // Epochs, batch and SGD settings; its seed is replaced by `seed`.
  nn::TrainOptions train;
  // Seeds the initial weights and the batch order.
  uint64_t seed = 0;
  // The training loss (mean over an epoch's batches) to reach.
  double target_loss = 0;
  // Multiplies the recorded training and test losses (before the target
  // is tested); see `Options::loss_perturbation`.
  double loss_factor = 1;
  // Called with the untrained model (epoch 0) and after every epoch e
  // (1-based); its time is not counted in the run's.
  std::function<void(int epoch, nn::Sequential& model)> observe;
};

struct Run {
  std::vector<double> train_loss;  // per epoch
  std::vector<double> test_loss;
  std::vector<double> test_metric;  // accuracy, or RMSE for regression
  int epochs_to_target = -1;        // 1-based; -1: not reached
  double seconds_to_target = -1;    // training time up to that epoch; -1: not reached
  double seconds = 0;               // training time of all epochs
  std::unique_ptr<nn::Sequential> model;
};

Run TrainMlp(const Data& data, const RunOptions& options);

// fn(0), ..., fn(n - 1), run on up to `options.threads` threads, returned in
// index order. fn(rep) must read shared state only, and depend on nothing
// but `rep`: then the results are the same bits whatever the threads, as
// each training run is single-threaded (SetNumThreads(1)) and seeds its own
// generator. The first exception thrown is rethrown here.
template <typename Fn>
auto MapSeeds(const Options& options, int n, Fn&& fn)
    -> std::vector<std::invoke_result_t<Fn&, int>> {
  using T = std::invoke_result_t<Fn&, int>;
  std::vector<std::optional<T>> slots(static_cast<size_t>(std::max(n, 0)));
  std::atomic<int> next{0};
  std::exception_ptr error;
  std::atomic<bool> failed{false};
  auto work = [&] {
    for (int i = next++; i < n && !failed; i = next++) {
      try {
        slots[i].emplace(fn(i));
      } catch (...) {
        if (!failed.exchange(true)) error = std::current_exception();
      }
    }
  };
  const int threads = std::clamp(options.threads, 1, std::max(n, 1));
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  if (error) std::rethrow_exception(error);
  std::vector<T> out;
  out.reserve(slots.size());
  for (std::optional<T>& s : slots) out.push_back(std::move(*s));
  return out;
}

// What one hidden layer (a Linear followed by its activation) does on a
// batch, measured during one forward and backward pass of the task loss.
struct LayerProbe {
  std::vector<double> z;  // pre-activations, every row and unit
  std::vector<double> a;  // the activation's outputs
  double a_std = 0;
  double weight_grad_rms = 0;      // of the Linear layer's weight
  double activation_grad_rms = 0;  // of dLoss/da
};

// Probes every hidden layer of `model`, an Mlp (Linear and Activation layers
// alternating, ending in Linear and the output activation). Leaves the
// parameters' gradients zeroed.
std::vector<LayerProbe> ProbeLayers(nn::Task task, nn::Sequential& model, const Tensor& x,
                                    std::span<const double> y);

// Root mean square of `values`.
double Rms(std::span<const double> values);

}  // namespace actgrad::experiments

#endif  // ACTGRAD_EXPERIMENTS_TRAINING_H_
