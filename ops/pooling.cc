// Pooling: max_pool1d/2d (with the argmax kept for backward), avg_pool1d/2d,
// adaptive_avg_pool2d, and the two index rows max pooling differentiates
// through (max_unpool scatters, gather_by_index gathers; each is the other's
// adjoint). Average pooling is linear: its gradient is the adjoint row
// avg_pool_adjoint, whose own gradient is the pooling again.
//
// Every pool works on planes: the last one (1-D) or two (2-D) dimensions,
// with all leading dimensions (batch, channels) as independent planes.

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "graph/parallel.h"
#include "ops/builtin_ops.h"
#include "ops/check_cases.h"
#include "ops/functional.h"
#include "ops/jvp_rules.h"
#include "ops/kernels.h"
#include "ops/layer_ops.h"

namespace actgrad {
namespace ops {

namespace {

// One axis of a pooling: for each output index, the input range it reads and
// the divisor's factor for averages.
struct PoolAxis {
  int64_t in = 1, out = 1;
  int64_t kernel = 1, stride = 1, pad = 0, dilation = 1;
  std::vector<int64_t> begin, end, divisor;  // average and adaptive pools
};

struct PoolPlan {
  int64_t planes = 0;
  PoolAxis h, w;
  int64_t InPlane() const { return h.in * w.in; }
  int64_t OutPlane() const { return h.out * w.out; }
};

int64_t PooledExtent(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation,
                     bool ceil_mode) {
  const int64_t span = in + 2 * pad - dilation * (kernel - 1) - 1;
  if (span < 0) return 0;
  int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
  // The last window must start inside the input or the left padding.
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

enum class PoolKind { kMax, kAverage, kAdaptive };

PoolKind KindOf(const OpDef& op) {
  if (&op == &kAdaptiveAvgPool2d) return PoolKind::kAdaptive;
  if (&op == &kAvgPool2d || &op == &kAvgPool1d) return PoolKind::kAverage;
  return PoolKind::kMax;
}

bool IsOneDimensional(const OpDef& op) { return &op == &kMaxPool1d || &op == &kAvgPool1d; }

// Fills `axis` (in, kernel, stride, pad, dilation set) for `kind`.
void PlanAxis(PoolKind kind, bool ceil_mode, bool count_include_pad, PoolAxis& axis) {
  if (kind == PoolKind::kAdaptive) {
    for (int64_t o = 0; o < axis.out; ++o) {
      const int64_t b = o * axis.in / axis.out;
      const int64_t e = ((o + 1) * axis.in + axis.out - 1) / axis.out;
      axis.begin.push_back(b);
      axis.end.push_back(e);
      axis.divisor.push_back(e - b);
    }
    return;
  }
  axis.out = PooledExtent(axis.in, axis.kernel, axis.stride, axis.pad, axis.dilation, ceil_mode);
  if (kind != PoolKind::kAverage) return;
  for (int64_t o = 0; o < axis.out; ++o) {
    int64_t b = o * axis.stride - axis.pad;
    int64_t e = std::min(b + axis.kernel, axis.in + axis.pad);
    const int64_t padded = e - b;
    b = std::max<int64_t>(b, 0);
    e = std::min(e, axis.in);
    axis.begin.push_back(b);
    axis.end.push_back(e);
    axis.divisor.push_back(count_include_pad ? padded : e - b);
  }
}

// The plan of `op` (a pooling row) on an input of shape `in`.
PoolPlan PlanPool(const OpDef& op, const Shape& in, const Attrs& a, const Location& location) {
  const PoolKind kind = KindOf(op);
  const int spatial = IsOneDimensional(op) ? 1 : 2;
  const absl::string_view name = op.name;
  ACTGRAD_REQUIRE(in.rank() == spatial + 2, location, name, ": the input must be ",
                  spatial == 1 ? "[N, C, L]" : "[N, C, H, W]", ", got ", in.ToString());
  PoolPlan p;
  p.h.in = spatial == 2 ? in[in.rank() - 2] : 1;
  p.w.in = in[in.rank() - 1];
  p.planes = in.NumElements() / std::max<int64_t>(1, p.h.in * p.w.in);
  for (int i = 0; i < 2; ++i) {
    PoolAxis& axis = i == 0 ? p.h : p.w;
    if (i == 0 && spatial == 1) {
      PlanAxis(kind, false, true, axis);  // the height of a 1-D pool: one row, window 1
      continue;
    }
    if (kind == PoolKind::kAdaptive) {
      axis.out = a.Layer().window[i];
      ACTGRAD_REQUIRE(axis.out >= 1, location, name, ": the output size must be >= 1, got ",
                      axis.out);
    } else {
      axis.kernel = a.Layer().window[i];
      axis.stride = a.Layer().stride[i];
      axis.pad = a.Layer().pad_begin[i];
      axis.dilation = kind == PoolKind::kMax ? a.Layer().dilation[i] : 1;
      ACTGRAD_REQUIRE(axis.kernel >= 1 && axis.stride >= 1 && axis.dilation >= 1, location, name,
                      ": window, stride and dilation must be >= 1, got window ", axis.kernel,
                      ", stride ", axis.stride, ", dilation ", axis.dilation);
      ACTGRAD_REQUIRE(a.Layer().pad_end[i] == a.Layer().pad_begin[i] && axis.pad >= 0 &&
                          2 * axis.pad <= axis.kernel,
                      location, name,
                      ": padding must be the same on both sides and at most half the window (",
                      axis.kernel, "), got ", a.Layer().pad_begin[i], "/", a.Layer().pad_end[i]);
    }
    PlanAxis(kind, a.Layer().ceil_mode, a.Layer().count_include_pad, axis);
    ACTGRAD_REQUIRE(axis.out >= 1, location, name, ": the window ", axis.kernel, " (dilation ",
                    axis.dilation, ", padding ", axis.pad, ") does not fit the input ",
                    in.ToString());
  }
  return p;
}

Shape PooledShape(const Shape& in, const PoolPlan& p, bool one_dimensional) {
  Shape out = in;
  out[in.rank() - 1] = p.w.out;
  if (!one_dimensional) out[in.rank() - 2] = p.h.out;
  return out;
}

// Runs body(plane) for every plane, split over the threads when the planes
// hold enough elements to pay for waking them. Planes are independent.
template <typename Fn>
void ForEachPlane(const PoolPlan& p, Fn body) {
  auto range = [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) body(plane);
  };
  if (p.planes > 1 && p.planes * p.InPlane() >= internal::kParallelMinElements) {
    internal::ParallelForItems(p.planes, range);
  } else {
    range(0, p.planes);
  }
}

// ------------------------------------------------------------- max pooling
// Every window lies inside the input: no padding, no dilation, and no
// window that ceil_mode lets run past the edge.
bool WindowsInside(const PoolPlan& p) {
  for (const PoolAxis* a : {&p.h, &p.w}) {
    if (a->pad != 0 || a->dilation != 1 || (a->out - 1) * a->stride + a->kernel > a->in) {
      return false;
    }
  }
  return true;
}

// Windows that tile the input: each element in exactly one window.
bool WindowsTile(const PoolPlan& p) {
  return WindowsInside(p) && p.h.stride == p.h.kernel && p.w.stride == p.w.kernel &&
         p.h.out * p.h.stride == p.h.in && p.w.out * p.w.stride == p.w.in;
}

// best, best_index = v, index when v > best or v is NaN, with bit masks
// instead of a branch: on real data which tap wins is unpredictable, and a
// mispredicted branch per tap cost several times the comparison (the
// compiler turns a conditional expression here back into branches).
template <typename T>
inline void TakeIfGreaterOrNan(T v, int64_t index, T& best, int64_t& best_index) {
  using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  const bool take = (v > best) | (v != v);
  const Bits mask = Bits(0) - Bits(take);
  best = std::bit_cast<T>((std::bit_cast<Bits>(v) & mask) | (std::bit_cast<Bits>(best) & ~mask));
  const uint64_t index_mask = uint64_t(0) - uint64_t(take);
  best_index = int64_t((uint64_t(index) & index_mask) | (uint64_t(best_index) & ~index_mask));
}

// MaxPoolPlanes for windows inside the input, without bounds checks.
template <typename T>
void MaxPoolInside(const PoolPlan& p, const T* x, T* y, int64_t* index) {
  const int64_t in_plane = p.InPlane(), out_plane = p.OutPlane(), width = p.w.in;
  ForEachPlane(p, [&](int64_t plane) {
    const T* src = x + plane * in_plane;
    T* dst = y + plane * out_plane;
    int64_t* idx = index + plane * out_plane;
    for (int64_t oh = 0; oh < p.h.out; ++oh) {
      const int64_t top = oh * p.h.stride * width;
      for (int64_t ow = 0; ow < p.w.out; ++ow) {
        int64_t best_index = top + ow * p.w.stride;
        T best = src[best_index];
        for (int64_t i = 0; i < p.h.kernel; ++i) {
          const int64_t row = top + i * width + ow * p.w.stride;
          for (int64_t j = (i == 0 ? 1 : 0); j < p.w.kernel; ++j) {
            TakeIfGreaterOrNan(src[row + j], row + j, best, best_index);
          }
        }
        dst[oh * p.w.out + ow] = best;
        idx[oh * p.w.out + ow] = best_index;
      }
    }
  });
}

// The common 2x2 window with stride 2, in two passes per output row that
// the compiler vectorizes: the larger of each vertical pair (and whether it
// came from the lower row), then the larger of each horizontal pair of
// those. A tie between the columns goes to the earlier element in
// row-major order, as the plain scan gives it. Comparisons this way let a
// NaN lose, so a row pair holding a NaN takes the plain scan instead.
template <typename T>
void MaxPool2x2(const PoolPlan& p, const T* x, T* y, int64_t* index) {
  const int64_t in_plane = p.InPlane(), out_plane = p.OutPlane(), width = p.w.in;
  const int64_t out_width = p.w.out, pairs = 2 * out_width, out_height = p.h.out;
  ForEachPlane(p, [&](int64_t plane) {
    // Local copies: stores through the outputs could otherwise alias the
    // captured sizes and force a reload every iteration.
    const int64_t row_stride = width, columns = out_width, pair_count = pairs, rows = out_height;
    // Per thread, kept between planes and calls: an allocation per plane
    // cost as much as the pooling of a 14x14 plane.
    thread_local std::vector<T> column_max;
    thread_local std::vector<int32_t> from_lower;
    if (column_max.size() < static_cast<size_t>(pairs)) {
      column_max.resize(static_cast<size_t>(pairs));
      from_lower.resize(static_cast<size_t>(pairs));
    }
    // No aliasing between the rows, the buffers and the outputs: what lets
    // the compiler vectorize the loops.
    T* __restrict vmax = column_max.data();
    int32_t* __restrict lower = from_lower.data();
    const T* src = x + plane * in_plane;
    for (int64_t oh = 0; oh < rows; ++oh) {
      const int64_t top = 2 * oh * row_stride;
      const T* __restrict r0 = src + top;
      const T* __restrict r1 = r0 + row_stride;
      T* __restrict dst = y + plane * out_plane + oh * columns;
      int64_t* __restrict idx = index + plane * out_plane + oh * columns;
      int32_t nan = 0;
      for (int64_t j = 0; j < pair_count; ++j)
        nan |= int32_t(r0[j] != r0[j]) | int32_t(r1[j] != r1[j]);
      if (nan != 0) {
        for (int64_t ow = 0; ow < columns; ++ow) {
          const int64_t left = 2 * ow;
          T best = r0[left];
          int64_t best_index = top + left;
          TakeIfGreaterOrNan(r0[left + 1], top + left + 1, best, best_index);
          TakeIfGreaterOrNan(r1[left], top + row_stride + left, best, best_index);
          TakeIfGreaterOrNan(r1[left + 1], top + row_stride + left + 1, best, best_index);
          dst[ow] = best;
          idx[ow] = best_index;
        }
        continue;
      }
      for (int64_t j = 0; j < pair_count; ++j) {
        const T upper_value = r0[j], lower_value = r1[j];
        vmax[j] = lower_value > upper_value ? lower_value : upper_value;
        lower[j] = lower_value > upper_value ? 1 : 0;
      }
      // Arithmetic rather than conditionals, which compile to branches.
      // Without NaNs the winner's value is the plain maximum.
      for (int64_t ow = 0; ow < columns; ++ow) {
        const T left = vmax[2 * ow], right = vmax[2 * ow + 1];
        const int64_t left_row = lower[2 * ow], right_row = lower[2 * ow + 1];
        const int64_t take =
            int64_t(right > left) | (int64_t(right == left) & int64_t(right_row < left_row));
        dst[ow] = std::max(left, right);
        idx[ow] = top + (left_row + take * (right_row - left_row)) * row_stride + 2 * ow + take;
      }
    }
  });
}

template <typename T>
void MaxPoolPlanes(const PoolPlan& p, const T* x, T* y, int64_t* index) {
  if (WindowsInside(p) && p.h.kernel == 2 && p.w.kernel == 2 && p.h.stride == 2 &&
      p.w.stride == 2) {
    MaxPool2x2(p, x, y, index);
    return;
  }
  if (WindowsInside(p)) {
    MaxPoolInside(p, x, y, index);
    return;
  }
  const int64_t in_plane = p.InPlane(), out_plane = p.OutPlane();
  ForEachPlane(p, [&](int64_t plane) {
    const T* src = x + plane * in_plane;
    T* dst = y + plane * out_plane;
    int64_t* idx = index + plane * out_plane;
    for (int64_t oh = 0; oh < p.h.out; ++oh) {
      const int64_t h0 = oh * p.h.stride - p.h.pad;
      for (int64_t ow = 0; ow < p.w.out; ++ow) {
        const int64_t w0 = ow * p.w.stride - p.w.pad;
        T best = -std::numeric_limits<T>::infinity();
        int64_t best_index = -1;
        for (int64_t i = 0; i < p.h.kernel; ++i) {
          const int64_t ih = h0 + i * p.h.dilation;
          if (ih < 0 || ih >= p.h.in) continue;
          for (int64_t j = 0; j < p.w.kernel; ++j) {
            const int64_t iw = w0 + j * p.w.dilation;
            if (iw < 0 || iw >= p.w.in) continue;
            const int64_t at = ih * p.w.in + iw;
            const T v = src[at];
            if (best_index < 0 || v > best || std::isnan(v)) {
              best = v;
              best_index = at;
            }
          }
        }
        dst[oh * p.w.out + ow] = best;
        idx[oh * p.w.out + ow] = best_index;
      }
    }
  });
}

Tensor MaxPoolForward(ForwardContext& ctx) {
  internal::RequireSameFloatingDType(ctx);
  const Tensor& x = ctx.input(0);
  const PoolPlan p = PlanPool(ctx.op(), x.shape(), ctx.attrs(), ctx.location());
  const Shape out = PooledShape(x.shape(), p, IsOneDimensional(ctx.op()));
  Tensor y = internal::Empty(out, x.dtype());
  Tensor index = internal::Empty(out, DType::kInt64);
  DispatchFloating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    MaxPoolPlanes<T>(p, static_cast<const T*>(x.raw_data()), static_cast<T*>(y.raw_data()),
                     static_cast<int64_t*>(index.raw_data()));
  });
  ctx.SaveExtra(std::move(index));
  return y;
}

// out[plane].flat[index[k]] += values[plane].flat[k], into zeros of `shape`.
Tensor ScatterPlanes(const Tensor& values, const Tensor& index, const Shape& shape) {
  Tensor out = internal::ZerosOf(shape, values.dtype());
  const int64_t out_plane =
      values.rank() >= 2 ? values.numel() / (values.dim(0) * values.dim(1)) : values.numel();
  const int64_t planes = values.numel() / std::max<int64_t>(1, out_plane);
  const int64_t in_plane = shape.NumElements() / std::max<int64_t>(1, planes);
  DispatchFloating(values.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pv = static_cast<const T*>(values.raw_data());
    const int64_t* pi = static_cast<const int64_t*>(index.raw_data());
    T* po = static_cast<T*>(out.raw_data());
    for (int64_t plane = 0; plane < planes; ++plane) {
      for (int64_t k = 0; k < out_plane; ++k) {
        po[plane * in_plane + pi[plane * out_plane + k]] += pv[plane * out_plane + k];
      }
    }
  });
  return out;
}

// values[plane].flat[k] = source[plane].flat[index[k]].
Tensor GatherPlanes(const Tensor& source, const Tensor& index) {
  Tensor out = internal::Empty(index.shape(), source.dtype());
  const int64_t out_plane =
      index.rank() >= 2 ? index.numel() / (index.dim(0) * index.dim(1)) : index.numel();
  const int64_t planes = index.numel() / std::max<int64_t>(1, out_plane);
  const int64_t in_plane = source.numel() / std::max<int64_t>(1, planes);
  DispatchFloating(source.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* ps = static_cast<const T*>(source.raw_data());
    const int64_t* pi = static_cast<const int64_t*>(index.raw_data());
    T* po = static_cast<T*>(out.raw_data());
    for (int64_t plane = 0; plane < planes; ++plane) {
      for (int64_t k = 0; k < out_plane; ++k) {
        po[plane * out_plane + k] = ps[plane * in_plane + pi[plane * out_plane + k]];
      }
    }
  });
  return out;
}

// When the windows tile the input, each window's block of dx is written
// once (zeros and the one gradient), with no separate zero fill.
template <typename T>
void ScatterTiles(const PoolPlan& p, const T* dy, const int64_t* index, T* dx) {
  const int64_t in_plane = p.InPlane(), out_plane = p.OutPlane(), width = p.w.in;
  ForEachPlane(p, [&](int64_t plane) {
    T* dst = dx + plane * in_plane;
    for (int64_t oh = 0; oh < p.h.out; ++oh) {
      for (int64_t i = 0; i < p.h.kernel; ++i) {
        T* row = dst + (oh * p.h.stride + i) * width;
        std::fill(row, row + p.w.out * p.w.stride, T(0));
      }
      for (int64_t ow = 0; ow < p.w.out; ++ow) {
        const int64_t k = plane * out_plane + oh * p.w.out + ow;
        dst[index[k]] = dy[k];
      }
    }
  });
}

void MaxPoolBackward(BackwardContext& ctx) {
  const PoolPlan p = PlanPool(ctx.op(), ctx.input_shape(0), ctx.attrs(), ctx.location());
  if (!WindowsTile(p)) {
    ctx.set_dx(0, ScatterPlanes(ctx.dy(), ctx.extra(0), ctx.input_shape(0)));
    return;
  }
  Tensor dx = internal::Empty(ctx.input_shape(0), ctx.dy().dtype());
  DispatchFloating(dx.dtype(), [&](auto tag) {
    using T = decltype(tag);
    ScatterTiles<T>(p, static_cast<const T*>(ctx.dy().raw_data()),
                    static_cast<const int64_t*>(ctx.extra(0).raw_data()),
                    static_cast<T*>(dx.raw_data()));
  });
  ctx.set_dx(0, std::move(dx));
}

void MaxPoolBackwardGraph(BackwardContext& ctx) {
  Attrs a;
  a.shape = ctx.input_shape(0);
  ctx.set_dx(0, Apply(kMaxUnpool, {ctx.dy(), ctx.extra(0)}, a));
}

// --------------------------------------------------------- index rows
// Checks values/index/source shapes of the two index rows: planes are the
// dimensions after the first two.
void CheckIndexRow(const ForwardContext& ctx, const Shape& values, const Shape& source) {
  const Tensor& index = ctx.input(1);
  ACTGRAD_REQUIRE(index.dtype() == DType::kInt64 && index.shape() == values, ctx.location(),
                  ctx.op().name, ": the index must be int64 with the values' shape ",
                  values.ToString(), ", got ", index.shape().ToString());
  ACTGRAD_REQUIRE(values.rank() >= 3 && source.rank() == values.rank() && source[0] == values[0] &&
                      source[1] == values[1],
                  ctx.location(), ctx.op().name, ": values ", values.ToString(), " and planes ",
                  source.ToString(), " must share their first two dimensions (rank >= 3)");
  const int64_t plane = source.NumElements() / std::max<int64_t>(1, source[0] * source[1]);
  for (int64_t v : index.values<int64_t>()) {
    ACTGRAD_REQUIRE(v >= 0 && v < plane, ctx.location(), ctx.op().name, ": index ", v,
                    " is outside a plane of ", plane, " elements");
  }
}

Tensor MaxUnpoolForward(ForwardContext& ctx) {
  const Tensor& values = ctx.input(0);
  ACTGRAD_REQUIRE(IsFloating(values.dtype()), ctx.location(),
                  "max_unpool: the values must be floating");
  CheckIndexRow(ctx, values.shape(), ctx.attrs().shape);
  return ScatterPlanes(values, ctx.input(1), ctx.attrs().shape);
}

void MaxUnpoolBackward(BackwardContext& ctx) {
  ctx.set_dx(0, GatherPlanes(ctx.dy(), ctx.saved_input(1)));
}

void MaxUnpoolBackwardGraph(BackwardContext& ctx) {
  ctx.set_dx(0, Apply(kGatherByIndex, {ctx.dy(), ctx.saved_input(1)}));
}

Tensor GatherByIndexForward(ForwardContext& ctx) {
  const Tensor& source = ctx.input(0);
  ACTGRAD_REQUIRE(IsFloating(source.dtype()), ctx.location(),
                  "gather_by_index: the source must be floating");
  CheckIndexRow(ctx, ctx.input(1).shape(), source.shape());
  return GatherPlanes(source, ctx.input(1));
}

void GatherByIndexBackward(BackwardContext& ctx) {
  ctx.set_dx(0, ScatterPlanes(ctx.dy(), ctx.saved_input(1), ctx.input_shape(0)));
}

void GatherByIndexBackwardGraph(BackwardContext& ctx) {
  Attrs a;
  a.shape = ctx.input_shape(0);
  ctx.set_dx(0, Apply(kMaxUnpool, {ctx.dy(), ctx.saved_input(1)}, a));
}

// ---------------------------------------------------------- average pooling
template <typename T>
void AveragePlanes(const PoolPlan& p, const T* x, T* y) {
  const int64_t in_plane = p.InPlane(), out_plane = p.OutPlane();
  ForEachPlane(p, [&](int64_t plane) {
    const T* src = x + plane * in_plane;
    T* dst = y + plane * out_plane;
    for (int64_t oh = 0; oh < p.h.out; ++oh) {
      for (int64_t ow = 0; ow < p.w.out; ++ow) {
        T sum = 0;
        for (int64_t ih = p.h.begin[oh]; ih < p.h.end[oh]; ++ih) {
          for (int64_t iw = p.w.begin[ow]; iw < p.w.end[ow]; ++iw) sum += src[ih * p.w.in + iw];
        }
        dst[oh * p.w.out + ow] = sum / T(p.h.divisor[oh] * p.w.divisor[ow]);
      }
    }
  });
}

// The adjoint: each output's gradient, divided, back over its window.
template <typename T>
void SpreadAverages(const PoolPlan& p, const T* dy, T* dx) {
  const int64_t in_plane = p.InPlane(), out_plane = p.OutPlane();
  std::fill(dx, dx + p.planes * in_plane, T(0));
  ForEachPlane(p, [&](int64_t plane) {
    const T* src = dy + plane * out_plane;
    T* dst = dx + plane * in_plane;
    for (int64_t oh = 0; oh < p.h.out; ++oh) {
      for (int64_t ow = 0; ow < p.w.out; ++ow) {
        const T share = src[oh * p.w.out + ow] / T(p.h.divisor[oh] * p.w.divisor[ow]);
        for (int64_t ih = p.h.begin[oh]; ih < p.h.end[oh]; ++ih) {
          for (int64_t iw = p.w.begin[ow]; iw < p.w.end[ow]; ++iw) dst[ih * p.w.in + iw] += share;
        }
      }
    }
  });
}

Tensor RunAverage(const OpDef& op, const Tensor& x, const Attrs& a, const Location& location) {
  const PoolPlan p = PlanPool(op, x.shape(), a, location);
  Tensor y = internal::Empty(PooledShape(x.shape(), p, IsOneDimensional(op)), x.dtype());
  DispatchFloating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    AveragePlanes<T>(p, static_cast<const T*>(x.raw_data()), static_cast<T*>(y.raw_data()));
  });
  return y;
}

Tensor RunSpreadAverages(const OpDef& op, const Tensor& dy, const Shape& input, const Attrs& a,
                         const Location& location) {
  const PoolPlan p = PlanPool(op, input, a, location);
  Tensor dx = internal::Empty(input, dy.dtype());
  DispatchFloating(dy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    SpreadAverages<T>(p, static_cast<const T*>(dy.raw_data()), static_cast<T*>(dx.raw_data()));
  });
  return dx;
}

Tensor AvgPoolForward(ForwardContext& ctx) {
  internal::RequireSameFloatingDType(ctx);
  return RunAverage(ctx.op(), ctx.input(0), ctx.attrs(), ctx.location());
}

void AvgPoolBackward(BackwardContext& ctx) {
  ctx.set_dx(
      0, RunSpreadAverages(ctx.op(), ctx.dy(), ctx.input_shape(0), ctx.attrs(), ctx.location()));
}

void AvgPoolBackwardGraph(BackwardContext& ctx) {
  Attrs a = ctx.attrs();
  a.target = &ctx.op();
  a.shape = ctx.input_shape(0);
  ctx.set_dx(0, Apply(kAvgPoolAdjoint, {ctx.dy()}, a));
}

// attrs.target is the pooling row, attrs.shape its input's shape.
Tensor AvgPoolAdjointForward(ForwardContext& ctx) {
  internal::RequireSameFloatingDType(ctx);
  const OpDef* pool = ctx.attrs().target;
  ACTGRAD_REQUIRE(pool != nullptr && KindOf(*pool) != PoolKind::kMax, ctx.location(),
                  "avg_pool_adjoint: attrs.target must be an average-pooling row");
  const Shape& input = ctx.attrs().shape;
  const PoolPlan p = PlanPool(*pool, input, ctx.attrs(), ctx.location());
  const Shape expected = PooledShape(input, p, IsOneDimensional(*pool));
  ACTGRAD_REQUIRE(ctx.input(0).shape() == expected, ctx.location(),
                  "avg_pool_adjoint: ", pool->name, " of ", input.ToString(), " gives ",
                  expected.ToString(), ", not ", ctx.input(0).shape().ToString());
  return RunSpreadAverages(*pool, ctx.input(0), input, ctx.attrs(), ctx.location());
}

Attrs PoolAttrsOf(const Attrs& adjoint) {
  Attrs a = adjoint;
  a.target = nullptr;
  a.shape = Shape();
  return a;
}

void AvgPoolAdjointBackward(BackwardContext& ctx) {
  ctx.set_dx(0, RunAverage(*ctx.attrs().target, ctx.dy(), ctx.attrs(), ctx.location()));
}

void AvgPoolAdjointBackwardGraph(BackwardContext& ctx) {
  ctx.set_dx(0, Apply(*ctx.attrs().target, {ctx.dy()}, PoolAttrsOf(ctx.attrs())));
}

// ------------------------------------------------------------------- FLOPs
double WindowFlops(std::span<const Tensor> inputs, const Tensor& output) {
  return double(inputs[0].numel());
}

// -------------------------------------------------------------- check cases
Attrs PoolAttrs(std::array<int64_t, 2> window, std::array<int64_t, 2> stride,
                std::array<int64_t, 2> pad, std::array<int64_t, 2> dilation = {1, 1},
                bool ceil_mode = false, bool count_include_pad = true) {
  Attrs a;
  a.MutableLayer().window = window;
  a.MutableLayer().stride = stride;
  a.MutableLayer().pad_begin = a.MutableLayer().pad_end = pad;
  a.MutableLayer().dilation = dilation;
  a.MutableLayer().ceil_mode = ceil_mode;
  a.MutableLayer().count_include_pad = count_include_pad;
  return a;
}

// Values 0.05 apart in shuffled order: no two in a window are within a
// finite-difference step of each other, so the argmax cannot flip.
Tensor DistinctValues(const Shape& shape, Generator& gen) {
  const int64_t n = shape.NumElements();
  std::vector<double> values(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) values[size_t(i)] = 0.05 * double(i) - 0.025 * double(n);
  for (int64_t i = n - 1; i > 0; --i) {
    std::swap(values[size_t(i)], values[size_t(gen.NextBelow(uint64_t(i + 1)))]);
  }
  return FromValues(values, shape, DType::kFloat64);
}

std::vector<GradCheckCase> MaxPool2dCases(Generator& gen) {
  return {
      {{DistinctValues({2, 2, 4, 4}, gen)},
       PoolAttrs({2, 2}, {2, 2}, {0, 0}),
       "[2,2,4,4] window 2",
       {}},
      {{DistinctValues({1, 2, 5, 6}, gen)},
       PoolAttrs({3, 2}, {2, 1}, {1, 1}, {1, 2}, true),
       "[1,2,5,6] window 3x2, stride 2x1, padding 1, dilation 1x2, ceil_mode",
       {}},
  };
}

std::vector<GradCheckCase> MaxPool1dCases(Generator& gen) {
  return {{{DistinctValues({2, 3, 7}, gen)},
           PoolAttrs({1, 3}, {1, 2}, {0, 1}, {1, 1}, true),
           "[2,3,7] window 3, stride 2, padding 1, ceil_mode",
           {}}};
}

std::vector<GradCheckCase> AvgPool2dCases(Generator& gen) {
  auto r = [&](const Shape& s) { return internal::RandomDouble(s, -1, 1, gen); };
  return {
      {{r({2, 2, 4, 4})}, PoolAttrs({2, 2}, {2, 2}, {0, 0}), "[2,2,4,4] window 2", {}},
      {{r({1, 2, 5, 6})},
       PoolAttrs({3, 2}, {2, 1}, {1, 1}, {1, 1}, true, false),
       "[1,2,5,6] window 3x2, stride 2x1, padding 1, ceil_mode, padding not counted",
       {}},
  };
}

std::vector<GradCheckCase> AvgPool1dCases(Generator& gen) {
  return {{{internal::RandomDouble({2, 3, 7}, -1, 1, gen)},
           PoolAttrs({1, 3}, {1, 2}, {0, 1}),
           "[2,3,7] window 3, stride 2, padding 1",
           {}}};
}

std::vector<GradCheckCase> AdaptiveCases(Generator& gen) {
  Attrs a;
  a.MutableLayer().window = {3, 2};
  return {{{internal::RandomDouble({2, 2, 5, 7}, -1, 1, gen)}, a, "[2,2,5,7] to 3x2", {}}};
}

std::vector<GradCheckCase> AdjointCases(Generator& gen) {
  Attrs a = PoolAttrs({3, 2}, {2, 1}, {1, 1}, {1, 1}, true, false);
  a.target = &kAvgPool2d;
  a.shape = Shape{1, 2, 5, 6};
  // avg_pool2d of [1,2,5,6] with these settings is [1,2,3,7].
  return {{{internal::RandomDouble({1, 2, 3, 7}, -1, 1, gen)},
           a,
           "avg_pool2d's adjoint, [1,2,3,7] onto [1,2,5,6]",
           {}}};
}

Tensor RandomIndex(const Shape& shape, int64_t plane, Generator& gen) {
  std::vector<int64_t> index(size_t(shape.NumElements()));
  for (int64_t& v : index) v = int64_t(gen.NextBelow(uint64_t(plane)));
  Tensor t = internal::Empty(shape, DType::kInt64);
  std::copy(index.begin(), index.end(), static_cast<int64_t*>(t.raw_data()));
  return t;
}

std::vector<GradCheckCase> UnpoolCases(Generator& gen) {
  Attrs a;
  a.shape = Shape{2, 2, 3, 3};
  return {{{internal::RandomDouble({2, 2, 2, 2}, -1, 1, gen), RandomIndex({2, 2, 2, 2}, 9, gen)},
           a,
           "[2,2,2,2] into [2,2,3,3] (repeated indices add)",
           {}}};
}

std::vector<GradCheckCase> GatherCases(Generator& gen) {
  return {{{internal::RandomDouble({2, 2, 3, 3}, -1, 1, gen), RandomIndex({2, 2, 2, 2}, 9, gen)},
           {},
           "[2,2,2,2] from [2,2,3,3]",
           {}}};
}

}  // namespace

const OpDef kMaxPool2d{
    .name = "max_pool2d",
    .formula =
        "Y = max over each window (first maximum wins ties, NaN wins);  dX = dY at each argmax",
    .kind = OpKind::kReduction,
    .forward = &MaxPoolForward,
    .backward = &MaxPoolBackward,
    .backward_graph = &MaxPoolBackwardGraph,
    .check_cases = &MaxPool2dCases,
    .forward_flops = &WindowFlops,
};

const OpDef kMaxPool1d{
    .name = "max_pool1d",
    .formula = "max_pool2d over the last dimension",
    .kind = OpKind::kReduction,
    .forward = &MaxPoolForward,
    .backward = &MaxPoolBackward,
    .backward_graph = &MaxPoolBackwardGraph,
    .check_cases = &MaxPool1dCases,
    .forward_flops = &WindowFlops,
};

const OpDef kAvgPool2d{
    .name = "avg_pool2d",
    .formula = "Y = mean over each window;  dX = dY / divisor over each window",
    .kind = OpKind::kReduction,
    .forward = &AvgPoolForward,
    .backward = &AvgPoolBackward,
    .backward_graph = &AvgPoolBackwardGraph,
    .jvp = &internal::LinearJvp,
    .check_cases = &AvgPool2dCases,
    .forward_flops = &WindowFlops,
};

const OpDef kAvgPool1d{
    .name = "avg_pool1d",
    .formula = "avg_pool2d over the last dimension",
    .kind = OpKind::kReduction,
    .forward = &AvgPoolForward,
    .backward = &AvgPoolBackward,
    .backward_graph = &AvgPoolBackwardGraph,
    .jvp = &internal::LinearJvp,
    .check_cases = &AvgPool1dCases,
    .forward_flops = &WindowFlops,
};

const OpDef kAdaptiveAvgPool2d{
    .name = "adaptive_avg_pool2d",
    .formula =
        "Y = mean over windows [floor(i H/h), ceil((i+1) H/h)) tiling the input;  "
        "dX = dY / size over each window",
    .kind = OpKind::kReduction,
    .forward = &AvgPoolForward,
    .backward = &AvgPoolBackward,
    .backward_graph = &AvgPoolBackwardGraph,
    .jvp = &internal::LinearJvp,
    .check_cases = &AdaptiveCases,
    .forward_flops = &WindowFlops,
};

const OpDef kAvgPoolAdjoint{
    .name = "avg_pool_adjoint",
    .formula =
        "X = each of Y's values / divisor, spread over its window (attrs.target's "
        "gradient);  dY = attrs.target(dX)",
    .kind = OpKind::kReduction,
    .forward = &AvgPoolAdjointForward,
    .backward = &AvgPoolAdjointBackward,
    .backward_graph = &AvgPoolAdjointBackwardGraph,
    .jvp = &internal::LinearJvp,
    .check_cases = &AdjointCases,
};

const OpDef kMaxUnpool{
    .name = "max_unpool",
    .formula =
        "Y[n,c].flat[I[k]] += X[n,c].flat[k] into zeros of attrs.shape;  dX = gather_by_index(dY, "
        "I)",
    .kind = OpKind::kShape,
    .min_inputs = 2,
    .max_inputs = 2,
    .saves = kSaveInput1,
    .non_differentiable = 1u << 1,
    .forward = &MaxUnpoolForward,
    .backward = &MaxUnpoolBackward,
    .backward_graph = &MaxUnpoolBackwardGraph,
    .jvp = &internal::LinearJvp,
    .check_cases = &UnpoolCases,
};

const OpDef kGatherByIndex{
    .name = "gather_by_index",
    .formula = "Y[n,c].flat[k] = X[n,c].flat[I[k]];  dX = max_unpool(dY, I)",
    .kind = OpKind::kShape,
    .min_inputs = 2,
    .max_inputs = 2,
    .saves = kSaveInput1,
    .non_differentiable = 1u << 1,
    .forward = &GatherByIndexForward,
    .backward = &GatherByIndexBackward,
    .backward_graph = &GatherByIndexBackwardGraph,
    .jvp = &internal::LinearJvp,
    .check_cases = &GatherCases,
};

}  // namespace ops

namespace {

Attrs Pool2dAttrs(const Pool2dOptions& o) {
  Attrs a;
  a.MutableLayer().window = o.window;
  for (int i = 0; i < 2; ++i)
    a.MutableLayer().stride[i] = o.stride[i] == 0 ? o.window[i] : o.stride[i];
  a.MutableLayer().pad_begin = a.MutableLayer().pad_end = o.padding;
  a.MutableLayer().dilation = o.dilation;
  a.MutableLayer().ceil_mode = o.ceil_mode;
  a.MutableLayer().count_include_pad = o.count_include_pad;
  return a;
}

Attrs Pool1dAttrs(const Pool1dOptions& o) {
  Attrs a;
  a.MutableLayer().window = {1, o.window};
  a.MutableLayer().stride = {1, o.stride == 0 ? o.window : o.stride};
  a.MutableLayer().pad_begin = a.MutableLayer().pad_end = {0, o.padding};
  a.MutableLayer().dilation = {1, o.dilation};
  a.MutableLayer().ceil_mode = o.ceil_mode;
  a.MutableLayer().count_include_pad = o.count_include_pad;
  return a;
}

}  // namespace

Tensor MaxPool2d(const Tensor& x, const Pool2dOptions& options, std::source_location location) {
  return Apply(ops::kMaxPool2d, {x}, Pool2dAttrs(options), location);
}
Tensor MaxPool1d(const Tensor& x, const Pool1dOptions& options, std::source_location location) {
  return Apply(ops::kMaxPool1d, {x}, Pool1dAttrs(options), location);
}
Tensor AvgPool2d(const Tensor& x, const Pool2dOptions& options, std::source_location location) {
  return Apply(ops::kAvgPool2d, {x}, Pool2dAttrs(options), location);
}
Tensor AvgPool1d(const Tensor& x, const Pool1dOptions& options, std::source_location location) {
  return Apply(ops::kAvgPool1d, {x}, Pool1dAttrs(options), location);
}
Tensor AdaptiveAvgPool2d(const Tensor& x, std::array<int64_t, 2> output_size,
                         std::source_location location) {
  Attrs a;
  a.MutableLayer().window = output_size;
  return Apply(ops::kAdaptiveAvgPool2d, {x}, a, location);
}

}  // namespace actgrad
