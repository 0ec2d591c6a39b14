// One optimizer step on W3's parameters (an MLP 784-512-256-10, float32:
// 535,818 values in six tensors) for SGD, SGD with momentum, Adam, AdamW,
// RMSprop (centered, with momentum) and Adagrad, so that each adaptive
// optimizer's cost reads beside SGD's. The gradients are set once; a step
// reads each gradient and parameter and reads and writes the state, so
// bytes processed count 4 per value for each array the step touches.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actgrad.h"
#include "bench/bench_util.h"
#include "benchmark/benchmark.h"
#include "optim/adagrad.h"
#include "optim/adam.h"
#include "optim/rmsprop.h"
#include "optim/sgd.h"

namespace actgrad::bench {
namespace {

// W3's parameters with a gradient each.
std::vector<Tensor> MlpParameters() {
  Generator gen(0);
  std::vector<Tensor> parameters;
  for (const Shape& shape :
       {Shape{512, 784}, Shape{512}, Shape{256, 512}, Shape{256}, Shape{10, 256}, Shape{10}}) {
    Tensor p = Normal(shape, 0, 0.05, gen).set_requires_grad(true);
    p.set_grad(Normal(shape, 0, 0.01, gen));
    parameters.push_back(p);
  }
  return parameters;
}

int64_t Count(const std::vector<Tensor>& parameters) {
  int64_t n = 0;
  for (const Tensor& p : parameters) n += p.numel();
  return n;
}

// `arrays`: how many value arrays one step streams (parameter read and
// write, gradient, each state buffer read and write).
void StepBenchmark(benchmark::State& state, const std::function<void()>& step, int64_t values,
                   int arrays) {
  for (int i = 0; i < 3; ++i) step();  // state buffers allocated
  for (auto _ : state) step();
  state.SetItemsProcessed(state.iterations() * values);
  state.SetBytesProcessed(state.iterations() * values * 4 * arrays);
  state.counters["values"] = static_cast<double>(values);
  state.counters["threads"] = NumThreads();
}

template <typename MakeOptimizer>
void Register(const char* name, int arrays, MakeOptimizer make) {
  benchmark::RegisterBenchmark((std::string("Optimizer/") + name).c_str(),
                               [make, arrays](benchmark::State& state) {
                                 std::vector<Tensor> parameters = MlpParameters();
                                 auto optimizer = make(parameters);
                                 StepBenchmark(
                                     state, [&] { optimizer->Step(); }, Count(parameters), arrays);
                               })
      ->Unit(benchmark::kMicrosecond);
}

}  // namespace

void RegisterOptimizerBenchmarks() {
  Register("sgd", 3, [](std::vector<Tensor> p) {
    return std::make_unique<optim::Sgd>(p, optim::SgdOptions{.learning_rate = 0.01});
  });
  Register("sgd_momentum", 5, [](std::vector<Tensor> p) {
    return std::make_unique<optim::Sgd>(p,
                                        optim::SgdOptions{.learning_rate = 0.01, .momentum = 0.9});
  });
  Register("adam", 7, [](std::vector<Tensor> p) {
    return std::make_unique<optim::Adam>(std::vector<optim::ParamGroup>{{.parameters = p}},
                                         optim::AdamOptions{});
  });
  Register("adamw", 7, [](std::vector<Tensor> p) {
    return std::make_unique<optim::AdamW>(std::vector<optim::ParamGroup>{{.parameters = p}},
                                          optim::AdamWOptions{});
  });
  Register("rmsprop_centered_momentum", 9, [](std::vector<Tensor> p) {
    return std::make_unique<optim::RmsProp>(
        std::vector<optim::ParamGroup>{{.parameters = p}},
        optim::RmsPropOptions{.momentum = 0.9, .centered = true});
  });
  Register("adagrad", 5, [](std::vector<Tensor> p) {
    return std::make_unique<optim::Adagrad>(std::vector<optim::ParamGroup>{{.parameters = p}},
                                            optim::AdagradOptions{});
  });
}

}  // namespace actgrad::bench
