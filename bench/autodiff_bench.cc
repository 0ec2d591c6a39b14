// What forward mode buys: full Jacobians of a tall function (8 inputs, 512
// outputs) and a wide one (the reverse), each by forward and by reverse
// mode, where the right mode needs 8 passes and the wrong one 512; a
// Hessian-vector product by forward over reverse against reverse over
// reverse, and a whole Hessian; and one Jacobian-vector product against a
// plain forward pass of the same network.
// float64 throughout, as a checker would run them.

#include <cstdint>
#include <string>
#include <tuple>
#include <utility>

#include "actgrad.h"
#include "bench/bench_util.h"
#include "benchmark/benchmark.h"

namespace actgrad::bench {
namespace {

constexpr DType kF64 = DType::kFloat64;

// x [1, in] -> linear(in, 64) -> tanh -> linear(64, out) -> tanh.
struct Mlp {
  Tensor w1, b1, w2, b2;
  Mlp(int64_t in, int64_t out) {
    Generator gen(0);
    w1 = Normal({64, in}, 0, 0.3, gen, kF64);
    b1 = Normal({64}, 0, 0.1, gen, kF64);
    w2 = Normal({out, 64}, 0, 0.3, gen, kF64);
    b2 = Normal({out}, 0, 0.1, gen, kF64);
  }
  Tensor operator()(const Tensor& x) const { return Tanh(Linear(Tanh(Linear(x, w1, b1)), w2, b2)); }
};

void JacobianBenchmark(benchmark::State& state, int64_t in, int64_t out, JacobianMode mode) {
  const Mlp net(in, out);
  Generator gen(1);
  const Tensor x = Normal({1, in}, 0, 1, gen, kF64);
  const UnaryTensorFunction f = [&](const Tensor& v) { return net(v); };
  for (auto _ : state) benchmark::DoNotOptimize(Jacobian(f, x, mode));
  state.counters["passes"] = static_cast<double>(mode == JacobianMode::kForward ? in : out);
}

// The mean squared error of a 4-16-2 tanh network on 16 rows, as a function
// of its first layer's 64 weights.
struct SmallLoss {
  Tensor x, target, w1, w2;
  SmallLoss() {
    Generator gen(2);
    x = Normal({16, 4}, 0, 1, gen, kF64);
    target = Normal({16, 2}, 0, 1, gen, kF64);
    w2 = Normal({2, 16}, 0, 0.3, gen, kF64);
    w1 = Normal({16, 4}, 0, 0.3, gen, kF64);
  }
  Tensor operator()(const Tensor& w) const {
    return MseLoss(Matmul(Tanh(Matmul(x, Transpose(w))), Transpose(w2)), target);
  }
};

// One Hessian-vector product: forward over reverse (one forward pass
// carrying v, one recorded reverse pass carrying tangents) against reverse
// over reverse (a recorded reverse pass, then a reverse pass through it).
void HvpBenchmark(benchmark::State& state, bool forward_over_reverse) {
  const SmallLoss loss;
  Generator gen(4);
  const Tensor v = Normal(loss.w1.shape(), 0, 1, gen, kF64);
  const UnaryTensorFunction f = [&](const Tensor& w) { return loss(w); };
  for (auto _ : state) {
    if (forward_over_reverse) {
      benchmark::DoNotOptimize(Hvp(f, loss.w1, v));
      continue;
    }
    Tensor w = loss.w1.Clone().set_requires_grad(true);
    const Tensor g = Grad(f(w), {w}, Tensor(), {.create_graph = true})[0];
    benchmark::DoNotOptimize(Grad(Sum(g * v), {w}));
  }
}

// The whole 64 x 64 Hessian, as Hessian() computes it.
void HessianBenchmark(benchmark::State& state) {
  const SmallLoss loss;
  const UnaryTensorFunction f = [&](const Tensor& w) { return loss(w); };
  for (auto _ : state) benchmark::DoNotOptimize(Hessian(f, loss.w1));
  state.counters["parameters"] = static_cast<double>(loss.w1.numel());
}

// One forward pass of a 64-row batch through 784-256-10, plain and carrying
// a tangent for the input.
void JvpBenchmark(benchmark::State& state, bool with_tangent) {
  Generator gen(3);
  const Tensor w1 = Normal({256, 784}, 0, 0.05, gen, kF64);
  const Tensor w2 = Normal({10, 256}, 0, 0.05, gen, kF64);
  const Tensor x = Normal({64, 784}, 0, 1, gen, kF64);
  const Tensor v = Normal({64, 784}, 0, 1, gen, kF64);
  const TensorFunction f = [&](std::span<const Tensor> in) {
    return Linear(Relu(Linear(in[0], w1)), w2);
  };
  for (auto _ : state) {
    if (with_tangent) {
      benchmark::DoNotOptimize(Jvp(f, {&x, 1}, {&v, 1}));
    } else {
      benchmark::DoNotOptimize(f({&x, 1}));
    }
  }
}

}  // namespace

void RegisterAutodiffBenchmarks() {
  for (const auto& [name, in, out] :
       {std::tuple{"tall_8_to_512", 8, 512}, std::tuple{"wide_512_to_8", 512, 8}}) {
    for (const auto& [mode_name, mode] : {std::pair{"forward", JacobianMode::kForward},
                                          std::pair{"reverse", JacobianMode::kReverse}}) {
      benchmark::RegisterBenchmark(
          (std::string("Autodiff/jacobian/") + name + "/" + mode_name).c_str(),
          [in, out, mode](benchmark::State& s) { JacobianBenchmark(s, in, out, mode); })
          ->Unit(benchmark::kMillisecond);
    }
  }
  for (const auto& [name, forward_over_reverse] :
       {std::pair{"forward_over_reverse", true}, std::pair{"reverse_over_reverse", false}}) {
    benchmark::RegisterBenchmark(
        (std::string("Autodiff/hvp_64/") + name).c_str(),
        [fo = forward_over_reverse](benchmark::State& s) { HvpBenchmark(s, fo); })
        ->Unit(benchmark::kMicrosecond);
  }
  benchmark::RegisterBenchmark("Autodiff/hessian_64", &HessianBenchmark)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("Autodiff/mlp_784_256_10/forward", [](benchmark::State& s) {
    JvpBenchmark(s, false);
  })->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("Autodiff/mlp_784_256_10/jvp", [](benchmark::State& s) {
    JvpBenchmark(s, true);
  })->Unit(benchmark::kMicrosecond);
}

}  // namespace actgrad::bench
