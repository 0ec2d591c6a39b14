// Packets of doubles (ops/packet.h, ops/packet_math.h) and generic formulas
// run on them (ops/generic_packet.h): every elementary function against
// long double over its whole range, its special values, branches whose
// lanes disagree, and float32 maps of forward, derivative and second
// derivative against the scalar double path.

#include "ops/packet_math.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "actgrad.h"
#include "check/derivative_oracle.h"
#include "gtest/gtest.h"
#include "ops/float_evaluation.h"
#include "ops/generic_formula.h"
#include "ops/generic_packet.h"
#include "ops/packet.h"
#include "ops/scalar_activation.h"
#include "ops/softplus.h"

namespace actgrad {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

#if ACTGRAD_HAS_PACKETS
using internal::DoublePacket;
constexpr int64_t kLanes = internal::kPacketLanes;
constexpr int64_t kBlock = internal::kSignBlock;
#else
// Without AVX-512 or AVX2 the maps take the scalar path; the sizes below still
// exercise partial packets and several blocks, as they would with packets.
constexpr int64_t kLanes = 32;
constexpr int64_t kBlock = 1024;
#endif

#if ACTGRAD_HAS_PACKETS

// Inputs over every binade of double from 2^-1074 to 2^1023, both signs,
// with the special values and a dense grid over [-40, 40].
std::vector<double> WideInputs() {
  std::vector<double> xs = {0.0, -0.0, kInf, -kInf, kNaN, 1.0, -1.0, 0.5, 2.0};
  std::mt19937_64 gen(7);
  std::uniform_real_distribution<double> unit(1.0, 2.0);
  for (int e = -1074; e <= 1023; e += 3) {
    const double m = unit(gen);
    xs.push_back(std::ldexp(m, e));
    xs.push_back(-std::ldexp(m, e));
  }
  for (double x = -40.0; x <= 40.0; x += 0.01) xs.push_back(x);
  return xs;
}

// f applied lane by lane through packets.
template <typename PacketFn>
std::vector<double> OnPackets(const std::vector<double>& xs, PacketFn fn) {
  std::vector<double> ys(xs.size());
  for (size_t start = 0; start < xs.size(); start += kLanes) {
    // Filled as a whole: set() lane by lane leaves GCC unsure the packet
    // was initialized.
    double lanes[kLanes];
    for (int lane = 0; lane < kLanes; ++lane) {
      lanes[lane] = xs[std::min(start + lane, xs.size() - 1)];
    }
    DoublePacket p;
    static_assert(sizeof(p.half) == sizeof(lanes));
    std::memcpy(&p.half, lanes, sizeof(lanes));
    const DoublePacket r = fn(p);
    for (int lane = 0; lane < kLanes && start + lane < xs.size(); ++lane) {
      ys[start + lane] = r[lane];
    }
  }
  return ys;
}

// The packet function agrees with the long double one: NaN where it is NaN,
// the same infinity, and within `tolerance` relative elsewhere (results
// below 2^-1000 within that much of 2^-1000, where the packet's
// subnormal intermediates hold fewer digits).
template <typename PacketFn, typename WideFn>
void ExpectMatches(const std::string& name, PacketFn packet_fn, WideFn wide_fn,
                   double tolerance = 0x1p-34) {
  const std::vector<double> xs = WideInputs();
  const std::vector<double> ys = OnPackets(xs, packet_fn);
  double worst = 0, worst_x = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const long double reference = wide_fn(static_cast<long double>(xs[i]));
    const double expected = static_cast<double>(reference);
    if (std::isnan(expected) || std::isinf(expected)) {
      if (std::isnan(expected)) {
        EXPECT_TRUE(std::isnan(ys[i])) << name << "(" << xs[i] << ") = " << ys[i];
      } else {
        EXPECT_EQ(ys[i], expected) << name << "(" << xs[i] << ")";
      }
      continue;
    }
    const long double scale = std::max(std::fabs(reference), 0x1p-1000L);
    const double error = static_cast<double>(std::fabs(ys[i] - reference) / scale);
    if (error > worst) worst = error, worst_x = xs[i];
  }
  EXPECT_LE(worst, tolerance) << name << " worst relative error " << worst << " at x = " << worst_x;
}

#define EXPECT_FUNCTION_MATCHES(name, wide)                           \
  ExpectMatches(                                                      \
      #name, [](const DoublePacket& p) { return internal::name(p); }, \
      [](long double x) { return wide; })

TEST(PacketMathTest, ElementaryFunctionsMatchLongDouble) {
  EXPECT_FUNCTION_MATCHES(exp, std::exp(x));
  EXPECT_FUNCTION_MATCHES(exp2, std::exp2(x));
  EXPECT_FUNCTION_MATCHES(expm1, std::expm1(x));
  EXPECT_FUNCTION_MATCHES(log, std::log(x));
  EXPECT_FUNCTION_MATCHES(log2, std::log2(x));
  EXPECT_FUNCTION_MATCHES(log10, std::log10(x));
  EXPECT_FUNCTION_MATCHES(log1p, std::log1p(x));
  EXPECT_FUNCTION_MATCHES(tanh, std::tanh(x));
  EXPECT_FUNCTION_MATCHES(sinh, std::sinh(x));
  EXPECT_FUNCTION_MATCHES(cosh, std::cosh(x));
  EXPECT_FUNCTION_MATCHES(sqrt, std::sqrt(x));
  EXPECT_FUNCTION_MATCHES(abs, std::fabs(x));
  EXPECT_FUNCTION_MATCHES(sin, std::sin(x));
  EXPECT_FUNCTION_MATCHES(atan, std::atan(x));
  EXPECT_FUNCTION_MATCHES(erf, std::erf(x));
  EXPECT_FUNCTION_MATCHES(softplus, softplus(x));
  EXPECT_FUNCTION_MATCHES(sigmoid, sigmoid(x));
}

TEST(PacketMathTest, PowersMatchLongDouble) {
  ExpectMatches(
      "pow(|x|, 0.37)", [](const DoublePacket& p) { return internal::pow(internal::abs(p), 0.37); },
      [](long double x) { return std::pow(std::fabs(x), 0.37L); }, 0x1p-30);
  ExpectMatches(
      "pow(x, 3)", [](const DoublePacket& p) { return internal::pow(p, 3); },
      [](long double x) { return x * x * x; }, 0x1p-50);
  ExpectMatches(
      "pow(x, -2)", [](const DoublePacket& p) { return internal::pow(p, -2); },
      [](long double x) { return 1 / (x * x); }, 0x1p-50);
  ExpectMatches(
      "pow(2.5, x / 300)", [](const DoublePacket& p) { return internal::pow(2.5, p / 300.0); },
      [](long double x) { return std::pow(2.5L, x / 300); }, 0x1p-30);
}

TEST(PacketMathTest, DivisionIsExactWhereTheEstimateCannotBe) {
  const std::vector<double> xs = WideInputs();
  const std::vector<double> ys =
      OnPackets(xs, [](const DoublePacket& p) { return DoublePacket(3.0) / p; });
  for (size_t i = 0; i < xs.size(); ++i) {
    const double expected = 3.0 / xs[i];
    if (std::isnan(expected)) {
      EXPECT_TRUE(std::isnan(ys[i])) << "3 / " << xs[i];
    } else if (expected == 0 || std::isinf(expected) || std::fabs(expected) < 0x1p-1000) {
      EXPECT_EQ(ys[i], expected) << "3 / " << xs[i];
    } else {
      EXPECT_NEAR(ys[i], expected, 4 * std::fabs(expected) * 0x1p-53) << "3 / " << xs[i];
    }
  }
}

TEST(PacketMathTest, FminAndFmaxLetNaNLose) {
  DoublePacket a(1.0), b(2.0);
  a.set(1, kNaN);
  b.set(2, kNaN);
  const DoublePacket hi = internal::fmax(a, b), lo = internal::fmin(a, b);
  EXPECT_EQ(hi[0], 2.0);
  EXPECT_EQ(hi[1], 2.0);
  EXPECT_EQ(hi[2], 1.0);
  EXPECT_EQ(lo[0], 1.0);
  EXPECT_EQ(lo[1], 2.0);
  EXPECT_EQ(lo[2], 1.0);
}

#endif  // ACTGRAD_HAS_PACKETS

// --------------------------------------------------------------- formulas

constexpr auto kMish = [](auto x, const Attrs&) {
  using std::exp, std::log1p, std::tanh;
  return x * tanh(log1p(exp(x)));
};
// Two branches, and a parameter.
constexpr auto kElu = [](auto x, const Attrs& a) {
  using std::expm1;
  using T = decltype(x);
  return x > 0 ? x : T(a.params.empty() ? 1.0 : a.params[0]) * expm1(x);
};
// Nested branches: lanes take three paths.
constexpr auto kThreeWay = [](auto x, const Attrs&) {
  using std::exp, std::log1p, std::sin;
  using T = decltype(x);
  if (x < -1) return T(exp(x));
  if (x < 2) return T(sin(x) * x + 1);
  return T(log1p(x) * x);
};
// Functions the packets evaluate lane by lane, and pow and division.
constexpr auto kMixed = [](auto x, const Attrs&) {
  using std::erf, std::pow, std::sqrt, std::atan;
  return x * (1 + erf(x / sqrt(2.0))) / 2 + atan(x) / pow(1 + x * x, 0.25);
};
// |x| and fmax, which dual numbers over packets take lane by lane.
constexpr auto kSoftplusByMax = [](auto x, const Attrs&) {
  using std::abs, std::exp, std::fmax, std::fmin, std::log1p;
  return fmax(x, 0.0) + log1p(exp(-abs(x))) + fmin(x, -3.0) * 0.25;
};
// The library's softplus: no branch.
constexpr auto kMishSoftplus = [](auto x, const Attrs&) {
  using actgrad::softplus;
  using std::tanh;
  return x * tanh(softplus(x));
};
constexpr auto kSoftplus = [](auto x, const Attrs&) {
  using std::exp, std::log1p;
  using T = decltype(x);
  return x > 0 ? T(x + log1p(exp(-x))) : T(log1p(exp(x)));
};

// Float inputs over every binade, both signs, the specials, and a grid over
// [-20, 20]; a length that leaves a partial last packet.
std::vector<float> FloatInputs() {
  std::vector<float> xs = {0.0f, -0.0f, HUGE_VALF, -HUGE_VALF, std::nanf(""), 1e-45f, -1e-45f};
  for (int e = -149; e <= 127; ++e) {
    xs.push_back(std::ldexp(1.37f, e));
    xs.push_back(-std::ldexp(1.37f, e));
  }
  for (float x = -20.0f; x <= 20.0f; x += 0.0037f) xs.push_back(x);
  while (xs.size() % kLanes == 0) xs.push_back(0.25f);
  return xs;
}

// Float ulps between a and b, 0 where both are NaN or equal.
double FloatUlps(float a, float b) {
  if (std::isnan(a) && std::isnan(b)) return 0;
  if (a == b) return 0;
  if (!std::isfinite(a) || !std::isfinite(b)) return kInf;
  const float larger = std::max(std::fabs(a), std::fabs(b));
  return static_cast<double>(std::fabs(double(a) - double(b)) / Ulp(larger, DType::kFloat32));
}

// The float32 map of order 0, 1 and 2 (times dy for order 1) against the
// scalar double path rounded once: within one float ulp, where the two
// straddle a rounding boundary.
template <typename F>
void ExpectMapMatchesScalar(const std::string& name, const Attrs& attrs = {}) {
  const GenericFormula& g = *Generic(F{});
  const std::vector<float> xs = FloatInputs();
  std::vector<float> dy(xs.size()), out(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) dy[i] = 0.5f + float(i % 7) / 4;
  for (int order = 0; order <= 2; ++order) {
    const float* seed = order == 1 ? dy.data() : nullptr;
    g.map_float(order, xs.data(), seed, out.data(), int64_t(xs.size()), attrs);
    double worst = 0;
    float worst_x = 0;
    int64_t differ = 0;
    for (size_t i = 0; i < xs.size(); ++i) {
      const double x = xs[i];
      double scalar = order == 0   ? g.forward(x, attrs)
                      : order == 1 ? g.derivative(x, 0, attrs)
                                   : g.second_derivative(x, 0, attrs);
      if (seed != nullptr) scalar *= double(dy[i]);
      const double ulps = FloatUlps(out[i], float(scalar));
      differ += ulps > 0;
      if (ulps > worst) worst = ulps, worst_x = xs[i];
    }
    EXPECT_LE(worst, 1.0) << name << " order " << order << " at x = " << worst_x;
    // A rounding-boundary straddle is rare: most results are identical.
    EXPECT_LE(differ, int64_t(xs.size()) / 100) << name << " order " << order;
  }
}

TEST(GenericPacketTest, FloatMapsMatchTheScalarPath) {
  ExpectMapMatchesScalar<decltype(kMish)>("mish");
  ExpectMapMatchesScalar<decltype(kElu)>("elu");
  Attrs alpha;
  alpha.params = {0.3};
  ExpectMapMatchesScalar<decltype(kElu)>("elu(0.3)", alpha);
  ExpectMapMatchesScalar<decltype(kThreeWay)>("three_way");
  ExpectMapMatchesScalar<decltype(kMixed)>("mixed");
  ExpectMapMatchesScalar<decltype(kSoftplus)>("softplus");
  ExpectMapMatchesScalar<decltype(kSoftplusByMax)>("softplus_by_max");
  ExpectMapMatchesScalar<decltype(kMishSoftplus)>("mish_softplus");
}

// Once lanes disagree, the elements of later blocks are split by sign before
// they are packed, and the results put back: every element must come back to
// its own place, with its own dy.
TEST(GenericPacketTest, SignSplitKeepsEveryElementInItsPlace) {
  constexpr auto kTwoSlopes = [](auto x, const Attrs&) {
    using T = decltype(x);
    return x > 0 ? T(2 * x) : T(3 * x * x);
  };
  const GenericFormula& g = *Generic(kTwoSlopes);
  std::mt19937 gen(3);
  std::uniform_real_distribution<float> values(-8.0f, 8.0f);
  const int64_t n = 3 * kBlock + 7;
  std::vector<float> xs(n), dy(n), out(n);
  for (int64_t i = 0; i < n; ++i) {
    xs[i] = values(gen);
    dy[i] = float(i % 13) - 6.0f;
  }
  g.map_float(0, xs.data(), nullptr, out.data(), n, Attrs{});
  for (int64_t i = 0; i < n; ++i) {
    const double x = xs[i];
    ASSERT_EQ(out[i], float(x > 0 ? 2 * x : 3 * x * x)) << "element " << i;
  }
  g.map_float(1, xs.data(), dy.data(), out.data(), n, Attrs{});
  for (int64_t i = 0; i < n; ++i) {
    const double x = xs[i];
    ASSERT_EQ(out[i], float(double(dy[i]) * (x > 0 ? 2 : 6 * x))) << "element " << i;
  }
}

// Past e^709, mish's derivative is NaN on packets of doubles and is taken
// again in scalar (long double): 1, not NaN.
TEST(GenericPacketTest, NonFiniteLanesAreEvaluatedAgainInScalar) {
  const GenericFormula& g = *Generic(kMish);
  std::vector<float> xs(kLanes + 3, 1000.0f), out(xs.size());
  xs[1] = 1.0f;
  g.map_float(1, xs.data(), nullptr, out.data(), int64_t(xs.size()), Attrs{});
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], float(g.derivative(1.0, 0, Attrs{})));
  EXPECT_EQ(out.back(), 1.0f);
}

#if ACTGRAD_HAS_PACKETS
// Each comparison answers for the first lane still on the path; the others
// leave it, and the pass after takes them.
TEST(GenericPacketTest, BranchesTakeAPassPerPath) {
  int passes = 0;
  DoublePacket x;
  for (int lane = 0; lane < kLanes; ++lane) x.set(lane, lane % 3 - 1.0);  // -1, 0, 1
  internal::packet_path_lanes = internal::kAllLanes;
  uint32_t pending = internal::kAllLanes;
  DoublePacket result;
  while (pending != 0) {
    ++passes;
    internal::packet_path_lanes = pending;
    const DoublePacket r = x < 0 ? DoublePacket(-1.0) : (x > 0 ? DoublePacket(1.0) : x * 0);
    const uint32_t done = internal::packet_path_lanes & pending;
    result = internal::SelectLanes(done, r, result);
    pending &= ~done;
  }
  internal::packet_path_lanes = internal::kAllLanes;
  EXPECT_EQ(passes, 3);
  for (int lane = 0; lane < kLanes; ++lane) {
    EXPECT_EQ(result[lane], lane % 3 - 1.0) << "lane " << lane;
  }
}
#endif  // ACTGRAD_HAS_PACKETS

// A formula that throws on some lanes: the activation's forward reports it,
// naming the activation, on float32 as on float64.
TEST(GenericPacketTest, AFormulaThatThrowsIsReportedByName) {
  const absl::StatusOr<const OpDef*> op = DefineActivation({
      .name = "packet_test_throws_above_ten",
      .formula = "y = x, and throws above 10",
      .generic = Generic([](auto x, const Attrs&) {
        if (x > 10) throw std::domain_error("x above ten");
        return x;
      }),
  });
  ASSERT_TRUE(op.ok()) << op.status();
  const Tensor fine = FromValues({1.0, 2.0, 3.0}, DType::kFloat32);
  EXPECT_NO_THROW(Apply(**op, {fine}));
  std::vector<double> values(100, 1.0);
  values[57] = 11.0;
  const Tensor bad = FromValues(values, {100}, DType::kFloat32);
  try {
    Apply(**op, {bad});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("packet_test_throws_above_ten"), std::string::npos)
        << e.what();
  }
}

// Evaluations of kCountedMish on packets (values or dual numbers over them).
std::atomic<int64_t> packet_evaluations{0};
constexpr auto kCountedMish = [](auto x, const Attrs& attrs) {
#if ACTGRAD_HAS_PACKETS
  using T = decltype(x);
  using internal::FloatPacket;
  if constexpr (std::is_same_v<T, DoublePacket> || std::is_same_v<T, Dual<DoublePacket>> ||
                std::is_same_v<T, FloatPacket> || std::is_same_v<T, Dual<FloatPacket>>) {
    packet_evaluations.fetch_add(1, std::memory_order_relaxed);
  }
#endif
  return kMish(x, attrs);
};

// The row's float32 kernels are the packet maps: an activation defined by
// its forward alone gives the scalar path's values and gradients to the
// float where they are evaluated in double, within 4 ulps of the exact
// ones (beyond the input-rounding allowance, for gradients) where in float
// (ops/float_evaluation.h), through Apply and Backward; and (with AVX-512
// or AVX2) evaluates its formula on packets, a packet per evaluation: 32
// floats where in float, 32 or 16 doubles otherwise.
TEST(GenericPacketTest, ActivationRowsRunOnPackets) {
  const absl::StatusOr<const OpDef*> op = DefineActivation({
      .name = "packet_test_mish",
      .formula = "y = x tanh(log(1 + e^x))",
      .generic = Generic(kCountedMish),
  });
  ASSERT_TRUE(op.ok()) << op.status();
  std::vector<double> values;
  for (int i = 0; i < 1001; ++i) values.push_back(double(-12.0f + 0.024f * float(i)));
  Tensor x = FromValues(values, {1001}, DType::kFloat32).set_requires_grad(true);
  // The first run measures whether values and derivatives may be evaluated
  // in float.
  Tensor first = FromValues(values, {1001}, DType::kFloat32).set_requires_grad(true);
  Sum(Apply(**op, {first})).Backward();
  const bool values_in_float = internal::EvaluatesInFloat(*Generic(kCountedMish), 0, Attrs{});
  packet_evaluations = 0;
  const Tensor y = Apply(**op, {x});
  Sum(y).Backward();
  const bool derivative_in_float = internal::EvaluatesInFloat(*Generic(kCountedMish), 1, Attrs{});
#if ACTGRAD_HAS_PACKETS
  // Forward and derivative, ceil(1001 / 32) packets each, one pass: a
  // formula without branches.
  EXPECT_TRUE(values_in_float);
  EXPECT_TRUE(derivative_in_float);
  EXPECT_EQ(packet_evaluations.load(), 2 * ((1001 + 31) / 32));
#else
  EXPECT_FALSE(values_in_float);
  EXPECT_FALSE(derivative_in_float);
  EXPECT_EQ(packet_evaluations.load(), 0);
#endif
  const std::vector<double> ys = y.ToVector(), grads = x.grad().ToVector();
  const GenericFormula& g = *Generic(kMish);
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_LE(FloatUlps(float(ys[i]), float(g.forward(values[i], Attrs{}))),
              values_in_float ? 4.0 : 1.0)
        << values[i];
    if (!derivative_in_float) {
      EXPECT_LE(FloatUlps(float(grads[i]), float(g.derivative(values[i], 0, Attrs{}))), 1.0)
          << values[i];
      continue;
    }
    const HyperDual<long double> exact =
        g.wide_hyper_dual(HyperDual<long double>::Variable(values[i]), Attrs{});
    const long double reference = FirstDerivative(exact);
    const long double ulp = Ulp(double(reference), DType::kFloat32);
    const long double allowance =
        4 * std::fabs(values[i]) * 0x1p-24L * std::fabs(SecondDerivative(exact)) / ulp;
    EXPECT_LE(double(std::fabs(grads[i] - reference) / ulp - allowance), 4.0) << values[i];
  }
}

}  // namespace
}  // namespace actgrad
