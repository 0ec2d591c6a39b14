// -----------------------------------------------------------------------------
// File: pick.h
// -----------------------------------------------------------------------------
//
// c ? a : b for float and double, chosen by bits, for the elementwise loops
// GCC is meant to vectorize. GCC turns a `?:` between values into a branch
// (and `x * (c ? 1 : s)` into `c ? x : x * s`). With AVX-512 it then makes
// masked copies of both sides; with AVX2 alone it leaves the loop scalar,
// since executing both sides might raise a floating-point exception the
// branch would not: relu's backward took 16x as long, sigmoid's forward
// 20x. A select by bits has no such side to guard.
//
// Example:
//
//   for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * Pick(x[i] > 0.0f, 1.0f, slope);

#ifndef ACTGRAD_OPS_PICK_H_
#define ACTGRAD_OPS_PICK_H_

#include <bit>
#include <cstdint>
#include <type_traits>

namespace actgrad::internal {

template <typename T>
requires std::is_floating_point_v<T> &&(sizeof(T) == 4 || sizeof(T) == 8) inline T
    Pick(bool c, T a, T b) {
  using Bits = std::conditional_t<sizeof(T) == 8, uint64_t, uint32_t>;
  const Bits m = -Bits(c);
  return std::bit_cast<T>(Bits((std::bit_cast<Bits>(a) & m) | (std::bit_cast<Bits>(b) & ~m)));
}

}  // namespace actgrad::internal

#endif  // ACTGRAD_OPS_PICK_H_
