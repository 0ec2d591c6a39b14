// Large elementwise ops split over threads: the ranges cover every element
// once, keep 64-byte alignment, and the results are bitwise those of one
// thread, forward and backward.

#include "graph/parallel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

#include "actgrad.h"
#include "optim/sgd.h"

namespace actgrad {
namespace {

class ThreadCount {
 public:
  explicit ThreadCount(int n) : previous_(NumThreads()) { SetNumThreads(n); }
  ~ThreadCount() { SetNumThreads(previous_); }

 private:
  int previous_;
};

std::vector<std::pair<int64_t, int64_t>> RangesOf(int64_t n) {
  std::mutex mu;
  std::vector<std::pair<int64_t, int64_t>> ranges;
  internal::ParallelFor(n, [&](int64_t begin, int64_t end) {
    std::lock_guard<std::mutex> lock(mu);
    ranges.emplace_back(begin, end);
  });
  std::sort(ranges.begin(), ranges.end());
  return ranges;
}

TEST(ParallelForTest, RangesCoverEveryElementOnceAndStayAligned) {
  const ThreadCount two(2);
  const int64_t large = internal::kParallelMinElements;
  for (int64_t n :
       {int64_t{0}, int64_t{1}, int64_t{1000}, large - 1, large, large + 37, 4 * large + 5}) {
    const std::vector<std::pair<int64_t, int64_t>> ranges = RangesOf(n);
    int64_t next = 0;
    for (const auto& [begin, end] : ranges) {
      EXPECT_EQ(begin, next) << "n = " << n;
      if (n > 0) {
        EXPECT_LT(begin, end) << "n = " << n;
      }
      EXPECT_EQ(begin % 16, 0) << "n = " << n;
      next = end;
    }
    EXPECT_EQ(next, n) << "n = " << n;
    // Small work stays on the calling thread, large work is split in two.
    EXPECT_EQ(ranges.size(), n == 0 ? 1u : (n >= large ? 2u : 1u)) << "n = " << n;
  }
}

TEST(ParallelForTest, OneThreadKeepsTheWorkWhole) {
  const ThreadCount one(1);
  const int64_t n = 4 * internal::kParallelMinElements;
  const std::vector<std::pair<int64_t, int64_t>> ranges = RangesOf(n);
  ASSERT_EQ(ranges.size(), 1u);
  EXPECT_EQ(ranges[0], std::make_pair(int64_t{0}, n));
}

TEST(ForTwoStreamsTest, CoversTheRangeOnceInAlignedBlocksFromBothHalves) {
  const int64_t first = 48;
  const int64_t large = internal::kTwoStreamMinElements;
  for (int64_t n : {int64_t{100}, large - 1, large + 37, 3 * large + 5}) {
    std::vector<std::pair<int64_t, int64_t>> calls;
    internal::ForTwoStreams(first, first + n,
                            [&](int64_t begin, int64_t end) { calls.emplace_back(begin, end); });
    if (n < large) {
      ASSERT_EQ(calls.size(), 1u) << "n = " << n;
      EXPECT_EQ(calls[0], std::make_pair(first, first + n));
      continue;
    }
    // Alternating: the second call already comes from the upper half.
    ASSERT_GE(calls.size(), 2u);
    EXPECT_GE(calls[1].first, first + n / 2) << "n = " << n;
    std::vector<std::pair<int64_t, int64_t>> sorted = calls;
    std::sort(sorted.begin(), sorted.end());
    int64_t next = first;
    for (const auto& [begin, end] : sorted) {
      EXPECT_EQ(begin, next) << "n = " << n;
      EXPECT_EQ((begin - first) % 16, 0) << "n = " << n;
      EXPECT_LE(end - begin, 1024) << "n = " << n;
      next = end;
    }
    EXPECT_EQ(next, first + n) << "n = " << n;
  }
}

struct Result {
  std::vector<double> y, dx;
};

Result RunActivation(const OpDef& op, const Tensor& x_values, int threads) {
  const ThreadCount count(threads);
  const Tensor x = x_values.Detach().set_requires_grad(true);
  const Tensor y = Apply(op, {x});
  y.Backward(Full(y.shape(), 0.5, y.dtype()));
  return {y.ToVector(), x.grad().ToVector()};
}

TEST(ParallelForTest, ActivationsOnTwoThreadsMatchOneThreadBitwise) {
  Generator gen(7);
  const int64_t n = internal::kParallelMinElements + 37;
  for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
    const Tensor x = Uniform({n}, -6.0, 6.0, gen, dtype);
    for (const char* name : {"sigmoid", "tanh", "relu", "leaky_relu", "gelu", "softplus"}) {
      const OpDef& op = **OpRegistry::Global().Find(name);
      const Result one = RunActivation(op, x, 1);
      const Result two = RunActivation(op, x, 2);
      EXPECT_EQ(one.y, two.y) << name << " forward, " << DTypeName(dtype);
      EXPECT_EQ(one.dx, two.dx) << name << " backward, " << DTypeName(dtype);
    }
  }
}

// Three steps of SGD on a parameter large enough to be split, its gradient
// accumulated over two backward passes each step.
std::vector<double> TrainLargeParameter(int threads, const optim::SgdOptions& options) {
  const ThreadCount count(threads);
  Generator gen(11);
  const int64_t n = 2 * internal::kParallelMinElements + 19;
  Tensor w = Normal({n}, 0.0, 1.0, gen);
  w.set_requires_grad(true);
  const Tensor x = Normal({n}, 0.0, 1.0, gen);
  optim::Sgd sgd({w}, options);
  for (int step = 0; step < 3; ++step) {
    sgd.ZeroGrad();
    Sum(Mul(w, x)).Backward();
    Sum(Tanh(w)).Backward();
    sgd.Step();
  }
  return w.ToVector();
}

TEST(ParallelForTest, SgdOnTwoThreadsMatchesOneThreadBitwise) {
  for (const optim::SgdOptions& options :
       {optim::SgdOptions{.learning_rate = 0.1},
        optim::SgdOptions{.learning_rate = 0.1, .weight_decay = 0.01},
        optim::SgdOptions{.learning_rate = 0.1, .momentum = 0.9},
        optim::SgdOptions{.learning_rate = 0.1, .momentum = 0.9, .nesterov = true}}) {
    EXPECT_EQ(TrainLargeParameter(1, options), TrainLargeParameter(2, options))
        << "momentum " << options.momentum << ", nesterov " << options.nesterov << ", weight decay "
        << options.weight_decay;
  }
}

}  // namespace
}  // namespace actgrad
