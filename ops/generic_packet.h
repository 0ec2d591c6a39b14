// -----------------------------------------------------------------------------
// File: generic_packet.h
// -----------------------------------------------------------------------------
//
// A generic formula (ops/generic_formula.h) run over a float32 array a
// packet (32 elements with AVX-512, 16 with AVX2) at a time: on
// DoublePacket (ops/packet.h) for values, on dual numbers over packets for
// the first and second derivatives. Each element is widened to double,
// evaluated, and rounded once at the end, as the built-in float32 kernels
// do; the functions of ops/packet_math.h keep the result on
// the float the scalar double path gives but where the two straddle a
// rounding boundary. GenericMapInFloat evaluates values on FloatPacket
// instead, and first derivatives on dual numbers whose values are floats
// and tangents doubles (ops/mixed_dual.h), for the formulas that
// ops/float_evaluation.h has measured as accurate that way.
//
// A formula with branches takes as many passes over a packet as its lanes
// take paths (ops/packet.h); once a packet has needed more than one, the
// elements are split by sign before they are packed, since most activations
// branch at zero. Lanes whose result is not finite are evaluated again by
// the scalar path, whose derivatives fall back to long double where double
// overflows inside the formula (e^800 on the way to a finite derivative).
// Float64 arrays take the scalar path throughout: the packet functions are
// accurate to float, not to double. Without AVX-512 or AVX2
// (ACTGRAD_HAS_PACKETS 0), float32 takes the scalar path too.
//
// Example:
//
//   constexpr auto kMish = [](auto x, const actgrad::Attrs&) {
//     using std::exp, std::log1p, std::tanh;
//     return x * tanh(log1p(exp(x)));
//   };
//   // dx[i] = dy[i] mish'(x[i]), a packet at a time.
//   actgrad::internal::GenericMap<decltype(kMish), float>(1, x, dy, dx, n, actgrad::Attrs{});

#ifndef ACTGRAD_OPS_GENERIC_PACKET_H_
#define ACTGRAD_OPS_GENERIC_PACKET_H_

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "graph/op_def.h"
#include "ops/dual.h"
#include "ops/mixed_dual.h"
#include "ops/packet.h"
#include "ops/packet_math.h"

namespace actgrad {
namespace internal {

// f, f' or f'' (order 0, 1, 2) at x in double, as the row's scalar function
// pointers compute it (ops/generic_formula.h).
template <typename F>
double EvaluateScalar(int order, double x, const Attrs& attrs);

#if ACTGRAD_HAS_PACKETS

// Float32 arrays in and out of a packet's registers: widened to doubles
// for a packet of doubles, as they are for a packet of floats.
template <typename L>
ACTGRAD_PACKET_INLINE L LoadFloats(const float* p);
template <>
ACTGRAD_PACKET_INLINE PacketLanes LoadFloats<PacketLanes>(const float* p) {
  return LoadWidened(p);
}
template <>
ACTGRAD_PACKET_INLINE FloatLanes LoadFloats<FloatLanes>(const float* p) {
  FloatLanes v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
ACTGRAD_PACKET_INLINE void StoreFloats(PacketLanes v, float* p) { StoreNarrowed(v, p); }
ACTGRAD_PACKET_INLINE void StoreFloats(FloatLanes v, float* p) { std::memcpy(p, &v, sizeof(v)); }

// F's value (order 0), derivative (1) or second derivative (2) on the lanes
// still on the current path.
template <typename F, int kOrder, typename P>
[[gnu::always_inline]] inline auto EvaluateOnPath(const P& x, const Attrs& attrs) {
  if constexpr (kOrder == 0) {
    return static_cast<P>(F{}(x, attrs));
  } else {
    // The seed is filled a register at a time: built from whole packets, GCC
    // copies x through memory in 8-byte pieces, and the wide loads after the
    // narrow stores stall (the derivative of e^x took 1.5 times as long, a
    // second derivative 1.3 to 5 times).
    const typename P::Lanes one = typename P::Lanes{} + typename P::Scalar(1);
    if constexpr (kOrder == 1 && std::is_same_v<P, FloatPacket>) {
      // Values in float, the tangent in double (ops/mixed_dual.h).
      Dual<P> seed;
      ForEachRegister<P>([&](auto i) { seed.value.half[i] = x.half[i]; });
      ForEachRegister<WidePacket>([&](auto i) { seed.tangent.half[i] = Splat(1.0); });
      return static_cast<Dual<P>>(F{}(seed, attrs)).tangent;
    } else if constexpr (kOrder == 1) {
      Dual<P> seed;
      ForEachRegister<P>([&](auto i) {
        seed.value.half[i] = x.half[i];
        seed.tangent.half[i] = one;
      });
      return static_cast<Dual<P>>(F{}(seed, attrs)).tangent;
    } else {
      HyperDual<P> seed;
      ForEachRegister<P>([&](auto i) {
        seed.value.value.half[i] = x.half[i];
        seed.value.tangent.half[i] = one;
        seed.tangent.value.half[i] = one;
      });
      return SecondDerivative(static_cast<HyperDual<P>>(F{}(seed, attrs)));
    }
  }
}

// F^(kOrder) at the lanes of x not in `finite`, in scalar double. Out of
// line: MapPackets inlines everything else it calls.
template <typename F, int kOrder, typename P, typename R>
[[gnu::noinline, gnu::cold]] void EvaluateLanesScalar(uint32_t finite, const P& x,
                                                      const Attrs& attrs, R& out) {
  for (int i = 0; i < P::kLanes; ++i) {
    if (!(finite >> i & 1)) {
      out.set(i, typename R::Scalar(EvaluateScalar<F>(kOrder, x[i], attrs)));
    }
  }
}

// The lanes of x still `pending` after the first pass, a pass per path
// they take, into out: only packets whose lanes disagree come here. Out of
// line, with its own copy of the formula's body: inlined beside the first
// pass, the two copies ran GCC out of registers in both, and with a single
// copy in a loop of passes, which carries the result from pass to pass, a
// formula with a branch took 10 % longer for its derivative on packets of
// one sign.
template <typename F, int kOrder, typename P, typename R>
[[gnu::noinline, gnu::flatten]] void EvaluateOtherPaths(const P& x, const Attrs& attrs,
                                                        uint32_t pending, R& out) {
  do {
    packet_path_lanes = pending;
    const R r = EvaluateOnPath<F, kOrder>(x, attrs);
    const uint32_t done = packet_path_lanes & pending;
    out = SelectLanes(done, r, out);
    pending &= ~done;
  } while (pending != 0);
}

// F^(kOrder) at every lane of x, a pass per path the lanes take; lanes whose
// result is not finite (or, in float, tiny) are evaluated again in scalar
// double.
template <typename F, int kOrder, typename P>
[[gnu::always_inline]] inline auto EvaluatePacket(const P& x, const Attrs& attrs, bool& split) {
  using R = decltype(EvaluateOnPath<F, kOrder>(x, attrs));
  packet_path_lanes = P::kAll;
  R out = EvaluateOnPath<F, kOrder>(x, attrs);
  const uint32_t pending = ~packet_path_lanes & P::kAll;
  if (pending != 0) [[unlikely]] {
    split = true;
    EvaluateOtherPaths<F, kOrder>(x, attrs, pending, out);
  }
  packet_path_lanes = kAllLanes;
  // In float, a result below 2^-100 may come from subnormal intermediates
  // (x e^x at x = -90), which hold few digits: those lanes are evaluated
  // again too.
  // A derivative built from float values (a WidePacket) is judged as a
  // float is.
  constexpr bool kFromFloats = std::is_same_v<typename P::Scalar, float>;
  uint32_t non_finite = 0;
  ForEachRegister<R>([&](auto i) {
    const auto v = out.half[i];
    uint32_t redo = NonFiniteLanes(v);
    if constexpr (kFromFloats) redo |= LaneBits((AbsLanes(v) < 0x1p-100) & (v != 0));
    non_finite |= redo << (i * R::kRegisterLanes);
  });
  if (non_finite != 0) [[unlikely]] {
    EvaluateLanesScalar<F, kOrder>(~non_finite & P::kAll, x, attrs, out);
  }
  return out;
}

// F^(kOrder) over x[0, n), times dy where given, a packet at a time; the
// last partial packet goes through a buffer, its empty lanes filled with the
// last element, so that the formula's body is inlined once. Returns whether
// any packet's lanes took different paths. Flattened: the formula, its dual
// numbers and the packet functions inline into one loop body; called out of
// line, each passes its packets through memory and the loop takes several
// times as long.
template <typename F, int kOrder, typename P>
[[gnu::flatten, gnu::noinline]] bool MapPackets(const float* x, const float* dy, float* out,
                                                int64_t n, const Attrs& attrs) {
  using L = typename P::Lanes;
  constexpr int kLanes = P::kLanes;
  bool split = false;
  alignas(64) float tail_x[kLanes], tail_dy[kLanes], tail_out[kLanes];
  for (int64_t i = 0; i < n; i += kLanes) {
    const float* px = x + i;
    const float* pdy = dy == nullptr ? nullptr : dy + i;
    float* pout = out + i;
    const int64_t left = n - i;
    if (left < kLanes) {
      for (int lane = 0; lane < kLanes; ++lane) {
        tail_x[lane] = x[lane < left ? i + lane : n - 1];
        if (dy != nullptr) tail_dy[lane] = dy[lane < left ? i + lane : n - 1];
      }
      px = tail_x;
      pdy = dy == nullptr ? nullptr : tail_dy;
      pout = tail_out;
    }
    P xp;
    ForEachRegister<P>([&](auto h) { xp.half[h] = LoadFloats<L>(px + h * P::kRegisterLanes); });
    const auto r = EvaluatePacket<F, kOrder>(xp, attrs, split);
    ForEachRegister<P>([&](auto h) {
      const int at = h * P::kRegisterLanes;
      if constexpr (std::is_same_v<decltype(r), const WidePacket>) {
        // Times dy in double, rounded once.
        PacketLanes low = r.half[2 * h], high = r.half[2 * h + 1];
        if (pdy != nullptr) {
          const FloatLanes g = LoadFloats<FloatLanes>(pdy + at);
          low *= WidenLow(g);
          high *= WidenHigh(g);
        }
        StoreFloats(Narrow(low, high), pout + at);
      } else {
        StoreFloats(pdy == nullptr ? r.half[h] : r.half[h] * LoadFloats<L>(pdy + at), pout + at);
      }
    });
    if (left < kLanes) {
      for (int lane = 0; lane < left; ++lane) out[i + lane] = tail_out[lane];
    }
  }
  return split;
}

// Once a block has had a packet whose lanes took different paths, the
// blocks after it are partitioned by sign first: most activations branch at
// zero (softplus per sign, elu), and a packet of one sign then takes one
// pass instead of two.
template <typename F, int kOrder, typename P = DoublePacket>
void GenericMapFloat(const float* x, const float* dy, float* out, int64_t n, const Attrs& attrs) {
  bool partition = false;
  SignPartition p;
  for (int64_t start = 0; start < n; start += kSignBlock) {
    const int64_t len = n - start < kSignBlock ? n - start : kSignBlock;
    const float* block_dy = dy == nullptr ? nullptr : dy + start;
    if (!partition) {
      partition = MapPackets<F, kOrder, P>(x + start, block_dy, out + start, len, attrs);
      continue;
    }
    PartitionBySign(x + start, block_dy, len, p);
    for (int s = 0; s < 2; ++s) {
      MapPackets<F, kOrder, P>(p.x[s], block_dy == nullptr ? nullptr : p.dy[s], p.out[s],
                               p.count[s], attrs);
    }
    ScatterBySign(x + start, len, p, out + start);
  }
}

#else

// Without AVX-512 or AVX2 the packets are not built: float32 takes the
// scalar path.
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

// The same, the formula's values evaluated in float itself (FloatPacket)
// and its first derivative with values in float and tangents in double;
// second derivatives, and builds without packets, stay in double
// (ops/float_evaluation.h says why).
template <typename F>
void GenericMapInFloat(int order, const float* x, const float* dy, float* out, int64_t n,
                       const Attrs& attrs) {
#if ACTGRAD_HAS_PACKETS
  if (order == 0) return GenericMapFloat<F, 0, FloatPacket>(x, dy, out, n, attrs);
  if (order == 1) return GenericMapFloat<F, 1, FloatPacket>(x, dy, out, n, attrs);
#endif
  GenericMap<F, float>(order, x, dy, out, n, attrs);
}

}  // namespace internal
}  // namespace actgrad

#endif  // ACTGRAD_OPS_GENERIC_PACKET_H_
