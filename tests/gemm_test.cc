// The float32 matrix products (oneDNN or OpenBLAS, and the small-product
// kernel, ops/gemm.h, and the AMX kernel where the processor has one) against a float64 reference
// computed here, on the shapes real networks use and on awkward ones, every transpose combination,
// with and without accumulation; the strided form also with rows further
// apart than their length.

#include "ops/gemm.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "actgrad.h"
#include "ops/amx_gemm.h"
#include "ops/packed_gemm.h"
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

// A strided product's operands as stored, and C before the call; every
// value is a float, so both precisions read the same numbers.
struct StoredProduct {
  bool trans_a, trans_b, accumulate;
  int64_t m, n, k, lda, ldb, ldc;
  std::vector<double> a, b, c_before;
};

StoredProduct RandomProduct(bool trans_a, bool trans_b, bool accumulate, int64_t m, int64_t n,
                            int64_t k, int64_t a_pad, int64_t b_pad, int64_t c_pad,
                            Generator& gen) {
  StoredProduct p{trans_a, trans_b, accumulate, m, n, k, 0, 0, n + c_pad, {}, {}, {}};
  p.lda = (trans_a ? m : k) + a_pad;
  p.ldb = (trans_b ? k : n) + b_pad;
  auto floats = [&gen](int64_t count) {
    std::vector<double> v(count);
    for (double& x : v) x = double(float(gen.NextNormal()));
    return v;
  };
  p.a = floats((trans_a ? k : m) * p.lda);
  p.b = floats((trans_b ? n : k) * p.ldb);
  p.c_before = floats(m * p.ldc);
  return p;
}

// The worst |c - exact| / sum |a b| over C's m x n entries, the exact sums
// taken in double; fails the test if a gap between C's rows changed.
template <typename T>
double WorstRelativeError(const StoredProduct& p, const std::vector<T>& c) {
  double worst = 0;
  for (int64_t i = 0; i < p.m; ++i) {
    for (int64_t j = 0; j < p.ldc; ++j) {
      const double before = p.c_before[i * p.ldc + j];
      if (j >= p.n) {
        EXPECT_EQ(double(c[i * p.ldc + j]), before) << "gap at " << i << "," << j;
        continue;
      }
      double exact = p.accumulate ? before : 0.0;
      double magnitude = std::abs(exact);
      for (int64_t q = 0; q < p.k; ++q) {
        const double x = p.a[p.trans_a ? q * p.lda + i : i * p.lda + q];
        const double y = p.b[p.trans_b ? j * p.ldb + q : q * p.ldb + j];
        exact += x * y;
        magnitude += std::abs(x * y);
      }
      worst = std::max(worst, std::abs(double(c[i * p.ldc + j]) - exact) / (magnitude + 1e-300));
    }
  }
  return worst;
}

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
// between C's rows keep what they held. Small products take the library's
// own kernel, larger ones the GEMM library; both are checked.
class GemmStridedTest : public testing::TestWithParam<GemmShape> {};

TEST_P(GemmStridedTest, MatchesAFloat64ReferenceWithWideRows) {
  const auto [m, n, k] = GetParam();
  Generator gen(41);
  for (int variant = 0; variant < 8; ++variant) {
    const bool trans_a = variant & 1, trans_b = variant & 2, accumulate = variant & 4;
    // Each row padded by a few elements.
    const StoredProduct p = RandomProduct(trans_a, trans_b, accumulate, m, n, k, 5, 3, 7, gen);
    const std::vector<float> a32(p.a.begin(), p.a.end()), b32(p.b.begin(), p.b.end());
    std::vector<float> c32(p.c_before.begin(), p.c_before.end());
    std::vector<double> c64 = p.c_before;
    internal::GemmStrided(trans_a, trans_b, m, n, k, a32.data(), p.lda, b32.data(), p.ldb,
                          c32.data(), p.ldc, accumulate);
    internal::GemmStrided(trans_a, trans_b, m, n, k, p.a.data(), p.lda, p.b.data(), p.ldb,
                          c64.data(), p.ldc, accumulate);
    const double worst32 = WorstRelativeError(p, c32), worst64 = WorstRelativeError(p, c64);
    EXPECT_LE(worst32, Tolerance(k))
        << "trans_a=" << trans_a << " trans_b=" << trans_b << " accumulate=" << accumulate;
    EXPECT_LE(worst64, 1e-14) << "trans_a=" << trans_a << " trans_b=" << trans_b
                              << " accumulate=" << accumulate;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, GemmStridedTest,
                         testing::Values(GemmShape{13, 9, 17},    // the small kernel's
                                         GemmShape{70, 65, 80}),  // past it: the library's
                         [](const testing::TestParamInfo<GemmShape>& info) {
                           return std::to_string(info.param.m) + "x" +
                                  std::to_string(info.param.n) + "x" + std::to_string(info.param.k);
                         });

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

// A float32 product kernel called directly: every m x n x k of the sizes
// given, every transpose and accumulation, with rows stored further apart
// than their length; the gaps keep their values.
using ProductKernel = void (*)(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t,
                               const float*, int64_t, float*, int64_t, bool);

void ExpectKernelMatchesAFloat64Reference(ProductKernel kernel, const std::vector<int64_t>& ms,
                                          const std::vector<int64_t>& ns,
                                          const std::vector<int64_t>& ks, Generator& gen) {
  for (const int64_t m : ms) {
    for (const int64_t n : ns) {
      for (const int64_t k : ks) {
        for (int variant = 0; variant < 8; ++variant) {
          const bool trans_a = variant & 1, trans_b = variant & 2, accumulate = variant & 4;
          const StoredProduct p =
              RandomProduct(trans_a, trans_b, accumulate, m, n, k, 3, 1, 2, gen);
          const std::vector<float> a(p.a.begin(), p.a.end()), b(p.b.begin(), p.b.end());
          std::vector<float> c(p.c_before.begin(), p.c_before.end());
          kernel(trans_a, trans_b, m, n, k, a.data(), p.lda, b.data(), p.ldb, c.data(), p.ldc,
                 accumulate);
          ASSERT_LE(WorstRelativeError(p, c), Tolerance(k))
              << m << "x" << n << "x" << k << " trans_a=" << trans_a << " trans_b=" << trans_b
              << " accumulate=" << accumulate;
        }
      }
    }
  }
}

// The small-product kernel, past its threshold too: every count of rows
// left over after its blocks (8 and 12 rows with AVX-512, 6 and 12 with
// AVX2), column counts around its panels (16 and 32 wide, or 8 and 16).
TEST(SmallGemmTest, EveryBlockRemainderMatchesAFloat64Reference) {
  if (!internal::SmallGemmAvailable()) GTEST_SKIP() << "built without AVX-512 or AVX2";
  Generator gen(43);
  ExpectKernelMatchesAFloat64Reference(
      &internal::SmallGemm, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 20, 25, 70},
      {1, 8, 15, 16, 17, 31, 32, 33, 40, 48, 50}, {1, 3, 64, 100}, gen);
}

// Which products take the small kernel: W4's layers do, W3's do not.
TEST(SmallGemmTest, TakesOnlySmallProducts) {
  if (!internal::SmallGemmAvailable()) GTEST_SKIP() << "built without AVX-512 or AVX2";
  EXPECT_TRUE(internal::SmallGemmApplies(32, 64, 64));
  EXPECT_TRUE(internal::SmallGemmApplies(64, 64, 64));
  EXPECT_FALSE(internal::SmallGemmApplies(128, 512, 784));
  EXPECT_FALSE(internal::SmallGemmApplies(65, 64, 64));
  EXPECT_FALSE(internal::SmallGemmApplies(0, 64, 64));
  EXPECT_FALSE(internal::SmallGemmApplies(int64_t{1} << 40, 1, 1));
}

// The packed kernel, wherever it applies or not: rows around its register
// blocks and its blocks of copied rows, columns around its panels and past
// one block of copied columns, depths past one block of depth.
TEST(PackedGemmTest, EveryBlockRemainderMatchesAFloat64Reference) {
  if (!internal::PackedGemmAvailable()) GTEST_SKIP() << "built without AVX-512 or AVX2";
  Generator gen(44);
  ExpectKernelMatchesAFloat64Reference(&internal::PackedGemm, {1, 5, 7, 13, 97, 200},
                                       {1, 15, 16, 17, 47}, {1, 100, 300}, gen);
  ExpectKernelMatchesAFloat64Reference(&internal::PackedGemm, {3}, {2100}, {5}, gen);
}

// Split over two threads by blocks of rows, the product is still exact to
// float rounding, and each row of C is written once.
TEST(PackedGemmTest, TwoThreadsMatchAFloat64Reference) {
  if (!internal::PackedGemmAvailable()) GTEST_SKIP() << "built without AVX-512 or AVX2";
  Generator gen(45);
  const int before = NumThreads();
  SetNumThreads(2);
  for (const bool accumulate : {false, true}) {
    const StoredProduct p = RandomProduct(true, false, accumulate, 300, 70, 200, 1, 2, 3, gen);
    const std::vector<float> a(p.a.begin(), p.a.end()), b(p.b.begin(), p.b.end());
    std::vector<float> c(p.c_before.begin(), p.c_before.end());
    internal::PackedGemm(true, false, p.m, p.n, p.k, a.data(), p.lda, b.data(), p.ldb, c.data(),
                         p.ldc, accumulate);
    EXPECT_LE(WorstRelativeError(p, c), Tolerance(p.k)) << "accumulate=" << accumulate;
  }
  SetNumThreads(before);
}

// Which products take the packed kernel: weight gradients large enough,
// with AVX2; nothing it was not measured against.
TEST(PackedGemmTest, TakesWhatItWasChosenFor) {
  EXPECT_FALSE(internal::PackedGemmApplies(true, false, 0, 256, 1024));
  EXPECT_FALSE(internal::PackedGemmApplies(true, false, int64_t{1} << 40, 1 << 20, 1 << 20));
  EXPECT_FALSE(internal::PackedGemmApplies(false, false, 1024, 256, 1024));
  EXPECT_FALSE(internal::PackedGemmApplies(true, true, 1024, 256, 1024));
  EXPECT_FALSE(internal::PackedGemmApplies(true, false, 64, 64, 64));
#if defined(__AVX2__) && defined(__FMA__) && !defined(__AVX512F__)
  EXPECT_TRUE(internal::PackedGemmApplies(true, false, 768, 256, 1024));
  EXPECT_TRUE(internal::PackedGemmApplies(true, false, 256, 512, 128));
#endif
}

// The AMX kernel: rows and columns around its 32 x 32 blocks of C, depths
// around its tiles' 32, a product of several blocks of C and two passes
// over depth, and one of a single block of rows, whose B is copied a block
// of columns at a time.
TEST(AmxGemmTest, EveryBlockRemainderMatchesAFloat64Reference) {
  if (!internal::AmxGemmAvailable()) GTEST_SKIP() << "this processor or kernel has no AMX";
  ProductKernel amx = [](bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                         const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                         int64_t ldc, bool accumulate) {
    EXPECT_TRUE(internal::AmxGemm(trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc, accumulate));
  };
  Generator gen(46);
  ExpectKernelMatchesAFloat64Reference(amx, {1, 31, 32, 33, 70}, {1, 17, 32, 48}, {1, 31, 33, 100},
                                       gen);
  ExpectKernelMatchesAFloat64Reference(amx, {130}, {270}, {1100}, gen);
  ExpectKernelMatchesAFloat64Reference(amx, {100}, {300}, {200}, gen);
}

TEST(AmxGemmTest, TwoThreadsMatchAFloat64Reference) {
  if (!internal::AmxGemmAvailable()) GTEST_SKIP() << "this processor or kernel has no AMX";
  Generator gen(47);
  const int before = NumThreads();
  SetNumThreads(2);
  // Several blocks of rows, and a single one (B copied block by block).
  for (const int64_t m : {290, 100}) {
    for (const bool accumulate : {false, true}) {
      const StoredProduct p = RandomProduct(false, true, accumulate, m, 300, 260, 1, 2, 0, gen);
      const std::vector<float> a(p.a.begin(), p.a.end()), b(p.b.begin(), p.b.end());
      std::vector<float> c(p.c_before.begin(), p.c_before.end());
      ASSERT_TRUE(internal::AmxGemm(false, true, p.m, p.n, p.k, a.data(), p.lda, b.data(), p.ldb,
                                    c.data(), p.ldc, accumulate));
      EXPECT_LE(WorstRelativeError(p, c), Tolerance(p.k))
          << "m=" << m << " accumulate=" << accumulate;
    }
  }
  SetNumThreads(before);
}

// The split across the magnitudes the kernel takes: operands scaled by
// powers of two near both ends of its range, and significands that round up
// into the next power of two (1.99999988 = 0x3fffffff) or sit on the halfway
// points of the 8-bit parts, against float64.
TEST(AmxGemmTest, MatchesAFloat64ReferenceAcrossTheRangeItTakes) {
  if (!internal::AmxGemmAvailable()) GTEST_SKIP() << "this processor or kernel has no AMX";
  Generator gen(50);
  const double carries = double(std::bit_cast<float>(0x3fffffffu));
  const double halfway = double(std::bit_cast<float>(0x3f808000u));      // 1 + 2^-8
  const double halfway_low = double(std::bit_cast<float>(0x3f800080u));  // 1 + 2^-16
  for (const auto& [a_exponent, b_exponent] :
       {std::pair{-25, -25}, std::pair{-75, 20}, std::pair{60, 35}, std::pair{94, -60}}) {
    for (const bool trans_b : {false, true}) {
      StoredProduct p = RandomProduct(false, trans_b, false, 100, 300, 160, 0, 0, 0, gen);
      for (size_t i = 0; i < p.a.size(); i += 7) p.a[i] = (i % 2 ? -1 : 1) * carries;
      for (size_t i = 3; i < p.b.size(); i += 11) p.b[i] = i % 2 ? halfway : -halfway_low;
      for (double& x : p.a) x = std::ldexp(x, a_exponent);
      for (double& x : p.b) x = std::ldexp(x, b_exponent);
      const std::vector<float> a(p.a.begin(), p.a.end()), b(p.b.begin(), p.b.end());
      std::vector<float> c(p.c_before.begin(), p.c_before.end());
      ASSERT_TRUE(internal::AmxGemm(false, trans_b, p.m, p.n, p.k, a.data(), p.lda, b.data(), p.ldb,
                                    c.data(), p.ldc, false))
          << a_exponent << " " << b_exponent;
      EXPECT_LE(WorstRelativeError(p, c), Tolerance(p.k))
          << "2^" << a_exponent << " x 2^" << b_exponent << " trans_b=" << trans_b;
    }
  }
}

// What the split is for: the same product from operands rounded once to
// bfloat16, as a tile unit alone would take them, is far outside the bound
// the kernels are held to.
TEST(AmxGemmTest, OneBfloat16ProductWouldFailTheBound) {
  Generator gen(48);
  const StoredProduct p = RandomProduct(false, false, false, 40, 40, 300, 0, 0, 0, gen);
  auto to_bfloat16 = [](double x) {
    const uint32_t bits = std::bit_cast<uint32_t>(static_cast<float>(x));
    return double(std::bit_cast<float>((bits + 0x7fff + ((bits >> 16) & 1)) & 0xffff0000u));
  };
  std::vector<double> c(p.m * p.ldc, 0.0);
  for (int64_t i = 0; i < p.m; ++i) {
    for (int64_t j = 0; j < p.n; ++j) {
      for (int64_t q = 0; q < p.k; ++q) {
        c[i * p.ldc + j] += to_bfloat16(p.a[i * p.lda + q]) * to_bfloat16(p.b[q * p.ldb + j]);
      }
    }
  }
  EXPECT_GT(WorstRelativeError(p, c), 20 * Tolerance(p.k));
}

// Operands whose parts would leave the normal floats, and operands that are
// not finite, are refused; zeros are not. When accumulating, C is left as
// it was.
TEST(AmxGemmTest, RefusesOperandsWhoseSplitWouldNotStayNormal) {
  if (!internal::AmxGemmAvailable()) GTEST_SKIP() << "this processor or kernel has no AMX";
  const int64_t n = 64;
  const std::vector<float> ones(n * n, 1.0f);
  for (const float odd_one : {1e-31f, 1e31f, std::numeric_limits<float>::infinity(),
                              std::numeric_limits<float>::quiet_NaN()}) {
    std::vector<float> a = ones;
    a[n * 17 + 5] = odd_one;
    std::vector<float> c(n * n, 7.0f);
    for (const bool accumulate : {true, false}) {
      EXPECT_FALSE(internal::AmxGemm(false, false, n, n, n, a.data(), n, ones.data(), n, c.data(),
                                     n, accumulate))
          << odd_one << " accumulate=" << accumulate;
    }
    std::fill(c.begin(), c.end(), 7.0f);
    EXPECT_FALSE(
        internal::AmxGemm(false, false, n, n, n, a.data(), n, ones.data(), n, c.data(), n, true))
        << odd_one;
    EXPECT_EQ(c, std::vector<float>(n * n, 7.0f)) << odd_one;
    EXPECT_FALSE(
        internal::AmxGemm(true, true, n, n, n, ones.data(), n, a.data(), n, c.data(), n, true))
        << odd_one;
    EXPECT_EQ(c, std::vector<float>(n * n, 7.0f)) << odd_one;
  }
  // In the last block of a row-major A's rows, found only after the first
  // blocks were multiplied, on one thread and on two.
  const int before = NumThreads();
  for (const int threads : {1, 2}) {
    SetNumThreads(threads);
    const int64_t rows = 300;
    std::vector<float> a(rows * n, 1.0f);
    a[(rows - 1) * n + 3] = 1e-31f;
    std::vector<float> c(rows * n, 7.0f);
    EXPECT_FALSE(internal::AmxGemm(false, false, rows, n, n, a.data(), n, ones.data(), n, c.data(),
                                   n, false))
        << threads << " threads";
  }
  // In a transposed A (stored [k, m], also copied block by block) at its
  // last stored row and column: found before anything is written when C is
  // added to.
  for (const int threads : {1, 2}) {
    SetNumThreads(threads);
    const int64_t rows = 300, depth = 400;
    std::vector<float> a(depth * rows, 1.0f);
    a[(depth - 1) * rows + rows - 1] = 1e-31f;
    const std::vector<float> b(depth * n, 1.0f);
    for (const bool accumulate : {false, true}) {
      std::vector<float> c(rows * n, 7.0f);
      EXPECT_FALSE(internal::AmxGemm(true, false, rows, n, depth, a.data(), rows, b.data(), n,
                                     c.data(), n, accumulate))
          << threads << " threads, accumulate=" << accumulate;
      if (accumulate) {
        EXPECT_EQ(c, std::vector<float>(rows * n, 7.0f)) << threads << " threads";
      }
    }
  }
  // In the last block of B's columns, copied block by block where C has a
  // single block of rows: found after the first blocks were multiplied when
  // C is overwritten, before anything is written when it is added to.
  for (const int threads : {1, 2}) {
    SetNumThreads(threads);
    const int64_t rows = 100, columns = 300;
    const std::vector<float> a(rows * n, 1.0f);
    for (const bool trans_b : {false, true}) {
      std::vector<float> b(n * columns, 1.0f);
      b[trans_b ? (columns - 1) * n + 9 : 9 * columns + columns - 1] = 1e-31f;
      for (const bool accumulate : {false, true}) {
        std::vector<float> c(rows * columns, 7.0f);
        EXPECT_FALSE(internal::AmxGemm(false, trans_b, rows, columns, n, a.data(), n, b.data(),
                                       trans_b ? n : columns, c.data(), columns, accumulate))
            << threads << " threads, trans_b=" << trans_b << " accumulate=" << accumulate;
        if (accumulate) {
          EXPECT_EQ(c, std::vector<float>(rows * columns, 7.0f));
        }
      }
    }
  }
  SetNumThreads(before);
  // The last element of a row-major A whose rows end partway through a
  // vector, accumulating: A is observed before C is written.
  const int64_t rows = 40, depth = 70;
  for (const float odd_one : {1e-31f, std::numeric_limits<float>::quiet_NaN()}) {
    std::vector<float> a(rows * depth, 1.0f);
    a.back() = odd_one;
    const std::vector<float> b(depth * n, 1.0f);
    std::vector<float> c(rows * n, 7.0f);
    EXPECT_FALSE(internal::AmxGemm(false, false, rows, n, depth, a.data(), depth, b.data(), n,
                                   c.data(), n, true))
        << odd_one;
    EXPECT_EQ(c, std::vector<float>(rows * n, 7.0f)) << odd_one;
  }
  // 2^-50 on both sides: every part product is still at least 2^-125.
  const std::vector<float> small(n * n, std::ldexp(1.0f, -50));
  std::vector<float> c(n * n, 7.0f);
  ASSERT_TRUE(internal::AmxGemm(false, false, n, n, n, small.data(), n, small.data(), n, c.data(),
                                n, false));
  EXPECT_EQ(c[0], n * std::ldexp(1.0f, -100));
  const std::vector<float> zeros(n * n, 0.0f);
  ASSERT_TRUE(internal::AmxGemm(false, false, n, n, n, zeros.data(), n, ones.data(), n, c.data(), n,
                                false));
  EXPECT_EQ(c, zeros);
}

// Products go to the AMX kernel from 128 rows and depths, 256 columns and
// 2^23 multiply-adds on one thread, 2^27 on two; past it, where it refuses,
// they still come out right from the next kernel.
TEST(AmxGemmTest, TakesLargeProductsAndFallsBackWhenItRefuses) {
  const int before = NumThreads();
  SetNumThreads(1);
  EXPECT_FALSE(internal::AmxGemmApplies(127, 1024, 1024));
  EXPECT_FALSE(internal::AmxGemmApplies(1024, 1024, 127));
  EXPECT_FALSE(internal::AmxGemmApplies(128, 128, 256));
  EXPECT_FALSE(internal::AmxGemmApplies(512, 128, 992));
  EXPECT_FALSE(internal::AmxGemmApplies(int64_t{1} << 40, 1024, 1024));
  EXPECT_EQ(internal::AmxGemmApplies(128, 512, 256), internal::AmxGemmAvailable());
  EXPECT_EQ(internal::AmxGemmApplies(256, 256, 256), internal::AmxGemmAvailable());
  internal::SetAmxGemmAllowed(false);
  EXPECT_FALSE(internal::AmxGemmApplies(256, 256, 256));
  internal::SetAmxGemmAllowed(true);
  SetNumThreads(2);
  EXPECT_FALSE(internal::AmxGemmApplies(256, 256, 1024));
  EXPECT_FALSE(internal::AmxGemmApplies(128, 256, 512));
  EXPECT_EQ(internal::AmxGemmApplies(768, 256, 1024), internal::AmxGemmAvailable());
  EXPECT_EQ(internal::AmxGemmApplies(128, 512, 256), internal::AmxGemmAvailable());
  EXPECT_FALSE(internal::AmxGemmApplies(128, 512, 64));
  SetNumThreads(before);

  Generator gen(49);
  StoredProduct p = RandomProduct(true, false, true, 256, 288, 256, 0, 0, 0, gen);
  SetNumThreads(1);
  for (const bool refused : {false, true}) {
    if (refused) p.a[3] = 1e-35;
    const std::vector<float> a(p.a.begin(), p.a.end()), b(p.b.begin(), p.b.end());
    std::vector<float> c(p.c_before.begin(), p.c_before.end());
    internal::Gemm(true, false, p.m, p.n, p.k, a.data(), b.data(), c.data(), true);
    EXPECT_LE(WorstRelativeError(p, c), Tolerance(p.k)) << "refused=" << refused;
  }
  // Refused partway, with C overwritten: the next kernel writes all of it
  // again.
  auto expect_right_overwriting = [](const StoredProduct& q) {
    const std::vector<float> a(q.a.begin(), q.a.end()), b(q.b.begin(), q.b.end());
    std::vector<float> c(q.c_before.begin(), q.c_before.end());
    internal::Gemm(q.trans_a, q.trans_b, q.m, q.n, q.k, a.data(), b.data(), c.data(), false);
    EXPECT_LE(WorstRelativeError(q, c), Tolerance(q.k));
  };
  // Through a row-major A.
  StoredProduct q = RandomProduct(false, false, false, 384, 288, 256, 0, 0, 0, gen);
  q.a[383 * 256 + 7] = 1e-35;
  expect_right_overwriting(q);
  // Through a B copied block by block.
  StoredProduct r = RandomProduct(false, true, false, 128, 768, 256, 0, 0, 0, gen);
  r.b[767 * 256 + 5] = 1e-35;
  expect_right_overwriting(r);
  SetNumThreads(before);
}

// A linear layer's product: the bias in every row of C, plus op(A) op(B),
// on each kernel (small, AMX where there is AMX, the libraries), in both
// precisions; C's previous values must not matter.
TEST(GemmWithBiasTest, MatchesAFloat64Reference) {
  Generator gen(48);
  struct Size {
    int64_t m, n, k;
  };
  for (const bool amx : {true, false}) {
    internal::SetAmxGemmAllowed(amx);
    for (const Size size : {Size{5, 7, 3}, Size{130, 270, 300}, Size{256, 512, 128}}) {
      for (const bool trans_a : {false, true}) {
        for (const bool trans_b : {false, true}) {
          StoredProduct p =
              RandomProduct(trans_a, trans_b, true, size.m, size.n, size.k, 0, 0, 0, gen);
          // The sum starts from the bias, as a product accumulating into C
          // whose rows all hold it.
          for (int64_t i = 1; i < p.m; ++i) {
            std::copy_n(p.c_before.begin(), p.n, p.c_before.begin() + i * p.n);
          }
          const std::string where = absl::StrCat(size.m, "x", size.n, "x", size.k, " trans ",
                                                 trans_a, trans_b, " amx ", amx);
          const std::vector<float> a(p.a.begin(), p.a.end()), b(p.b.begin(), p.b.end());
          const std::vector<float> bias(p.c_before.begin(), p.c_before.begin() + p.n);
          std::vector<float> c(p.m * p.n, 7.0f);
          internal::GemmWithBias(trans_a, trans_b, p.m, p.n, p.k, a.data(), b.data(), bias.data(),
                                 c.data());
          EXPECT_LE(WorstRelativeError(p, c), Tolerance(p.k)) << where;
          std::vector<double> c64(p.m * p.n, 7.0);
          internal::GemmWithBias(trans_a, trans_b, p.m, p.n, p.k, p.a.data(), p.b.data(),
                                 p.c_before.data(), c64.data());
          EXPECT_LE(WorstRelativeError(p, c64), 1e-14) << where;
        }
      }
    }
  }
  internal::SetAmxGemmAllowed(true);
}

// The tiles start from the bias only where it is within the split's bounds;
// otherwise the kernel refuses before writing C, and GemmWithBias still
// comes out right from the next kernel.
TEST(AmxGemmTest, StartsFromABiasWithinTheBoundsOnly) {
  if (!internal::AmxGemmAvailable()) GTEST_SKIP() << "this processor or kernel has no AMX";
  Generator gen(49);
  StoredProduct p = RandomProduct(false, true, true, 256, 288, 256, 0, 0, 0, gen);
  for (int64_t i = 1; i < p.m; ++i) {
    std::copy_n(p.c_before.begin(), p.n, p.c_before.begin() + i * p.n);
  }
  const std::vector<float> a(p.a.begin(), p.a.end()), b(p.b.begin(), p.b.end());
  std::vector<float> bias(p.c_before.begin(), p.c_before.begin() + p.n);
  std::vector<float> c(p.m * p.n, 7.0f);
  ASSERT_TRUE(internal::AmxGemm(false, true, p.m, p.n, p.k, a.data(), p.k, b.data(), p.k, c.data(),
                                p.n, false, bias.data()));
  EXPECT_LE(WorstRelativeError(p, c), Tolerance(p.k));
  // Not with accumulate: C = C + op(A) op(B) + bias is not offered.
  EXPECT_FALSE(internal::AmxGemm(false, true, p.m, p.n, p.k, a.data(), p.k, b.data(), p.k, c.data(),
                                 p.n, true, bias.data()));
  for (const float odd_one : {1e-35f, std::numeric_limits<float>::infinity()}) {
    bias[p.n - 1] = odd_one;
    std::fill(c.begin(), c.end(), 7.0f);
    EXPECT_FALSE(internal::AmxGemm(false, true, p.m, p.n, p.k, a.data(), p.k, b.data(), p.k,
                                   c.data(), p.n, false, bias.data()))
        << odd_one;
    EXPECT_EQ(c, std::vector<float>(p.m * p.n, 7.0f)) << odd_one;
  }
  bias[p.n - 1] = 1e-35f;
  for (int64_t i = 0; i < p.m; ++i) p.c_before[i * p.n + p.n - 1] = 1e-35f;
  internal::GemmWithBias(false, true, p.m, p.n, p.k, a.data(), b.data(), bias.data(), c.data());
  EXPECT_LE(WorstRelativeError(p, c), Tolerance(p.k));
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
