// -----------------------------------------------------------------------------
// File: packet.h
// -----------------------------------------------------------------------------
//
// A number type of several doubles evaluated at once (32 with AVX-512, 16
// with AVX2), for running an activation's generic formula
// (ops/generic_formula.h) on float32 tensors a packet at a time
// (ops/generic_packet.h): arithmetic, comparisons and branches here, the
// elementary functions in ops/packet_math.h.
//
// It is built where the compiler targets AVX-512 (F and DQ) or AVX2 with
// FMA (ACTGRAD_HAS_PACKETS says whether it was): GCC's vector extensions
// and the intrinsics (ops/packet_avx512.h, ops/packet_avx2.h), inline, in
// headers, so that a plugin or user program compiles it into its own code.
// The formula, its dual numbers and the functions it calls then inline into
// one loop body, which is what makes it fast. Elsewhere float32 takes the
// scalar path.
//
// A packet is four registers, so that each operation is four independent
// instruction streams: a formula is a long chain of dependent operations,
// and with one register its latency, not the core's throughput, sets the
// pace (mish took twice as long).
//
// Division: with AVX-512, a 14-bit reciprocal estimate refined by two
// Newton steps (within 3 ulps of double), with IEEE division for packets
// holding zeros, infinities or the extremes of the range; with AVX2, IEEE
// division.
//
// Branches. A comparison of packets must give one bool, for `?:` and `if`.
// Evaluation runs in passes: each comparison answers as the first lane still
// on the pass's path would, and lanes that would have answered otherwise
// leave the path. Lanes still on it at the end have their result; the rest
// are evaluated again in another pass. A formula whose lanes agree takes
// one pass.
//
// Example:
//
//   using actgrad::internal::DoublePacket;
//   DoublePacket x(0.5);  // 0.5 in every lane
//   x.set(3, -2.0);
//   DoublePacket y = x * x + 1.0;  // y[3] == 5

#ifndef ACTGRAD_OPS_PACKET_H_
#define ACTGRAD_OPS_PACKET_H_

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "ops/dual.h"
#include "ops/packet_avx2.h"
#include "ops/packet_avx512.h"
#include "ops/packet_lanes.h"

#if ACTGRAD_HAS_PACKETS

namespace actgrad {
namespace internal {

// ------------------------------------------------------------- the packet

// Several registers per packet: each operation on a packet is that many
// independent instruction streams, which the core overlaps. With one
// register, a formula is one chain of dependent operations per packet, and
// its latency, not the core's throughput, sets the pace. (GCC splits a
// vector type wider than a register lane by lane where it has a select, so
// the registers are explicit.)
inline constexpr int kPacketRegisters = 4;
inline constexpr int kPacketLanes = kPacketRegisters * kRegisterLanes;
static_assert(kPacketLanes <= 32);
inline constexpr uint32_t kAllLanes = ~uint32_t{0} >> (32 - kPacketLanes);

struct DoublePacket {
  PacketLanes half[kPacketRegisters];

  DoublePacket() : half{} {}
  // A constant in every lane; implicit, as for dual numbers.
  template <typename S>
  requires std::is_arithmetic_v<S> DoublePacket(S c) {
    [&]<int... kIndex>(std::integer_sequence<int, kIndex...>) __attribute__((always_inline)) {
      ((half[kIndex] = PacketLanes{} + double(c)), ...);
    }
    (std::make_integer_sequence<int, kPacketRegisters>{});
  }

  double operator[](int lane) const { return half[lane / kRegisterLanes][lane % kRegisterLanes]; }
  void set(int lane, double value) { half[lane / kRegisterLanes][lane % kRegisterLanes] = value; }

  DoublePacket& operator+=(const DoublePacket& o);
  DoublePacket& operator-=(const DoublePacket& o);
  DoublePacket& operator*=(const DoublePacket& o);
  DoublePacket& operator/=(const DoublePacket& o);
};

// fn(i) for each register index i, unrolled at compile time: with a loop,
// GCC keeps a packet's registers in memory (scalar replacement of the
// array runs before loops are unrolled) and the packet runs at a third of
// the speed.
template <typename Fn>
[[gnu::always_inline]] inline void ForEachRegister(Fn fn) {
  [&]<int... kIndex>(std::integer_sequence<int, kIndex...>) __attribute__((always_inline)) {
    (fn(std::integral_constant<int, kIndex>{}), ...);
  }
  (std::make_integer_sequence<int, kPacketRegisters>{});
}

// fn applied to each register of the operands.
template <typename Fn>
[[gnu::always_inline]] inline DoublePacket PerRegister(const DoublePacket& a, Fn fn) {
  DoublePacket r;
  ForEachRegister([&](auto i) { r.half[i] = fn(a.half[i]); });
  return r;
}
template <typename Fn>
[[gnu::always_inline]] inline DoublePacket PerRegister(const DoublePacket& a, const DoublePacket& b,
                                                       Fn fn) {
  DoublePacket r;
  ForEachRegister([&](auto i) { r.half[i] = fn(a.half[i], b.half[i]); });
  return r;
}
// The lane bits of a per-register comparison.
template <typename Fn>
[[gnu::always_inline]] inline uint32_t PacketBits(const DoublePacket& a, const DoublePacket& b,
                                                  Fn fn) {
  uint32_t bits = 0;
  ForEachRegister(
      [&](auto i) { bits |= LaneBits(fn(a.half[i], b.half[i])) << (i * kRegisterLanes); });
  return bits;
}
template <typename Fn>
[[gnu::always_inline]] inline uint32_t PacketBits(const DoublePacket& a, Fn fn) {
  return PacketBits(a, a, [&fn](PacketLanes x, PacketLanes) { return fn(x); });
}
ACTGRAD_PACKET_INLINE DoublePacket SelectLanes(uint32_t bits, const DoublePacket& a,
                                               const DoublePacket& b) {
  DoublePacket r;
  ForEachRegister([&](auto i) {
    r.half[i] = SelectLanes(bits >> (i * kRegisterLanes) & kRegisterAll, a.half[i], b.half[i]);
  });
  return r;
}

// ------------------------------------------------------------- arithmetic

ACTGRAD_PACKET_INLINE DoublePacket operator+(const DoublePacket& a) { return a; }
ACTGRAD_PACKET_INLINE DoublePacket operator-(const DoublePacket& a) {
  return PerRegister(a, [](PacketLanes x) { return -x; });
}
ACTGRAD_PACKET_INLINE DoublePacket operator+(const DoublePacket& a, const DoublePacket& b) {
  return PerRegister(a, b, [](PacketLanes x, PacketLanes y) { return x + y; });
}
ACTGRAD_PACKET_INLINE DoublePacket operator-(const DoublePacket& a, const DoublePacket& b) {
  return PerRegister(a, b, [](PacketLanes x, PacketLanes y) { return x - y; });
}
ACTGRAD_PACKET_INLINE DoublePacket operator*(const DoublePacket& a, const DoublePacket& b) {
  return PerRegister(a, b, [](PacketLanes x, PacketLanes y) { return x * y; });
}
ACTGRAD_PACKET_INLINE DoublePacket operator/(const DoublePacket& a, const DoublePacket& b) {
  return PerRegister(a, b, [](PacketLanes x, PacketLanes y) { return Divide(x, y); });
}
// A packet and a plain number, the number standing in every lane: for the
// arithmetic here and the comparisons below.
#define ACTGRAD_PACKET_MIXED(result, op)                                         \
  template <typename S>                                                          \
  requires std::is_arithmetic_v<S>                                               \
  [[gnu::always_inline]] inline result operator op(const DoublePacket& a, S b) { \
    return a op DoublePacket(b);                                                 \
  }                                                                              \
  template <typename S>                                                          \
  requires std::is_arithmetic_v<S>                                               \
  [[gnu::always_inline]] inline result operator op(S a, const DoublePacket& b) { \
    return DoublePacket(a) op b;                                                 \
  }
ACTGRAD_PACKET_MIXED(DoublePacket, +)
ACTGRAD_PACKET_MIXED(DoublePacket, -)
ACTGRAD_PACKET_MIXED(DoublePacket, *)
ACTGRAD_PACKET_MIXED(DoublePacket, /)

ACTGRAD_PACKET_INLINE DoublePacket& DoublePacket::operator+=(const DoublePacket& o) {
  return *this = *this + o;
}
ACTGRAD_PACKET_INLINE DoublePacket& DoublePacket::operator-=(const DoublePacket& o) {
  return *this = *this - o;
}
ACTGRAD_PACKET_INLINE DoublePacket& DoublePacket::operator*=(const DoublePacket& o) {
  return *this = *this * o;
}
ACTGRAD_PACKET_INLINE DoublePacket& DoublePacket::operator/=(const DoublePacket& o) {
  return *this = *this / o;
}

// ------------------------------------------------------------- branches

// The lanes still on the current pass's path (bit i for lane i). Thread-
// local: ParallelFor evaluates ranges on several threads at once.
inline thread_local uint32_t packet_path_lanes = kAllLanes;

// The one answer of a comparison whose lanes answer `lanes_true`: that of
// the first lane on the path; lanes answering otherwise leave it.
ACTGRAD_PACKET_INLINE bool FollowPath(uint32_t lanes_true) {
  uint32_t& path = packet_path_lanes;
  const uint32_t on_true = lanes_true & path;
  // Lanes that agree, the common case, leave the path as it is.
  if (on_true == path) return true;
  if (on_true == 0) return false;
  const uint32_t lead = path & (~path + 1);
  const bool answer = (on_true & lead) != 0;
  path = answer ? on_true : path & ~on_true;
  return answer;
}

#define ACTGRAD_PACKET_COMPARISON(op)                                                         \
  ACTGRAD_PACKET_INLINE bool operator op(const DoublePacket& a, const DoublePacket& b) {      \
    return FollowPath(PacketBits(a, b, [](PacketLanes x, PacketLanes y) { return x op y; })); \
  }                                                                                           \
  ACTGRAD_PACKET_MIXED(bool, op)
ACTGRAD_PACKET_COMPARISON(==)
ACTGRAD_PACKET_COMPARISON(!=)
ACTGRAD_PACKET_COMPARISON(<)
ACTGRAD_PACKET_COMPARISON(<=)
ACTGRAD_PACKET_COMPARISON(>)
ACTGRAD_PACKET_COMPARISON(>=)
#undef ACTGRAD_PACKET_COMPARISON
#undef ACTGRAD_PACKET_MIXED

ACTGRAD_PACKET_INLINE bool isnan(const DoublePacket& x) {
  return FollowPath(PacketBits(x, [](PacketLanes v) { return v != v; }));
}
ACTGRAD_PACKET_INLINE bool isinf(const DoublePacket& x) {
  return FollowPath(PacketBits(x, [](PacketLanes v) { return AbsLanes(v) == HUGE_VAL; }));
}
ACTGRAD_PACKET_INLINE bool isfinite(const DoublePacket& x) {
  return FollowPath(PacketBits(x, [](PacketLanes v) { return AbsLanes(v) < HUGE_VAL; }));
}
ACTGRAD_PACKET_INLINE bool signbit(const DoublePacket& x) {
  return FollowPath(PacketBits(x, [](PacketLanes v) { return AsInts(v) < 0; }));
}

// Dual numbers compare and take constants through these.
ACTGRAD_PACKET_INLINE DoublePacket Primal(const DoublePacket& x) { return x; }

}  // namespace internal

template <>
struct ScalarOf<internal::DoublePacket> {
  using type = double;
};

}  // namespace actgrad

#endif  // ACTGRAD_HAS_PACKETS

#endif  // ACTGRAD_OPS_PACKET_H_
