// Formulas evaluated in float itself (ops/packet_math_float.h,
// ops/float_evaluation.h): the float elementary functions against long
// double over every binade of float, the measurement that decides whether a
// formula may run in float (fed maps that are wrong, and formulas that
// cancel), and the rows that run what it decided.

#include "ops/float_evaluation.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "actgrad.h"
#include "gtest/gtest.h"
#include "ops/generic_formula.h"
#include "ops/generic_packet.h"
#include "ops/packet_math.h"
#include "ops/scalar_activation.h"
#include "ops/softplus.h"

namespace actgrad {
namespace {

constexpr auto kMish = [](auto x, const Attrs&) {
  using std::exp, std::log1p, std::tanh;
  return x * tanh(log1p(exp(x)));
};
constexpr auto kMishSoftplus = [](auto x, const Attrs&) {
  using actgrad::softplus;
  using std::tanh;
  return x * tanh(softplus(x));
};
// Cancels for large negative x, where the result is 1 / -x: in float,
// x^2 + 4 rounds to x^2 and the result to 0.
constexpr auto kSquareplus = [](auto x, const Attrs&) {
  using std::sqrt;
  return (x + sqrt(x * x + 4)) / 2;
};

long double FloatUlp(long double exact) {
  const long double a = std::fabs(exact);
  return a < 0x1p-126L ? 0x1p-149L : std::ldexp(1.0L, std::ilogb(a) - 23);
}

// |value - exact| in float ulps of the exact value; 0 where both are the
// same special value, infinity where only one is special.
double FloatUlps(float value, long double exact) {
  if (std::isnan(value) || std::isnan(double(exact))) {
    return std::isnan(value) && std::isnan(double(exact)) ? 0 : HUGE_VAL;
  }
  const float rounded = float(exact);
  if (std::isinf(value) || std::isinf(rounded)) return value == rounded ? 0 : HUGE_VAL;
  return double(std::fabs(value - exact) / FloatUlp(exact));
}

// Every binade of float, both signs, 64 points each, and the special values.
std::vector<float> EveryBinade() {
  std::vector<float> xs = {0.0f, -0.0f, HUGE_VALF, -HUGE_VALF, NAN};
  for (int e = -149; e <= 127; ++e) {
    for (int j = 0; j < 64; ++j) {
      const float v = std::ldexp(1.0f + (float(j) + 0.61f) / 64, e);
      if (std::isfinite(v) && v != 0) {
        xs.push_back(v);
        xs.push_back(-v);
      }
    }
  }
  return xs;
}

#if ACTGRAD_HAS_PACKETS

using internal::FloatLanes;
using internal::kFloatRegisterLanes;

struct FloatFunction {
  const char* name;
  FloatLanes (*packet)(FloatLanes);
  long double (*exact)(long double);
  double max_ulps;
  // Results below 2^-100 that the maps evaluate again in double
  // (ops/generic_packet.h), and are not judged here.
  bool tiny_evaluated_again = false;
};

// fn on a packet of floats whose every register holds v: its first.
template <typename Fn>
FloatLanes OnePacket(FloatLanes v, Fn fn) {
  internal::FloatPacket p;
  for (FloatLanes& lanes : p.half) lanes = v;
  return fn(p).half[0];
}

TEST(FloatPacketMathTest, ElementaryFunctionsMatchLongDouble) {
  using namespace internal::packet_detail;
  const FloatFunction functions[] = {
      {"exp", [](FloatLanes v) { return ExpLanes(v); }, [](long double x) { return expl(x); }, 1},
      {"expm1", [](FloatLanes v) { return Expm1Lanes(v); }, [](long double x) { return expm1l(x); },
       1.5},
      {"log", [](FloatLanes v) { return LogLanes(v); }, [](long double x) { return logl(x); }, 1},
      {"log1p", [](FloatLanes v) { return Log1pLanes(v); }, [](long double x) { return log1pl(x); },
       1},
      {"tanh", [](FloatLanes v) { return TanhLanes(v); }, [](long double x) { return tanhl(x); },
       1.25},
      // As dual numbers over floats form it (ops/mixed_dual.h): 4w / (1 + w)^2
      // in double from the float w = e^(-2|x|), rounded to float here.
      {"1/cosh^2",
       [](FloatLanes v) {
         const FloatLanes w = Tanh<true>(v).sech2_or_w;
         const auto sech2 = [](internal::PacketLanes wide) {
           return 4.0 * wide / ((1.0 + wide) * (1.0 + wide));
         };
         return internal::Narrow(sech2(internal::WidenLow(w)), sech2(internal::WidenHigh(w)));
       },
       [](long double x) {
         const long double c = coshl(x);
         return 1 / (c * c);
       },
       1.5, true},
      {"softplus", [](FloatLanes v) { return OnePacket(v, [](auto p) { return softplus(p); }); },
       [](long double x) { return softplus(x); }, 1.5, true},
      {"sigmoid", [](FloatLanes v) { return OnePacket(v, [](auto p) { return sigmoid(p); }); },
       [](long double x) { return sigmoid(x); }, 2, true},
      {"sinh", [](FloatLanes v) { return SinhLanes(v); }, [](long double x) { return sinhl(x); },
       0.5},
      {"cosh", [](FloatLanes v) { return CoshLanes(v); }, [](long double x) { return coshl(x); },
       0.5},
  };
  const std::vector<float> xs = EveryBinade();
  for (const FloatFunction& f : functions) {
    double worst = 0;
    float worst_x = 0;
    for (size_t i = 0; i < xs.size(); i += kFloatRegisterLanes) {
      alignas(64) float in[kFloatRegisterLanes], out[kFloatRegisterLanes];
      for (int l = 0; l < kFloatRegisterLanes; ++l) in[l] = xs[std::min(i + l, xs.size() - 1)];
      FloatLanes v;
      std::memcpy(&v, in, sizeof(v));
      const FloatLanes y = f.packet(v);
      std::memcpy(out, &y, sizeof(y));
      for (int l = 0; l < kFloatRegisterLanes; ++l) {
        const long double exact = f.exact(in[l]);
        if (f.tiny_evaluated_again && std::fabs(exact) < 0x1p-100L) continue;
        const double ulps = FloatUlps(out[l], exact);
        if (ulps > worst) {
          worst = ulps;
          worst_x = in[l];
        }
      }
    }
    EXPECT_LE(worst, f.max_ulps) << f.name << " at x = " << worst_x;
  }
}

#endif  // ACTGRAD_HAS_PACKETS

// g's values and first derivative are measured as accurate in float, on
// grids of the expected sizes, and run that way where there are packets;
// second derivatives stay in double.
void ExpectValuesAndDerivativeInFloat(const std::string& name, const GenericFormula& g) {
  const internal::FloatEvaluationReport values = internal::MeasureFloatEvaluation(g, 0, Attrs{});
  const internal::FloatEvaluationReport derivative =
      internal::MeasureFloatEvaluation(g, 1, Attrs{});
  std::printf("%s in float: values %s; derivative %s\n", name.c_str(), values.ToString().c_str(),
              derivative.ToString().c_str());
  EXPECT_GT(values.points, 17000) << name;
  EXPECT_GT(derivative.points, 4 * 17000) << name;
#if ACTGRAD_HAS_PACKETS
  EXPECT_TRUE(values.accurate()) << name << ": " << values.ToString();
  EXPECT_TRUE(derivative.accurate()) << name << ": " << derivative.ToString();
  EXPECT_TRUE(internal::EvaluatesInFloat(g, 0, Attrs{})) << name;
  EXPECT_TRUE(internal::EvaluatesInFloat(g, 1, Attrs{})) << name;
#endif
  EXPECT_FALSE(internal::EvaluatesInFloat(g, 2, Attrs{})) << name;
}

TEST(FloatEvaluationTest, MishValuesAndDerivativeRunInFloat) {
  ExpectValuesAndDerivativeInFloat("mish", *Generic(kMish));
}

// Written with the library's softplus, mish has no branch and is measured
// as accurate in float, value and derivative, out to where log1p(exp(x))
// overflows.
TEST(FloatEvaluationTest, MishBySoftplusRunsInFloat) {
  const GenericFormula& g = *Generic(kMishSoftplus);
  ExpectValuesAndDerivativeInFloat("mish by softplus", g);
  const float big[] = {1e30f, 100.0f, -1e30f, -100.0f};
  float out[4];
  g.map_float_in_float(1, big, nullptr, out, 4, Attrs{});
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], 1.0f);
  EXPECT_EQ(out[2], 0.0f);
  EXPECT_EQ(out[3], float(g.derivative(-100.0, 0, Attrs{})));
}

#if ACTGRAD_HAS_PACKETS
// Dual numbers entirely in float lose mish's derivative where its terms
// cancel; with tangents in double it keeps it. Both against the exact
// derivative at 4096 points per binade from 2^-12 to 2^6, beyond the
// input-rounding allowance.
TEST(FloatEvaluationTest, TangentsInDoubleKeepMishsDerivative) {
  std::vector<float> xs;
  for (int e = -12; e <= 5; ++e) {
    for (int j = 0; j < 4096; ++j) {
      const float v = std::ldexp(1.0f + (float(j) + 0.5f) / 4096, e);
      xs.push_back(v);
      xs.push_back(-v);
    }
  }
  std::vector<float> mixed(xs.size());
  internal::GenericMapFloat<decltype(kMish), 1, internal::FloatPacket>(
      xs.data(), nullptr, mixed.data(), int64_t(xs.size()), Attrs{});
  double worst_mixed = 0, worst_float = 0;
  for (size_t i = 0; i < xs.size(); i += kFloatRegisterLanes) {
    // The same formula on dual numbers whose tangent is in float too.
    FloatLanes v;
    std::memcpy(&v, &xs[i], sizeof(v));
    using internal::packet_detail::ExpLanes;
    using internal::packet_detail::Log1pLanes;
    using internal::packet_detail::Tanh;
    const FloatLanes e = ExpLanes(v), s = Log1pLanes(e);
    const internal::packet_detail::TanhParts<FloatLanes> t = Tanh<true>(s);
    const FloatLanes w = t.sech2_or_w;
    const FloatLanes sech2 = 4.0f * w / internal::Fma(w, w + 2.0f, internal::SplatFloat(1.0f));
    const FloatLanes all_float = t.tanh + v * (sech2 * (e / (1.0f + e)));
    for (int l = 0; l < kFloatRegisterLanes; ++l) {
      const float x = xs[i + l];
      const HyperDual<long double> exact =
          Generic(kMish)->wide_hyper_dual(HyperDual<long double>::Variable(x), Attrs{});
      const long double reference = FirstDerivative(exact);
      const double allowance = double(4 * std::fabs(x) * 0x1p-24L *
                                      std::fabs(SecondDerivative(exact)) / FloatUlp(reference));
      worst_mixed = std::max(worst_mixed, FloatUlps(mixed[i + l], reference) - allowance);
      worst_float = std::max(worst_float, FloatUlps(all_float[l], reference) - allowance);
    }
  }
  std::printf("mish's derivative: tangents in double %.2f ulps, all in float %.2f ulps\n",
              worst_mixed, worst_float);
  EXPECT_LE(worst_mixed, 2.5);
  EXPECT_GT(worst_float, 4.0);
}
#endif  // ACTGRAD_HAS_PACKETS

TEST(FloatEvaluationTest, AFormulaThatCancelsKeepsTheDoubleEvaluation) {
  const GenericFormula& g = *Generic(kSquareplus);
  const internal::FloatEvaluationReport report = internal::MeasureFloatEvaluation(g, 0, Attrs{});
#if ACTGRAD_HAS_PACKETS
  EXPECT_FALSE(report.accurate()) << report.ToString();
  EXPECT_LT(report.worst_x, -1000.0) << report.ToString();
  EXPECT_FALSE(internal::EvaluatesInFloat(g, 0, Attrs{}));
#else
  EXPECT_TRUE(report.accurate()) << report.ToString();
#endif
}

// Maps deliberately wrong in float, in a copy of mish's formula.
void ScaledMap(int order, const float* x, const float* dy, float* out, int64_t n,
               const Attrs& attrs, float scale) {
  Generic(kMish)->map_float(order, x, dy, out, n, attrs);
  for (int64_t i = 0; i < n; ++i) out[i] *= scale;
}

TEST(FloatEvaluationTest, WrongFloatMapsAreCaught) {
  GenericFormula g = *Generic(kMish);
  // 8 ulps off everywhere: caught.
  g.map_float_in_float = [](int order, const float* x, const float* dy, float* out, int64_t n,
                            const Attrs& attrs) {
    ScaledMap(order, x, dy, out, n, attrs, 1.0f + 0x1p-20f);
  };
  for (int order : {0, 1}) {
    const internal::FloatEvaluationReport report =
        internal::MeasureFloatEvaluation(g, order, Attrs{});
    EXPECT_FALSE(report.accurate()) << "order " << order << ": " << report.ToString();
    EXPECT_GT(report.max_ulps_beyond_allowance, 6.0) << report.ToString();
    EXPECT_FALSE(internal::EvaluatesInFloat(g, order, Attrs{}));
  }
  // About an ulp off: within the 3 the measurement allows.
  g.map_float_in_float = [](int order, const float* x, const float* dy, float* out, int64_t n,
                            const Attrs& attrs) {
    ScaledMap(order, x, dy, out, n, attrs, 1.0f + 0x1p-23f);
  };
  EXPECT_TRUE(internal::MeasureFloatEvaluation(g, 0, Attrs{}).accurate());
  EXPECT_TRUE(internal::MeasureFloatEvaluation(g, 1, Attrs{}).accurate());
  // Right everywhere but at infinity, where mish is infinity: caught.
  g.map_float_in_float = [](int order, const float* x, const float* dy, float* out, int64_t n,
                            const Attrs& attrs) {
    Generic(kMish)->map_float(order, x, dy, out, n, attrs);
    for (int64_t i = 0; i < n; ++i) {
      if (std::isinf(x[i])) out[i] = 0;
    }
  };
  const internal::FloatEvaluationReport at_infinity =
      internal::MeasureFloatEvaluation(g, 0, Attrs{});
  EXPECT_FALSE(at_infinity.accurate()) << at_infinity.ToString();
  EXPECT_TRUE(std::isinf(at_infinity.worst_x)) << at_infinity.ToString();
}

// The rows defined by these formulas run what the measurement chose: mish's
// float32 forward and derivative are its float evaluation, bit for bit, and
// within 4 ulps of the exact values; squareplus's are the double one's.
TEST(FloatEvaluationTest, RowsRunWhatWasChosen) {
  static const absl::StatusOr<const OpDef*> mish = DefineActivation({
      .name = "float_evaluation_test_mish",
      .formula = "y = x tanh(log(1 + e^x))",
      .generic = Generic(kMish),
  });
  static const absl::StatusOr<const OpDef*> squareplus = DefineActivation({
      .name = "float_evaluation_test_squareplus",
      .formula = "y = (x + sqrt(x^2 + 4)) / 2",
      .generic = Generic(kSquareplus),
  });
  ASSERT_TRUE(mish.ok()) << mish.status();
  ASSERT_TRUE(squareplus.ok()) << squareplus.status();
  std::mt19937 gen(3);
  std::uniform_real_distribution<float> wide(-30.0f, 30.0f);
  std::vector<double> values(3000);
  for (size_t i = 0; i < values.size(); ++i) values[i] = wide(gen);
  for (const auto& [row, formula] :
       {std::pair{*mish, Generic(kMish)}, std::pair{*squareplus, Generic(kSquareplus)}}) {
    Tensor x = FromValues(values, {int64_t(values.size())}, DType::kFloat32);
    x.set_requires_grad(true);
    const Tensor y = Apply(*row, {x});
    y.Backward(Ones({int64_t(values.size())}));
    const int64_t n = int64_t(values.size());
    const float* px = static_cast<const float*>(x.raw_data());
    for (int order : {0, 1}) {
      std::vector<float> expected(values.size());
      const bool in_float = internal::EvaluatesInFloat(*formula, order, Attrs{});
      (in_float ? formula->map_float_in_float : formula->map_float)(order, px, nullptr,
                                                                    expected.data(), n, Attrs{});
      const float* got = static_cast<const float*>(order == 0 ? y.raw_data() : x.grad().raw_data());
      double worst = 0;
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_EQ(got[i], expected[i]) << row->name << " order " << order << " at x = " << px[i];
        const HyperDual<long double> exact =
            formula->wide_hyper_dual(HyperDual<long double>::Variable(px[i]), Attrs{});
        const long double reference = order == 0 ? exact.value.value : FirstDerivative(exact);
        const long double allowance =
            order == 0 ? 0 : 4 * std::fabs(px[i]) * 0x1p-24L * std::fabs(SecondDerivative(exact));
        worst =
            std::max(worst, FloatUlps(got[i], reference) - double(allowance / FloatUlp(reference)));
      }
      EXPECT_LE(worst, 4.0) << row->name << " order " << order;
    }
  }
#if ACTGRAD_HAS_PACKETS
  EXPECT_TRUE(internal::EvaluatesInFloat(*Generic(kMish), 0, Attrs{}));
  EXPECT_TRUE(internal::EvaluatesInFloat(*Generic(kMish), 1, Attrs{}));
  EXPECT_FALSE(internal::EvaluatesInFloat(*Generic(kSquareplus), 0, Attrs{}));
#endif
}

}  // namespace
}  // namespace actgrad
