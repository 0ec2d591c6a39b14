// -----------------------------------------------------------------------------
// File: packet_math.h
// -----------------------------------------------------------------------------
//
// Elementary functions on DoublePacket (ops/packet.h), found by argument-
// dependent lookup from a generic formula's `using std::exp; exp(x)`.
//
// They serve float32 results: each is within 2^-34 relative of the exact
// value (pow(a, b) within the absolute error of b log a, 2^-30 relative
// while finite; tests/packet_math_test.cc measures every one against long double
// over all of double's binades), so a formula evaluated in them and rounded
// to float once lands on the float the scalar double path gives but where
// the two straddle a rounding boundary, with 10 bits to spare for the
// formula's own cancellations. exp is a table of eight in one register and
// a degree-6 polynomial; log a table of sixteen in two and a degree-8 one,
// with no division; tanh, sinh and cosh are built on them; zeros,
// infinities, NaN and subnormals come out as the standard library's. The
// lanes of pow with a non-positive or non-normal base, of sinh and cosh past
// |x| = 690, and every lane of the functions written here only that way
// (sin, cos, tan, their inverses, asinh, atanh, cbrt, erf, erfc) are
// evaluated with the standard library, one at a time.
//
// On dual numbers over packets, tanh's value and derivative 1 / cosh^2 come
// from one exponential and one reciprocal, and |x|, fmax and fmin choose
// lane by lane instead of splitting the packet into passes.
//
// Example:
//
//   using actgrad::internal::DoublePacket;
//   using std::exp, std::log1p;
//   const DoublePacket x(0.5);
//   DoublePacket softplus = log1p(exp(x));  // 0.974... in every lane

#ifndef ACTGRAD_OPS_PACKET_MATH_H_
#define ACTGRAD_OPS_PACKET_MATH_H_

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "ops/dual.h"
#include "ops/packet.h"

#if ACTGRAD_HAS_PACKETS

namespace actgrad {
namespace internal {

namespace packet_detail {

ACTGRAD_PACKET_INLINE PacketLanes Splat(double c) { return PacketLanes{} + c; }

// fn(x) in the lanes of `lanes`, with the standard library; the others keep
// `fast`.
template <typename Fn>
[[gnu::noinline, gnu::cold]] PacketLanes ByLane(uint32_t lanes, PacketLanes x, PacketLanes fast,
                                                Fn fn) {
  for (int i = 0; i < kRegisterLanes; ++i) {
    if (lanes >> i & 1) fast[i] = fn(x[i]);
  }
  return fast;
}

ACTGRAD_PACKET_INLINE __m512d Zmm(PacketLanes v) { return VectorCast<__m512d>(v); }
ACTGRAD_PACKET_INLINE PacketLanes FromZmm(__m512d z) { return VectorCast<PacketLanes>(z); }

// max(low, min(high, x)), NaN staying NaN (vminpd and vmaxpd return their
// second operand where either is NaN).
ACTGRAD_PACKET_INLINE PacketLanes Clamp(PacketLanes x, double low, double high) {
  return FromZmm(_mm512_maskz_min_pd(0xff, _mm512_set1_pd(high),
                                     _mm512_maskz_max_pd(0xff, _mm512_set1_pd(low), Zmm(x))));
}
ACTGRAD_PACKET_INLINE PacketLanes AtLeast(PacketLanes x, double low) {
  return FromZmm(_mm512_maskz_max_pd(0xff, _mm512_set1_pd(low), Zmm(x)));
}

// v 2^k for integral k, as the exact product would round: infinity on
// overflow, subnormals or zero on underflow.
ACTGRAD_PACKET_INLINE PacketLanes ScaleByPow2(PacketLanes v, PacketLanes k) {
  return FromZmm(_mm512_maskz_scalef_pd(0xff, Zmm(v), Zmm(k)));
}

// 1 / b to within 2^-40 for |b| in [2^-1000, 2^1000]: the 14-bit estimate
// and one third-order Newton step.
ACTGRAD_PACKET_INLINE PacketLanes Reciprocal40(PacketLanes b) {
  const PacketLanes r = FromZmm(_mm512_maskz_rcp14_pd(0xff, Zmm(b)));
  const PacketLanes e = Fma(-b, r, Splat(1.0));
  return Fma(r, Fma(e, e, e), r);
}

// e^x = T 2^floor(k / 8) (1 + p) with T = 2^((k mod 8) / 8) from a table of
// eight held in one register, and p = e^r - 1 for r = x - k ln 2 / 8 in
// [-ln 2 / 16, ln 2 / 16], for x in [-760, 760] (or NaN, which stays NaN).
// Cody-Waite reduction with fdlibm's split of ln 2 (k ln2_hi / 8 is exact);
// e^r - 1 by its Taylor series to r^6 / 6!, within 2^-39 relative, in
// Estrin's order: the chain of dependent operations, not the count, sets the
// pace of a formula, and this one is half as long as with the whole range.
struct ExpReduction {
  PacketLanes p;
  PacketLanes k;  // in eighths of ln 2
  PacketLanes table;
};
ACTGRAD_PACKET_INLINE ExpReduction ReduceExp(PacketLanes x) {
  constexpr double kShift = 0x1.8p52;
  const PacketLanes shifted = Fma(x, Splat(8 * 1.4426950408889634074), Splat(kShift));
  const PacketLanes k = shifted - kShift;
  PacketLanes r = Fma(k, Splat(-6.93147180369123816490e-01 / 8), x);
  r = Fma(k, Splat(-1.90821492927058770002e-10 / 8), r);
  const __m512d kTable = _mm512_setr_pd(
      1.0, 1.0905077326652576592, 1.1892071150027210667, 1.2968395546510096659,
      1.4142135623730950488, 1.5422108254079408236, 1.6817928305074290861, 1.8340080864093424635);
  // vpermpd reads the index from the low three bits: k mod 8 as the
  // integer the shift left in the mantissa.
  const PacketLanes table =
      FromZmm(_mm512_maskz_permutexvar_pd(0xff, VectorCast<__m512i>(shifted), kTable));
  const PacketLanes r2 = r * r;
  const PacketLanes low = Fma(r, Splat(1.0 / 6), Splat(0.5));
  const PacketLanes high = Fma(r2, Splat(1.0 / 720), Fma(r, Splat(1.0 / 120), Splat(1.0 / 24)));
  return {Fma(Fma(r2, high, low), r2, r), k, table};
}

ACTGRAD_PACKET_INLINE PacketLanes ExpFromReduction(const ExpReduction& e) {
  return ScaleByPow2(Fma(e.table, e.p, e.table), e.k * 0.125);
}

ACTGRAD_PACKET_INLINE PacketLanes ExpLanes(PacketLanes x) {
  return ExpFromReduction(ReduceExp(Clamp(x, -760.0, 760.0)));
}

// e^x - 1 from its reduction, while e^x < 2^53: S p + (S - 1) with
// S = T 2^m. Where k = 0 it is p itself; elsewhere |S - 1| is at least
// 2^(1/8) - 1 = 0.09 and |S p| at most half of it, so the sum loses at most
// a bit to cancellation.
ACTGRAD_PACKET_INLINE PacketLanes Expm1NonPositive(const ExpReduction& e) {
  const PacketLanes s = ScaleByPow2(e.table, e.k * 0.125);
  return Fma(s, e.p, s - 1.0);
}

// e^x - 1: as above while e^x < 2^53; above, e^x itself less 1.
ACTGRAD_PACKET_INLINE PacketLanes Expm1Lanes(PacketLanes x) {
  const ExpReduction e = ReduceExp(Clamp(x, -60.0, 760.0));
  const PacketLanes small = Expm1NonPositive(e);
  const PacketLanes large = ExpFromReduction(e) - 1.0;
  const PacketLanes y = e.k > 8 * 53.0 ? large : small;
  return x == 0.0 ? x : y;  // keeps -0
}

// u = 2^e m with m in [3/4, 3/2): NaN for negative u, e = -inf for zero and
// +inf for infinity (so that e ln 2 is log's answer there); subnormals are
// split as the normal numbers they stand for.
struct LogSplit {
  PacketLanes e;
  PacketLanes m;
};
ACTGRAD_PACKET_INLINE LogSplit SplitForLog(PacketLanes u) {
  const __m512d m = _mm512_maskz_getmant_pd(0xff, Zmm(u), _MM_MANT_NORM_p75_1p5, _MM_MANT_SIGN_nan);
  const __m512d e = _mm512_maskz_getexp_pd(0xff, Zmm(u));
  // getmant halved the mantissas in [3/2, 2); their exponent is one more.
  const __mmask8 halved = _mm512_cmp_pd_mask(m, _mm512_set1_pd(1.0), _CMP_LT_OQ);
  return {FromZmm(_mm512_mask_add_pd(e, halved, e, _mm512_set1_pd(1.0))), FromZmm(m)};
}

// log(2^e (m + c)) for a split u and a correction c below m's last bit:
// e ln 2 + log(1 / r) + log(1 + t) with t = (m + c) r - 1, where r is the
// reciprocal of the middle of m's sixteenth of [3/4, 3/2) (1 next to m = 1,
// so that t = m - 1 exactly there), from a table of sixteen held in two
// registers and indexed by m's top four mantissa bits; log(1 / r) is the
// stored r's own. |t| <= 1/16, and log(1 + t) by its Taylor series to t^8 / 8
// is within 2^-35 relative. No division, and a short chain.
template <bool kCorrected>
ACTGRAD_PACKET_INLINE PacketLanes LogOfSplit(const LogSplit& split, PacketLanes c) {
  const __m512i index = VectorCast<__m512i>(AsInts(split.m) >> 48);
  const __m512d inverse = _mm512_permutex2var_pd(
      _mm512_setr_pd(1, 0.91428571939468384, 0.86486488580703735, 0.82051283121109009,
                     0.7804877758026123, 0.74418604373931885, 0.71111112833023071,
                     0.6808510422706604),
      index,
      _mm512_setr_pd(1.3061224222183228, 1.2549020051956177, 1.2075471878051758, 1.163636326789856,
                     1.1228070259094238, 1.0847457647323608, 1.049180269241333, 1));
  const __m512d log_of_middle = _mm512_permutex2var_pd(
      _mm512_setr_pd(0, 0.089612153101751704, 0.14518198563011125, 0.19782573029140393,
                     0.24783620115748495, 0.2954642166191262, 0.34092656275620659,
                     0.38441173057530009),
      index,
      _mm512_setr_pd(-0.26706276475994839, -0.2270574860256033, -0.18859118470871111,
                     -0.1515498664622329, -0.11583182297570227, -0.08134564131659755,
                     -0.048009163307004568, 0));
  const PacketLanes r = FromZmm(inverse);
  PacketLanes t = Fma(split.m, r, Splat(-1.0));
  if constexpr (kCorrected) t = Fma(c, r, t);
  const PacketLanes t2 = t * t, t4 = t2 * t2;
  const PacketLanes low =
      Fma(t2, Fma(t, Splat(1.0 / 5), Splat(-1.0 / 4)), Fma(t, Splat(1.0 / 3), Splat(-0.5)));
  const PacketLanes high = Fma(t2, Splat(-1.0 / 8), Fma(t, Splat(1.0 / 7), Splat(-1.0 / 6)));
  const PacketLanes log1p_t = Fma(t2, Fma(t4, high, low), t);
  return Fma(split.e, Splat(0.69314718055994530942), FromZmm(log_of_middle)) + log1p_t;
}

ACTGRAD_PACKET_INLINE PacketLanes LogLanes(PacketLanes x) {
  // -0 + 0 = +0: log(-0) is -inf, not getmant's NaN for a negative.
  return LogOfSplit<false>(SplitForLog(x + 0.0), Splat(0.0));
}

// log(1 + x): the rounding error c of u = 1 + x, scaled as u is, joins the
// mantissa, so that small x keep every bit. x = -1 gives -inf through e,
// x < -1 NaN through the split.
ACTGRAD_PACKET_INLINE PacketLanes Log1pLanes(PacketLanes x) {
  const PacketLanes u = 1.0 + x;
  const __m512d c = _mm512_maskz_mov_pd(
      _mm512_cmp_pd_mask(Zmm(u), _mm512_set1_pd(HUGE_VAL), _CMP_NEQ_UQ), Zmm(x - (u - 1.0)));
  const LogSplit split = SplitForLog(u);
  return LogOfSplit<true>(
      split, FromZmm(_mm512_maskz_scalef_pd(0xff, c, Zmm(-AtLeast(split.e, -1100.0)))));
}

// 1 / b within 2^-40 for any finite nonzero b, the mantissa's reciprocal
// scaled back by the exponent (so 0 for an infinite b, and NaN for a zero
// one, which the caller's non-finite result sends to the scalar path):
// no branch, unlike Divide.
ACTGRAD_PACKET_INLINE PacketLanes ReciprocalScaled(PacketLanes b) {
  const __m512d m = _mm512_maskz_getmant_pd(0xff, Zmm(b), _MM_MANT_NORM_1_2, _MM_MANT_SIGN_src);
  const __m512d e = _mm512_maskz_getexp_pd(0xff, Zmm(b));
  return ScaleByPow2(Reciprocal40(FromZmm(m)), -FromZmm(e));
}

ACTGRAD_PACKET_INLINE PacketLanes SqrtLanes(PacketLanes x) {
  return FromZmm(_mm512_maskz_sqrt_pd(0xff, Zmm(x)));
}

ACTGRAD_PACKET_INLINE PacketLanes CopySign(PacketLanes magnitude, PacketLanes sign) {
  constexpr int64_t kSign = int64_t{1} << 63;
  return AsLanes((AsInts(magnitude) & ~kSign) | (AsInts(sign) & kSign));
}

// tanh |x| = -u / (2 + u) with u = e^(-2|x|) - 1 in [-1, 0]: no
// cancellation; the denominator lies in [1, 2]. With the derivative
// 1 / cosh^2 = 4 e^(-2|x|) / (2 + u)^2 from the same reduction, taken down
// to e^-760 (where it has underflowed), so that it keeps its relative
// accuracy where tanh has rounded to 1.
struct TanhParts {
  PacketLanes tanh;
  PacketLanes sech2;
};
template <bool kWithDerivative>
ACTGRAD_PACKET_INLINE TanhParts Tanh(PacketLanes x) {
  const ExpReduction e = ReduceExp(AtLeast(-2.0 * AbsLanes(x), -760.0));
  const PacketLanes u = Expm1NonPositive(e);
  const PacketLanes q = Reciprocal40(2.0 + u);
  TanhParts parts;
  parts.tanh = CopySign(u * q, x);
  if constexpr (kWithDerivative) parts.sech2 = 4.0 * ExpFromReduction(e) * q * q;
  return parts;
}
ACTGRAD_PACKET_INLINE PacketLanes TanhLanes(PacketLanes x) { return Tanh<false>(x).tanh; }

// sinh |x| = (E + E / (E + 1)) / 2 with E = e^|x| - 1: no cancellation.
ACTGRAD_PACKET_INLINE PacketLanes SinhLanes(PacketLanes x) {
  const PacketLanes a = AbsLanes(x);
  const PacketLanes big = Splat(690.0);
  const PacketLanes e = Expm1Lanes(a < big ? a : big);
  PacketLanes y = CopySign(0.5 * Fma(e, ReciprocalInRange(e + 1.0), e), x);
  if (const uint32_t other = ~LaneBits(a < big) & kRegisterAll; other != 0) [[unlikely]] {
    y = ByLane(other, x, y, [](double v) { return std::sinh(v); });
  }
  return y;
}

ACTGRAD_PACKET_INLINE PacketLanes CoshLanes(PacketLanes x) {
  const PacketLanes a = AbsLanes(x);
  const PacketLanes big = Splat(690.0);
  const PacketLanes e = ExpLanes(a < big ? a : big);
  PacketLanes y = 0.5 * (e + ReciprocalInRange(e));
  if (const uint32_t other = ~LaneBits(a < big) & kRegisterAll; other != 0) [[unlikely]] {
    y = ByLane(other, x, y, [](double v) { return std::cosh(v); });
  }
  return y;
}

// a^b = e^(b log a) for positive normal a; the relative error is that of
// b log a as an absolute one, within 2^-30 while the result is finite.
ACTGRAD_PACKET_INLINE PacketLanes PowLanes(PacketLanes a, PacketLanes b) {
  PacketLanes y = ExpLanes(b * LogLanes(a));
  constexpr int64_t kMinNormal = 0x0010000000000000, kInfinity = 0x7ff0000000000000;
  const PacketInts bits = AsInts(a);
  const uint32_t fast = LaneBits((bits >= kMinNormal) & (bits < kInfinity));
  if (const uint32_t other = ~fast & kRegisterAll; other != 0) [[unlikely]] {
    for (int i = 0; i < kRegisterLanes; ++i) {
      if (other >> i & 1) y[i] = std::pow(a[i], b[i]);
    }
  }
  return y;
}

// a^n for an integer n with |n| <= 64, by squaring (1 / a first for
// negative n, so that a result in the subnormals is not lost to an
// overflowing a^|n|): within a few ulps of double, and defined for
// negative a.
ACTGRAD_PACKET_INLINE PacketLanes PowInteger(PacketLanes a, int n) {
  PacketLanes result = Splat(1.0), power = n < 0 ? Divide(Splat(1.0), a) : a;
  for (int bit = n < 0 ? -n : n; bit != 0; bit >>= 1) {
    if (bit & 1) result *= power;
    power *= power;
  }
  return result;
}

}  // namespace packet_detail

#define ACTGRAD_PACKET_FUNCTION(name, lanes_fn)                       \
  ACTGRAD_PACKET_INLINE DoublePacket name(const DoublePacket& x) {    \
    return PerRegister(x, [](PacketLanes v) { return lanes_fn(v); }); \
  }
ACTGRAD_PACKET_FUNCTION(exp, packet_detail::ExpLanes)
ACTGRAD_PACKET_FUNCTION(expm1, packet_detail::Expm1Lanes)
ACTGRAD_PACKET_FUNCTION(log, packet_detail::LogLanes)
ACTGRAD_PACKET_FUNCTION(log1p, packet_detail::Log1pLanes)
ACTGRAD_PACKET_FUNCTION(tanh, packet_detail::TanhLanes)
ACTGRAD_PACKET_FUNCTION(sinh, packet_detail::SinhLanes)
ACTGRAD_PACKET_FUNCTION(cosh, packet_detail::CoshLanes)
ACTGRAD_PACKET_FUNCTION(sqrt, packet_detail::SqrtLanes)
ACTGRAD_PACKET_FUNCTION(abs, AbsLanes)
ACTGRAD_PACKET_FUNCTION(fabs, AbsLanes)
#undef ACTGRAD_PACKET_FUNCTION

ACTGRAD_PACKET_INLINE DoublePacket exp2(const DoublePacket& x) {
  return PerRegister(
      x, [](PacketLanes v) { return packet_detail::ExpLanes(v * 0.69314718055994530942); });
}
ACTGRAD_PACKET_INLINE DoublePacket log2(const DoublePacket& x) {
  return PerRegister(
      x, [](PacketLanes v) { return packet_detail::LogLanes(v) * 1.44269504088896340736; });
}
ACTGRAD_PACKET_INLINE DoublePacket log10(const DoublePacket& x) {
  return PerRegister(
      x, [](PacketLanes v) { return packet_detail::LogLanes(v) * 0.43429448190325182765; });
}

// Functions without a packet formula here: the standard library's, lane by
// lane.
#define ACTGRAD_PACKET_BY_LANE(name)                               \
  ACTGRAD_PACKET_INLINE DoublePacket name(const DoublePacket& x) { \
    DoublePacket y;                                                \
    for (int i = 0; i < kPacketLanes; ++i) {                       \
      y.set(i, std::name(x[i]));                                   \
    }                                                              \
    return y;                                                      \
  }
ACTGRAD_PACKET_BY_LANE(sin)
ACTGRAD_PACKET_BY_LANE(cos)
ACTGRAD_PACKET_BY_LANE(tan)
ACTGRAD_PACKET_BY_LANE(asin)
ACTGRAD_PACKET_BY_LANE(acos)
ACTGRAD_PACKET_BY_LANE(atan)
ACTGRAD_PACKET_BY_LANE(asinh)
ACTGRAD_PACKET_BY_LANE(atanh)
ACTGRAD_PACKET_BY_LANE(cbrt)
ACTGRAD_PACKET_BY_LANE(erf)
ACTGRAD_PACKET_BY_LANE(erfc)
#undef ACTGRAD_PACKET_BY_LANE

ACTGRAD_PACKET_INLINE DoublePacket pow(const DoublePacket& a, const DoublePacket& b) {
  return PerRegister(a, b,
                     [](PacketLanes x, PacketLanes y) { return packet_detail::PowLanes(x, y); });
}
template <typename S>
requires std::is_arithmetic_v<S>
[[gnu::always_inline]] inline DoublePacket pow(const DoublePacket& a, S b) {
  const double p = double(b);
  if (p == std::trunc(p) && std::abs(p) <= 64) {
    const int n = int(p);
    return PerRegister(a, [n](PacketLanes x) { return packet_detail::PowInteger(x, n); });
  }
  return pow(a, DoublePacket(b));
}
template <typename S>
requires std::is_arithmetic_v<S>
[[gnu::always_inline]] inline DoublePacket pow(S a, const DoublePacket& b) {
  return pow(DoublePacket(a), b);
}

// std::fmax and std::fmin: a NaN operand loses.
ACTGRAD_PACKET_INLINE DoublePacket fmax(const DoublePacket& a, const DoublePacket& b) {
  return PerRegister(a, b, [](PacketLanes x, PacketLanes y) { return (x < y) | (x != x) ? y : x; });
}
ACTGRAD_PACKET_INLINE DoublePacket fmin(const DoublePacket& a, const DoublePacket& b) {
  return PerRegister(a, b, [](PacketLanes x, PacketLanes y) { return (y < x) | (x != x) ? y : x; });
}
#define ACTGRAD_PACKET_MIXED_FUNCTION(name)                                     \
  template <typename S>                                                         \
  requires std::is_arithmetic_v<S>                                              \
  [[gnu::always_inline]] inline DoublePacket name(const DoublePacket& a, S b) { \
    return name(a, DoublePacket(b));                                            \
  }                                                                             \
  template <typename S>                                                         \
  requires std::is_arithmetic_v<S>                                              \
  [[gnu::always_inline]] inline DoublePacket name(S a, const DoublePacket& b) { \
    return name(DoublePacket(a), b);                                            \
  }
ACTGRAD_PACKET_MIXED_FUNCTION(fmax)
ACTGRAD_PACKET_MIXED_FUNCTION(fmin)
#undef ACTGRAD_PACKET_MIXED_FUNCTION

}  // namespace internal

// tanh and its derivative 1 / cosh^2 from one exponential and one
// reciprocal (packet_detail::Tanh).
ACTGRAD_PACKET_INLINE Dual<internal::DoublePacket> tanh(const Dual<internal::DoublePacket>& x) {
  internal::DoublePacket value, derivative;
  internal::ForEachRegister([&](auto r) {
    const internal::packet_detail::TanhParts parts =
        internal::packet_detail::Tanh<true>(x.value.half[r]);
    value.half[r] = parts.tanh;
    derivative.half[r] = parts.sech2;
  });
  return {value, x.tangent * derivative};
}

// log and log1p on dual numbers over packets: the tangent's division by a
// reciprocal with no branch (packet_detail::ReciprocalScaled).
ACTGRAD_PACKET_INLINE Dual<internal::DoublePacket> log1p(const Dual<internal::DoublePacket>& x) {
  using internal::PacketLanes;
  return {internal::log1p(x.value), x.tangent * internal::PerRegister(x.value, [](PacketLanes v) {
                                      return internal::packet_detail::ReciprocalScaled(1.0 + v);
                                    })};
}
ACTGRAD_PACKET_INLINE Dual<internal::DoublePacket> log(const Dual<internal::DoublePacket>& x) {
  return {internal::log(x.value),
          x.tangent * internal::PerRegister(x.value, internal::packet_detail::ReciprocalScaled)};
}

// |x|, fmax and fmin on dual numbers over packets choose lane by lane, as
// ops/dual.h's choose by value (|x|' = 0 at 0, a NaN operand loses), without
// the comparison that would split the packet into passes.
ACTGRAD_PACKET_INLINE Dual<internal::DoublePacket> abs(const Dual<internal::DoublePacket>& x) {
  using internal::PacketLanes;
  const internal::DoublePacket sign = internal::PerRegister(x.value, [](PacketLanes v) {
    return PacketLanes(v > 0.0 ? internal::packet_detail::Splat(1.0) : PacketLanes{}) -
           PacketLanes(v < 0.0 ? internal::packet_detail::Splat(1.0) : PacketLanes{});
  });
  return {internal::abs(x.value), x.tangent * sign};
}
ACTGRAD_PACKET_INLINE Dual<internal::DoublePacket> fabs(const Dual<internal::DoublePacket>& x) {
  return abs(x);
}
// a where `keep_a` (per lane), b elsewhere, value and tangent alike.
template <typename Keep>
ACTGRAD_PACKET_INLINE Dual<internal::DoublePacket> ChooseLanes(
    const Dual<internal::DoublePacket>& a, const Dual<internal::DoublePacket>& b, Keep keep_a) {
  const uint32_t lanes = internal::PacketBits(a.value, b.value, keep_a);
  return {internal::SelectLanes(lanes, a.value, b.value),
          internal::SelectLanes(lanes, a.tangent, b.tangent)};
}
ACTGRAD_PACKET_INLINE Dual<internal::DoublePacket> fmax(const Dual<internal::DoublePacket>& a,
                                                        const Dual<internal::DoublePacket>& b) {
  using internal::PacketLanes;
  return ChooseLanes(a, b, [](PacketLanes x, PacketLanes y) { return !((x < y) | (x != x)); });
}
ACTGRAD_PACKET_INLINE Dual<internal::DoublePacket> fmin(const Dual<internal::DoublePacket>& a,
                                                        const Dual<internal::DoublePacket>& b) {
  using internal::PacketLanes;
  return ChooseLanes(a, b, [](PacketLanes x, PacketLanes y) { return !((y < x) | (x != x)); });
}
#define ACTGRAD_DUAL_PACKET_MIXED(name)                            \
  template <typename S>                                            \
  requires std::is_arithmetic_v<S>                                 \
  [[gnu::always_inline]] inline Dual<internal::DoublePacket> name( \
      const Dual<internal::DoublePacket>& a, S b) {                \
    return name(a, Dual<internal::DoublePacket>(b));               \
  }                                                                \
  template <typename S>                                            \
  requires std::is_arithmetic_v<S>                                 \
  [[gnu::always_inline]] inline Dual<internal::DoublePacket> name( \
      S a, const Dual<internal::DoublePacket>& b) {                \
    return name(Dual<internal::DoublePacket>(a), b);               \
  }
ACTGRAD_DUAL_PACKET_MIXED(fmax)
ACTGRAD_DUAL_PACKET_MIXED(fmin)
#undef ACTGRAD_DUAL_PACKET_MIXED

}  // namespace actgrad

#endif  // ACTGRAD_HAS_PACKETS

#endif  // ACTGRAD_OPS_PACKET_MATH_H_
