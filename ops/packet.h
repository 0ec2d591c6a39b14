// -----------------------------------------------------------------------------
// File: packet.h
// -----------------------------------------------------------------------------
//
// Number types of several lanes evaluated at once, for running an
// activation's generic formula (ops/generic_formula.h) on float32 tensors a
// packet at a time (ops/generic_packet.h): DoublePacket, 32 doubles with
// AVX-512 or 16 with AVX2, and FloatPacket, 32 floats, for formulas that
// keep their accuracy evaluated in float (ops/float_evaluation.h).
// Arithmetic, comparisons and branches are here, the elementary functions
// in ops/packet_math.h and ops/packet_math_float.h.
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
// Division of doubles: with AVX-512, a 14-bit reciprocal estimate refined
// by two Newton steps (within 3 ulps of double), with IEEE division for
// packets holding zeros, infinities or the extremes of the range; with
// AVX2, IEEE division. Floats divide by IEEE division.
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

// The lane types a packet is made of: doubles, or floats for formulas
// evaluated in float itself.
template <typename L>
struct LaneTraits;
template <>
struct LaneTraits<PacketLanes> {
  using Scalar = double;
  static constexpr int kRegisterLanes = ::actgrad::internal::kRegisterLanes;
};
template <>
struct LaneTraits<FloatLanes> {
  using Scalar = float;
  static constexpr int kRegisterLanes = kFloatRegisterLanes;
};

// Several registers per packet: each operation on a packet is that many
// independent instruction streams, which the core overlaps. With one
// register, a formula is one chain of dependent operations per packet, and
// its latency, not the core's throughput, sets the pace. (GCC splits a
// vector type wider than a register lane by lane where it has a select, so
// the registers are explicit.) A packet of doubles is four registers; one
// of floats holds as many lanes, 32, which the path's bits are sized for.
inline constexpr int kPacketRegisters = 4;
inline constexpr int kPacketLanes = kPacketRegisters * kRegisterLanes;
static_assert(kPacketLanes <= 32);
inline constexpr uint32_t kAllLanes = ~uint32_t{0} >> (32 - kPacketLanes);

template <typename L>
struct Packet {
  using Lanes = L;
  using Scalar = typename LaneTraits<L>::Scalar;
  static constexpr int kRegisterLanes = LaneTraits<L>::kRegisterLanes;
  static constexpr int kRegisters =
      std::is_same_v<Scalar, double> ? kPacketRegisters : 32 / kRegisterLanes;
  static constexpr int kLanes = kRegisters * kRegisterLanes;
  static constexpr uint32_t kAll = ~uint32_t{0} >> (32 - kLanes);
  static_assert(kLanes <= 32);

  L half[kRegisters];

  Packet() : half{} {}
  // A constant in every lane; implicit, as for dual numbers.
  template <typename S>
  requires std::is_arithmetic_v<S> Packet(S c) {
    [&]<int... kIndex>(std::integer_sequence<int, kIndex...>) __attribute__((always_inline)) {
      ((half[kIndex] = L{} + Scalar(c)), ...);
    }
    (std::make_integer_sequence<int, kRegisters>{});
  }

  Scalar operator[](int lane) const { return half[lane / kRegisterLanes][lane % kRegisterLanes]; }
  void set(int lane, Scalar value) { half[lane / kRegisterLanes][lane % kRegisterLanes] = value; }

  Packet& operator+=(const Packet& o);
  Packet& operator-=(const Packet& o);
  Packet& operator*=(const Packet& o);
  Packet& operator/=(const Packet& o);
};

using DoublePacket = Packet<PacketLanes>;
// Floats evaluated in float: twice the lanes per instruction and a cheaper
// division, within a few ulps instead of one; ops/float_evaluation.h
// decides, per formula, whether a formula keeps its accuracy this way.
using FloatPacket = Packet<FloatLanes>;

template <typename T>
inline constexpr bool kIsPacket = false;
template <typename L>
inline constexpr bool kIsPacket<Packet<L>> = true;

// fn(i) for each register index i of a packet of type P (a packet of
// doubles where not given), unrolled at compile time: with a loop, GCC
// keeps a packet's registers in memory (scalar replacement of the array
// runs before loops are unrolled) and the packet runs at a third of the
// speed.
template <typename P = DoublePacket, typename Fn>
[[gnu::always_inline]] inline void ForEachRegister(Fn fn) {
  [&]<int... kIndex>(std::integer_sequence<int, kIndex...>) __attribute__((always_inline)) {
    (fn(std::integral_constant<int, kIndex>{}), ...);
  }
  (std::make_integer_sequence<int, P::kRegisters>{});
}

// fn applied to each register of the operands.
template <typename L, typename Fn>
[[gnu::always_inline]] inline Packet<L> PerRegister(const Packet<L>& a, Fn fn) {
  Packet<L> r;
  ForEachRegister<Packet<L>>([&](auto i) { r.half[i] = fn(a.half[i]); });
  return r;
}
template <typename L, typename Fn>
[[gnu::always_inline]] inline Packet<L> PerRegister(const Packet<L>& a, const Packet<L>& b, Fn fn) {
  Packet<L> r;
  ForEachRegister<Packet<L>>([&](auto i) { r.half[i] = fn(a.half[i], b.half[i]); });
  return r;
}
// The lane bits of a per-register comparison.
template <typename L, typename Fn>
[[gnu::always_inline]] inline uint32_t PacketBits(const Packet<L>& a, const Packet<L>& b, Fn fn) {
  uint32_t bits = 0;
  ForEachRegister<Packet<L>>([&](auto i) {
    bits |= LaneBits(fn(a.half[i], b.half[i])) << (i * Packet<L>::kRegisterLanes);
  });
  return bits;
}
template <typename L, typename Fn>
[[gnu::always_inline]] inline uint32_t PacketBits(const Packet<L>& a, Fn fn) {
  return PacketBits(a, a, [&fn](L x, L) { return fn(x); });
}
template <typename L>
ACTGRAD_PACKET_INLINE Packet<L> SelectLanes(uint32_t bits, const Packet<L>& a, const Packet<L>& b) {
  constexpr int kWidth = Packet<L>::kRegisterLanes;
  Packet<L> r;
  ForEachRegister<Packet<L>>([&](auto i) {
    r.half[i] =
        SelectLanes(bits >> (i * kWidth) & ((uint32_t{1} << kWidth) - 1), a.half[i], b.half[i]);
  });
  return r;
}

// ------------------------------------------------------------- arithmetic

template <typename L>
ACTGRAD_PACKET_INLINE Packet<L> operator+(const Packet<L>& a) {
  return a;
}
template <typename L>
ACTGRAD_PACKET_INLINE Packet<L> operator-(const Packet<L>& a) {
  return PerRegister(a, [](L x) { return -x; });
}
template <typename L>
ACTGRAD_PACKET_INLINE Packet<L> operator+(const Packet<L>& a, const Packet<L>& b) {
  return PerRegister(a, b, [](L x, L y) { return x + y; });
}
template <typename L>
ACTGRAD_PACKET_INLINE Packet<L> operator-(const Packet<L>& a, const Packet<L>& b) {
  return PerRegister(a, b, [](L x, L y) { return x - y; });
}
template <typename L>
ACTGRAD_PACKET_INLINE Packet<L> operator*(const Packet<L>& a, const Packet<L>& b) {
  return PerRegister(a, b, [](L x, L y) { return x * y; });
}
template <typename L>
ACTGRAD_PACKET_INLINE Packet<L> operator/(const Packet<L>& a, const Packet<L>& b) {
  return PerRegister(a, b, [](L x, L y) { return Divide(x, y); });
}
// A packet and a plain number, the number standing in every lane: for the
// arithmetic here and the comparisons below.
#define ACTGRAD_PACKET_MIXED(result, op)                                      \
  template <typename L, typename S>                                           \
  requires std::is_arithmetic_v<S>                                            \
  [[gnu::always_inline]] inline result operator op(const Packet<L>& a, S b) { \
    return a op Packet<L>(b);                                                 \
  }                                                                           \
  template <typename L, typename S>                                           \
  requires std::is_arithmetic_v<S>                                            \
  [[gnu::always_inline]] inline result operator op(S a, const Packet<L>& b) { \
    return Packet<L>(a) op b;                                                 \
  }
ACTGRAD_PACKET_MIXED(Packet<L>, +)
ACTGRAD_PACKET_MIXED(Packet<L>, -)
ACTGRAD_PACKET_MIXED(Packet<L>, *)
ACTGRAD_PACKET_MIXED(Packet<L>, /)

template <typename L>
ACTGRAD_PACKET_INLINE Packet<L>& Packet<L>::operator+=(const Packet<L>& o) {
  return *this = *this + o;
}
template <typename L>
ACTGRAD_PACKET_INLINE Packet<L>& Packet<L>::operator-=(const Packet<L>& o) {
  return *this = *this - o;
}
template <typename L>
ACTGRAD_PACKET_INLINE Packet<L>& Packet<L>::operator*=(const Packet<L>& o) {
  return *this = *this * o;
}
template <typename L>
ACTGRAD_PACKET_INLINE Packet<L>& Packet<L>::operator/=(const Packet<L>& o) {
  return *this = *this / o;
}

// ------------------------------------------------------------- branches

// The lanes still on the current pass's path (bit i for lane i). Thread-
// local: ParallelFor evaluates ranges on several threads at once. One
// variable for the library and every plugin (a unique symbol), in the
// library's static TLS block: initial-exec, so that a plugin's maps, built
// as position-independent code, reach it through the thread pointer rather
// than a call per packet that spills the formula's registers.
inline thread_local uint32_t packet_path_lanes
    __attribute__((tls_model("initial-exec"), visibility("default"))) = kAllLanes;

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

#define ACTGRAD_PACKET_COMPARISON(op)                                              \
  template <typename L>                                                            \
  ACTGRAD_PACKET_INLINE bool operator op(const Packet<L>& a, const Packet<L>& b) { \
    return FollowPath(PacketBits(a, b, [](L x, L y) { return x op y; }));          \
  }                                                                                \
  ACTGRAD_PACKET_MIXED(bool, op)
ACTGRAD_PACKET_COMPARISON(==)
ACTGRAD_PACKET_COMPARISON(!=)
ACTGRAD_PACKET_COMPARISON(<)
ACTGRAD_PACKET_COMPARISON(<=)
ACTGRAD_PACKET_COMPARISON(>)
ACTGRAD_PACKET_COMPARISON(>=)
#undef ACTGRAD_PACKET_COMPARISON
#undef ACTGRAD_PACKET_MIXED

template <typename L>
ACTGRAD_PACKET_INLINE bool isnan(const Packet<L>& x) {
  return FollowPath(PacketBits(x, [](L v) { return v != v; }));
}
template <typename L>
ACTGRAD_PACKET_INLINE bool isinf(const Packet<L>& x) {
  using Scalar = typename Packet<L>::Scalar;
  return FollowPath(PacketBits(x, [](L v) { return AbsLanes(v) == Scalar(HUGE_VAL); }));
}
template <typename L>
ACTGRAD_PACKET_INLINE bool isfinite(const Packet<L>& x) {
  using Scalar = typename Packet<L>::Scalar;
  return FollowPath(PacketBits(x, [](L v) { return AbsLanes(v) < Scalar(HUGE_VAL); }));
}
template <typename L>
ACTGRAD_PACKET_INLINE bool signbit(const Packet<L>& x) {
  return FollowPath(PacketBits(x, [](L v) { return AsInts(v) < 0; }));
}

// Dual numbers compare and take constants through these.
template <typename L>
ACTGRAD_PACKET_INLINE Packet<L> Primal(const Packet<L>& x) {
  return x;
}

}  // namespace internal

template <typename L>
struct ScalarOf<internal::Packet<L>> {
  using type = typename internal::Packet<L>::Scalar;
};

}  // namespace actgrad

#endif  // ACTGRAD_HAS_PACKETS

#endif  // ACTGRAD_OPS_PACKET_H_
