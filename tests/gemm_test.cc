// The float32 matrix products (oneDNN or OpenBLAS, ops/gemm.h) against a
// float64 reference computed here, on the shapes real networks use and on
// awkward ones, every transpose combination, with and without accumulation.

#include "ops/gemm.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "actgrad.h"

namespace actgrad {
namespace {

struct GemmShape {
  int64_t m, n, k;
};

// The error bound of a float32 dot product of length k, in units of
// sum_i |a_i b_i|: blocked summation keeps it near sqrt(k) float epsilons;
// the factor 4 leaves room for the order of the blocks.
double Tolerance(int64_t k) { return 4.0 * std::sqrt(double(k)) * std::ldexp(1.0, -24); }

class GemmTest : public testing::TestWithParam<GemmShape> {};

TEST_P(GemmTest, Float32MatchesAFloat64Reference) {
  const GemmShape s = GetParam();
  Generator gen(s.m * 131 + s.n * 17 + s.k);
  for (int variant = 0; variant < 8; ++variant) {
    const bool trans_a = variant & 1, trans_b = variant & 2, accumulate = variant & 4;
    const std::vector<double> a = Normal(Shape{s.m * s.k}, 0, 1, gen).ToVector();
    const std::vector<double> b = Normal(Shape{s.k * s.n}, 0, 1, gen).ToVector();
    const std::vector<double> c0 = Normal(Shape{s.m * s.n}, 0, 1, gen).ToVector();
    std::vector<float> a32(a.begin(), a.end()), b32(b.begin(), b.end()), c32(c0.begin(), c0.end());
    internal::Gemm(trans_a, trans_b, s.m, s.n, s.k, a32.data(), b32.data(), c32.data(), accumulate);
    double worst = 0;
    for (int64_t i = 0; i < s.m; ++i) {
      for (int64_t j = 0; j < s.n; ++j) {
        double exact = accumulate ? double(float(c0[i * s.n + j])) : 0.0;
        double magnitude = std::abs(exact);
        for (int64_t p = 0; p < s.k; ++p) {
          const double x = double(a32[trans_a ? p * s.m + i : i * s.k + p]);
          const double y = double(b32[trans_b ? j * s.k + p : p * s.n + j]);
          exact += x * y;
          magnitude += std::abs(x * y);
        }
        worst = std::max(worst, std::abs(double(c32[i * s.n + j]) - exact) / (magnitude + 1e-30));
      }
    }
    EXPECT_LE(worst, Tolerance(s.k)) << s.m << "x" << s.n << "x" << s.k << " trans_a=" << trans_a
                                     << " trans_b=" << trans_b << " accumulate=" << accumulate;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, GemmTest,
                         testing::Values(GemmShape{1, 1, 1}, GemmShape{1, 7, 3}, GemmShape{5, 1, 9},
                                         GemmShape{17, 33, 65},
                                         GemmShape{32, 64, 64},  // W4's layers
                                         GemmShape{128, 512, 784},
                                         GemmShape{512, 784, 128},  // W3's first layer
                                         GemmShape{128, 10, 256}, GemmShape{257, 129, 1000}),
                         [](const testing::TestParamInfo<GemmShape>& info) {
                           return std::to_string(info.param.m) + "x" +
                                  std::to_string(info.param.n) + "x" + std::to_string(info.param.k);
                         });

TEST(GemmLibraryTest, NamesTheLibrary) {
  const std::string name = GemmLibraryName();
  EXPECT_THAT(name,
              testing::AnyOf(testing::StartsWith("oneDNN "), testing::StartsWith("OpenBLAS")));
}

// Matmul and Linear on two threads give what they give on one, to float
// rounding: the threaded path is the same product split differently.
TEST(GemmLibraryTest, TwoThreadsMatchOne) {
  Generator gen(3);
  const Tensor x = Normal(Shape{128, 300}, 0, 1, gen);
  const Tensor w = Normal(Shape{200, 300}, 0, 1, gen);
  const int before = NumThreads();
  SetNumThreads(1);
  const std::vector<double> one = Linear(x, w).ToVector();
  SetNumThreads(2);
  const std::vector<double> two = Linear(x, w).ToVector();
  SetNumThreads(before);
  ASSERT_EQ(one.size(), two.size());
  for (size_t i = 0; i < one.size(); ++i) ASSERT_NEAR(one[i], two[i], 1e-4) << i;
}

}  // namespace
}  // namespace actgrad
