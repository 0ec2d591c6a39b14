// -----------------------------------------------------------------------------
// File: mixed_dual.h
// -----------------------------------------------------------------------------
//
// Dual numbers over packets of floats (ops/packet.h) whose tangent is held in
// double: the derivative of a generic formula whose values run in float.
// Each value is the float function of ops/packet_math_float.h; each tangent
// is that function's derivative written in the float values it already has
// (e for e^x, 1 / (1 + v) for log1p, 4w / (1 + w)^2 for tanh with
// w = e^(-2|v|)), times the incoming tangent, in double. The chain rule's
// products and sums then add no rounding of their own, and the derivative
// is as accurate as the float values it is built from: dual numbers
// entirely in float lost 4.5 ulps in mish's derivative, where its two
// terms cancel; this loses 1.7 (ops/float_evaluation.h measures each
// formula before it runs this way).
//
// WidePacket holds a FloatPacket's 32 lanes as doubles, two registers of
// doubles per register of floats, lane for lane.
//
// Example:
//
//   using actgrad::internal::FloatPacket;
//   using actgrad::internal::WidePacket;
//   actgrad::Dual<FloatPacket> x(FloatPacket(0.5f), WidePacket(1.0));
//   auto y = exp(x);  // y.tangent: e^0.5f in every lane, in double

#ifndef ACTGRAD_OPS_MIXED_DUAL_H_
#define ACTGRAD_OPS_MIXED_DUAL_H_

#include <cstdint>
#include <type_traits>

#include "ops/dual.h"
#include "ops/packet.h"

#if ACTGRAD_HAS_PACKETS

namespace actgrad {
namespace internal {

struct WidePacket {
  using Scalar = double;
  static constexpr int kRegisters = 2 * FloatPacket::kRegisters;
  static constexpr int kRegisterLanes = ::actgrad::internal::kRegisterLanes;
  static_assert(kRegisters * kRegisterLanes == FloatPacket::kLanes);

  PacketLanes half[kRegisters];

  WidePacket() : half{} {}
  template <typename S>
  requires std::is_arithmetic_v<S> WidePacket(S c) {
    ForEachRegister<WidePacket>([&](auto i) { half[i] = Splat(double(c)); });
  }
  // Widening is exact.
  explicit WidePacket(const FloatPacket& f) {
    ForEachRegister<FloatPacket>([&](auto i) {
      half[2 * i] = WidenLow(f.half[i]);
      half[2 * i + 1] = WidenHigh(f.half[i]);
    });
  }
  double operator[](int lane) const { return half[lane / kRegisterLanes][lane % kRegisterLanes]; }
  void set(int lane, double value) { half[lane / kRegisterLanes][lane % kRegisterLanes] = value; }
};

template <typename Fn>
[[gnu::always_inline]] inline WidePacket PerRegister(const WidePacket& a, const WidePacket& b,
                                                     Fn fn) {
  WidePacket r;
  ForEachRegister<WidePacket>([&](auto i) { r.half[i] = fn(a.half[i], b.half[i]); });
  return r;
}

ACTGRAD_PACKET_INLINE WidePacket operator-(const WidePacket& a) {
  WidePacket r;
  ForEachRegister<WidePacket>([&](auto i) { r.half[i] = -a.half[i]; });
  return r;
}
#define ACTGRAD_WIDE_OPERATOR(op, lanes)                                                    \
  ACTGRAD_PACKET_INLINE WidePacket operator op(const WidePacket& a, const WidePacket& b) {  \
    return PerRegister(a, b, [](PacketLanes x, PacketLanes y) { return lanes; });           \
  }                                                                                         \
  ACTGRAD_PACKET_INLINE WidePacket operator op(const WidePacket& a, const FloatPacket& b) { \
    return a op WidePacket(b);                                                              \
  }                                                                                         \
  ACTGRAD_PACKET_INLINE WidePacket operator op(const FloatPacket& a, const WidePacket& b) { \
    return WidePacket(a) op b;                                                              \
  }                                                                                         \
  template <typename S>                                                                     \
  requires std::is_arithmetic_v<S>                                                          \
  [[gnu::always_inline]] inline WidePacket operator op(const WidePacket& a, S b) {          \
    return a op WidePacket(b);                                                              \
  }                                                                                         \
  template <typename S>                                                                     \
  requires std::is_arithmetic_v<S>                                                          \
  [[gnu::always_inline]] inline WidePacket operator op(S a, const WidePacket& b) {          \
    return WidePacket(a) op b;                                                              \
  }
ACTGRAD_WIDE_OPERATOR(+, x + y)
ACTGRAD_WIDE_OPERATOR(-, x - y)
ACTGRAD_WIDE_OPERATOR(*, x* y)
ACTGRAD_WIDE_OPERATOR(/, Divide(x, y))
#undef ACTGRAD_WIDE_OPERATOR

ACTGRAD_PACKET_INLINE WidePacket SelectLanes(uint32_t bits, const WidePacket& a,
                                             const WidePacket& b) {
  constexpr int kWidth = WidePacket::kRegisterLanes;
  WidePacket r;
  ForEachRegister<WidePacket>([&](auto i) {
    r.half[i] =
        SelectLanes(bits >> (i * kWidth) & ((uint32_t{1} << kWidth) - 1), a.half[i], b.half[i]);
  });
  return r;
}

}  // namespace internal

// The dual numbers of a formula whose values run in float.
template <>
struct Dual<internal::FloatPacket> {
  using FloatPacket = internal::FloatPacket;
  using WidePacket = internal::WidePacket;
  FloatPacket value{};
  WidePacket tangent{};

  Dual() = default;
  template <typename S>
  requires std::is_arithmetic_v<S> Dual(S constant) : value(constant), tangent(0.0) {}
  Dual(const FloatPacket& value_in, const WidePacket& tangent_in)
      : value(value_in), tangent(tangent_in) {}

  Dual& operator+=(const Dual& o) { return *this = *this + o; }
  Dual& operator-=(const Dual& o) { return *this = *this - o; }
  Dual& operator*=(const Dual& o) { return *this = *this * o; }
  Dual& operator/=(const Dual& o) { return *this = *this / o; }
};

}  // namespace actgrad

#endif  // ACTGRAD_HAS_PACKETS

#endif  // ACTGRAD_OPS_MIXED_DUAL_H_
