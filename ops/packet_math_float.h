// -----------------------------------------------------------------------------
// File: packet_math_float.h
// -----------------------------------------------------------------------------
//
// The elementary functions of ops/packet_math.h on registers of floats, for
// formulas evaluated in float itself (FloatPacket, ops/packet.h): twice the
// lanes of a register of doubles per instruction, with polynomials as short
// as float's 24 bits allow. exp, expm1, log, log1p and tanh are written here
// in float: exp, log and log1p within one ulp of the exact value over all of
// float's binades, expm1 and tanh within 1.5
// (FloatPacketMathTest in tests/float_evaluation_test.cc); ops/packet_math.h,
// which includes this, runs sinh, cosh and pow on floats through their
// double forms.
//
// Example:
//
//   using namespace actgrad::internal;
//   const FloatLanes y = packet_detail::ExpLanes(SplatFloat(1.0f));  // e

#ifndef ACTGRAD_OPS_PACKET_MATH_FLOAT_H_
#define ACTGRAD_OPS_PACKET_MATH_FLOAT_H_

#include <cmath>
#include <cstdint>

#include "ops/packet.h"

#if ACTGRAD_HAS_PACKETS

namespace actgrad {
namespace internal {
namespace packet_detail {

// max(low, min(high, x)), NaN staying NaN.
ACTGRAD_PACKET_INLINE FloatLanes Clamp(FloatLanes x, float low, float high) {
  x = x < low ? SplatFloat(low) : x;
  return x > high ? SplatFloat(high) : x;
}

// 2^n for integral n, built in the exponent field; n below -126 gives 0
// and above 127 gives 2^127, for callers that discard those lanes or
// multiply them into a result that has underflowed anyway.
ACTGRAD_PACKET_INLINE FloatLanes Pow2Clamped(FloatInts n) {
  n = n < -127 ? FloatInts{} - 127 : n;
  n = n > 127 ? FloatInts{} + 127 : n;
  return AsLanes((n + 127) << 23);
}

// v 2^k for integral k in [-252, 254]: two factors, each in the normal
// range, the second rounding once into the subnormals or to infinity.
ACTGRAD_PACKET_INLINE FloatLanes ScaleByPow2(FloatLanes v, FloatLanes k) {
  const FloatInts n = __builtin_convertvector(k, FloatInts);
  const FloatInts half = n >> 1;
  return v * Pow2Clamped(half) * Pow2Clamped(n - half);
}

ACTGRAD_PACKET_INLINE FloatLanes CopySign(FloatLanes magnitude, FloatLanes sign) {
  constexpr int32_t kMagnitude = 0x7fffffff;
  return AsLanes((AsInts(magnitude) & kMagnitude) | (AsInts(sign) & ~kMagnitude));
}

// e^x = 2^k (1 + p), p = e^r - 1 for r = x - k ln 2 in [-ln 2 / 2, ln 2 / 2],
// for x in [-104, 89]. ln 2 is split so that k ln2_hi is exact (nine bits
// times at most eight); e^r - 1 by its Taylor series to r^7 / 7!, whose
// remainder, 0.35^8 / 8! = 5e-9, is a tenth of float's rounding.
struct FloatExpReduction {
  FloatLanes p;
  FloatLanes k;
};
ACTGRAD_PACKET_INLINE FloatExpReduction ReduceExp(FloatLanes x) {
  constexpr float kShift = 0x1.8p23f;
  const FloatLanes k = Fma(x, SplatFloat(1.44269504088896341f), SplatFloat(kShift)) - kShift;
  FloatLanes r = Fma(k, SplatFloat(-0.693359375f), x);
  r = Fma(k, SplatFloat(2.12194440054690583e-4f), r);
  const FloatLanes r2 = r * r;
  const FloatLanes low = Fma(r, SplatFloat(1.0f / 6), SplatFloat(0.5f));
  const FloatLanes mid = Fma(r, SplatFloat(1.0f / 120), SplatFloat(1.0f / 24));
  const FloatLanes high = Fma(r, SplatFloat(1.0f / 5040), SplatFloat(1.0f / 720));
  return {Fma(Fma(Fma(r2, high, mid), r2, low), r2, r), k};
}

// 2^k (1 + p) for the reduction: one factor built from k where every
// lane's k is in the normal range, two otherwise.
ACTGRAD_PACKET_INLINE FloatLanes ExpFromReduction(const FloatExpReduction& e) {
  const FloatInts n = __builtin_convertvector(e.k, FloatInts);
  if (LaneBits((n < -126) | (n > 127)) == 0) [[likely]] {
    return Fma(e.p, AsLanes((n + 127) << 23), AsLanes((n + 127) << 23));
  }
  return ScaleByPow2(1.0f + e.p, e.k);
}

ACTGRAD_PACKET_INLINE FloatLanes ExpLanes(FloatLanes x) {
  return ExpFromReduction(ReduceExp(Clamp(x, -104.0f, 89.0f)));
}

// e^x - 1 from its reduction for x <= 0, or while k <= 24: S p + (S - 1)
// with S = 2^k, S - 1 exact; for k < 0, |S - 1| is at least 1/2 and
// |S p| at most 0.21, so the sum loses at most a bit to cancellation.
ACTGRAD_PACKET_INLINE FloatLanes Expm1FromReduction(const FloatExpReduction& e) {
  const FloatLanes s = Pow2Clamped(__builtin_convertvector(e.k, FloatInts));
  return Fma(s, e.p, s - 1.0f);
}

ACTGRAD_PACKET_INLINE FloatLanes Expm1Lanes(FloatLanes x) {
  const FloatExpReduction e = ReduceExp(Clamp(x, -30.0f, 89.0f));
  const FloatLanes small = Expm1FromReduction(e);
  const FloatLanes large = ExpFromReduction(e) - 1.0f;
  const FloatLanes y = e.k > 24.0f ? large : small;
  return x == 0.0f ? x : y;  // keeps -0
}

// u = 2^e m with m in [sqrt(1/2), sqrt(2)), for u >= 0; subnormals are
// scaled into the normal range first.
struct FloatLogSplit {
  FloatLanes m;
  FloatLanes e;
};
template <bool kMaybeSubnormal = true>
ACTGRAD_PACKET_INLINE FloatLogSplit SplitForLog(FloatLanes u) {
  FloatInts bits = AsInts(u), e = FloatInts{} - 127;
  if constexpr (kMaybeSubnormal) {
    const FloatInts subnormal = u < 0x1p-126f;
    bits = AsInts(subnormal ? u * 0x1p23f : u);
    e += subnormal & -23;
  }
  e += bits >> 23;
  FloatLanes m = AsLanes((bits & 0x007fffff) | 0x3f800000);
  const FloatInts above = m > 1.41421356237309505f;
  m = above ? m * 0.5f : m;
  e -= above;  // a true comparison is -1
  return {m, __builtin_convertvector(e, FloatLanes)};
}

// log(2^e (m + c)) for the split of u and a correction c to m: with
// f = m + c - 1 and s = f / (2 + f) in [-0.172, 0.172], log(1 + f) =
// 2 atanh(s) = f - (f^2 / 2 - s (f^2 / 2 + R)), R = 2 s^2 / 3 + ... +
// 2 s^8 / 9 (the next term is 2e-9 of the sum): the rounding of s only
// touches the last, small term. Zero, negative, NaN and infinite u are
// given log's answers.
ACTGRAD_PACKET_INLINE FloatLanes LogOfSplit(FloatLanes u, const FloatLogSplit& split,
                                            FloatLanes c) {
  const FloatLanes f = (split.m - 1.0f) + c;
  const FloatLanes s = f / (2.0f + f);
  const FloatLanes z = s * s;
  const FloatLanes r =
      z * Fma(Fma(Fma(z, SplatFloat(2.0f / 9), SplatFloat(2.0f / 7)), z, SplatFloat(2.0f / 5)), z,
              SplatFloat(2.0f / 3));
  const FloatLanes half_square = 0.5f * f * f;
  const FloatLanes low = Fma(s, half_square + r, split.e * -2.12194440e-4f);
  const FloatLanes y = Fma(split.e, SplatFloat(0.693359375f), f - (half_square - low));
  if (LaneBits((u > 0.0f) & (u < HUGE_VALF)) == (1u << kFloatRegisterLanes) - 1) [[likely]] {
    return y;
  }
  return u == HUGE_VALF ? u : u > 0.0f ? y : u == 0.0f ? SplatFloat(-HUGE_VALF) : SplatFloat(NAN);
}

ACTGRAD_PACKET_INLINE FloatLanes LogLanes(FloatLanes x) {
  return LogOfSplit(x, SplitForLog(x), FloatLanes{});
}

// log(1 + x): the rounding error c of u = 1 + x joins u's mantissa, scaled
// as m is, so that small x keep every bit; below 2^-24, log1p(x) is x.
ACTGRAD_PACKET_INLINE FloatLanes Log1pLanes(FloatLanes x) {
  const FloatLanes u = 1.0f + x;
  const FloatLanes c = u < HUGE_VALF ? x - (u - 1.0f) : FloatLanes{};
  // u is 0 or at least 2^-24.
  const FloatLogSplit split = SplitForLog<false>(u);
  // 2^-e in the exponent field: e is in [-24, 127] where c is not 0; at
  // 128 (u from 2^127 sqrt(2)), 0 stands in.
  const FloatInts e = __builtin_convertvector(split.e, FloatInts);
  const FloatLanes y = LogOfSplit(u, split, c * AsLanes(((127 - e) << 23) & (e < 128)));
  return AbsLanes(x) < 0x1p-24f ? x : y;
}

// tanh and its derivative, from one evaluation (Tanh below, and its double
// form in ops/packet_math.h).
template <typename L>
struct TanhParts {
  L tanh;
  // In double, 1 / cosh^2; in float, w = e^(-2|x|), from which the
  // derivative is formed in double (ops/mixed_dual.h).
  L sech2_or_w;
};

// Below |x| = 0.9, tanh x = x + x^3 P(x^2) with P of degree 5, fitted to
// tanh's relative error on [0, 0.9] and rounded to float (0.29 ulps from
// the polynomial; tools/fit_tanh_polynomial.py). Above, with
// w = e^(-2|x|) <= e^-1.8, tanh |x| = 1 - 2 w / (1 + w), whose subtracted
// term is at most two fifths of the result. The exponential and its
// division serve the lanes above 0.9, and w the derivative; the
// polynomial, without cancellation, those below, where the quotient form
// lost 2.2 ulps.
template <bool kWithDerivative>
ACTGRAD_PACKET_INLINE TanhParts<FloatLanes> Tanh(FloatLanes x) {
  const FloatLanes a = AbsLanes(x);
  const FloatLanes twice = -2.0f * a;
  const FloatExpReduction e = ReduceExp(twice < -104.0f ? SplatFloat(-104.0f) : twice);
  // 2^k is normal below |x| = 43, as it mostly is.
  FloatLanes w;
  const FloatInts n = __builtin_convertvector(e.k, FloatInts);
  if (LaneBits(n < -126) == 0) [[likely]] {
    const FloatLanes s = AsLanes((n + 127) << 23);
    w = Fma(s, e.p, s);
  } else {
    w = ExpFromReduction(e);
  }
  const FloatLanes z = x * x;
  const FloatLanes z2 = z * z;
  // -1/3 + c1 z + ... + c5 z^5, in Estrin's order.
  const FloatLanes p01 = Fma(z, SplatFloat(0.133303598f), SplatFloat(-0.333332121f));
  const FloatLanes p23 = Fma(z, SplatFloat(0.0209041275f), SplatFloat(-0.0537214912f));
  const FloatLanes p45 = Fma(z, SplatFloat(0.00130395975f), SplatFloat(-0.00686005596f));
  const FloatLanes p = Fma(z2 * z2, p45, Fma(z2, p23, p01));
  // On |x|, the sign copied after: -0 + -0 * p would round to +0.
  const FloatLanes polynomial = Fma(a * z, p, a);
  const FloatLanes quotient = 1.0f - 2.0f * w / (1.0f + w);
  TanhParts<FloatLanes> parts;
  parts.tanh = CopySign(a < 0.9f ? polynomial : quotient, x);
  if constexpr (kWithDerivative) parts.sech2_or_w = w;
  return parts;
}
ACTGRAD_PACKET_INLINE FloatLanes TanhLanes(FloatLanes x) { return Tanh<false>(x).tanh; }

ACTGRAD_PACKET_INLINE FloatLanes ReciprocalScaled(FloatLanes b) { return 1.0f / b; }

}  // namespace packet_detail
}  // namespace internal
}  // namespace actgrad

#endif  // ACTGRAD_HAS_PACKETS

#endif  // ACTGRAD_OPS_PACKET_MATH_FLOAT_H_
