// Large outputs written with streaming stores, and large inputs walked as two
// streams: every value lands where the plain path would put it, blocks and
// tail included, and a large activation's forward and backward equal the
// same computed on small pieces (which take neither path).

#include "ops/streaming.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "actgrad.h"
#include "graph/parallel.h"

namespace actgrad {
namespace {

// Returns whether every block produce was given lay in `out` itself.
template <typename T>
bool ExpectEveryValueWritten(int64_t n, bool out_in_cache = false) {
  std::unique_ptr<T, decltype(&std::free)> out(
      static_cast<T*>(std::aligned_alloc(64, (n * sizeof(T) + 63) / 64 * 64)), &std::free);
  std::vector<int> produced(n, 0);
  bool in_place = true;
  internal::StreamedOutput(out.get(), n, out_in_cache, [&](int64_t begin, int64_t len, T* block) {
    in_place &= block == out.get() + begin;
    for (int64_t i = 0; i < len; ++i) {
      ++produced[begin + i];
      block[i] = static_cast<T>(3 * (begin + i) + 1);
    }
  });
  int64_t wrong = 0;
  for (int64_t i = 0; i < n; ++i) {
    wrong += produced[i] != 1 || out.get()[i] != static_cast<T>(3 * i + 1);
  }
  EXPECT_EQ(wrong, 0) << n << " values of " << sizeof(T) << " bytes";
  return in_place;
}

TEST(StreamedOutputTest, EveryValueIsWrittenOnceBelowAndAboveTheThreshold) {
  const int64_t floats = internal::kStreamedOutputBytes / sizeof(float);
  for (int64_t n : {int64_t{1}, int64_t{1000}, floats - 1, floats, floats + 1037}) {
    ExpectEveryValueWritten<float>(n);
  }
  const int64_t doubles = internal::kStreamedOutputBytes / sizeof(double);
  ExpectEveryValueWritten<double>(doubles + 517);
}

TEST(StreamedOutputTest, AnOutputInCacheIsWrittenInPlaceAtAnySize) {
  const int64_t floats = internal::kStreamedOutputBytes / sizeof(float);
  EXPECT_FALSE(ExpectEveryValueWritten<float>(floats + 1037));
  EXPECT_TRUE(ExpectEveryValueWritten<float>(floats + 1037, /*out_in_cache=*/true));
  EXPECT_TRUE(ExpectEveryValueWritten<float>(1000, /*out_in_cache=*/true));
}

TEST(StreamedOutputTest, LargeForwardAndBackwardEqualTheirSmallPieces) {
  Generator gen(3);
  const int64_t n = internal::kStreamedOutputBytes / sizeof(float) + 1037;
  const int64_t piece = 4096;
  const Tensor x_values = Uniform({n}, -6.0, 6.0, gen);
  const Tensor dy = Uniform({n}, -1.0, 1.0, gen);
  for (const char* name : {"sigmoid", "tanh", "relu", "leaky_relu", "gelu", "elu"}) {
    const OpDef& op = **OpRegistry::Global().Find(name);
    const Tensor x = x_values.Detach().set_requires_grad(true);
    const Tensor y = Apply(op, {x});
    y.Backward(dy);
    const std::vector<double> large_y = y.ToVector();
    const std::vector<double> large = x.grad().ToVector();
    const std::vector<double> xs = x_values.ToVector(), dys = dy.ToVector();
    int64_t differing = 0;
    for (int64_t start = 0; start < n; start += piece) {
      const int64_t len = std::min(piece, n - start);
      const std::vector<double> xv(xs.begin() + start, xs.begin() + start + len);
      const std::vector<double> dv(dys.begin() + start, dys.begin() + start + len);
      const Tensor small_x = FromValues(xv, Shape{len}).set_requires_grad(true);
      const Tensor small_y = Apply(op, {small_x});
      small_y.Backward(FromValues(dv, Shape{len}));
      const std::vector<double> values = small_y.ToVector();
      const std::vector<double> small = small_x.grad().ToVector();
      for (int64_t i = 0; i < len; ++i) {
        differing += values[i] != large_y[start + i] || small[i] != large[start + i];
      }
    }
    EXPECT_EQ(differing, 0) << name;
  }
}

}  // namespace
}  // namespace actgrad
