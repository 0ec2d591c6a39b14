// -----------------------------------------------------------------------------
// File: generic_packet.h
// -----------------------------------------------------------------------------
//
// A generic formula (ops/generic_formula.h) run over a float32 array eight
// elements at a time: on DoublePacket (ops/packet.h) for values, on dual
// numbers over packets for the first and second derivatives. Each element
// is widened to double, evaluated, and rounded once at the end, as the
// built-in float32 kernels do; the functions of ops/packet_math.h keep the
// result on the float the scalar double path gives but where the two
// straddle a rounding boundary.
//
// A formula with branches takes as many passes over a packet as its lanes
// take paths (ops/packet.h). Lanes whose result is not finite are evaluated
// again by the scalar path, whose derivatives fall back to long double where
// double overflows inside the formula (e^800 on the way to a finite mish').
// Float64 arrays take the scalar path throughout: the packet functions are
// accurate to float, not to double.
//
// Example:
//
//   constexpr auto kMish = [](auto x, const actgrad::Attrs&) {
//     using std::exp, std::log1p, std::tanh;
//     return x * tanh(log1p(exp(x)));
//   };
//   // dx[i] = dy[i] mish'(x[i]), eight at a time.
//   actgrad::internal::GenericMap<decltype(kMish), float>(1, x, dy, dx, n, actgrad::Attrs{});

#ifndef ACTGRAD_OPS_GENERIC_PACKET_H_
#define ACTGRAD_OPS_GENERIC_PACKET_H_

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "graph/op_def.h"
#include "ops/dual.h"
#include "ops/packet.h"
#include "ops/packet_math.h"

namespace actgrad {
namespace internal {

// f, f' or f'' (order 0, 1, 2) at x in double, as the row's scalar function
// pointers compute it (ops/generic_formula.h).
template <typename F>
double EvaluateScalar(int order, double x, const Attrs& attrs);

#if ACTGRAD_HAS_PACKETS

// F's value (order 0), derivative (1) or second derivative (2) on the lanes
// still on the current path.
template <typename F, int kOrder>
[[gnu::always_inline]] inline DoublePacket EvaluateOnPath(const DoublePacket& x,
                                                          const Attrs& attrs) {
  if constexpr (kOrder == 0) {
    return static_cast<DoublePacket>(F{}(x, attrs));
  } else if constexpr (kOrder == 1) {
    using D = Dual<DoublePacket>;
    return static_cast<D>(F{}(D(x, DoublePacket(1.0)), attrs)).tangent;
  } else {
    using D = Dual<DoublePacket>;
    using H = HyperDual<DoublePacket>;
    const H h(D(x, DoublePacket(1.0)), D(DoublePacket(1.0), DoublePacket()));
    return SecondDerivative(static_cast<H>(F{}(h, attrs)));
  }
}

// F^(kOrder) at the lanes of x not in `finite`, in scalar double. Out of
// line: GenericMapFloat inlines everything else it calls.
template <typename F, int kOrder>
[[gnu::noinline, gnu::cold]] void EvaluateLanesScalar(uint32_t finite, const DoublePacket& x,
                                                      const Attrs& attrs, DoublePacket& out) {
  for (int i = 0; i < kPacketLanes; ++i) {
    if (!(finite >> i & 1)) out.set(i, EvaluateScalar<F>(kOrder, x[i], attrs));
  }
}

// F^(kOrder) at every lane of x, a pass per path the lanes take; lanes whose
// result is not finite are evaluated again in scalar double.
template <typename F, int kOrder>
[[gnu::always_inline]] inline DoublePacket EvaluatePacket(const DoublePacket& x,
                                                          const Attrs& attrs) {
  packet_path_lanes = kAllLanes;
  DoublePacket out = EvaluateOnPath<F, kOrder>(x, attrs);
  uint32_t pending = ~packet_path_lanes & kAllLanes;
  while (pending != 0) {
    packet_path_lanes = pending;
    const DoublePacket r = EvaluateOnPath<F, kOrder>(x, attrs);
    const uint32_t done = packet_path_lanes & pending;
    out = SelectLanes(done, r, out);
    pending &= ~done;
  }
  packet_path_lanes = kAllLanes;
  // One vfpclasspd per register finds the infinities and NaNs.
  constexpr int kNaNOrInfinity = 0x01 | 0x08 | 0x10 | 0x80;
  __mmask8 any = 0;
  ForEachRegister([&](auto i) {
    any |= _mm512_fpclass_pd_mask(VectorCast<__m512d>(out.half[i]), kNaNOrInfinity);
  });
  if (any != 0) [[unlikely]] {
    const uint32_t finite = PacketBits(out, [](PacketLanes v) { return AbsLanes(v) < HUGE_VAL; });
    EvaluateLanesScalar<F, kOrder>(finite, x, attrs, out);
  }
  return out;
}

ACTGRAD_PACKET_INLINE PacketLanes LoadWidened(const float* p) {
  return VectorCast<PacketLanes>(_mm512_cvtps_pd(_mm256_loadu_ps(p)));
}
ACTGRAD_PACKET_INLINE void StoreNarrowed(PacketLanes v, float* p) {
  _mm256_storeu_ps(p, _mm512_cvtpd_ps(VectorCast<__m512d>(v)));
}

// Flattened: the formula, its dual numbers and the packet functions inline
// into one loop body; called out of line, each passes its packets through
// memory and the loop takes several times as long.
template <typename F, int kOrder>
[[gnu::flatten]] void GenericMapFloat(const float* x, const float* dy, float* out, int64_t n,
                                      const Attrs& attrs) {
  int64_t i = 0;
  for (; i + kPacketLanes <= n; i += kPacketLanes) {
    DoublePacket xp;
    ForEachRegister([&](auto h) { xp.half[h] = LoadWidened(x + i + h * kRegisterLanes); });
    const DoublePacket r = EvaluatePacket<F, kOrder>(xp, attrs);
    ForEachRegister([&](auto h) {
      const int64_t at = i + h * kRegisterLanes;
      StoreNarrowed(dy == nullptr ? r.half[h] : r.half[h] * LoadWidened(dy + at), out + at);
    });
  }
  if (i == n) return;
  // The last partial packet, its empty lanes filled with the last element.
  DoublePacket xp;
  for (int lane = 0; lane < kPacketLanes; ++lane) {
    xp.set(lane, double(x[i + lane < n ? i + lane : n - 1]));
  }
  const DoublePacket r = EvaluatePacket<F, kOrder>(xp, attrs);
  for (int lane = 0; i + lane < n; ++lane) {
    out[i + lane] = float(dy == nullptr ? r[lane] : double(dy[i + lane]) * r[lane]);
  }
}

#else

// Without AVX-512 the packets are not built: float32 takes the scalar path.
template <typename F, int kOrder>
void GenericMapFloat(const float* x, const float* dy, float* out, int64_t n, const Attrs& attrs) {
  for (int64_t i = 0; i < n; ++i) {
    const double v = EvaluateScalar<F>(kOrder, x[i], attrs);
    out[i] = float(dy == nullptr ? v : double(dy[i]) * v);
  }
}

#endif  // ACTGRAD_HAS_PACKETS

// out[i] = f^(order)(x[i]), times dy[i] where dy is not null, for i in
// [0, n); order is 0, 1 or 2. Float32 runs on packets, float64 in scalar
// double.
template <typename F, typename T>
void GenericMap(int order, const T* x, const T* dy, T* out, int64_t n, const Attrs& attrs) {
  if constexpr (std::is_same_v<T, double>) {
    for (int64_t i = 0; i < n; ++i) {
      const double v = EvaluateScalar<F>(order, x[i], attrs);
      out[i] = dy == nullptr ? v : dy[i] * v;
    }
  } else if (order == 0) {
    GenericMapFloat<F, 0>(x, dy, out, n, attrs);
  } else if (order == 1) {
    GenericMapFloat<F, 1>(x, dy, out, n, attrs);
  } else {
    GenericMapFloat<F, 2>(x, dy, out, n, attrs);
  }
}

}  // namespace internal
}  // namespace actgrad

#endif  // ACTGRAD_OPS_GENERIC_PACKET_H_
