// gelu's single-precision kernels (ops/gelu_single.h) on their own: against
// long-double values below |x| = 4, where they answer for themselves, and
// the groups they hand to the double-precision kernel past it.

#include "ops/gelu_single.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

namespace actgrad::internal {
namespace {

long double ExactPhi(long double x) { return 0.5L * std::erfc(-x / std::sqrt(2.0L)); }
long double ExactGelu(long double x) { return x * ExactPhi(x); }
long double ExactSlope(long double x) {
  return ExactPhi(x) + x * std::exp(-x * x / 2) / std::sqrt(2 * 3.14159265358979323846264338L);
}

// |value - exact| in float32 ulps of the exact value (subnormal ulps below).
double UlpsOff(float value, long double exact) {
  int exponent = 0;
  std::frexp(static_cast<double>(std::fabs(exact)), &exponent);
  const long double ulp = std::max(std::ldexp(1.0L, exponent - 24), std::ldexp(1.0L, -149));
  return static_cast<double>(std::fabs(value - exact) / ulp);
}

// Fallbacks that fail the test: the values below 4 must never reach them.
void NoForwardFallback(const float*, float*, int64_t n) {
  ADD_FAILURE() << "a group of " << n << " values below 4 went to the double kernel";
}
void NoBackwardFallback(const float*, const float*, float*, int64_t n) {
  ADD_FAILURE() << "a group of " << n << " values below 4 went to the double kernel";
}

// Every 1021st float below 4, both signs: within 2.6 ulps forward, and for
// the derivative wherever it is at least 1e-3; nearer its zero at
// x = -0.7518, within 2e-10 (the derivative's own conditioning there
// allows 1e-8: gelu'' = 0.43 times half an ulp of x).
TEST(GeluSingleTest, MatchesLongDoubleBelowFour) {
  if (!GeluSingleAvailable()) GTEST_SKIP() << "built without AVX-512";
  std::vector<float> x;
  for (uint32_t bits = 0; bits < 0x40800000u; bits += 1021) {
    float v;
    std::memcpy(&v, &bits, sizeof v);
    x.push_back(v);
    x.push_back(-v);
  }
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<float> y(n), slope(n);
  const std::vector<float> ones(n, 1.0f);
  GeluForwardSingle(x.data(), y.data(), n, &NoForwardFallback);
  GeluBackwardSingle(x.data(), ones.data(), slope.data(), n, &NoBackwardFallback);
  double worst_forward = 0, worst_slope = 0, worst_near_zero = 0;
  for (int64_t i = 0; i < n; ++i) {
    worst_forward = std::max(worst_forward, UlpsOff(y[i], ExactGelu(x[i])));
    const long double exact_slope = ExactSlope(x[i]);
    if (std::fabs(exact_slope) >= 1e-3L) {
      worst_slope = std::max(worst_slope, UlpsOff(slope[i], exact_slope));
    } else {
      worst_near_zero =
          std::max(worst_near_zero, static_cast<double>(std::fabs(slope[i] - exact_slope)));
    }
  }
  EXPECT_LE(worst_forward, 2.6);
  EXPECT_LE(worst_slope, 2.6);
  EXPECT_LE(worst_near_zero, 2e-10);
}

// Groups of sixteen holding a value at or past 4, infinity or NaN go to the
// fallback whole, with the right pointers and the last group's shorter
// length; the others never do. The kernels take groups two at a time: here
// the first of a pair (groups 0 and 2), the second (group 5) and the
// shorter last one go to the fallback.
TEST(GeluSingleTest, HandsEveryGroupWithAValuePastFourToTheFallback) {
  if (!GeluSingleAvailable()) GTEST_SKIP() << "built without AVX-512";
  const int64_t n = 16 * 6 + 7;
  std::vector<float> x(n, 0.5f);
  x[3] = 4.0f;                                               // group 0
  x[16 * 2 + 15] = -std::numeric_limits<float>::infinity();  // group 2
  x[16 * 5 + 1] = 5.0f;                                      // group 5
  x[16 * 6 + 6] = std::numeric_limits<float>::quiet_NaN();   // the last, of 7
  static std::vector<std::pair<int64_t, int64_t>> forward_calls, backward_calls;
  forward_calls.clear();
  backward_calls.clear();
  static const float* forward_base;
  static const float* backward_base;
  forward_base = x.data();
  backward_base = x.data();
  std::vector<float> y(n, -1.0f), dx(n, -1.0f);
  const std::vector<float> dy(n, 2.0f);
  GeluForwardSingle(x.data(), y.data(), n, [](const float* from, float* to, int64_t count) {
    forward_calls.push_back({from - forward_base, count});
    for (int64_t i = 0; i < count; ++i) to[i] = 7.0f;
  });
  GeluBackwardSingle(x.data(), dy.data(), dx.data(), n,
                     [](const float* from, const float*, float* to, int64_t count) {
                       backward_calls.push_back({from - backward_base, count});
                       for (int64_t i = 0; i < count; ++i) to[i] = 7.0f;
                     });
  const std::vector<std::pair<int64_t, int64_t>> expected = {{0, 16}, {32, 16}, {80, 16}, {96, 7}};
  EXPECT_EQ(forward_calls, expected);
  EXPECT_EQ(backward_calls, expected);
  // The other groups were computed here: gelu(0.5) and 2 gelu'(0.5).
  for (const int64_t i : {16, 31, 48, 64, 79}) {
    EXPECT_LE(UlpsOff(y[i], ExactGelu(0.5L)), 2.5) << i;
    EXPECT_LE(UlpsOff(dx[i], 2 * ExactSlope(0.5L)), 2.5) << i;
  }
  for (const int64_t i : {0, 15, 32, 47, 80, 95, 96, 102}) {
    EXPECT_EQ(y[i], 7.0f) << i;
    EXPECT_EQ(dx[i], 7.0f) << i;
  }
}

}  // namespace
}  // namespace actgrad::internal
