// -----------------------------------------------------------------------------
// File: packet_lanes.h
// -----------------------------------------------------------------------------
//
// The registers a packet (ops/packet.h) is made of: a vector as wide as the
// target's registers, eight doubles or sixteen floats with AVX-512 (F and
// DQ), four doubles or eight floats with AVX2 and FMA, and the operations
// every instruction set does the same way. What each set does its own way (masks, reciprocals, the
// tables of exp and log, splitting a block by sign) is in ops/packet_avx512.h and
// ops/packet_avx2.h, which ops/packet.h includes; ACTGRAD_HAS_PACKETS says
// whether the target has either. Elsewhere float32 takes the scalar path.
//
// Example:
//
//   using namespace actgrad::internal;
//   const PacketLanes x = Splat(-2.0);
//   const PacketLanes y = Fma(AbsLanes(x), x, Splat(1.0));  // -3 in every lane

#ifndef ACTGRAD_OPS_PACKET_LANES_H_
#define ACTGRAD_OPS_PACKET_LANES_H_

#include <cstdint>

#if defined(__AVX512F__) && defined(__AVX512DQ__)
#define ACTGRAD_PACKET_AVX512 1
#define ACTGRAD_PACKET_AVX2 0
#elif defined(__AVX2__) && defined(__FMA__)
#define ACTGRAD_PACKET_AVX512 0
#define ACTGRAD_PACKET_AVX2 1
#else
#define ACTGRAD_PACKET_AVX512 0
#define ACTGRAD_PACKET_AVX2 0
#endif
#define ACTGRAD_HAS_PACKETS (ACTGRAD_PACKET_AVX512 || ACTGRAD_PACKET_AVX2)

#if ACTGRAD_HAS_PACKETS

#include <immintrin.h>

// Every function on packets inlines into the loop that evaluates a formula:
// one left out of line passes its packets through memory, and GCC's
// heuristics leave the larger ones out of line even under [[gnu::flatten]].
#define ACTGRAD_PACKET_INLINE [[gnu::always_inline]] inline

namespace actgrad {
namespace internal {

inline constexpr int kRegisterLanes = ACTGRAD_PACKET_AVX512 ? 8 : 4;
inline constexpr uint32_t kRegisterAll = (1u << kRegisterLanes) - 1;
typedef double PacketLanes __attribute__((vector_size(kRegisterLanes * sizeof(double))));
typedef int64_t PacketInts __attribute__((vector_size(kRegisterLanes * sizeof(int64_t))));

// The same bits as another vector type of the same size (the intrinsics'
// __m512d or __m256d and the vector extensions' types): GCC converts
// vectors only by a cast of this form.
template <typename To, typename From>
requires(sizeof(To) == sizeof(From)) inline To VectorCast(From v) {
  return (To)v;  // NOLINT(readability/casting)
}

ACTGRAD_PACKET_INLINE PacketInts AsInts(PacketLanes v) { return VectorCast<PacketInts>(v); }
ACTGRAD_PACKET_INLINE PacketLanes AsLanes(PacketInts v) { return VectorCast<PacketLanes>(v); }

ACTGRAD_PACKET_INLINE PacketLanes Splat(double c) { return PacketLanes{} + c; }

// a * b + c, which GCC fuses where the target has FMA.
ACTGRAD_PACKET_INLINE PacketLanes Fma(PacketLanes a, PacketLanes b, PacketLanes c) {
  return a * b + c;
}

ACTGRAD_PACKET_INLINE PacketLanes AbsLanes(PacketLanes v) {
  return AsLanes(AsInts(v) & int64_t{0x7fffffffffffffff});
}

// The same register holding floats (16 with AVX-512, 8 with AVX2), for
// formulas evaluated in float itself (FloatPacket, ops/packet.h).
inline constexpr int kFloatRegisterLanes = 2 * kRegisterLanes;
typedef float FloatLanes __attribute__((vector_size(kFloatRegisterLanes * sizeof(float))));
typedef int32_t FloatInts __attribute__((vector_size(kFloatRegisterLanes * sizeof(int32_t))));

ACTGRAD_PACKET_INLINE FloatInts AsInts(FloatLanes v) { return VectorCast<FloatInts>(v); }
ACTGRAD_PACKET_INLINE FloatLanes AsLanes(FloatInts v) { return VectorCast<FloatLanes>(v); }
ACTGRAD_PACKET_INLINE FloatLanes SplatFloat(float c) { return FloatLanes{} + c; }
ACTGRAD_PACKET_INLINE FloatLanes Fma(FloatLanes a, FloatLanes b, FloatLanes c) { return a * b + c; }
ACTGRAD_PACKET_INLINE FloatLanes AbsLanes(FloatLanes v) {
  return AsLanes(AsInts(v) & int32_t{0x7fffffff});
}

// A float32 block split by sign (x < 0, then the rest) with its dy, for the
// formulas whose lanes take different paths at zero (ops/generic_packet.h).
// Each row has a register's slack for a full-width store after its last
// element.
inline constexpr int64_t kSignBlock = 1024;
struct SignPartition {
  alignas(64) float x[2][kSignBlock + 16];
  alignas(64) float dy[2][kSignBlock + 16];
  alignas(64) float out[2][kSignBlock + 16];
  int64_t count[2];
};

}  // namespace internal
}  // namespace actgrad

#endif  // ACTGRAD_HAS_PACKETS

#endif  // ACTGRAD_OPS_PACKET_LANES_H_
