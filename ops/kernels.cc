#include "ops/kernels.h"

#include <cstring>

#include "absl/strings/str_join.h"
#include "graph/parallel.h"

namespace actgrad {
namespace internal {

Tensor ZerosOf(const Shape& shape, DType dtype) {
  Tensor t = Empty(shape, dtype);
  std::memset(t.raw_data(), 0, t.numel() * DTypeSize(dtype));
  return t;
}

void CheckSameFloatingDType(const ForwardContext& ctx) {
  const DType first = ctx.input(0).dtype();
  for (size_t i = 0; i < ctx.inputs().size(); ++i) {
    const DType d = ctx.input(static_cast<int>(i)).dtype();
    ACTGRAD_REQUIRE(IsFloating(d), ctx.location(), ctx.op().name, ": input ", i, " is ",
                    DTypeName(d), "; this op takes float32 or float64");
    ACTGRAD_REQUIRE(d == first, ctx.location(), ctx.op().name,
                    ": dtypes differ: ", DTypeName(first), " and ", DTypeName(d), " (shapes ",
                    DescribeShapes(ctx.inputs()), "); convert one side explicitly");
  }
}

void RequireSameShape(const ForwardContext& ctx) {
  for (const Tensor& t : ctx.inputs()) {
    ACTGRAD_REQUIRE(t.shape() == ctx.input(0).shape(), ctx.location(), ctx.op().name,
                    ": shapes must be equal, got ", DescribeShapes(ctx.inputs()));
  }
}

Shape BroadcastOrThrow(const ForwardContext& ctx) {
  std::optional<Shape> shape = BroadcastShapes(ctx.input(0).shape(), ctx.input(1).shape());
  ACTGRAD_REQUIRE(shape.has_value(), ctx.location(), ctx.op().name,
                  ": shapes cannot be broadcast together: ", DescribeShapes(ctx.inputs()));
  return *shape;
}

int AxisOrThrow(const ForwardContext& ctx, int rank) {
  std::optional<int> axis = NormalizeAxis(ctx.attrs().axis, rank);
  ACTGRAD_REQUIRE(axis.has_value(), ctx.location(), ctx.op().name, ": axis ", ctx.attrs().axis,
                  " is out of range for shape ", ctx.input(0).shape().ToString());
  return *axis;
}

BroadcastWalk::BroadcastWalk(const Shape& out, const Shape& in) : rank(out.rank()) {
  const std::array<int64_t, Shape::kMaxRank> strides = in.Strides();
  for (int d = 0; d < rank; ++d) {
    out_dims[d] = out[d];
    const int di = in.rank() - rank + d;
    in_strides[d] = (di >= 0 && in[di] != 1) ? strides[di] : 0;
  }
}

AxisSplit SplitAt(const Shape& shape, int axis) {
  AxisSplit s;
  for (int d = 0; d < axis; ++d) s.outer *= shape[d];
  s.extent = shape[axis];
  for (int d = axis + 1; d < shape.rank(); ++d) s.inner *= shape[d];
  return s;
}

Tensor SumToShape(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  Tensor out = ZerosOf(shape, x.dtype());
  DispatchFloating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = static_cast<const T*>(x.raw_data());
    T* po = static_cast<T*>(out.raw_data());
    if (shape.NumElements() == 1) {
      po[0] = AsArray<T>(x).sum();
      return;
    }
    const BroadcastWalk walk(x.shape(), shape);
    const int rank = walk.rank;
    const int64_t row = walk.out_dims[rank - 1];
    const int64_t stride = walk.in_strides[rank - 1];
    std::array<int64_t, Shape::kMaxRank> index{};
    for (int64_t done = 0; done < x.numel(); done += row) {
      int64_t offset = 0;
      for (int d = 0; d + 1 < rank; ++d) offset += index[d] * walk.in_strides[d];
      if (stride == 0) {
        T sum = 0;
        for (int64_t j = 0; j < row; ++j) sum += px[done + j];
        po[offset] += sum;
      } else {
        for (int64_t j = 0; j < row; ++j) po[offset + j] += px[done + j];
      }
      for (int d = rank - 2; d >= 0; --d) {
        if (++index[d] < walk.out_dims[d]) break;
        index[d] = 0;
      }
    }
  });
  return out;
}

Tensor BroadcastToShape(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  Tensor out = Empty(shape, x.dtype());
  DispatchFloating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = static_cast<const T*>(x.raw_data());
    T* po = static_cast<T*>(out.raw_data());
    if (x.numel() == 1) {
      AsArray<T>(out).setConstant(px[0]);
      return;
    }
    const BroadcastWalk walk(shape, x.shape());
    const int rank = walk.rank;
    const int64_t row = walk.out_dims[rank - 1];
    const int64_t stride = walk.in_strides[rank - 1];
    std::array<int64_t, Shape::kMaxRank> index{};
    for (int64_t done = 0; done < out.numel(); done += row) {
      int64_t offset = 0;
      for (int d = 0; d + 1 < rank; ++d) offset += index[d] * walk.in_strides[d];
      for (int64_t j = 0; j < row; ++j) po[done + j] = px[offset + j * stride];
      for (int d = rank - 2; d >= 0; --d) {
        if (++index[d] < walk.out_dims[d]) break;
        index[d] = 0;
      }
    }
  });
  return out;
}

}  // namespace internal
}  // namespace actgrad
