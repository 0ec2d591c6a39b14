// -----------------------------------------------------------------------------
// File: packet_math.h
// -----------------------------------------------------------------------------
//
// Elementary functions on packets (ops/packet.h), found by argument-
// dependent lookup from a generic formula's `using std::exp; exp(x)`. What
// follows describes the functions on doubles; those on floats are in
// ops/packet_math_float.h, and the wrappers here serve both.
//
// They serve float32 results: each is within 2^-34 relative of the exact
// value (pow(a, b) within the absolute error of b log a, 2^-30 relative
// while finite; tests/packet_math_test.cc measures every one against long double
// over all of double's binades), so a formula evaluated in them and rounded
// to float once lands on the float the scalar double path gives but where
// the two straddle a rounding boundary, with 10 bits to spare for the
// formula's own cancellations. exp reduces by eighths of ln 2 (quarters
// with AVX2) and takes a degree-6 polynomial; log is the instruction set's
// (ops/packet_avx512.h, ops/packet_avx2.h); tanh, sinh and cosh are built
// on them; zeros,
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
#include "ops/mixed_dual.h"
#include "ops/packet.h"
#include "ops/packet_math_float.h"

#if ACTGRAD_HAS_PACKETS

namespace actgrad {
namespace internal {

namespace packet_detail {

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

// e^x = T 2^floor(k / N) (1 + p) with T = 2^((k mod N) / N) from the
// instruction set's table (ExpTable: N = 8 with AVX-512, 4 with AVX2), and
// p = e^r - 1 for r = x - k ln 2 / N in [-ln 2 / 2N, ln 2 / 2N], for x in
// [-760, 760] (or NaN, which stays NaN). Cody-Waite reduction with
// fdlibm's split of ln 2 (k ln2_hi / N is exact); e^r - 1 by its Taylor
// series to r^6 / 6! for N = 8 and to r^7 / 7! for N = 4, within 2^-39 of
// |e^r - 1| at its largest, in Estrin's order: the chain of dependent operations, not the count,
// sets the pace of a formula, and this one is half as long as with the whole range.
struct ExpReduction {
  PacketLanes p;
  PacketLanes k;        // in N-ths of ln 2
  PacketLanes shifted;  // k + 1.5 2^52: k as an integer in the mantissa
  PacketLanes table;
};
ACTGRAD_PACKET_INLINE ExpReduction ReduceExp(PacketLanes x) {
  constexpr double kShift = 0x1.8p52;
  constexpr double kSteps = kExpTableSize;
  const PacketLanes shifted = Fma(x, Splat(kSteps * 1.4426950408889634074), Splat(kShift));
  const PacketLanes k = shifted - kShift;
  PacketLanes r = Fma(k, Splat(-6.93147180369123816490e-01 / kSteps), x);
  r = Fma(k, Splat(-1.90821492927058770002e-10 / kSteps), r);
  const PacketLanes table = ExpTable(shifted);
  const PacketLanes r2 = r * r;
  const PacketLanes low = Fma(r, Splat(1.0 / 6), Splat(0.5));
  // Quarters leave |r| twice as large: one more term.
  const PacketLanes sixth =
      kExpTableSize >= 8 ? Splat(1.0 / 720) : Fma(r, Splat(1.0 / 5040), Splat(1.0 / 720));
  const PacketLanes high = Fma(r2, sixth, Fma(r, Splat(1.0 / 120), Splat(1.0 / 24)));
  return {Fma(Fma(r2, high, low), r2, r), k, shifted, table};
}

ACTGRAD_PACKET_INLINE PacketLanes ExpFromReduction(const ExpReduction& e) {
  return ScaleByExpSteps(Fma(e.table, e.p, e.table), e.shifted, e.k);
}

ACTGRAD_PACKET_INLINE PacketLanes ExpLanes(PacketLanes x) {
  return ExpFromReduction(ReduceExp(Clamp(x, -760.0, 760.0)));
}

// e^x - 1 from its reduction, while e^x < 2^53: S p + (S - 1) with
// S = T 2^m. Where k = 0 it is p itself; elsewhere, for k < 0, |S - 1| is
// at least 1 - 2^(-1/N) and |S p| at most half of it, so the sum loses at
// most a bit to cancellation.
ACTGRAD_PACKET_INLINE PacketLanes Expm1NonPositive(const ExpReduction& e) {
  const PacketLanes s = ScaleByExpSteps(e.table, e.shifted, e.k);
  return Fma(s, e.p, s - 1.0);
}

// e^x - 1: as above while e^x < 2^53; above, e^x itself less 1.
ACTGRAD_PACKET_INLINE PacketLanes Expm1Lanes(PacketLanes x) {
  const ExpReduction e = ReduceExp(Clamp(x, -60.0, 760.0));
  const PacketLanes small = Expm1NonPositive(e);
  const PacketLanes large = ExpFromReduction(e) - 1.0;
  const PacketLanes y = e.k > kExpTableSize * 53.0 ? large : small;
  return x == 0.0 ? x : y;  // keeps -0
}

ACTGRAD_PACKET_INLINE PacketLanes LogLanes(PacketLanes x) {
  // -0 + 0 = +0: log(-0) is -inf, not getmant's NaN for a negative.
  return LogOfSplit<false>(SplitForLog(x + 0.0), Splat(0.0));
}

// log(1 + x): the rounding error c of u = 1 + x joins u's mantissa, so that small x keep every bit.
// x = -1 gives -inf through e, x < -1 NaN through the split.
ACTGRAD_PACKET_INLINE PacketLanes Log1pLanes(PacketLanes x) {
  const PacketLanes u = 1.0 + x;
  const PacketLanes c = AsLanes(AsInts(x - (u - 1.0)) & (u != HUGE_VAL));
  return LogOfSplit<true>(SplitForLog(u), c);
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
template <bool kWithDerivative>
ACTGRAD_PACKET_INLINE TanhParts<PacketLanes> Tanh(PacketLanes x) {
  const ExpReduction e = ReduceExp(AtLeast(-2.0 * AbsLanes(x), -760.0));
  const PacketLanes u = Expm1NonPositive(e);
  const PacketLanes q = Reciprocal40(2.0 + u);
  TanhParts<PacketLanes> parts;
  parts.tanh = CopySign(u * q, x);
  if constexpr (kWithDerivative) parts.sech2_or_w = 4.0 * ExpFromReduction(e) * q * q;
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
template <typename L>
ACTGRAD_PACKET_INLINE L PowInteger(L a, int n) {
  L result = L{} + 1, power = n < 0 ? Divide(L{} + 1, a) : a;
  for (int bit = n < 0 ? -n : n; bit != 0; bit >>= 1) {
    if (bit & 1) result *= power;
    power *= power;
  }
  return result;
}

// fn on each half of v, widened to doubles, rounded back once.
template <typename Fn>
ACTGRAD_PACKET_INLINE FloatLanes ViaDouble(FloatLanes v, Fn fn) {
  return Narrow(fn(WidenLow(v)), fn(WidenHigh(v)));
}
template <typename Fn>
ACTGRAD_PACKET_INLINE FloatLanes ViaDouble(FloatLanes a, FloatLanes b, Fn fn) {
  return Narrow(fn(WidenLow(a), WidenLow(b)), fn(WidenHigh(a), WidenHigh(b)));
}

ACTGRAD_PACKET_INLINE FloatLanes SinhLanes(FloatLanes x) {
  return ViaDouble(x, [](PacketLanes v) { return SinhLanes(v); });
}
ACTGRAD_PACKET_INLINE FloatLanes CoshLanes(FloatLanes x) {
  return ViaDouble(x, [](PacketLanes v) { return CoshLanes(v); });
}
ACTGRAD_PACKET_INLINE FloatLanes PowLanes(FloatLanes a, FloatLanes b) {
  return ViaDouble(a, b, [](PacketLanes x, PacketLanes y) { return PowLanes(x, y); });
}

}  // namespace packet_detail

#define ACTGRAD_PACKET_FUNCTION(name, lanes_fn)              \
  template <typename L>                                      \
  ACTGRAD_PACKET_INLINE Packet<L> name(const Packet<L>& x) { \
    return PerRegister(x, [](L v) { return lanes_fn(v); });  \
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

template <typename L>
ACTGRAD_PACKET_INLINE Packet<L> exp2(const Packet<L>& x) {
  using Scalar = typename Packet<L>::Scalar;
  return PerRegister(
      x, [](L v) { return packet_detail::ExpLanes(v * Scalar(0.69314718055994530942)); });
}
template <typename L>
ACTGRAD_PACKET_INLINE Packet<L> log2(const Packet<L>& x) {
  using Scalar = typename Packet<L>::Scalar;
  return PerRegister(
      x, [](L v) { return packet_detail::LogLanes(v) * Scalar(1.44269504088896340736); });
}
template <typename L>
ACTGRAD_PACKET_INLINE Packet<L> log10(const Packet<L>& x) {
  using Scalar = typename Packet<L>::Scalar;
  return PerRegister(
      x, [](L v) { return packet_detail::LogLanes(v) * Scalar(0.43429448190325182765); });
}

// Functions without a packet formula here: the standard library's in
// double, lane by lane.
#define ACTGRAD_PACKET_BY_LANE(name)                                 \
  template <typename L>                                              \
  ACTGRAD_PACKET_INLINE Packet<L> name(const Packet<L>& x) {         \
    Packet<L> y;                                                     \
    for (int i = 0; i < Packet<L>::kLanes; ++i) {                    \
      y.set(i, typename Packet<L>::Scalar(std::name(double(x[i])))); \
    }                                                                \
    return y;                                                        \
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

template <typename L>
ACTGRAD_PACKET_INLINE Packet<L> pow(const Packet<L>& a, const Packet<L>& b) {
  return PerRegister(a, b, [](L x, L y) { return packet_detail::PowLanes(x, y); });
}
template <typename L, typename S>
requires std::is_arithmetic_v<S>
[[gnu::always_inline]] inline Packet<L> pow(const Packet<L>& a, S b) {
  const double p = double(b);
  if (p == std::trunc(p) && std::abs(p) <= 64) {
    const int n = int(p);
    return PerRegister(a, [n](L x) { return packet_detail::PowInteger(x, n); });
  }
  return pow(a, Packet<L>(b));
}
template <typename L, typename S>
requires std::is_arithmetic_v<S>
[[gnu::always_inline]] inline Packet<L> pow(S a, const Packet<L>& b) {
  return pow(Packet<L>(a), b);
}

// std::fmax and std::fmin: a NaN operand loses.
template <typename L>
ACTGRAD_PACKET_INLINE Packet<L> fmax(const Packet<L>& a, const Packet<L>& b) {
  return PerRegister(a, b, [](L x, L y) { return (x < y) | (x != x) ? y : x; });
}
template <typename L>
ACTGRAD_PACKET_INLINE Packet<L> fmin(const Packet<L>& a, const Packet<L>& b) {
  return PerRegister(a, b, [](L x, L y) { return (y < x) | (x != x) ? y : x; });
}
#define ACTGRAD_PACKET_MIXED_FUNCTION(name)                               \
  template <typename L, typename S>                                       \
  requires std::is_arithmetic_v<S>                                        \
  [[gnu::always_inline]] inline Packet<L> name(const Packet<L>& a, S b) { \
    return name(a, Packet<L>(b));                                         \
  }                                                                       \
  template <typename L, typename S>                                       \
  requires std::is_arithmetic_v<S>                                        \
  [[gnu::always_inline]] inline Packet<L> name(S a, const Packet<L>& b) { \
    return name(Packet<L>(a), b);                                         \
  }
ACTGRAD_PACKET_MIXED_FUNCTION(fmax)
ACTGRAD_PACKET_MIXED_FUNCTION(fmin)
#undef ACTGRAD_PACKET_MIXED_FUNCTION

}  // namespace internal

// tanh and its derivative 1 / cosh^2 from one exponential and one
// reciprocal (packet_detail::Tanh).
template <typename L>
ACTGRAD_PACKET_INLINE Dual<internal::Packet<L>> tanh(const Dual<internal::Packet<L>>& x) {
  if constexpr (std::is_same_v<L, internal::FloatLanes>) {
    // 1 / cosh^2 = 4w / (1 + w)^2 from the float w = e^(-2|x|), in double.
    internal::FloatPacket value;
    internal::WidePacket derivative;
    internal::ForEachRegister<internal::FloatPacket>([&](auto r) __attribute__((always_inline)) {
      const internal::packet_detail::TanhParts<L> parts =
          internal::packet_detail::Tanh<true>(x.value.half[r]);
      value.half[r] = parts.tanh;
      const internal::PacketLanes low = internal::WidenLow(parts.sech2_or_w);
      const internal::PacketLanes high = internal::WidenHigh(parts.sech2_or_w);
      const internal::PacketLanes low1 = 1.0 + low, high1 = 1.0 + high;
      derivative.half[2 * r] = 4.0 * low / (low1 * low1);
      derivative.half[2 * r + 1] = 4.0 * high / (high1 * high1);
    });
    return {value, x.tangent * derivative};
  }
  internal::Packet<L> value, derivative;
  internal::ForEachRegister<internal::Packet<L>>([&](auto r) __attribute__((always_inline)) {
    const internal::packet_detail::TanhParts<L> parts =
        internal::packet_detail::Tanh<true>(x.value.half[r]);
    value.half[r] = parts.tanh;
    derivative.half[r] = parts.sech2_or_w;
  });
  return {value, x.tangent * derivative};
}

// log and log1p on dual numbers over packets of doubles: the tangent's
// division by a reciprocal with no branch (packet_detail::ReciprocalScaled).
// Floats divide: one rounding fewer, at no cost worth a branch.
template <typename L>
ACTGRAD_PACKET_INLINE Dual<internal::Packet<L>> log1p(const Dual<internal::Packet<L>>& x) {
  if constexpr (std::is_same_v<L, internal::FloatLanes>) {
    // 1 + x exactly, in double.
    return {internal::log1p(x.value), x.tangent / (1.0 + internal::WidePacket(x.value))};
  } else {
    return {internal::log1p(x.value), x.tangent * internal::PerRegister(x.value, [](L v) {
                                        return internal::packet_detail::ReciprocalScaled(1 + v);
                                      })};
  }
}
template <typename L>
ACTGRAD_PACKET_INLINE Dual<internal::Packet<L>> log(const Dual<internal::Packet<L>>& x) {
  if constexpr (std::is_same_v<L, internal::FloatLanes>) {
    return {internal::log(x.value), x.tangent / x.value};
  } else {
    return {internal::log(x.value), x.tangent * internal::PerRegister(x.value, [](L v) {
                                      return internal::packet_detail::ReciprocalScaled(v);
                                    })};
  }
}

// |x|, fmax and fmin on dual numbers over packets choose lane by lane, as
// ops/dual.h's choose by value (|x|' = 0 at 0, a NaN operand loses), without
// the comparison that would split the packet into passes.
template <typename L>
ACTGRAD_PACKET_INLINE Dual<internal::Packet<L>> abs(const Dual<internal::Packet<L>>& x) {
  const internal::Packet<L> sign = internal::PerRegister(
      x.value, [](L v) { return L(v > 0 ? L{} + 1 : L{}) - L(v < 0 ? L{} + 1 : L{}); });
  return {internal::abs(x.value), x.tangent * sign};
}
template <typename L>
ACTGRAD_PACKET_INLINE Dual<internal::Packet<L>> fabs(const Dual<internal::Packet<L>>& x) {
  return abs(x);
}
// a where `keep_a` (per lane), b elsewhere, value and tangent alike.
template <typename L, typename Keep>
ACTGRAD_PACKET_INLINE Dual<internal::Packet<L>> ChooseLanes(const Dual<internal::Packet<L>>& a,
                                                            const Dual<internal::Packet<L>>& b,
                                                            Keep keep_a) {
  const uint32_t lanes = internal::PacketBits(a.value, b.value, keep_a);
  return {internal::SelectLanes(lanes, a.value, b.value),
          internal::SelectLanes(lanes, a.tangent, b.tangent)};
}
template <typename L>
ACTGRAD_PACKET_INLINE Dual<internal::Packet<L>> fmax(const Dual<internal::Packet<L>>& a,
                                                     const Dual<internal::Packet<L>>& b) {
  return ChooseLanes(a, b, [](L x, L y) { return !((x < y) | (x != x)); });
}
template <typename L>
ACTGRAD_PACKET_INLINE Dual<internal::Packet<L>> fmin(const Dual<internal::Packet<L>>& a,
                                                     const Dual<internal::Packet<L>>& b) {
  return ChooseLanes(a, b, [](L x, L y) { return !((y < x) | (x != x)); });
}
#define ACTGRAD_DUAL_PACKET_MIXED(name)                                                            \
  template <typename L, typename S>                                                                \
  requires std::is_arithmetic_v<S>                                                                 \
  [[gnu::always_inline]] inline Dual<internal::Packet<L>> name(const Dual<internal::Packet<L>>& a, \
                                                               S b) {                              \
    return name(a, Dual<internal::Packet<L>>(b));                                                  \
  }                                                                                                \
  template <typename L, typename S>                                                                \
  requires std::is_arithmetic_v<S>                                                                 \
  [[gnu::always_inline]] inline Dual<internal::Packet<L>> name(                                    \
      S a, const Dual<internal::Packet<L>>& b) {                                                   \
    return name(Dual<internal::Packet<L>>(a), b);                                                  \
  }
ACTGRAD_DUAL_PACKET_MIXED(fmax)
ACTGRAD_DUAL_PACKET_MIXED(fmin)
#undef ACTGRAD_DUAL_PACKET_MIXED

}  // namespace actgrad

#endif  // ACTGRAD_HAS_PACKETS

#endif  // ACTGRAD_OPS_PACKET_MATH_H_
