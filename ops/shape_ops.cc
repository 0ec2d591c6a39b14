// Reshape, concatenate and slice.

#include <cstring>

#include "absl/strings/str_join.h"
#include "ops/builtin_ops.h"
#include "ops/check_cases.h"
#include "ops/functional.h"
#include "ops/jvp_rules.h"
#include "ops/kernels.h"

namespace actgrad {
namespace ops {

namespace {

// A tensor sharing `t`'s values under another shape of the same size.
Tensor ViewAs(const Tensor& t, const Shape& shape) {
  internal::TensorImpl* impl = t.impl();
  impl->storage->Ref();
  return Tensor(internal::TensorImpl::Make(impl->storage, shape, impl->dtype));
}

// ----------------------------------------------------------------- reshape
Tensor ReshapeForward(ForwardContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Shape& to = ctx.attrs().shape;
  ACTGRAD_REQUIRE(to.NumElements() == x.numel(), ctx.location(), "reshape: cannot view ",
                  x.shape().ToString(), " (", x.numel(), " elements) as ", to.ToString(), " (",
                  to.NumElements(), " elements)");
  return ViewAs(x, to);
}

void ReshapeBackward(BackwardContext& ctx) { ctx.set_dx(0, ViewAs(ctx.dy(), ctx.input_shape(0))); }

std::vector<int64_t> Dims(const Shape& shape) {
  return std::vector<int64_t>(shape.dims().begin(), shape.dims().end());
}

void ReshapeBackwardGraph(BackwardContext& ctx) {
  ctx.set_dx(0, Reshape(ctx.dy(), Dims(ctx.input_shape(0))));
}

std::vector<GradCheckCase> ReshapeCases(Generator& gen) {
  Attrs to_flat;
  to_flat.shape = Shape{12};
  Attrs to_3d;
  to_3d.shape = Shape{2, 3, 2};
  return {
      {{internal::RandomDouble({3, 4}, -1, 1, gen)}, to_flat, "[3,4] -> [12]", {}},
      {{internal::RandomDouble({4, 3}, -1, 1, gen)}, to_3d, "[4,3] -> [2,3,2]", {}},
  };
}

// ------------------------------------------------------------- concatenate
// Copies `count` blocks: block o of `src` (src_block elements) to offset
// o * dst_block + dst_offset of `dst`.
void CopyBlocks(const char* src, char* dst, int64_t count, int64_t src_block, int64_t dst_block,
                int64_t dst_offset, size_t element) {
  for (int64_t o = 0; o < count; ++o) {
    std::memcpy(dst + (o * dst_block + dst_offset) * element, src + o * src_block * element,
                src_block * element);
  }
}

Tensor ConcatenateForward(ForwardContext& ctx) {
  const Tensor& first = ctx.input(0);
  ACTGRAD_REQUIRE(first.rank() >= 1, ctx.location(), "concatenate: inputs need a dimension");
  const int axis = internal::AxisOrThrow(ctx, first.rank());
  Shape out_shape = first.shape();
  out_shape[axis] = 0;
  for (const Tensor& t : ctx.inputs()) {
    bool compatible = t.rank() == first.rank() && t.dtype() == first.dtype();
    for (int d = 0; compatible && d < t.rank(); ++d) {
      compatible = d == axis || t.dim(d) == first.dim(d);
    }
    ACTGRAD_REQUIRE(compatible, ctx.location(), "concatenate: along axis ", axis,
                    " the inputs must agree in dtype and in every other dimension, got ",
                    internal::DescribeShapes(ctx.inputs()));
    out_shape[axis] += t.dim(axis);
  }
  Tensor y = internal::Empty(out_shape, first.dtype());
  Tensor extents = internal::Empty(Shape{static_cast<int64_t>(ctx.inputs().size())}, DType::kInt64);
  for (size_t i = 0; i < ctx.inputs().size(); ++i) {
    extents.data<int64_t>()[i] = ctx.inputs()[i].dim(axis);
  }
  ctx.SaveExtra(std::move(extents));
  const internal::AxisSplit out_split = internal::SplitAt(out_shape, axis);
  const size_t element = DTypeSize(first.dtype());
  int64_t offset = 0;
  for (const Tensor& t : ctx.inputs()) {
    const int64_t block = t.dim(axis) * out_split.inner;
    CopyBlocks(static_cast<const char*>(t.raw_data()), static_cast<char*>(y.raw_data()),
               out_split.outer, block, out_split.extent * out_split.inner, offset, element);
    offset += block;
  }
  return y;
}

// Each input's gradient is its slab of dy. The extents along the axis are
// saved by forward, since inputs that need no gradient have no node to ask.
void ConcatenateBackward(BackwardContext& ctx) {
  const Tensor& dy = ctx.dy();
  const int axis = *NormalizeAxis(ctx.attrs().axis, dy.rank());
  const internal::AxisSplit split = internal::SplitAt(dy.shape(), axis);
  const size_t element = DTypeSize(dy.dtype());
  const int64_t* extents = ctx.extra(0).data<int64_t>();
  int64_t offset = 0;
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    const int64_t block = extents[i] * split.inner;
    if (ctx.needs_grad(i)) {
      Tensor dx = internal::Empty(ctx.input_shape(i), dy.dtype());
      const char* src = static_cast<const char*>(dy.raw_data());
      char* dst = static_cast<char*>(dx.raw_data());
      for (int64_t o = 0; o < split.outer; ++o) {
        std::memcpy(dst + o * block * element,
                    src + (o * split.extent * split.inner + offset) * element, block * element);
      }
      ctx.set_dx(i, std::move(dx));
    }
    offset += block;
  }
}

void ConcatenateBackwardGraph(BackwardContext& ctx) {
  const int64_t axis = ctx.attrs().axis;
  const int64_t* extents = ctx.extra(0).data<int64_t>();
  int64_t offset = 0;
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    if (ctx.needs_grad(i)) ctx.set_dx(i, Slice(ctx.dy(), axis, offset, offset + extents[i]));
    offset += extents[i];
  }
}

std::vector<GradCheckCase> ConcatenateCases(Generator& gen) {
  auto r = [&](const Shape& s) { return internal::RandomDouble(s, -1, 1, gen); };
  Attrs rows;
  rows.axis = 0;
  Attrs cols;
  cols.axis = 1;
  return {
      {{r({2, 3}), r({4, 3})}, rows, "[2,3] ++ [4,3] axis 0", {}},
      {{r({2, 3}), r({2, 1}), r({2, 2})}, cols, "[2,3] ++ [2,1] ++ [2,2] axis 1", {}},
  };
}

// ------------------------------------------------------------------- slice
Tensor SliceForward(ForwardContext& ctx) {
  const Tensor& x = ctx.input(0);
  ACTGRAD_REQUIRE(x.rank() >= 1, ctx.location(), "slice: needs a dimension");
  const int axis = internal::AxisOrThrow(ctx, x.rank());
  const int64_t start = ctx.attrs().start, stop = ctx.attrs().stop;
  ACTGRAD_REQUIRE(0 <= start && start <= stop && stop <= x.dim(axis), ctx.location(), "slice: [",
                  start, ", ", stop, ") is not inside [0, ", x.dim(axis), ") along axis ", axis,
                  " of ", x.shape().ToString());
  Shape out_shape = x.shape();
  out_shape[axis] = stop - start;
  Tensor y = internal::Empty(out_shape, x.dtype());
  const internal::AxisSplit split = internal::SplitAt(x.shape(), axis);
  const size_t element = DTypeSize(x.dtype());
  const int64_t block = (stop - start) * split.inner;
  const char* src = static_cast<const char*>(x.raw_data());
  char* dst = static_cast<char*>(y.raw_data());
  for (int64_t o = 0; o < split.outer; ++o) {
    std::memcpy(dst + o * block * element,
                src + (o * split.extent * split.inner + start * split.inner) * element,
                block * element);
  }
  return y;
}

// dx is zero outside the slice and dy inside it.
void SliceBackward(BackwardContext& ctx) {
  const Shape& in = ctx.input_shape(0);
  const Tensor& dy = ctx.dy();
  const int axis = *NormalizeAxis(ctx.attrs().axis, in.rank());
  const internal::AxisSplit split = internal::SplitAt(in, axis);
  Tensor dx = internal::ZerosOf(in, dy.dtype());
  const size_t element = DTypeSize(dy.dtype());
  const int64_t block = dy.dim(axis) * split.inner;
  CopyBlocks(static_cast<const char*>(dy.raw_data()), static_cast<char*>(dx.raw_data()),
             split.outer, block, split.extent * split.inner, ctx.attrs().start * split.inner,
             element);
  ctx.set_dx(0, std::move(dx));
}

// dy between zero blocks (constants) along the axis.
void SliceBackwardGraph(BackwardContext& ctx) {
  const Shape& in = ctx.input_shape(0);
  const Tensor& dy = ctx.dy();
  const int axis = *NormalizeAxis(ctx.attrs().axis, in.rank());
  std::vector<Tensor> parts;
  const int64_t before = ctx.attrs().start, after = in[axis] - ctx.attrs().stop;
  Shape pad = in;
  if (before > 0) {
    pad[axis] = before;
    parts.push_back(internal::ZerosOf(pad, dy.dtype()));
  }
  parts.push_back(dy);
  if (after > 0) {
    pad[axis] = after;
    parts.push_back(internal::ZerosOf(pad, dy.dtype()));
  }
  ctx.set_dx(0, parts.size() == 1 ? dy : Concatenate(parts, axis));
}

std::vector<GradCheckCase> SliceCases(Generator& gen) {
  Attrs rows;
  rows.axis = 0;
  rows.start = 1;
  rows.stop = 3;
  Attrs cols;
  cols.axis = -1;
  cols.start = 0;
  cols.stop = 2;
  return {
      {{internal::RandomDouble({4, 3}, -1, 1, gen)}, rows, "[4,3] rows [1,3)", {}},
      {{internal::RandomDouble({2, 3, 4}, -1, 1, gen)}, cols, "[2,3,4] last axis [0,2)", {}},
  };
}

constexpr AttrSpec kAxisAttrs[] = {
    {"axis", "the axis to join along", nullptr, &Attrs::axis},
};
constexpr AttrSpec kSliceAttrs[] = {
    {"axis", "the axis to slice", nullptr, &Attrs::axis},
    {"start", "first index kept", nullptr, &Attrs::start},
    {"stop", "one past the last index kept", nullptr, &Attrs::stop},
};

}  // namespace

const OpDef kReshape{
    .name = "reshape",
    .formula = "Y = X viewed with another shape;  dX = dY viewed back",
    .kind = OpKind::kShape,
    .forward = &ReshapeForward,
    .backward = &ReshapeBackward,
    .backward_graph = &ReshapeBackwardGraph,
    .jvp = &internal::LinearJvp,
    .check_cases = &ReshapeCases,
};

const OpDef kConcatenate{
    .name = "concatenate",
    .formula = "Y = [X1, X2, ...] along axis;  dXi = the slab of dY for Xi",
    .kind = OpKind::kShape,
    .min_inputs = 1,
    .max_inputs = OpDef::kVariadic,
    .forward = &ConcatenateForward,
    .backward = &ConcatenateBackward,
    .backward_graph = &ConcatenateBackwardGraph,
    .jvp = &internal::LinearJvp,
    .attrs = kAxisAttrs,
    .check_cases = &ConcatenateCases,
};

const OpDef kSlice{
    .name = "slice",
    .formula = "Y = X[start:stop] along axis;  dX = dY inside the slice, 0 outside",
    .kind = OpKind::kShape,
    .forward = &SliceForward,
    .backward = &SliceBackward,
    .backward_graph = &SliceBackwardGraph,
    .jvp = &internal::LinearJvp,
    .attrs = kSliceAttrs,
    .check_cases = &SliceCases,
};

}  // namespace ops
}  // namespace actgrad
