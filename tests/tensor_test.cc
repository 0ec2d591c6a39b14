// Tensors: factories, dtypes, printing, the seeded generator and the pool.

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "actgrad.h"
#include "tests/test_util.h"

namespace actgrad {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(TensorTest, Factories) {
  EXPECT_THAT(Zeros({2, 2}).ToVector(), ElementsAre(0, 0, 0, 0));
  EXPECT_THAT(Ones({3}, DType::kFloat64).ToVector(), ElementsAre(1, 1, 1));
  EXPECT_THAT(Full({2}, 7.5).ToVector(), ElementsAre(7.5, 7.5));
  EXPECT_EQ(Scalar(2.0).shape().rank(), 0);
  EXPECT_EQ(Scalar(2.0).numel(), 1);
  const Tensor v = FromValues({1, 2, 3, 4, 5, 6}, Shape{2, 3}, DType::kFloat64);
  EXPECT_EQ(v.shape(), Shape({2, 3}));
  EXPECT_EQ(v.dtype(), DType::kFloat64);
  EXPECT_EQ(v.data<double>()[4], 5.0);
  EXPECT_EQ(Labels({4, 2}).dtype(), DType::kInt64);
  EXPECT_FALSE(v.requires_grad());
  EXPECT_TRUE(v.is_leaf());
}

TEST(TensorTest, RandomFactoriesAreReproducibleFromTheSeed) {
  Generator a(42), b(42), c(43);
  EXPECT_EQ(Normal({16}, 0, 1, a).ToVector(), Normal({16}, 0, 1, b).ToVector());
  EXPECT_NE(Uniform({16}, -1, 1, a).ToVector(), Uniform({16}, -1, 1, c).ToVector());
  Generator d(7);
  const std::vector<double> u = Uniform({10000}, -2, 3, d, DType::kFloat64).ToVector();
  double mean = 0;
  for (double x : u) {
    EXPECT_GE(x, -2);
    EXPECT_LT(x, 3);
    mean += x / u.size();
  }
  EXPECT_NEAR(mean, 0.5, 0.05);
  const std::vector<double> n = Normal({10000}, 1, 2, d, DType::kFloat64).ToVector();
  double m = 0, var = 0;
  for (double x : n) m += x / n.size();
  for (double x : n) var += (x - m) * (x - m) / n.size();
  EXPECT_NEAR(m, 1.0, 0.06);
  EXPECT_NEAR(std::sqrt(var), 2.0, 0.06);
}

TEST(TensorTest, PrintingShowsShapeDtypeAndGradientState) {
  Tensor w = FromValues({1, 2, 3, 4}, Shape{2, 2}).set_requires_grad(true);
  EXPECT_EQ(w.ToString(),
            "tensor([[1, 2], [3, 4]], shape=[2,2], dtype=float32, requires_grad=true)");
  EXPECT_THAT(Tanh(w).ToString(), HasSubstr("grad_fn=tanh"));
  EXPECT_EQ(Labels({3, 1}).ToString(), "tensor([3, 1], shape=[2], dtype=int64)");
  EXPECT_EQ(Tensor().ToString(), "tensor(undefined)");
  const std::string big = Zeros({100}).ToString();
  EXPECT_THAT(big, HasSubstr("..."));
  EXPECT_LT(big.size(), 120u);
}

TEST(TensorTest, DtypeMismatchOnAccessThrows) {
  const Tensor x = Ones({2});
  EXPECT_THAT(testing::ErrorMessageOf([&] { x.data<double>(); }),
              HasSubstr("holds float32, not float64"));
  EXPECT_THAT(testing::ErrorMessageOf([&] { x.item(); }), HasSubstr("one element"));
}

TEST(TensorTest, AccessorsOfAnUndefinedTensorThrowNamingTheAccessor) {
  const Tensor undefined;
  EXPECT_THAT(testing::ErrorMessageOf([&] { undefined.shape(); }),
              HasSubstr("shape: the tensor is undefined"));
  EXPECT_THAT(testing::ErrorMessageOf([&] { undefined.dtype(); }),
              HasSubstr("dtype: the tensor is undefined"));
  EXPECT_THAT(testing::ErrorMessageOf([&] { undefined.raw_data(); }),
              HasSubstr("raw_data: the tensor is undefined"));
  EXPECT_THAT(testing::ErrorMessageOf([&] { undefined.numel(); }),
              HasSubstr("shape: the tensor is undefined"));
}

TEST(TensorTest, CloneIsDeepAndDetachShares) {
  Tensor x = FromValues({1, 2});
  Tensor clone = x.Clone();
  Tensor alias = x.Detach();
  x.data<float>()[0] = 9;
  EXPECT_EQ(clone.data<float>()[0], 1);
  EXPECT_EQ(alias.data<float>()[0], 9);
}

TEST(TensorTest, ToDTypeConverts) {
  const Tensor x = ToDType(FromValues({1.5, -2.25}), DType::kFloat64);
  EXPECT_EQ(x.dtype(), DType::kFloat64);
  EXPECT_THAT(x.ToVector(), ElementsAre(1.5, -2.25));
}

TEST(ShapeTest, BroadcastRules) {
  EXPECT_EQ(*BroadcastShapes(Shape{4, 1, 3}, Shape{5, 3}), Shape({4, 5, 3}));
  EXPECT_EQ(*BroadcastShapes(Shape{}, Shape{2}), Shape({2}));
  EXPECT_FALSE(BroadcastShapes(Shape{3}, Shape{4}).has_value());
  EXPECT_EQ(Shape({2, 3}).ToString(), "[2,3]");
  EXPECT_EQ(Shape().NumElements(), 1);
}

TEST(StoragePoolTest, FreedBuffersAreReused) {
  { Tensor warm = Zeros({1000}); }
  const PoolStats before = GetPoolStats();
  for (int i = 0; i < 10; ++i) Tensor t = Zeros({1000});
  EXPECT_EQ(GetPoolStats().system_allocations, before.system_allocations);
  ReleaseCachedMemory();
  EXPECT_EQ(GetPoolStats().cached_bytes, 0u);
}

// Buffers below 8 MiB come back last-freed first (still in cache); larger
// ones first-freed first, so that y = f(x) after a backward pass writes over
// the previous y, not over the gradient just written.
TEST(StoragePoolTest, SmallBuffersAreReusedNewestFirstLargeOnesOldestFirst) {
  for (const int64_t n : {int64_t{1000}, int64_t{1} << 20, int64_t{1} << 22}) {
    ReleaseCachedMemory();
    Tensor first = Zeros({n});
    Tensor second = Zeros({n});
    const void* first_data = first.raw_data();
    const void* second_data = second.raw_data();
    first = Tensor();
    second = Tensor();
    const Tensor reused = Zeros({n});
    EXPECT_EQ(reused.raw_data(), n < (int64_t{1} << 21) ? second_data : first_data)
        << n << " floats";
  }
  ReleaseCachedMemory();
}

// Buffers of 256 KiB to 1 MiB are cut from 2 MiB huge pages: one system
// allocation serves a page's worth (two of 1 MiB, eight of 256 KiB), each
// buffer lies whole inside its page, and the page goes back to the system
// with the last of them.
TEST(StoragePoolTest, MidSizeBuffersShareHugePages) {
  constexpr uintptr_t kPage = uintptr_t{2} << 20;
  for (const int64_t floats : {int64_t{1} << 18, int64_t{1} << 16}) {
    ReleaseCachedMemory();
    const int64_t per_page = static_cast<int64_t>(kPage) / (floats * 4);
    const PoolStats before = GetPoolStats();
    std::vector<Tensor> buffers;
    for (int64_t i = 0; i < per_page; ++i) buffers.push_back(Zeros({floats}));
    EXPECT_EQ(GetPoolStats().system_allocations, before.system_allocations + 1) << floats;
    const auto first = reinterpret_cast<uintptr_t>(buffers[0].raw_data());
    for (const Tensor& t : buffers) {
      const auto at = reinterpret_cast<uintptr_t>(t.raw_data());
      EXPECT_EQ(at / kPage, first / kPage) << floats;
      EXPECT_EQ((at + floats * 4 - 1) / kPage, first / kPage) << floats;
    }
    buffers.push_back(Zeros({floats}));
    EXPECT_EQ(GetPoolStats().system_allocations, before.system_allocations + 2) << floats;
    buffers.clear();
    ReleaseCachedMemory();
    EXPECT_EQ(GetPoolStats().cached_bytes, 0u) << floats;
  }
}

}  // namespace
}  // namespace actgrad
