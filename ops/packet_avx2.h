// -----------------------------------------------------------------------------
// File: packet_avx2.h
// -----------------------------------------------------------------------------
//
// The instructions a packet of doubles (ops/packet.h) is built on where the
// target has AVX2 and FMA but not AVX-512: the names of ops/packet_avx512.h,
// made of what AVX2 has. It has no reciprocal estimate for doubles, no
// scaling by a power of two, no exponent or mantissa extraction and no
// compress or expand, so:
//
//   - division and reciprocals are IEEE division (vdivpd runs beside the
//     FMA units);
//   - v 2^k is two multiplications by powers of two built in the exponent
//     field, so that results in the subnormals round once;
//   - exp reduces by quarters of ln 2, 2^(j / 4) chosen by two blends;
//   - log splits its argument in integer operations and takes log m from
//     s = (m - 1) / (m + 1), with no table;
//   - a block is split by sign by vpermps with a permutation from a table
//     of 256, indexed by the sign mask of eight floats.
//
// Example:
//
//   using namespace actgrad::internal;
//   const uint32_t negative = LaneBits(Splat(-1.0) < 0.0);  // 0xf

#ifndef ACTGRAD_OPS_PACKET_AVX2_H_
#define ACTGRAD_OPS_PACKET_AVX2_H_

#include <array>
#include <cmath>
#include <cstdint>

#include "ops/packet_lanes.h"

#if ACTGRAD_PACKET_AVX2

namespace actgrad {
namespace internal {

ACTGRAD_PACKET_INLINE __m256d Ymm(PacketLanes v) { return VectorCast<__m256d>(v); }
ACTGRAD_PACKET_INLINE PacketLanes FromYmm(__m256d y) { return VectorCast<PacketLanes>(y); }

// Bit i set where lane i of the comparison result `m` (all ones or zero) is.
ACTGRAD_PACKET_INLINE uint32_t LaneBits(PacketInts m) {
  return uint32_t(_mm256_movemask_pd(VectorCast<__m256d>(m)));
}

// a where bit i of `bits` is set, b elsewhere.
ACTGRAD_PACKET_INLINE PacketLanes SelectLanes(uint32_t bits, PacketLanes a, PacketLanes b) {
  const PacketInts lane_bit = {1, 2, 4, 8};
  const PacketInts chosen = ((PacketInts{} + int64_t(bits)) & lane_bit) != 0;
  return FromYmm(_mm256_blendv_pd(Ymm(b), Ymm(a), VectorCast<__m256d>(chosen)));
}

// Bit i set where lane i is infinite or NaN.
ACTGRAD_PACKET_INLINE uint32_t NonFiniteLanes(PacketLanes v) {
  return LaneBits(~(AbsLanes(v) < HUGE_VAL));
}

ACTGRAD_PACKET_INLINE PacketLanes ReciprocalInRange(PacketLanes b) { return 1.0 / b; }
ACTGRAD_PACKET_INLINE PacketLanes Divide(PacketLanes a, PacketLanes b) { return a / b; }

// The same for floats (FloatPacket, ops/packet.h).
ACTGRAD_PACKET_INLINE __m256 Ymm(FloatLanes v) { return VectorCast<__m256>(v); }
ACTGRAD_PACKET_INLINE FloatLanes FromYmm(__m256 y) { return VectorCast<FloatLanes>(y); }
ACTGRAD_PACKET_INLINE uint32_t LaneBits(FloatInts m) {
  return uint32_t(_mm256_movemask_ps(VectorCast<__m256>(m)));
}
ACTGRAD_PACKET_INLINE FloatLanes SelectLanes(uint32_t bits, FloatLanes a, FloatLanes b) {
  const FloatInts lane_bit = {1, 2, 4, 8, 16, 32, 64, 128};
  const FloatInts chosen = ((FloatInts{} + int32_t(bits)) & lane_bit) != 0;
  return FromYmm(_mm256_blendv_ps(Ymm(b), Ymm(a), VectorCast<__m256>(chosen)));
}
ACTGRAD_PACKET_INLINE uint32_t NonFiniteLanes(FloatLanes v) {
  return LaneBits(~(AbsLanes(v) < HUGE_VALF));
}
ACTGRAD_PACKET_INLINE FloatLanes Divide(FloatLanes a, FloatLanes b) { return a / b; }

// The low and high halves of a register of floats as doubles, and back.
ACTGRAD_PACKET_INLINE PacketLanes WidenLow(FloatLanes v) {
  return FromYmm(_mm256_cvtps_pd(_mm256_castps256_ps128(Ymm(v))));
}
ACTGRAD_PACKET_INLINE PacketLanes WidenHigh(FloatLanes v) {
  return FromYmm(_mm256_cvtps_pd(_mm256_extractf128_ps(Ymm(v), 1)));
}
ACTGRAD_PACKET_INLINE FloatLanes Narrow(PacketLanes low, PacketLanes high) {
  return FromYmm(_mm256_set_m128(_mm256_cvtpd_ps(Ymm(high)), _mm256_cvtpd_ps(Ymm(low))));
}

namespace packet_detail {

// max(low, min(high, x)), NaN staying NaN (vminpd and vmaxpd return their
// second operand where either is NaN).
ACTGRAD_PACKET_INLINE PacketLanes Clamp(PacketLanes x, double low, double high) {
  return FromYmm(_mm256_min_pd(_mm256_set1_pd(high), _mm256_max_pd(_mm256_set1_pd(low), Ymm(x))));
}
ACTGRAD_PACKET_INLINE PacketLanes AtLeast(PacketLanes x, double low) {
  return FromYmm(_mm256_max_pd(_mm256_set1_pd(low), Ymm(x)));
}

// 2^n for integral n in [-1022, 1023], built in the exponent field: n + 1023
// as the integer a shift by 1.5 2^52 leaves in the mantissa's low bits.
ACTGRAD_PACKET_INLINE PacketLanes Pow2(PacketLanes n) {
  return AsLanes(AsInts(n + (0x1.8p52 + 1023)) << 52);
}

// v 2^floor(k), as the exact product would round for |floor(k)| <= 2044
// (k beyond is taken as +-2044): two factors of at most 2^1022 each, the
// first exact for v in the normal range, the second rounding once into
// the subnormals or to infinity.
ACTGRAD_PACKET_INLINE PacketLanes ScaleByPow2(PacketLanes v, PacketLanes k) {
  const PacketLanes n = FromYmm(_mm256_floor_pd(Ymm(Clamp(k, -2044.0, 2044.0))));
  const PacketLanes half = FromYmm(_mm256_floor_pd(Ymm(n * 0.5)));
  return v * Pow2(half) * Pow2(n - half);
}

// v 2^floor(k / 4) for the k that ReduceExp (ops/packet_math.h) left as an
// integer in `shifted`'s mantissa: where every lane's floor(k / 4) lies in
// [-1022, 1021], 2^floor(k / 4) is built from shifted's bits in three
// integer operations, (k + 4 1023) rounded down to a multiple of four and
// moved to the exponent field; elsewhere by ScaleByPow2.
ACTGRAD_PACKET_INLINE PacketLanes ScaleByExpSteps(PacketLanes v, PacketLanes shifted,
                                                  PacketLanes k) {
  if (LaneBits(AbsLanes(k) < 4088.0) == kRegisterAll) [[likely]] {
    return v * AsLanes(((AsInts(shifted) + 4 * 1023) & ~int64_t{3}) << 50);
  }
  return ScaleByPow2(v, k * 0.25);
}

ACTGRAD_PACKET_INLINE PacketLanes Reciprocal40(PacketLanes b) { return 1.0 / b; }

// 1 / b: 0 for an infinite b and infinity for a zero one, which the
// caller's non-finite result sends to the scalar path.
ACTGRAD_PACKET_INLINE PacketLanes ReciprocalScaled(PacketLanes b) { return 1.0 / b; }

ACTGRAD_PACKET_INLINE PacketLanes SqrtLanes(PacketLanes x) {
  return FromYmm(_mm256_sqrt_pd(Ymm(x)));
}
ACTGRAD_PACKET_INLINE FloatLanes SqrtLanes(FloatLanes x) { return FromYmm(_mm256_sqrt_ps(Ymm(x))); }

// e^x is reduced by quarters of ln 2 (ops/packet_math.h): 2^(j / 4) for
// j = k mod 4, the low two bits of the integer `shifted` holds in its
// mantissa, chosen by vblendvpd, which reads the sign bit.
inline constexpr int kExpTableSize = 4;
ACTGRAD_PACKET_INLINE PacketLanes ExpTable(PacketLanes shifted) {
  const __m256d bit0 = VectorCast<__m256d>(AsInts(shifted) << 63);
  const __m256d bit1 = VectorCast<__m256d>(AsInts(shifted) << 62);
  const __m256d below_half = _mm256_blendv_pd(  // j = 0, 1
      _mm256_set1_pd(1.0), _mm256_set1_pd(1.1892071150027210667), bit0);
  const __m256d from_half = _mm256_blendv_pd(  // j = 2, 3
      _mm256_set1_pd(1.4142135623730950488), _mm256_set1_pd(1.6817928305074290861), bit0);
  return FromYmm(_mm256_blendv_pd(below_half, from_half, bit1));
}

// u = 2^e m with m in [sqrt(1/2), sqrt(2)): NaN for negative u, e = -inf
// for zero and +inf for infinity (so that e ln 2 is log's answer there);
// subnormals are split as the normal numbers they stand for.
struct LogSplit {
  PacketLanes e;
  PacketLanes m;
  PacketLanes inverse_scale;  // 2^-e for normal u, 0 elsewhere
};
ACTGRAD_PACKET_INLINE LogSplit SplitForLog(PacketLanes u) {
  constexpr double kMinNormal = 0x1p-1022;
  // Lanes that are not normal and positive: zeros, subnormals, negatives,
  // infinities and NaN; rare, and fixed below.
  const uint32_t unusual = LaneBits(~((u >= kMinNormal) & (u < HUGE_VAL)));
  PacketLanes scaled = u, bias = PacketLanes{};
  if (unusual != 0) [[unlikely]] {
    const PacketInts subnormal = u < kMinNormal;
    scaled = subnormal ? u * 0x1p54 : u;
    bias = subnormal ? Splat(54.0) : PacketLanes{};
  }
  const PacketInts bits = AsInts(scaled);
  // The biased exponent (with the sign bit above it), converted by
  // setting an integer below 2^52 into 2^52's mantissa.
  const PacketInts exponent_bits =
      VectorCast<PacketInts>(_mm256_srli_epi64(VectorCast<__m256i>(bits), 52));
  const PacketLanes biased = AsLanes(exponent_bits | AsInts(Splat(0x1p52))) - 0x1p52;
  PacketLanes m = AsLanes((bits & int64_t{0x000fffffffffffff}) | AsInts(Splat(1.0)));
  const PacketInts high = m > 1.4142135623730950488;
  m = high ? m * 0.5 : m;
  PacketLanes e = biased - (1023.0 + bias) + AsLanes(high & AsInts(Splat(1.0)));
  // 2^-e: the biased exponent 2046 - biased - [high] (high is -1 or 0).
  PacketLanes inverse_scale = AsLanes((2046 - exponent_bits + high) << 52);
  if (unusual != 0) [[unlikely]] {
    const PacketInts normal = (u >= kMinNormal) & (u < HUGE_VAL);
    inverse_scale = AsLanes(AsInts(inverse_scale) & normal);
    e = u == 0.0 ? Splat(-HUGE_VAL) : e;
    e = u == HUGE_VAL ? Splat(HUGE_VAL) : e;
    m = (u < 0.0) | (u != u) ? Splat(NAN) : m;
  }
  return {e, m, inverse_scale};
}

// log(u + c) for a split u and a correction c below u's last bit:
// e ln 2 + 2 atanh(s) with s = (m - 1 + c') / (m + 1 + c') for c' = c 2^-e,
// |s| <= 0.172, and
// atanh by its series to s^13 / 13, within 2^-39 relative. m - 1 is exact
// for m in [sqrt(1/2), sqrt(2)).
template <bool kCorrected>
ACTGRAD_PACKET_INLINE PacketLanes LogOfSplit(const LogSplit& split, PacketLanes c) {
  PacketLanes numerator = split.m - 1.0, denominator = split.m + 1.0;
  if constexpr (kCorrected) {
    const PacketLanes scaled = c * split.inverse_scale;
    numerator += scaled, denominator += scaled;
  }
  const PacketLanes s = numerator / denominator;
  const PacketLanes z = s * s, z2 = z * z, z4 = z2 * z2;
  // 2/3 + 2/5 z + ... + 2/13 z^5, in Estrin's order.
  const PacketLanes p01 = Fma(z, Splat(2.0 / 5), Splat(2.0 / 3));
  const PacketLanes p23 = Fma(z, Splat(2.0 / 9), Splat(2.0 / 7));
  const PacketLanes p45 = Fma(z, Splat(2.0 / 13), Splat(2.0 / 11));
  const PacketLanes p = Fma(z4, p45, Fma(z2, p23, p01));
  return Fma(split.e, Splat(0.69314718055994530942), Fma(s * z, p, s + s));
}

}  // namespace packet_detail

// ------------------------------------------------------------- float32 I/O

ACTGRAD_PACKET_INLINE PacketLanes LoadWidened(const float* p) {
  return FromYmm(_mm256_cvtps_pd(_mm_loadu_ps(p)));
}
ACTGRAD_PACKET_INLINE void StoreNarrowed(PacketLanes v, float* p) {
  _mm_storeu_ps(p, _mm256_cvtpd_ps(Ymm(v)));
}

// ------------------------------------------------------------- sign split

// For each mask of eight lanes, the vpermps indices (three bits each, in
// nibbles) that pack the lanes set in it to the front (compress), and
// those that spread the front elements back to the lanes set (expand).
struct SignPermutations {
  std::array<uint32_t, 256> compress{}, expand{};
};
inline constexpr SignPermutations kSignPermutations = [] {
  SignPermutations t;
  for (uint32_t mask = 0; mask < 256; ++mask) {
    uint32_t packed = 0;
    for (uint32_t lane = 0; lane < 8; ++lane) {
      if (mask >> lane & 1) {
        t.compress[mask] |= lane << (4 * packed);
        t.expand[mask] |= packed << (4 * lane);
        ++packed;
      }
    }
  }
  return t;
}();

ACTGRAD_PACKET_INLINE __m256i PermutationIndices(uint32_t nibbles) {
  return _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(int(nibbles)),
                                            _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28)),
                          _mm256_set1_epi32(7));
}

// The lanes of eight floats that are negative, as vcmpps's mask and as bits.
struct SignedChunk {
  __m256 negative_mask;
  uint32_t negative, other;
};
ACTGRAD_PACKET_INLINE SignedChunk SignsOf(__m256 v) {
  SignedChunk c;
  c.negative_mask = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ);
  c.negative = uint32_t(_mm256_movemask_ps(c.negative_mask));
  c.other = ~c.negative & 0xff;
  return c;
}

// x[0, n) and dy (if not null) into p's rows: x < 0 first, the rest second.
inline void PartitionBySign(const float* x, const float* dy, int64_t n, SignPartition& p) {
  int64_t negatives = 0, others = 0;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    const SignedChunk c = SignsOf(v);
    const __m256i to_negatives = PermutationIndices(kSignPermutations.compress[c.negative]);
    const __m256i to_others = PermutationIndices(kSignPermutations.compress[c.other]);
    _mm256_storeu_ps(p.x[0] + negatives, _mm256_permutevar8x32_ps(v, to_negatives));
    _mm256_storeu_ps(p.x[1] + others, _mm256_permutevar8x32_ps(v, to_others));
    if (dy != nullptr) {
      const __m256 d = _mm256_loadu_ps(dy + i);
      _mm256_storeu_ps(p.dy[0] + negatives, _mm256_permutevar8x32_ps(d, to_negatives));
      _mm256_storeu_ps(p.dy[1] + others, _mm256_permutevar8x32_ps(d, to_others));
    }
    negatives += __builtin_popcount(c.negative);
    others += __builtin_popcount(c.other);
  }
  for (; i < n; ++i) {
    const int side = x[i] < 0.0f ? 0 : 1;
    int64_t& count = side == 0 ? negatives : others;
    p.x[side][count] = x[i];
    if (dy != nullptr) p.dy[side][count] = dy[i];
    ++count;
  }
  p.count[0] = negatives;
  p.count[1] = others;
}

// p's results back to the places of the x they were partitioned from.
inline void ScatterBySign(const float* x, int64_t n, const SignPartition& p, float* out) {
  int64_t negatives = 0, others = 0;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const SignedChunk c = SignsOf(_mm256_loadu_ps(x + i));
    const __m256 from_negatives =
        _mm256_permutevar8x32_ps(_mm256_loadu_ps(p.out[0] + negatives),
                                 PermutationIndices(kSignPermutations.expand[c.negative]));
    const __m256 from_others = _mm256_permutevar8x32_ps(
        _mm256_loadu_ps(p.out[1] + others), PermutationIndices(kSignPermutations.expand[c.other]));
    _mm256_storeu_ps(out + i, _mm256_blendv_ps(from_others, from_negatives, c.negative_mask));
    negatives += __builtin_popcount(c.negative);
    others += __builtin_popcount(c.other);
  }
  for (; i < n; ++i) {
    out[i] = x[i] < 0.0f ? p.out[0][negatives++] : p.out[1][others++];
  }
}

}  // namespace internal
}  // namespace actgrad

#endif  // ACTGRAD_PACKET_AVX2

#endif  // ACTGRAD_OPS_PACKET_AVX2_H_
