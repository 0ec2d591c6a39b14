// Layout rows: permute (any reordering of the dimensions) and pad (constant
// padding or cropping of trailing dimensions), and flatten over reshape.
// Both are linear; pad's gradient is pad with the amounts negated, and
// permute's is permute by the inverse order.

#include <algorithm>
#include <cstring>
#include <numeric>

#include "absl/strings/str_join.h"
#include "ops/builtin_ops.h"
#include "ops/check_cases.h"
#include "ops/functional.h"
#include "ops/jvp_rules.h"
#include "ops/kernels.h"
#include "ops/layer_ops.h"

namespace actgrad {
namespace ops {

namespace {

// ----------------------------------------------------------------- permute
void CheckPermutation(const std::vector<int64_t>& axes, int rank, const Location& location) {
  std::vector<bool> seen(size_t(rank), false);
  bool valid = int(axes.size()) == rank;
  for (int64_t axis : axes) {
    if (!valid || axis < 0 || axis >= rank || seen[size_t(axis)]) {
      valid = false;
      break;
    }
    seen[size_t(axis)] = true;
  }
  ACTGRAD_REQUIRE(valid, location, "permute: (", absl::StrJoin(axes, ", "),
                  ") is not an order of the ", rank, " dimensions");
}

std::vector<int64_t> Inverse(const std::vector<int64_t>& axes) {
  std::vector<int64_t> inverse(axes.size());
  for (size_t i = 0; i < axes.size(); ++i) inverse[size_t(axes[i])] = int64_t(i);
  return inverse;
}

// Output dimension i walks input dimension axes[i].
Tensor PermuteValues(const Tensor& x, const std::vector<int64_t>& axes) {
  const int rank = x.rank();
  Shape out_shape = x.shape();
  for (int i = 0; i < rank; ++i) out_shape[i] = x.dim(int(axes[size_t(i)]));
  Tensor y = internal::Empty(out_shape, x.dtype());
  const std::array<int64_t, Shape::kMaxRank> in_strides = x.shape().Strides();
  std::array<int64_t, Shape::kMaxRank> strides{};
  for (int i = 0; i < rank; ++i) strides[size_t(i)] = in_strides[size_t(axes[size_t(i)])];
  const size_t element = DTypeSize(x.dtype());
  const char* src = static_cast<const char*>(x.raw_data());
  char* dst = static_cast<char*>(y.raw_data());
  const int64_t n = y.numel();
  if (n == 0) return y;
  std::array<int64_t, Shape::kMaxRank> index{};
  int64_t offset = 0;
  for (int64_t k = 0; k < n; ++k) {
    std::memcpy(dst + k * element, src + offset * element, element);
    for (int d = rank - 1; d >= 0; --d) {
      offset += strides[size_t(d)];
      if (++index[size_t(d)] < out_shape[d]) break;
      offset -= strides[size_t(d)] * out_shape[d];
      index[size_t(d)] = 0;
    }
  }
  return y;
}

Tensor PermuteForward(ForwardContext& ctx) {
  const Tensor& x = ctx.input(0);
  CheckPermutation(ctx.attrs().Layer().axes, x.rank(), ctx.location());
  return PermuteValues(x, ctx.attrs().Layer().axes);
}

void PermuteBackward(BackwardContext& ctx) {
  ctx.set_dx(0, PermuteValues(ctx.dy(), Inverse(ctx.attrs().Layer().axes)));
}

void PermuteBackwardGraph(BackwardContext& ctx) {
  Attrs a;
  a.MutableLayer().axes = Inverse(ctx.attrs().Layer().axes);
  ctx.set_dx(0, Apply(kPermute, {ctx.dy()}, a));
}

std::vector<GradCheckCase> PermuteCases(Generator& gen) {
  Attrs nchw_to_nhwc;
  nchw_to_nhwc.MutableLayer().axes = {0, 2, 3, 1};
  Attrs swap;
  swap.MutableLayer().axes = {2, 0, 1};
  return {
      {{internal::RandomDouble({2, 3, 2, 2}, -1, 1, gen)},
       nchw_to_nhwc,
       "[2,3,2,2] to (0,2,3,1)",
       {}},
      {{internal::RandomDouble({2, 3, 4}, -1, 1, gen)}, swap, "[2,3,4] to (2,0,1)", {}},
  };
}

// --------------------------------------------------------------------- pad
Shape PaddedShape(const Shape& in, const std::vector<int64_t>& pads, const Location& location) {
  ACTGRAD_REQUIRE(pads.size() % 2 == 0 && int(pads.size()) <= 2 * in.rank(), location,
                  "pad: needs (before, after) pairs for at most ", in.rank(), " dimensions, got (",
                  absl::StrJoin(pads, ", "), ")");
  Shape out = in;
  for (size_t k = 0; k < pads.size() / 2; ++k) {
    const int axis = in.rank() - 1 - int(k);
    out[axis] = in[axis] + pads[2 * k] + pads[2 * k + 1];
    ACTGRAD_REQUIRE(out[axis] >= 0, location, "pad: (", absl::StrJoin(pads, ", "),
                    ") crops dimension ", axis, " of ", in.ToString(), " below zero");
  }
  return out;
}

// The before-amount of each dimension (0 where pads do not reach).
std::array<int64_t, Shape::kMaxRank> Befores(int rank, const std::vector<int64_t>& pads) {
  std::array<int64_t, Shape::kMaxRank> before{};
  for (size_t k = 0; k < pads.size() / 2; ++k) before[size_t(rank - 1 - int(k))] = pads[2 * k];
  return before;
}

Tensor PadValues(const Tensor& x, const std::vector<int64_t>& pads, double fill,
                 const Location& location) {
  const Shape out_shape = PaddedShape(x.shape(), pads, location);
  Tensor y = internal::Empty(out_shape, x.dtype());
  const int rank = x.rank();
  const std::array<int64_t, Shape::kMaxRank> before = Befores(rank, pads);
  DispatchFloating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* src = static_cast<const T*>(x.raw_data());
    T* dst = static_cast<T*>(y.raw_data());
    std::fill(dst, dst + y.numel(), T(fill));
    if (y.numel() == 0 || x.numel() == 0) return;
    const std::array<int64_t, Shape::kMaxRank> in_strides = x.shape().Strides();
    const int64_t row = out_shape[rank - 1], in_row = x.dim(rank - 1);
    const int64_t lo = std::max<int64_t>(0, before[size_t(rank - 1)]);
    const int64_t hi = std::min(row, in_row + before[size_t(rank - 1)]);
    std::array<int64_t, Shape::kMaxRank> index{};
    for (int64_t start = 0; start < y.numel(); start += row) {
      int64_t offset = 0;
      bool inside = true;
      for (int d = 0; d + 1 < rank; ++d) {
        const int64_t i = index[size_t(d)] - before[size_t(d)];
        inside &= i >= 0 && i < x.dim(d);
        offset += i * in_strides[size_t(d)];
      }
      if (inside && lo < hi) {
        std::copy(src + offset + lo - before[size_t(rank - 1)],
                  src + offset + hi - before[size_t(rank - 1)], dst + start + lo);
      }
      for (int d = rank - 2; d >= 0; --d) {
        if (++index[size_t(d)] < out_shape[d]) break;
        index[size_t(d)] = 0;
      }
    }
  });
  return y;
}

std::vector<int64_t> Negated(std::vector<int64_t> pads) {
  for (int64_t& p : pads) p = -p;
  return pads;
}

Tensor PadForward(ForwardContext& ctx) {
  internal::RequireSameFloatingDType(ctx);
  return PadValues(ctx.input(0), ctx.attrs().Layer().pads,
                   WithDefaults(ctx.op(), ctx.attrs()).params[0], ctx.location());
}

void PadBackward(BackwardContext& ctx) {
  ctx.set_dx(0, PadValues(ctx.dy(), Negated(ctx.attrs().Layer().pads), 0.0, ctx.location()));
}

void PadBackwardGraph(BackwardContext& ctx) {
  Attrs a;
  a.MutableLayer().pads = Negated(ctx.attrs().Layer().pads);
  ctx.set_dx(0, Apply(kPad, {ctx.dy()}, a));
}

std::vector<GradCheckCase> PadCases(Generator& gen) {
  Attrs spatial;
  spatial.MutableLayer().pads = {1, 2, 0, 1};
  spatial.params[0] = 0.5;
  Attrs crop;
  crop.MutableLayer().pads = {-1, 1, 1, -1};
  return {
      {{internal::RandomDouble({2, 2, 3, 3}, -1, 1, gen)},
       spatial,
       "[2,2,3,3] by (1,2,0,1), fill 0.5",
       {}},
      {{internal::RandomDouble({3, 4}, -1, 1, gen)},
       crop,
       "[3,4] by (-1,1,1,-1): crops and pads",
       {}},
  };
}

constexpr AttrSpec kPadAttrs[] = {
    {"value", "the value of added elements", nullptr, nullptr, 0, 0.0},
};

}  // namespace

const OpDef kPermute{
    .name = "permute",
    .formula = "Y = X with dimension i taken from axes[i];  dX = permute(dY, inverse)",
    .kind = OpKind::kShape,
    .forward = &PermuteForward,
    .backward = &PermuteBackward,
    .backward_graph = &PermuteBackwardGraph,
    .jvp = &internal::LinearJvp,
    .check_cases = &PermuteCases,
};

const OpDef kPad{
    .name = "pad",
    .formula =
        "Y = X with (before, after) added per trailing dimension (negative crops);  "
        "dX = pad(dY, -pads)",
    .kind = OpKind::kShape,
    .forward = &PadForward,
    .backward = &PadBackward,
    .backward_graph = &PadBackwardGraph,
    .jvp = &internal::PadJvp,
    .attrs = kPadAttrs,
    .check_cases = &PadCases,
};

}  // namespace ops

Tensor Flatten(const Tensor& x, int64_t start, int64_t end, std::source_location location) {
  ACTGRAD_REQUIRE(x.defined(), location, "flatten: the input is undefined");
  const int rank = x.rank();
  const std::optional<int> first = NormalizeAxis(start, std::max(rank, 1));
  const std::optional<int> last = NormalizeAxis(end, std::max(rank, 1));
  ACTGRAD_REQUIRE(first && last && *first <= *last, location, "flatten: dimensions ", start, " to ",
                  end, " are not a range of ", x.shape().ToString());
  std::vector<int64_t> dims;
  int64_t merged = 1;
  for (int d = 0; d < rank; ++d) {
    if (d < *first || d > *last) {
      dims.push_back(x.dim(d));
      continue;
    }
    merged *= x.dim(d);
    if (d == *last) dims.push_back(merged);
  }
  if (rank == 0) dims.push_back(1);
  return Reshape(x, dims, location);
}

Tensor Permute(const Tensor& x, std::vector<int64_t> axes, std::source_location location) {
  Attrs a;
  a.MutableLayer().axes = std::move(axes);
  return Apply(ops::kPermute, {x}, a, location);
}

Tensor Pad(const Tensor& x, std::vector<int64_t> pads, double value,
           std::source_location location) {
  Attrs a;
  a.MutableLayer().pads = std::move(pads);
  a.params[0] = value;
  return Apply(ops::kPad, {x}, a, location);
}

}  // namespace actgrad
