// The float32 matrix products (oneDNN or OpenBLAS, and the small-product
// kernel, ops/gemm.h) against a float64 reference computed here, on the
// shapes real networks use and on awkward ones, every transpose combination,
// with and without accumulation; the strided form also with rows further
// apart than their length.

#include "ops/gemm.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "actgrad.h"
#include "ops/small_gemm.h"

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

// GemmStrided reads A and B and writes C with rows further apart than their
// length, as attention does for one head of a [L, B, heads * d] tensor: the
// product matches the float64 reference in both precisions, and the gaps
// between C's rows keep what they held.
TEST(GemmStridedTest, MatchesAFloat64ReferenceWithWideRows) {
  const int64_t m = 13, n = 9, k = 17;
  Generator gen(41);
  for (int variant = 0; variant < 8; ++variant) {
    const bool trans_a = variant & 1, trans_b = variant & 2, accumulate = variant & 4;
    // Stored shapes, each row padded by a few elements.
    const int64_t a_rows = trans_a ? k : m, a_cols = trans_a ? m : k;
    const int64_t b_rows = trans_b ? n : k, b_cols = trans_b ? k : n;
    const int64_t lda = a_cols + 5, ldb = b_cols + 3, ldc = n + 7;
    const std::vector<double> a = Normal(Shape{a_rows * lda}, 0, 1, gen).ToVector();
    const std::vector<double> b = Normal(Shape{b_rows * ldb}, 0, 1, gen).ToVector();
    const std::vector<double> c0 = Normal(Shape{m * ldc}, 0, 1, gen).ToVector();
    std::vector<float> a32(a.begin(), a.end()), b32(b.begin(), b.end()), c32(c0.begin(), c0.end());
    std::vector<double> c64(c32.begin(), c32.end());
    const std::vector<double> a64(a32.begin(), a32.end()), b64(b32.begin(), b32.end());
    internal::GemmStrided(trans_a, trans_b, m, n, k, a32.data(), lda, b32.data(), ldb, c32.data(),
                          ldc, accumulate);
    internal::GemmStrided(trans_a, trans_b, m, n, k, a64.data(), lda, b64.data(), ldb, c64.data(),
                          ldc, accumulate);
    double worst32 = 0, worst64 = 0;
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < ldc; ++j) {
        const double before = double(float(c0[i * ldc + j]));
        if (j >= n) {  // the gap after row i
          ASSERT_EQ(double(c32[i * ldc + j]), before) << "float32 gap at " << i << "," << j;
          ASSERT_EQ(c64[i * ldc + j], before) << "float64 gap at " << i << "," << j;
          continue;
        }
        double exact = accumulate ? before : 0.0;
        double magnitude = std::abs(exact);
        for (int64_t p = 0; p < k; ++p) {
          const double x = a64[trans_a ? p * lda + i : i * lda + p];
          const double y = b64[trans_b ? j * ldb + p : p * ldb + j];
          exact += x * y;
          magnitude += std::abs(x * y);
        }
        worst32 = std::max(worst32, std::abs(double(c32[i * ldc + j]) - exact) / magnitude);
        worst64 = std::max(worst64, std::abs(c64[i * ldc + j] - exact) / magnitude);
      }
    }
    EXPECT_LE(worst32, Tolerance(k))
        << "trans_a=" << trans_a << " trans_b=" << trans_b << " accumulate=" << accumulate;
    EXPECT_LE(worst64, 1e-14) << "trans_a=" << trans_a << " trans_b=" << trans_b
                              << " accumulate=" << accumulate;
  }
}

// An empty sum (k = 0) gives zeros, or leaves C as it was when accumulating,
// and only C's m rows of n are touched.
TEST(GemmStridedTest, AnEmptySumWritesZerosInsideTheRowsOnly) {
  std::vector<float> c(2 * 5, 7.0f);
  internal::GemmStrided(false, false, 2, 3, 0, static_cast<const float*>(nullptr), 1,
                        static_cast<const float*>(nullptr), 3, c.data(), 5, false);
  EXPECT_EQ(c, (std::vector<float>{0, 0, 0, 7, 7, 0, 0, 0, 7, 7}));
  std::vector<double> d(2 * 4, 7.0);
  internal::GemmStrided(true, true, 2, 3, 0, static_cast<const double*>(nullptr), 2,
                        static_cast<const double*>(nullptr), 1, d.data(), 4, true);
  EXPECT_EQ(d, std::vector<double>(8, 7.0));
}

// The small-product kernel called directly, past its threshold too: every
// count of rows left over after its 8- and 12-row blocks, column counts
// around its 16- and 32-wide panels, every transpose and accumulation, with
// rows stored further apart than their length; the gaps keep their values.
TEST(SmallGemmTest, EveryBlockRemainderMatchesAFloat64Reference) {
  if (!internal::SmallGemmAvailable()) GTEST_SKIP() << "built without AVX-512";
  Generator gen(43);
  for (const int64_t m : {1, 2, 5, 7, 8, 9, 11, 12, 13, 20, 25, 70}) {
    for (const int64_t n : {1, 15, 16, 17, 31, 32, 33, 48, 50}) {
      for (const int64_t k : {1, 3, 64, 100}) {
        for (int variant = 0; variant < 8; ++variant) {
          const bool trans_a = variant & 1, trans_b = variant & 2, accumulate = variant & 4;
          const int64_t a_rows = trans_a ? k : m, a_cols = trans_a ? m : k;
          const int64_t b_rows = trans_b ? n : k, b_cols = trans_b ? k : n;
          const int64_t lda = a_cols + 3, ldb = b_cols + 1, ldc = n + 2;
          std::vector<float> a(a_rows * lda), b(b_rows * ldb), c(m * ldc);
          for (float& v : a) v = float(gen.NextNormal());
          for (float& v : b) v = float(gen.NextNormal());
          for (float& v : c) v = float(gen.NextNormal());
          const std::vector<float> c0 = c;
          internal::SmallGemm(trans_a, trans_b, m, n, k, a.data(), lda, b.data(), ldb, c.data(),
                              ldc, accumulate);
          double worst = 0;
          for (int64_t i = 0; i < m; ++i) {
            for (int64_t j = 0; j < ldc; ++j) {
              if (j >= n) {
                ASSERT_EQ(c[i * ldc + j], c0[i * ldc + j]) << "gap at " << i << "," << j;
                continue;
              }
              double exact = accumulate ? double(c0[i * ldc + j]) : 0.0;
              double magnitude = std::abs(exact);
              for (int64_t p = 0; p < k; ++p) {
                const double x = a[trans_a ? p * lda + i : i * lda + p];
                const double y = b[trans_b ? j * ldb + p : p * ldb + j];
                exact += x * y;
                magnitude += std::abs(x * y);
              }
              worst = std::max(worst, std::abs(double(c[i * ldc + j]) - exact) / magnitude);
            }
          }
          ASSERT_LE(worst, Tolerance(k)) << m << "x" << n << "x" << k << " trans_a=" << trans_a
                                         << " trans_b=" << trans_b << " accumulate=" << accumulate;
        }
      }
    }
  }
}

// Which products take the small kernel: W4's layers do, W3's do not.
TEST(SmallGemmTest, TakesOnlySmallProducts) {
  if (!internal::SmallGemmAvailable()) GTEST_SKIP() << "built without AVX-512";
  EXPECT_TRUE(internal::SmallGemmApplies(32, 64, 64));
  EXPECT_TRUE(internal::SmallGemmApplies(64, 64, 64));
  EXPECT_FALSE(internal::SmallGemmApplies(128, 512, 784));
  EXPECT_FALSE(internal::SmallGemmApplies(65, 64, 64));
  EXPECT_FALSE(internal::SmallGemmApplies(0, 64, 64));
  EXPECT_FALSE(internal::SmallGemmApplies(int64_t{1} << 40, 1, 1));
}

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
