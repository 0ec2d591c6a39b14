// Dropout: zeroes elements with probability p and scales the kept ones by
// 1/(1-p). Whether element i is kept is a hash of (seed, i), so a seed
// replays the same mask whatever the thread count, the float32 and float64
// forms agree, and the recorded backward is dropout itself at the same seed
// (the op is linear in x once the mask is fixed). Backward keeps the mask as
// bits, 64 elements per int64 word: 1/32 of the float32 input's size.

#include <cmath>

#include "graph/parallel.h"
#include "ops/builtin_ops.h"
#include "ops/check_cases.h"
#include "ops/dropout_mask.h"
#include "ops/kernels.h"
#include "ops/layer_ops.h"

namespace actgrad {
namespace ops {

namespace {

constexpr int64_t kWordBits = 64;

// Applies the mask of `seed` to `x`: y = x * keep / (1 - p); fills `bits`
// when given.
template <typename T>
void DropRange(const T* x, T* y, int64_t* bits, int64_t begin, int64_t end, uint64_t seed,
               double p) {
  const uint64_t threshold = internal::DropoutThreshold(p);
  const T scale = p < 1 ? T(1 / (1 - p)) : T(0);
  for (int64_t word = begin / kWordBits; word * kWordBits < end; ++word) {
    uint64_t mask = 0;
    const int64_t first = word * kWordBits, last = std::min(first + kWordBits, end);
    for (int64_t i = first; i < last; ++i) {
      const bool keep = internal::DropoutKeeps(seed, i, threshold);
      mask |= uint64_t(keep) << (i - first);
      y[i] = keep ? x[i] * scale : T(0);
    }
    if (bits != nullptr) bits[word] = int64_t(mask);
  }
}

Tensor DropoutForward(ForwardContext& ctx) {
  internal::RequireSameFloatingDType(ctx);
  const Tensor& x = ctx.input(0);
  const double p = WithDefaults(ctx.op(), ctx.attrs()).params[0];
  ACTGRAD_REQUIRE(p >= 0 && p <= 1, ctx.location(), "dropout: p must be in [0, 1], got ", p);
  Tensor y = internal::EmptyLike(x);
  Tensor bits = internal::Empty(Shape{(x.numel() + kWordBits - 1) / kWordBits}, DType::kInt64);
  DispatchFloating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = static_cast<const T*>(x.raw_data());
    T* py = static_cast<T*>(y.raw_data());
    int64_t* pb = static_cast<int64_t*>(bits.raw_data());
    // Ranges start at multiples of 16 words' worth of elements, so no word
    // is shared between threads.
    const int64_t words = bits.numel();
    internal::ParallelFor(words * 16, [&](int64_t begin, int64_t end) {
      const int64_t first = begin / 16 * kWordBits;
      const int64_t last = std::min(x.numel(), end / 16 * kWordBits);
      if (first < last) DropRange(px, py, pb, first, last, ctx.attrs().Layer().seed, p);
    });
  });
  ctx.SaveExtra(std::move(bits));
  return y;
}

void DropoutBackward(BackwardContext& ctx) {
  const Tensor& dy = ctx.dy();
  const double p = WithDefaults(ctx.op(), ctx.attrs()).params[0];
  Tensor dx = internal::EmptyLike(dy);
  const int64_t* bits = static_cast<const int64_t*>(ctx.extra(0).raw_data());
  DispatchFloating(dy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pdy = static_cast<const T*>(dy.raw_data());
    T* pdx = static_cast<T*>(dx.raw_data());
    const T scale = p < 1 ? T(1 / (1 - p)) : T(0);
    for (int64_t i = 0; i < dy.numel(); ++i) {
      const bool keep = (uint64_t(bits[i / kWordBits]) >> (i % kWordBits)) & 1;
      pdx[i] = keep ? pdy[i] * scale : T(0);
    }
  });
  ctx.set_dx(0, std::move(dx));
}

void DropoutBackwardGraph(BackwardContext& ctx) {
  ctx.set_dx(0, Apply(kDropout, {ctx.dy()}, ctx.attrs()));
}

std::vector<GradCheckCase> DropoutCases(Generator& gen) {
  Attrs half;
  half.params[0] = 0.5;
  half.MutableLayer().seed = 12345;
  Attrs rare;
  rare.params[0] = 0.1;
  rare.MutableLayer().seed = 99;
  return {
      {{internal::RandomDouble({4, 33}, -1, 1, gen)}, half, "[4,33] p=0.5", {}},
      {{internal::RandomDouble({3, 5, 7}, -1, 1, gen)}, rare, "[3,5,7] p=0.1", {}},
  };
}

constexpr AttrSpec kDropoutAttrs[] = {
    {"p", "probability of zeroing an element", nullptr, nullptr, 0, 0.5, 0.0, 1.0},
};

}  // namespace

const OpDef kDropout{
    .name = "dropout",
    .formula = "Y = X * mask / (1 - p), mask_i = [hash(seed, i) >= p];  dX = dY * mask / (1 - p)",
    .kind = OpKind::kElementwise,
    .forward = &DropoutForward,
    .backward = &DropoutBackward,
    .backward_graph = &DropoutBackwardGraph,
    .attrs = kDropoutAttrs,
    .check_cases = &DropoutCases,
};

}  // namespace ops

Tensor Dropout(const Tensor& x, double p, uint64_t seed, std::source_location location) {
  Attrs a;
  a.params[0] = p;
  a.MutableLayer().seed = seed;
  return Apply(ops::kDropout, {x}, a, location);
}

}  // namespace actgrad
