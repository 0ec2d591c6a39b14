// -----------------------------------------------------------------------------
// File: kernels.h
// -----------------------------------------------------------------------------
//
// Internal: the building blocks that op rows share — output allocation, Eigen
// views of tensor buffers, input validation with op-named messages, and the
// broadcasting loops. Kernels are templates instantiated per dtype and run
// whole arrays at a time; there is never an indirect call per element.
//
// Example (inside an op's forward):
//
//   RequireSameFloatingDType(ctx);
//   Tensor y = internal::EmptyLike(ctx.input(0));
//   DispatchFloating(y.dtype(), [&](auto t) {
//     using T = decltype(t);
//     internal::AsArray<T>(y) = internal::AsArray<T>(ctx.input(0)).exp();
//   });

#ifndef ACTGRAD_OPS_KERNELS_H_
#define ACTGRAD_OPS_KERNELS_H_

#include <Eigen/Core>
#include <string>

#include "graph/eigen_views.h"
#include "graph/op_def.h"
#include "graph/tensor.h"

namespace actgrad {
namespace internal {

inline Tensor Empty(const Shape& shape, DType dtype) {
  return Tensor(NewUninitialized(shape, dtype));
}
inline Tensor EmptyLike(const Tensor& t) { return Empty(t.shape(), t.dtype()); }
Tensor ZerosOf(const Shape& shape, DType dtype);

// A column-array view of all values. Buffers come from the pool, which
// aligns them to 64 bytes. The const_cast is for outputs the caller owns.
template <typename T>
ArrayMap<T> AsArray(const Tensor& t) {
  return ArrayMap<T>(static_cast<T*>(t.raw_data()), t.numel());
}

// Throws naming the op unless every input is float32 or float64 and all
// share one dtype (mixing float32 and float64 is an error, not a promotion).
void CheckSameFloatingDType(const ForwardContext& ctx);
inline void RequireSameFloatingDType(const ForwardContext& ctx) {
  // One floating input, the common case, needs no loop and no call.
  if (ctx.inputs().size() == 1 && IsFloating(ctx.input(0).dtype())) return;
  CheckSameFloatingDType(ctx);
}
// Throws naming the op unless all inputs have one shape.
void RequireSameShape(const ForwardContext& ctx);
// The broadcast of the two inputs' shapes; throws naming the op otherwise.
Shape BroadcastOrThrow(const ForwardContext& ctx);
// Normalizes ctx.attrs().axis against `rank`; throws naming the op.
int AxisOrThrow(const ForwardContext& ctx, int rank);

// out = f(a, b) elementwise with NumPy broadcasting; `out` has the broadcast
// shape. `f` is called on Eigen arrays for the same-shape and scalar cases
// and on scalars otherwise.
template <typename T, typename ArrayFn, typename ScalarFn>
void BroadcastBinary(const Tensor& a, const Tensor& b, const Tensor& out, ArrayFn array_fn,
                     ScalarFn scalar_fn);

// Sums `x` down to `shape`, the inverse of broadcasting it (the gradient of a
// broadcast input). Returns `x` itself when the shapes already agree.
Tensor SumToShape(const Tensor& x, const Shape& shape);
// Repeats `x` up to the broadcast `shape`.
Tensor BroadcastToShape(const Tensor& x, const Shape& shape);

// A new tensor cut from the graph, holding f(v) (computed in double) for
// every value v of `x`: masks and factors that recorded backwards multiply
// by as constants.
template <typename Fn>
Tensor MapValues(const Tensor& x, Fn f) {
  Tensor out = EmptyLike(x);
  DispatchFloating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = static_cast<const T*>(x.raw_data());
    T* po = static_cast<T*>(out.raw_data());
    for (int64_t i = 0; i < x.numel(); ++i) po[i] = static_cast<T>(f(double(px[i])));
  });
  return out;
}

// Splits an axis into (outer, extent, inner) for row-major loops.
struct AxisSplit {
  int64_t outer = 1;
  int64_t extent = 1;
  int64_t inner = 1;
};
AxisSplit SplitAt(const Shape& shape, int axis);

// ----------------------------------------------------------------------------
// Implementation details.

// Offsets into a broadcast input for the rows of the output: the output is
// walked as rows of its last dimension.
struct BroadcastWalk {
  explicit BroadcastWalk(const Shape& out, const Shape& in);
  int rank;
  std::array<int64_t, Shape::kMaxRank> out_dims{};
  std::array<int64_t, Shape::kMaxRank> in_strides{};  // 0 where broadcast
};

template <typename T, typename ArrayFn, typename ScalarFn>
void BroadcastBinary(const Tensor& a, const Tensor& b, const Tensor& out, ArrayFn array_fn,
                     ScalarFn scalar_fn) {
  const T* pa = static_cast<const T*>(a.raw_data());
  const T* pb = static_cast<const T*>(b.raw_data());
  T* po = static_cast<T*>(out.raw_data());
  const int64_t n = out.numel();
  if (a.shape() == b.shape()) {
    AsArray<T>(out) = array_fn(AsArray<T>(a), AsArray<T>(b));
    return;
  }
  if (b.numel() == 1 && a.numel() == n) {
    const T s = pb[0];
    for (int64_t i = 0; i < n; ++i) po[i] = scalar_fn(pa[i], s);
    return;
  }
  if (a.numel() == 1 && b.numel() == n) {
    const T s = pa[0];
    for (int64_t i = 0; i < n; ++i) po[i] = scalar_fn(s, pb[i]);
    return;
  }
  const BroadcastWalk wa(out.shape(), a.shape());
  const BroadcastWalk wb(out.shape(), b.shape());
  const int rank = wa.rank;
  const int64_t row = rank > 0 ? wa.out_dims[rank - 1] : 1;
  const int64_t sa = rank > 0 ? wa.in_strides[rank - 1] : 0;
  const int64_t sb = rank > 0 ? wb.in_strides[rank - 1] : 0;
  std::array<int64_t, Shape::kMaxRank> index{};
  for (int64_t done = 0; done < n; done += row) {
    int64_t oa = 0, ob = 0;
    for (int d = 0; d + 1 < rank; ++d) {
      oa += index[d] * wa.in_strides[d];
      ob += index[d] * wb.in_strides[d];
    }
    for (int64_t j = 0; j < row; ++j) {
      po[done + j] = scalar_fn(pa[oa + j * sa], pb[ob + j * sb]);
    }
    for (int d = rank - 2; d >= 0; --d) {
      if (++index[d] < wa.out_dims[d]) break;
      index[d] = 0;
    }
  }
}

}  // namespace internal
}  // namespace actgrad

#endif  // ACTGRAD_OPS_KERNELS_H_
