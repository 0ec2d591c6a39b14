// -----------------------------------------------------------------------------
// File: packet_avx512.h
// -----------------------------------------------------------------------------
//
// The instructions a packet of doubles (ops/packet.h) is built on where the
// target has AVX-512 F and DQ: lane masks, reciprocal estimates, scaling by
// powers of two, the tables of exp and log held in registers, and the split
// of a float32 block by sign. ops/packet_avx2.h has the same names for
// AVX2. The intrinsics are the zero-masking forms with every lane set: the
// plain forms of GCC 12's headers read an uninitialized register
// (_mm512_undefined_pd) and warn under -Wall.
//
// Example:
//
//   using namespace actgrad::internal;
//   const uint32_t negative = LaneBits(Splat(-1.0) < 0.0);  // 0xff

#ifndef ACTGRAD_OPS_PACKET_AVX512_H_
#define ACTGRAD_OPS_PACKET_AVX512_H_

#include <cmath>
#include <cstdint>

#include "ops/packet_lanes.h"

#if ACTGRAD_PACKET_AVX512

namespace actgrad {
namespace internal {

ACTGRAD_PACKET_INLINE __m512d Zmm(PacketLanes v) { return VectorCast<__m512d>(v); }
ACTGRAD_PACKET_INLINE PacketLanes FromZmm(__m512d z) { return VectorCast<PacketLanes>(z); }

// Bit i set where lane i of the comparison result `m` (all ones or zero) is.
ACTGRAD_PACKET_INLINE uint32_t LaneBits(PacketInts m) {
  return _mm512_movepi64_mask(VectorCast<__m512i>(m));
}

// a where bit i of `bits` is set, b elsewhere.
ACTGRAD_PACKET_INLINE PacketLanes SelectLanes(uint32_t bits, PacketLanes a, PacketLanes b) {
  return FromZmm(_mm512_mask_blend_pd(__mmask8(bits), Zmm(b), Zmm(a)));
}

// Bit i set where lane i is infinite or NaN: one vfpclasspd.
ACTGRAD_PACKET_INLINE uint32_t NonFiniteLanes(PacketLanes v) {
  constexpr int kNaNOrInfinity = 0x01 | 0x08 | 0x10 | 0x80;
  return _mm512_fpclass_pd_mask(Zmm(v), kNaNOrInfinity);
}

// The same for floats (FloatPacket, ops/packet.h).
ACTGRAD_PACKET_INLINE __m512 Zmm(FloatLanes v) { return VectorCast<__m512>(v); }
ACTGRAD_PACKET_INLINE FloatLanes FromZmm(__m512 z) { return VectorCast<FloatLanes>(z); }
ACTGRAD_PACKET_INLINE uint32_t LaneBits(FloatInts m) {
  return _mm512_movepi32_mask(VectorCast<__m512i>(m));
}
ACTGRAD_PACKET_INLINE FloatLanes SelectLanes(uint32_t bits, FloatLanes a, FloatLanes b) {
  return FromZmm(_mm512_mask_blend_ps(__mmask16(bits), Zmm(b), Zmm(a)));
}
ACTGRAD_PACKET_INLINE uint32_t NonFiniteLanes(FloatLanes v) {
  constexpr int kNaNOrInfinity = 0x01 | 0x08 | 0x10 | 0x80;
  return _mm512_fpclass_ps_mask(Zmm(v), kNaNOrInfinity);
}
ACTGRAD_PACKET_INLINE FloatLanes Divide(FloatLanes a, FloatLanes b) { return a / b; }

// The low and high halves of a register of floats as doubles, and back:
// halves split and joined by shuffles, converted by the zero-masked forms
// (GCC 12 warns of the unmasked ones' undefined pass-through operand).
typedef float FloatHalf __attribute__((vector_size(32)));
ACTGRAD_PACKET_INLINE PacketLanes WidenLow(FloatLanes v) {
  const FloatHalf half = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7);
  return FromZmm(_mm512_maskz_cvtps_pd(0xff, VectorCast<__m256>(half)));
}
ACTGRAD_PACKET_INLINE PacketLanes WidenHigh(FloatLanes v) {
  const FloatHalf half = __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  return FromZmm(_mm512_maskz_cvtps_pd(0xff, VectorCast<__m256>(half)));
}
ACTGRAD_PACKET_INLINE FloatLanes Narrow(PacketLanes low, PacketLanes high) {
  const FloatHalf a = VectorCast<FloatHalf>(_mm512_maskz_cvtpd_ps(0xff, Zmm(low)));
  const FloatHalf b = VectorCast<FloatHalf>(_mm512_maskz_cvtpd_ps(0xff, Zmm(high)));
  return __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}

// 1 / b to within 2 ulps of double for |b| in [2^-1000, 2^1000]: a 14-bit
// estimate and two Newton steps.
ACTGRAD_PACKET_INLINE PacketLanes ReciprocalInRange(PacketLanes b) {
  const PacketLanes one = Splat(1.0);
  PacketLanes r = FromZmm(_mm512_maskz_rcp14_pd(0xff, Zmm(b)));
  r = Fma(r, Fma(-b, r, one), r);
  r = Fma(r, Fma(-b, r, one), r);
  return r;
}

// a / b to within 3 ulps of double; exact IEEE division (zeros, infinities,
// the extremes of the range) where any lane of |b| is outside [2^-1000,
// 2^1000], ReciprocalInRange's domain.
ACTGRAD_PACKET_INLINE PacketLanes Divide(PacketLanes a, PacketLanes b) {
  constexpr int64_t kLow = 0x0170000000000000;   // 2^-1000
  constexpr int64_t kHigh = 0x7e70000000000000;  // 2^1000
  const PacketInts magnitude = AsInts(b) & int64_t{0x7fffffffffffffff};
  if (LaneBits((magnitude >= kLow) & (magnitude <= kHigh)) == kRegisterAll) [[likely]] {
    return a * ReciprocalInRange(b);
  }
  return a / b;
}

namespace packet_detail {

// max(low, min(high, x)), NaN staying NaN (vminpd and vmaxpd return their
// second operand where either is NaN).
ACTGRAD_PACKET_INLINE PacketLanes Clamp(PacketLanes x, double low, double high) {
  return FromZmm(_mm512_maskz_min_pd(0xff, _mm512_set1_pd(high),
                                     _mm512_maskz_max_pd(0xff, _mm512_set1_pd(low), Zmm(x))));
}
ACTGRAD_PACKET_INLINE PacketLanes AtLeast(PacketLanes x, double low) {
  return FromZmm(_mm512_maskz_max_pd(0xff, _mm512_set1_pd(low), Zmm(x)));
}

// v 2^floor(k), as the exact product would round: infinity on overflow,
// subnormals or zero on underflow.
ACTGRAD_PACKET_INLINE PacketLanes ScaleByPow2(PacketLanes v, PacketLanes k) {
  return FromZmm(_mm512_maskz_scalef_pd(0xff, Zmm(v), Zmm(k)));
}

// v 2^floor(k / 8) for the k of ReduceExp (ops/packet_math.h; `shifted`
// holds it as an integer, for AVX2's sake).
ACTGRAD_PACKET_INLINE PacketLanes ScaleByExpSteps(PacketLanes v, PacketLanes /*shifted*/,
                                                  PacketLanes k) {
  return ScaleByPow2(v, k * 0.125);
}

// 1 / b to within 2^-40 for |b| in [2^-1000, 2^1000]: the 14-bit estimate
// and one third-order Newton step.
ACTGRAD_PACKET_INLINE PacketLanes Reciprocal40(PacketLanes b) {
  const PacketLanes r = FromZmm(_mm512_maskz_rcp14_pd(0xff, Zmm(b)));
  const PacketLanes e = Fma(-b, r, Splat(1.0));
  return Fma(r, Fma(e, e, e), r);
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
ACTGRAD_PACKET_INLINE FloatLanes SqrtLanes(FloatLanes x) {
  return FromZmm(_mm512_maskz_sqrt_ps(0xffff, Zmm(x)));
}

// e^x is reduced by eighths of ln 2 (ops/packet_math.h): 2^(j / 8) for
// j = k mod 8, from a table of eight held in one register. vpermpd reads
// the index from the low three bits: k mod 8 as the integer `shifted` holds
// in its mantissa.
inline constexpr int kExpTableSize = 8;
ACTGRAD_PACKET_INLINE PacketLanes ExpTable(PacketLanes shifted) {
  const __m512d kTable = _mm512_setr_pd(
      1.0, 1.0905077326652576592, 1.1892071150027210667, 1.2968395546510096659,
      1.4142135623730950488, 1.5422108254079408236, 1.6817928305074290861, 1.8340080864093424635);
  return FromZmm(_mm512_maskz_permutexvar_pd(0xff, VectorCast<__m512i>(shifted), kTable));
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

// log(u + c) for a split u and a correction c below u's last bit:
// e ln 2 + log(1 / r) + log(1 + t) with t = (m + c 2^-e) r - 1, where r is the
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
  if constexpr (kCorrected) {
    t = Fma(ScaleByPow2(c, -AtLeast(split.e, -1100.0)), r, t);
  }
  const PacketLanes t2 = t * t, t4 = t2 * t2;
  const PacketLanes low =
      Fma(t2, Fma(t, Splat(1.0 / 5), Splat(-1.0 / 4)), Fma(t, Splat(1.0 / 3), Splat(-0.5)));
  const PacketLanes high = Fma(t2, Splat(-1.0 / 8), Fma(t, Splat(1.0 / 7), Splat(-1.0 / 6)));
  const PacketLanes log1p_t = Fma(t2, Fma(t4, high, low), t);
  return Fma(split.e, Splat(0.69314718055994530942), FromZmm(log_of_middle)) + log1p_t;
}

}  // namespace packet_detail

// ------------------------------------------------------------- float32 I/O

ACTGRAD_PACKET_INLINE PacketLanes LoadWidened(const float* p) {
  return FromZmm(_mm512_maskz_cvtps_pd(0xff, _mm256_loadu_ps(p)));
}
ACTGRAD_PACKET_INLINE void StoreNarrowed(PacketLanes v, float* p) {
  _mm256_storeu_ps(p, _mm512_maskz_cvtpd_ps(0xff, Zmm(v)));
}

// ------------------------------------------------------------- sign split

// Elements packed by vcompressps and put back by vexpandps, both in
// registers: their memory forms are microcoded on Intel's cores (a
// sign-split mish took 8 % longer with them).
ACTGRAD_PACKET_INLINE __mmask16 LeadingLanes(int64_t n) {
  return n >= 16 ? __mmask16(0xffff) : __mmask16((1u << n) - 1);
}

// The sixteen elements of x from i (fewer at the end of n) and which are
// negative.
struct SignedChunk {
  __m512 values;
  __mmask16 valid, negative, other;
};
ACTGRAD_PACKET_INLINE SignedChunk ChunkAt(const float* x, int64_t i, int64_t n) {
  SignedChunk c;
  c.valid = LeadingLanes(n - i);
  c.values = _mm512_maskz_loadu_ps(c.valid, x + i);
  c.negative = _mm512_mask_cmp_ps_mask(c.valid, c.values, _mm512_setzero_ps(), _CMP_LT_OQ);
  c.other = c.valid & ~c.negative;
  return c;
}

// x[0, n) and dy (if not null) into p's rows: x < 0 first, the rest second.
inline void PartitionBySign(const float* x, const float* dy, int64_t n, SignPartition& p) {
  // Counts in locals: kept in the struct, each store's address waits on a
  // reload of the last.
  int64_t negatives = 0, others = 0;
  for (int64_t i = 0; i < n; i += 16) {
    const SignedChunk c = ChunkAt(x, i, n);
    const __m512 v = c.values;
    const __mmask16 valid = c.valid, negative = c.negative, other = c.other;
    _mm512_storeu_ps(p.x[0] + negatives, _mm512_maskz_compress_ps(negative, v));
    _mm512_storeu_ps(p.x[1] + others, _mm512_maskz_compress_ps(other, v));
    if (dy != nullptr) {
      const __m512 d = _mm512_maskz_loadu_ps(valid, dy + i);
      _mm512_storeu_ps(p.dy[0] + negatives, _mm512_maskz_compress_ps(negative, d));
      _mm512_storeu_ps(p.dy[1] + others, _mm512_maskz_compress_ps(other, d));
    }
    negatives += __builtin_popcount(negative);
    others += __builtin_popcount(other);
  }
  p.count[0] = negatives;
  p.count[1] = others;
}

// p's results back to the places of the x they were partitioned from.
inline void ScatterBySign(const float* x, int64_t n, const SignPartition& p, float* out) {
  int64_t negatives = 0, others = 0;
  for (int64_t i = 0; i < n; i += 16) {
    const SignedChunk c = ChunkAt(x, i, n);
    const __mmask16 valid = c.valid, negative = c.negative, other = c.other;
    __m512 r = _mm512_maskz_expand_ps(negative, _mm512_loadu_ps(p.out[0] + negatives));
    r = _mm512_mask_expand_ps(r, other, _mm512_loadu_ps(p.out[1] + others));
    _mm512_mask_storeu_ps(out + i, valid, r);
    negatives += __builtin_popcount(negative);
    others += __builtin_popcount(other);
  }
}

}  // namespace internal
}  // namespace actgrad

#endif  // ACTGRAD_PACKET_AVX512

#endif  // ACTGRAD_OPS_PACKET_AVX512_H_
