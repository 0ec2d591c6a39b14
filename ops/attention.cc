// Scaled dot-product attention as rows: per batch entry and head,
// A = softmax(scale Q K^T + mask) over the keys and O = A V. One strided
// kernel serves three layouts: scaled_dot_product_attention's [B, L, d] (one
// head), multi_head_attention's sequence-first [L, B, heads d], and
// multi_head_self_attention's packed in-projection output [L, B, 3 E]. The
// sequence-first forms multiply each head where it lies (internal::
// GemmStrided, rows B heads d apart), so splitting and merging heads costs no
// copy in either direction; those copies were a fifth of a transformer
// layer's step. The (entry, head) pairs are spread over the threads.
// Backward keeps A from the forward; the recorded backward recomputes it
// from the saved q, k and mask with recorded ops, so the gradient can be
// differentiated again.
//
// A query row whose keys are all hidden (every score -inf, through the mask
// or causality) outputs zeros and passes no gradient, where PyTorch gives NaN:
// a fully padded sequence in a batch then stays harmless.
//
// Example:
//
//   Tensor o = ScaledDotProductAttention(q, k, v, Tensor(), {.causal = true});
//   Tensor context = MultiHeadSelfAttention(Linear(x, in_proj_weight), /*heads=*/4);

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "graph/parallel.h"
#include "ops/builtin_ops.h"
#include "ops/check_cases.h"
#include "ops/dropout_mask.h"
#include "ops/functional.h"
#include "ops/gemm.h"
#include "ops/kernels.h"
#include "ops/layer_ops.h"
#include "ops/logistic.h"
#include "ops/packet_math_float.h"
#include "ops/sequence_ops.h"

namespace actgrad {
namespace ops {

namespace {

// The three rows differ only in where each head's matrices lie:
//   kBatchMajor  q [B, L, d], k [B, S, d], v [B, S, dv], one head;
//   kHeads       q [L, B, h d], k [S, B, h d], v [S, B, h dv];
//   kPacked      qkv [L, B, 3 E] with E = h d, q, k and v side by side.
enum class AttentionLayout { kBatchMajor, kHeads, kPacked };

// Where one operand's matrices lie: that of batch entry b and head j starts
// at offset + b * batch_stride + j * head_stride, its rows row_stride apart.
// A gradient lies as its input does, dy as the output.
struct Layout {
  int64_t offset = 0;
  int64_t batch_stride = 0;
  int64_t head_stride = 0;
  int64_t row_stride = 0;

  int64_t At(int64_t b, int64_t j) const { return offset + b * batch_stride + j * head_stride; }
};

// [B, rows, cols].
Layout BatchMajor(int64_t rows, int64_t cols) { return {0, rows * cols, 0, cols}; }
// [rows, B, width] holding head j's `cols` columns from offset + j * cols.
Layout SequenceFirst(int64_t batch, int64_t width, int64_t cols, int64_t offset) {
  return {offset, width, cols, batch * width};
}

// The mask is [L, S] shared, or one [L, S] per (batch entry, head), entry-
// major ([B * h, L, S], PyTorch's 3-D attn_mask).
struct AttentionPlan {
  int64_t batch = 0, heads = 1, queries = 0, keys = 0, depth = 0, value_depth = 0;
  bool has_mask = false;
  bool mask_batched = false;
  bool causal = false;
  double scale = 1;
  // Dropout on the attention weights (training): the probability, and the
  // stream the mask of element (item, i, j) of [B h, L, S] is drawn from.
  double dropout = 0;
  uint64_t seed = 0;
  Layout q, k, v, y;

  int64_t Items() const { return batch * heads; }
  int64_t ScoresPerItem() const { return queries * keys; }
  // The keys query i may see before the mask: all, or 0..i when causal.
  int64_t VisibleKeys(int64_t i) const { return causal ? std::min(i + 1, keys) : keys; }
};

// The scale the row uses: params[0], 0 (the default) meaning 1/sqrt(d).
double ResolveScale(const OpDef& op, const Attrs& attrs, int64_t depth) {
  const double scale = WithDefaults(op, attrs).params[0];
  if (scale != 0) return scale;
  return depth > 0 ? 1 / std::sqrt(double(depth)) : 1.0;
}

// For the packed layout q, k and v are all the qkv shape. Shapes are taken
// as valid (PlanAttention checks them first).
AttentionPlan PlanFromShapes(AttentionLayout layout, const OpDef& op, const Attrs& attrs,
                             const Shape& q, const Shape& k, const Shape& v, const Shape* mask) {
  AttentionPlan p;
  switch (layout) {
    case AttentionLayout::kBatchMajor:
      p.batch = q[0];
      p.queries = q[1];
      p.depth = q[2];
      p.keys = k[1];
      p.value_depth = v[2];
      p.q = BatchMajor(p.queries, p.depth);
      p.k = BatchMajor(p.keys, p.depth);
      p.v = BatchMajor(p.keys, p.value_depth);
      p.y = BatchMajor(p.queries, p.value_depth);
      break;
    case AttentionLayout::kHeads:
      p.heads = attrs.Layer().groups;
      p.batch = q[1];
      p.queries = q[0];
      p.keys = k[0];
      p.depth = q[2] / p.heads;
      p.value_depth = v[2] / p.heads;
      p.q = SequenceFirst(p.batch, q[2], p.depth, 0);
      p.k = SequenceFirst(p.batch, k[2], p.depth, 0);
      p.v = SequenceFirst(p.batch, v[2], p.value_depth, 0);
      p.y = SequenceFirst(p.batch, v[2], p.value_depth, 0);
      break;
    case AttentionLayout::kPacked: {
      const int64_t e = q[2] / 3;
      p.heads = attrs.Layer().groups;
      p.batch = q[1];
      p.queries = p.keys = q[0];
      p.depth = p.value_depth = e / p.heads;
      p.q = SequenceFirst(p.batch, q[2], p.depth, 0);
      p.k = SequenceFirst(p.batch, q[2], p.depth, e);
      p.v = SequenceFirst(p.batch, q[2], p.depth, 2 * e);
      p.y = SequenceFirst(p.batch, e, p.depth, 0);
      break;
    }
  }
  p.has_mask = mask != nullptr;
  p.mask_batched = mask != nullptr && mask->rank() == 3;
  p.causal = attrs.Layer().causal;
  p.scale = ResolveScale(op, attrs, p.depth);
  p.dropout = WithDefaults(op, attrs).params[1];
  p.seed = attrs.Layer().seed;
  return p;
}

// Throws naming the op unless the inputs have the shapes `layout` needs.
void CheckShapes(const ForwardContext& ctx, AttentionLayout layout) {
  const Shape& q = ctx.input(0).shape();
  const absl::string_view name = ctx.op().name;
  const int64_t heads = ctx.attrs().Layer().groups;
  if (layout != AttentionLayout::kBatchMajor) {
    ACTGRAD_REQUIRE(heads > 0, ctx.location(), name, ": heads must be positive, got ", heads);
  }
  if (layout == AttentionLayout::kPacked) {
    ACTGRAD_REQUIRE(q.rank() == 3 && q[2] % (3 * heads) == 0, ctx.location(), name, ": qkv ",
                    q.ToString(), " must be [L, B, 3 E] with E divisible by heads = ", heads);
    return;
  }
  const Shape& k = ctx.input(1).shape();
  const Shape& v = ctx.input(2).shape();
  const bool ranks = q.rank() == 3 && k.rank() == 3 && v.rank() == 3;
  if (layout == AttentionLayout::kBatchMajor) {
    ACTGRAD_REQUIRE(ranks && k[0] == q[0] && v[0] == q[0] && k[2] == q[2] && v[1] == k[1],
                    ctx.location(), name, ": q ", q.ToString(), ", k ", k.ToString(), " and v ",
                    v.ToString(), " must be [B, L, d], [B, S, d] and [B, S, dv]");
    return;
  }
  ACTGRAD_REQUIRE(ranks && k[1] == q[1] && v[1] == q[1] && k[2] == q[2] && v[0] == k[0],
                  ctx.location(), name, ": q ", q.ToString(), ", k ", k.ToString(), " and v ",
                  v.ToString(), " must be [L, B, heads d], [S, B, heads d] and [S, B, heads dv]");
  ACTGRAD_REQUIRE(q[2] % heads == 0 && v[2] % heads == 0, ctx.location(), name,
                  ": the widths of q ", q.ToString(), " and v ", v.ToString(),
                  " must be multiples of heads = ", heads);
}

AttentionPlan PlanAttention(const ForwardContext& ctx, AttentionLayout layout) {
  internal::RequireSameFloatingDType(ctx);
  CheckShapes(ctx, layout);
  const bool packed = layout == AttentionLayout::kPacked;
  const Shape& q = ctx.input(0).shape();
  const Shape& k = packed ? q : ctx.input(1).shape();
  const Shape& v = packed ? q : ctx.input(2).shape();
  const size_t mask_index = packed ? 1 : 3;
  const Shape* mask = ctx.inputs().size() > mask_index ? &ctx.input(mask_index).shape() : nullptr;
  const AttentionPlan p = PlanFromShapes(layout, ctx.op(), ctx.attrs(), q, k, v, mask);
  const absl::string_view name = ctx.op().name;
  const std::string inputs = packed ? absl::StrCat("qkv ", q.ToString())
                                    : absl::StrCat("q ", q.ToString(), " and k ", k.ToString());
  if (mask != nullptr) {
    const int64_t L = p.queries, S = p.keys;
    const bool shared = mask->rank() == 2 && (*mask)[0] == L && (*mask)[1] == S;
    const bool batched =
        mask->rank() == 3 && (*mask)[0] == p.Items() && (*mask)[1] == L && (*mask)[2] == S;
    ACTGRAD_REQUIRE(shared || batched, ctx.location(), name, ": the mask ", mask->ToString(),
                    " must be [L, S] = [", L, ",", S, "] or ",
                    layout == AttentionLayout::kBatchMajor ? "[B, L, S]" : "[B * heads, L, S]",
                    " = [", p.Items(), ",", L, ",", S, "] for ", inputs);
  }
  ACTGRAD_REQUIRE(!p.causal || p.queries <= p.keys, ctx.location(), name,
                  ": causal attention needs no more queries than keys, got L = ", p.queries,
                  " and S = ", p.keys, " (", inputs, ")");
  ACTGRAD_REQUIRE(std::isfinite(p.scale), ctx.location(), name, ": the scale must be finite, got ",
                  p.scale);
  ACTGRAD_REQUIRE(p.dropout >= 0 && p.dropout <= 1, ctx.location(), name,
                  ": dropout must be in [0, 1], got ", p.dropout);
  return p;
}

// Runs body(b, j) for every batch entry b and head j, on the threads when
// there are several pairs and enough work in them to pay for waking the
// threads. Each pair writes only its own matrices, so the split never
// changes a result.
template <typename Fn>
void ForEachItem(const AttentionPlan& p, Fn body) {
  auto range = [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) body(item / p.heads, item % p.heads);
  };
  const int64_t items = p.Items();
  const int64_t work = items * p.ScoresPerItem() * (p.depth + p.value_depth);
  if (items > 1 && work >= internal::kParallelMinElements) {
    internal::ParallelForItems(items, range);
  } else {
    range(0, items);
  }
}

// Turns one row of raw products Q K^T into probabilities in place: scaled,
// masked, and normalized after subtracting the row's maximum, so that large
// scores stay finite. Keys hidden by causality are zero; a row with every key
// hidden is all zeros.
template <typename T>
void SoftmaxRow(T* row, const T* mask_row, int64_t visible, int64_t keys, T scale) {
  T top = -std::numeric_limits<T>::infinity();
  for (int64_t j = 0; j < visible; ++j) {
    row[j] = scale * row[j] + (mask_row != nullptr ? mask_row[j] : T(0));
    top = std::max(top, row[j]);
  }
  std::fill(row + visible, row + keys, T(0));
  if (top == -std::numeric_limits<T>::infinity()) {
    std::fill(row, row + visible, T(0));
    return;
  }
  // The exponentials in a loop of their own, which vectorizes with the
  // inline float exp (within 1 ulp; std::exp was a call per element), and
  // their sum through Eigen's vectorized reduction.
  for (int64_t j = 0; j < visible; ++j) {
    if constexpr (std::is_same_v<T, float>) {
      row[j] = internal::ExpNonPositiveFloat(row[j] - top);
    } else {
      row[j] = std::exp(row[j] - top);
    }
  }
  const T sum = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(row, visible).sum();
  const T inv = T(1) / sum;
  for (int64_t j = 0; j < visible; ++j) row[j] *= inv;
}

#if ACTGRAD_HAS_PACKETS
// The same for float, a register of lanes at a time (the exponential
// within 1 ulp, ops/packet_math_float.h; 0 below -104, so masked keys get
// exactly 0), the maximum and the sum kept per lane until the row's end:
// with a running maximum, which GCC leaves as a chain of scalar operations,
// attention's forward on W8's 64 x 64 scores per head took 1.35-1.43 ms
// against 0.84-0.93.
template <>
void SoftmaxRow<float>(float* row, const float* mask_row, int64_t visible, int64_t keys,
                       float scale) {
  using internal::FloatLanes;
  using internal::SplatFloat;
  constexpr int64_t kLanes = internal::kFloatRegisterLanes;
  const int64_t whole = visible - visible % kLanes;
  auto load = [](const float* p) {
    FloatLanes v;
    std::memcpy(&v, p, sizeof v);
    return v;
  };
  auto store = [](float* p, FloatLanes v) { std::memcpy(p, &v, sizeof v); };
  FloatLanes tops = SplatFloat(-std::numeric_limits<float>::infinity());
  for (int64_t j = 0; j < whole; j += kLanes) {
    FloatLanes v = load(row + j) * scale;
    if (mask_row != nullptr) v += load(mask_row + j);
    store(row + j, v);
    tops = v > tops ? v : tops;
  }
  float top = -std::numeric_limits<float>::infinity();
  for (int64_t l = 0; l < kLanes; ++l) top = std::max(top, tops[l]);
  for (int64_t j = whole; j < visible; ++j) {
    row[j] = scale * row[j] + (mask_row != nullptr ? mask_row[j] : 0.0f);
    top = std::max(top, row[j]);
  }
  std::fill(row + visible, row + keys, 0.0f);
  if (top == -std::numeric_limits<float>::infinity()) {
    std::fill(row, row + visible, 0.0f);
    return;
  }
  FloatLanes sums = SplatFloat(0.0f);
  for (int64_t j = 0; j < whole; j += kLanes) {
    const FloatLanes e = internal::packet_detail::ExpLanes(load(row + j) - top);
    store(row + j, e);
    sums += e;
  }
  float sum = 0;
  for (int64_t j = whole; j < visible; ++j) {
    row[j] = internal::ExpNonPositiveFloat(row[j] - top);
    sum += row[j];
  }
  for (int64_t l = 0; l < kLanes; ++l) sum += sums[l];
  const float inv = 1.0f / sum;
  for (int64_t j = 0; j < visible; ++j) row[j] *= inv;
}
#endif

template <typename T>
void ScaleRows(T* x, int64_t rows, int64_t cols, int64_t stride, T scale) {
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) x[i * stride + j] *= scale;
  }
}

// `values` [L, S] of item `item` with attention's dropout applied: zeroed
// where the mask drops, the rest scaled by 1/(1-p), into `out` (which may
// be `values`). The mask is that of the dropout row on [B h, L, S].
template <typename T>
void DropWeights(const AttentionPlan& p, int64_t item, const T* values, T* out) {
  const uint64_t threshold = internal::DropoutThreshold(p.dropout);
  const T scale = T(internal::DropoutScale(p.dropout));
  const int64_t n = p.ScoresPerItem(), first = item * n;
  for (int64_t i = 0; i < n; ++i) {
    out[i] = internal::DropoutKeeps(p.seed, first + i, threshold) ? values[i] * scale : T(0);
  }
}

// A per-thread buffer of n values, for the dropped weights of one item.
template <typename T>
T* DroppedScratch(int64_t n) {
  thread_local std::vector<T> scratch;
  if (int64_t(scratch.size()) < n) scratch.resize(size_t(n));
  return scratch.data();
}

// Per (b, j): A = softmax(scale Q K^T + mask) into probabilities[b h + j],
// Y = dropout(A) V in place. For the packed layout q, k and v are one
// pointer.
template <typename T>
void AttendForward(const AttentionPlan& p, const T* q, const T* k, const T* v, const T* mask,
                   T* probabilities, T* y) {
  const int64_t L = p.queries, S = p.keys, d = p.depth, dv = p.value_depth;
  ForEachItem(p, [&](int64_t b, int64_t j) {
    const int64_t item = b * p.heads + j;
    T* a = probabilities + item * L * S;
    internal::GemmStrided(false, true, L, S, d, q + p.q.At(b, j), p.q.row_stride, k + p.k.At(b, j),
                          p.k.row_stride, a, S, /*accumulate=*/false);
    const T* m = mask == nullptr ? nullptr : mask + (p.mask_batched ? item * L * S : 0);
    for (int64_t i = 0; i < L; ++i) {
      SoftmaxRow<T>(a + i * S, m == nullptr ? nullptr : m + i * S, p.VisibleKeys(i), S, T(p.scale));
    }
    const T* weights = a;
    if (p.dropout > 0) {
      T* dropped = DroppedScratch<T>(L * S);
      DropWeights(p, item, a, dropped);
      weights = dropped;
    }
    internal::GemmStrided(false, false, L, dv, S, weights, S, v + p.v.At(b, j), p.v.row_stride,
                          y + p.y.At(b, j), p.y.row_stride, /*accumulate=*/false);
  });
}

// With D = dropout(A): dV = D^T dO;  dA = dropout(dO V^T) (the same mask
// and scale);  dS = A (dA - rowsum(dA A));  dQ = scale dS K;
// dK = scale dS^T Q. Null outputs are not wanted; dS (into ds, [B h, L, S])
// is needed for dQ, dK and the mask's gradient.
template <typename T>
void AttendBackward(const AttentionPlan& p, const T* q, const T* k, const T* v,
                    const T* probabilities, const T* dy, T* dq, T* dk, T* dv, T* ds) {
  const int64_t L = p.queries, S = p.keys, d = p.depth, dvd = p.value_depth;
  const T scale = T(p.scale);
  ForEachItem(p, [&](int64_t b, int64_t j) {
    const int64_t item = b * p.heads + j;
    const T* a = probabilities + item * L * S;
    const T* dout = dy + p.y.At(b, j);
    const int64_t ld_out = p.y.row_stride;
    if (dv != nullptr) {
      const T* weights = a;
      if (p.dropout > 0) {
        T* dropped = DroppedScratch<T>(L * S);
        DropWeights(p, item, a, dropped);
        weights = dropped;
      }
      internal::GemmStrided(true, false, S, dvd, L, weights, S, dout, ld_out, dv + p.v.At(b, j),
                            p.v.row_stride, /*accumulate=*/false);
    }
    if (ds == nullptr) return;
    T* dscores = ds + item * L * S;
    internal::GemmStrided(false, true, L, S, dvd, dout, ld_out, v + p.v.At(b, j), p.v.row_stride,
                          dscores, S, /*accumulate=*/false);
    if (p.dropout > 0) DropWeights(p, item, dscores, dscores);
    for (int64_t i = 0; i < L; ++i) {
      const T* ar = a + i * S;
      T* dr = dscores + i * S;
      const T dot = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(dr, S).matrix().dot(
          Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(ar, S).matrix());
      for (int64_t c = 0; c < S; ++c) dr[c] = ar[c] * (dr[c] - dot);
    }
    if (dq != nullptr) {
      T* out = dq + p.q.At(b, j);
      internal::GemmStrided(false, false, L, d, S, dscores, S, k + p.k.At(b, j), p.k.row_stride,
                            out, p.q.row_stride, /*accumulate=*/false);
      ScaleRows(out, L, d, p.q.row_stride, scale);
    }
    if (dk != nullptr) {
      T* out = dk + p.k.At(b, j);
      internal::GemmStrided(true, false, S, d, L, dscores, S, q + p.q.At(b, j), p.q.row_stride, out,
                            p.k.row_stride, /*accumulate=*/false);
      ScaleRows(out, S, d, p.k.row_stride, scale);
    }
  });
}

template <typename T>
T* DataOf(const Tensor& t) {
  return t.defined() ? static_cast<T*>(t.raw_data()) : nullptr;
}

Tensor ForwardIn(ForwardContext& ctx, AttentionLayout layout) {
  const AttentionPlan p = PlanAttention(ctx, layout);
  const bool packed = layout == AttentionLayout::kPacked;
  const Tensor& q = ctx.input(0);
  const Tensor& k = packed ? q : ctx.input(1);
  const Tensor& v = packed ? q : ctx.input(2);
  const Tensor mask = p.has_mask ? ctx.input(packed ? 1 : 3) : Tensor();
  Tensor probabilities = internal::Empty(Shape{p.Items(), p.queries, p.keys}, q.dtype());
  const Shape y_shape = layout == AttentionLayout::kBatchMajor
                            ? Shape{p.batch, p.queries, p.value_depth}
                            : Shape{p.queries, p.batch, p.heads * p.value_depth};
  Tensor y = internal::Empty(y_shape, q.dtype());
  DispatchFloating(q.dtype(), [&](auto tag) {
    using T = decltype(tag);
    AttendForward<T>(p, DataOf<T>(q), DataOf<T>(k), DataOf<T>(v), DataOf<T>(mask),
                     DataOf<T>(probabilities), DataOf<T>(y));
  });
  ctx.SaveExtra(std::move(probabilities));
  return y;
}

void BackwardIn(BackwardContext& ctx, AttentionLayout layout) {
  const bool packed = layout == AttentionLayout::kPacked;
  const int mask_index = packed ? 1 : 3;
  const Tensor& q = ctx.saved_input(0);
  const Tensor& k = packed ? q : ctx.saved_input(1);
  const Tensor& v = packed ? q : ctx.saved_input(2);
  const bool has_mask = ctx.num_inputs() > mask_index;
  const AttentionPlan p =
      PlanFromShapes(layout, ctx.op(), ctx.attrs(), q.shape(), k.shape(), v.shape(),
                     has_mask ? &ctx.saved_input(mask_index).shape() : nullptr);
  const bool want_q = ctx.needs_grad(0);
  const bool want_k = packed ? want_q : ctx.needs_grad(1);
  const bool want_v = packed ? want_q : ctx.needs_grad(2);
  const bool want_mask = has_mask && ctx.needs_grad(mask_index);
  const bool want_scores = want_q || want_k || want_mask;
  const DType dtype = q.dtype();
  // The packed gradient is one [L, B, 3 E] tensor that the three parts fill
  // where qkv holds them.
  Tensor dq = want_q ? internal::Empty(q.shape(), dtype) : Tensor();
  Tensor dk = packed ? dq : (want_k ? internal::Empty(k.shape(), dtype) : Tensor());
  Tensor dv = packed ? dq : (want_v ? internal::Empty(v.shape(), dtype) : Tensor());
  Tensor ds = want_scores ? internal::Empty(ctx.extra(0).shape(), dtype) : Tensor();
  DispatchFloating(dtype, [&](auto tag) {
    using T = decltype(tag);
    AttendBackward<T>(p, DataOf<T>(q), DataOf<T>(k), DataOf<T>(v), DataOf<T>(ctx.extra(0)),
                      DataOf<T>(ctx.dy()), DataOf<T>(dq), DataOf<T>(dk), DataOf<T>(dv),
                      DataOf<T>(ds));
  });
  if (want_q) ctx.set_dx(0, std::move(dq));
  if (!packed && want_k) ctx.set_dx(1, std::move(dk));
  if (!packed && want_v) ctx.set_dx(2, std::move(dv));
  // Summed over the (entry, head) pairs in order, on one thread: reproducible.
  if (want_mask) ctx.set_dx(mask_index, internal::SumToShape(ds, ctx.input_shape(mask_index)));
}

// The constants that keep the recorded softmax free of infinities: `fill` is
// added to the scores (a very negative finite value where causality hides a
// key), `visible` multiplies the probabilities (0 on rows with every key
// hidden, whose softmax would otherwise be 0/0), and `clamp_mask` says the
// mask holds -inf, to be clamped to the same finite value first. exp() of
// such a score less the row's maximum is exactly 0, so the probabilities are
// those of the forward.
struct HiddenKeys {
  Tensor fill;
  Tensor visible;
  bool clamp_mask = false;
  double hide = 0;
};

HiddenKeys FindHiddenKeys(const AttentionPlan& p, const Tensor& mask, DType dtype) {
  HiddenKeys h;
  h.hide = dtype == DType::kFloat32 ? -0.25 * double(std::numeric_limits<float>::max())
                                    : -0.25 * std::numeric_limits<double>::max();
  const int64_t L = p.queries, S = p.keys;
  const int64_t entries = p.mask_batched ? p.Items() : 1;
  std::vector<double> mask_values = p.has_mask ? mask.ToVector() : std::vector<double>();
  std::vector<double> fill(size_t(entries * L * S), 0.0);
  std::vector<double> visible(size_t(entries * L), 1.0);
  bool any_causal = false, any_hidden_row = false;
  for (int64_t e = 0; e < entries; ++e) {
    for (int64_t i = 0; i < L; ++i) {
      const int64_t row = (e * L + i) * S;
      bool row_hidden = true;
      for (int64_t j = 0; j < S; ++j) {
        const bool masked =
            p.has_mask && mask_values[size_t(row + j)] == -std::numeric_limits<double>::infinity();
        h.clamp_mask |= masked;
        if (j >= p.VisibleKeys(i)) {
          fill[size_t(row + j)] = h.hide;
          any_causal = true;
        } else if (!masked) {
          row_hidden = false;
        }
      }
      if (row_hidden) {
        // Finite scores for the softmax; the factor 0 hides its result.
        std::fill(fill.begin() + row, fill.begin() + row + S, 0.0);
        visible[size_t(e * L + i)] = 0;
        any_hidden_row = true;
      }
    }
  }
  const Shape fill_shape = p.mask_batched ? Shape{entries, L, S} : Shape{L, S};
  const Shape visible_shape = p.mask_batched ? Shape{entries, L, 1} : Shape{L, 1};
  if (any_causal || any_hidden_row) h.fill = FromValues(fill, fill_shape, dtype);
  if (any_hidden_row) h.visible = FromValues(visible, visible_shape, dtype);
  return h;
}

struct RecordedGradients {
  Tensor dq, dk, dv, dmask;
};

// The gradients written with ops, for q [N, L, d], k [N, S, d], v [N, S, dv]
// and dy [N, L, dv] with N = B h (the heads already split off): the softmax
// is recomputed from the saved values so that the result is in the graph.
RecordedGradients RecordGradients(const AttentionPlan& p, const Tensor& q, const Tensor& k,
                                  const Tensor& v, const Tensor& mask, const Tensor& dy,
                                  bool want_q, bool want_k, bool want_v, bool want_mask) {
  const HiddenKeys hidden = FindHiddenKeys(p, mask, q.dtype());
  Tensor scores = Matmul(q, Transpose(k)) * p.scale;
  if (p.has_mask) {
    scores = scores + (hidden.clamp_mask
                           ? Clamp(mask, hidden.hide, std::numeric_limits<double>::infinity())
                           : mask);
  }
  if (hidden.fill.defined()) scores = scores + hidden.fill;
  Tensor a = Softmax(scores, -1);
  if (hidden.visible.defined()) a = a * hidden.visible;
  // The dropout row on [B h, L, S] draws the kernel's mask.
  auto drop = [&](const Tensor& t) { return p.dropout > 0 ? Dropout(t, p.dropout, p.seed) : t; };

  RecordedGradients g;
  if (want_v) g.dv = Matmul(Transpose(drop(a)), dy);
  if (!want_q && !want_k && !want_mask) return g;
  const Tensor da = drop(Matmul(dy, Transpose(v)));
  const Tensor ds = a * (da - Sum(da * a, -1, /*keepdim=*/true));
  if (want_q) g.dq = Matmul(ds, k) * p.scale;
  if (want_k) g.dk = Matmul(Transpose(ds), q) * p.scale;
  if (want_mask) g.dmask = SumTo(ds, mask.shape());
  return g;
}

// [len, B, h c] -> [B h, len, c], and back: the copies the strided kernels
// avoid, acceptable in the recorded backward, which runs for second order
// only.
Tensor SplitHeads(const Tensor& x, int64_t heads) {
  const int64_t len = x.dim(0), batch = x.dim(1), c = x.dim(2) / heads;
  return Reshape(Permute(Reshape(x, {len, batch, heads, c}), {1, 2, 0, 3}),
                 {batch * heads, len, c});
}

Tensor MergeHeads(const Tensor& x, int64_t heads) {
  const int64_t batch = x.dim(0) / heads, len = x.dim(1), c = x.dim(2);
  return Reshape(Permute(Reshape(x, {batch, heads, len, c}), {2, 0, 1, 3}),
                 {len, batch, heads * c});
}

void BackwardGraphIn(BackwardContext& ctx, AttentionLayout layout) {
  const bool packed = layout == AttentionLayout::kPacked;
  const int mask_index = packed ? 1 : 3;
  const Tensor& q = ctx.saved_input(0);
  const Tensor& k = packed ? q : ctx.saved_input(1);
  const Tensor& v = packed ? q : ctx.saved_input(2);
  const bool has_mask = ctx.num_inputs() > mask_index;
  const Tensor mask = has_mask ? ctx.saved_input(mask_index) : Tensor();
  const AttentionPlan p = PlanFromShapes(layout, ctx.op(), ctx.attrs(), q.shape(), k.shape(),
                                         v.shape(), has_mask ? &mask.shape() : nullptr);
  const bool want_mask = has_mask && ctx.needs_grad(mask_index);
  if (layout == AttentionLayout::kBatchMajor) {
    RecordedGradients g = RecordGradients(p, q, k, v, mask, ctx.dy(), ctx.needs_grad(0),
                                          ctx.needs_grad(1), ctx.needs_grad(2), want_mask);
    for (int i = 0; i < 3; ++i) {
      if (ctx.needs_grad(i)) ctx.set_dx(i, std::move(i == 0 ? g.dq : (i == 1 ? g.dk : g.dv)));
    }
    if (want_mask) ctx.set_dx(mask_index, std::move(g.dmask));
    return;
  }
  const int64_t h = p.heads, e = p.heads * p.depth;
  const Tensor dy = SplitHeads(ctx.dy(), h);
  if (layout == AttentionLayout::kHeads) {
    RecordedGradients g =
        RecordGradients(p, SplitHeads(q, h), SplitHeads(k, h), SplitHeads(v, h), mask, dy,
                        ctx.needs_grad(0), ctx.needs_grad(1), ctx.needs_grad(2), want_mask);
    if (ctx.needs_grad(0)) ctx.set_dx(0, MergeHeads(g.dq, h));
    if (ctx.needs_grad(1)) ctx.set_dx(1, MergeHeads(g.dk, h));
    if (ctx.needs_grad(2)) ctx.set_dx(2, MergeHeads(g.dv, h));
    if (want_mask) ctx.set_dx(mask_index, std::move(g.dmask));
    return;
  }
  const bool want = ctx.needs_grad(0);
  RecordedGradients g = RecordGradients(
      p, SplitHeads(Slice(q, 2, 0, e), h), SplitHeads(Slice(q, 2, e, 2 * e), h),
      SplitHeads(Slice(q, 2, 2 * e, 3 * e), h), mask, dy, want, want, want, want_mask);
  if (want) {
    ctx.set_dx(0, Concatenate({MergeHeads(g.dq, h), MergeHeads(g.dk, h), MergeHeads(g.dv, h)}, 2));
  }
  if (want_mask) ctx.set_dx(mask_index, std::move(g.dmask));
}

Tensor AttentionForward(ForwardContext& ctx) {
  return ForwardIn(ctx, AttentionLayout::kBatchMajor);
}
void AttentionBackward(BackwardContext& ctx) { BackwardIn(ctx, AttentionLayout::kBatchMajor); }
void AttentionBackwardGraph(BackwardContext& ctx) {
  BackwardGraphIn(ctx, AttentionLayout::kBatchMajor);
}

Tensor MultiHeadForward(ForwardContext& ctx) { return ForwardIn(ctx, AttentionLayout::kHeads); }
void MultiHeadBackward(BackwardContext& ctx) { BackwardIn(ctx, AttentionLayout::kHeads); }
void MultiHeadBackwardGraph(BackwardContext& ctx) { BackwardGraphIn(ctx, AttentionLayout::kHeads); }

Tensor SelfAttentionForward(ForwardContext& ctx) {
  return ForwardIn(ctx, AttentionLayout::kPacked);
}
void SelfAttentionBackward(BackwardContext& ctx) { BackwardIn(ctx, AttentionLayout::kPacked); }
void SelfAttentionBackwardGraph(BackwardContext& ctx) {
  BackwardGraphIn(ctx, AttentionLayout::kPacked);
}

// Two products of 2 B L S d and 2 B L S dv (d and dv summed over the heads
// in the sequence-first forms).
double AttentionFlops(std::span<const Tensor> inputs, const Tensor& output) {
  const double scores =
      double(inputs[0].dim(0)) * double(inputs[0].dim(1)) * double(inputs[1].dim(1));
  return 2.0 * scores * double(inputs[0].dim(2) + inputs[2].dim(2));
}

double MultiHeadFlops(std::span<const Tensor> inputs, const Tensor& output) {
  const double scores =
      double(inputs[0].dim(0)) * double(inputs[0].dim(1)) * double(inputs[1].dim(0));
  return 2.0 * scores * double(inputs[0].dim(2) + inputs[2].dim(2));
}

// q, k and v E = qkv's width / 3 wide each, L = S.
double SelfAttentionFlops(std::span<const Tensor> inputs, const Tensor& output) {
  const Tensor& qkv = inputs[0];
  const double scores = double(qkv.dim(0)) * double(qkv.dim(1)) * double(qkv.dim(0));
  return 2.0 * scores * (2.0 * double(qkv.dim(2) / 3));
}

std::vector<GradCheckCase> AttentionCases(Generator& gen) {
  auto r = [&](const Shape& s) { return internal::RandomDouble(s, -1, 1, gen); };
  Attrs causal;
  causal.MutableLayer().causal = true;
  Attrs scaled;
  scaled.params[0] = 0.8;
  Attrs causal_scaled = causal;
  causal_scaled.params[0] = 1.3;
  Attrs dropped;
  dropped.params[1] = 0.3;
  dropped.MutableLayer().seed = 5;
  return {
      {{r({2, 3, 4}), r({2, 3, 4}), r({2, 3, 4})}, {}, "q, k, v [2,3,4], no mask", {}},
      {{r({2, 3, 2}), r({2, 4, 2}), r({2, 4, 3}), r({3, 4})},
       {},
       "q [2,3,2], k [2,4,2], v [2,4,3], mask [3,4]",
       {}},
      {{r({2, 4, 3}), r({2, 5, 3}), r({2, 5, 2}), r({2, 4, 5})},
       scaled,
       "q [2,4,3], k [2,5,3], v [2,5,2], mask [2,4,5], scale 0.8",
       {}},
      {{r({1, 4, 3}), r({1, 4, 3}), r({1, 4, 2})}, causal, "causal, q, k [1,4,3], v [1,4,2]", {}},
      {{r({2, 3, 2}), r({2, 4, 2}), r({2, 4, 3}), r({3, 4})},
       causal_scaled,
       "causal, q [2,3,2], k [2,4,2], v [2,4,3], mask [3,4], scale 1.3",
       {}},
      {{r({2, 4, 3}), r({2, 5, 3}), r({2, 5, 2}), r({2, 4, 5})},
       dropped,
       "q [2,4,3], k [2,5,3], v [2,5,2], mask [2,4,5], dropout 0.3",
       {}},
  };
}

Attrs HeadAttrs(int64_t heads, bool causal = false, double scale = 0, double dropout = 0) {
  Attrs a;
  a.MutableLayer().groups = heads;
  a.MutableLayer().causal = causal;
  if (scale != 0) a.params[0] = scale;
  if (dropout != 0) {
    a.params[1] = dropout;
    a.MutableLayer().seed = 77;
  }
  return a;
}

std::vector<GradCheckCase> MultiHeadCases(Generator& gen) {
  auto r = [&](const Shape& s) { return internal::RandomDouble(s, -1, 1, gen); };
  return {
      {{r({3, 2, 4}), r({3, 2, 4}), r({3, 2, 4})},
       HeadAttrs(1),
       "1 head, q, k, v [3,2,4], no mask",
       {}},
      {{r({3, 2, 4}), r({4, 2, 4}), r({4, 2, 6}), r({3, 4})},
       HeadAttrs(2),
       "2 heads, q [3,2,4], k [4,2,4], v [4,2,6], mask [3,4]",
       {}},
      {{r({4, 2, 6}), r({5, 2, 6}), r({5, 2, 4}), r({4, 4, 5})},
       HeadAttrs(2, false, 0.8),
       "2 heads, q [4,2,6], k [5,2,6], v [5,2,4], mask [4,4,5], scale 0.8",
       {}},
      {{r({3, 1, 6}), r({4, 1, 6}), r({4, 1, 3})},
       HeadAttrs(3, true),
       "3 heads, causal, q [3,1,6], k [4,1,6], v [4,1,3]",
       {}},
      {{r({3, 2, 4}), r({4, 2, 4}), r({4, 2, 2}), r({4, 3, 4})},
       HeadAttrs(2, true, 1.3),
       "2 heads, causal, q [3,2,4], k [4,2,4], v [4,2,2], mask [4,3,4], scale 1.3",
       {}},
      {{r({3, 2, 4}), r({4, 2, 4}), r({4, 2, 6}), r({4, 3, 4})},
       HeadAttrs(2, false, 0, 0.4),
       "2 heads, q [3,2,4], k [4,2,4], v [4,2,6], mask [4,3,4], dropout 0.4",
       {}},
  };
}

std::vector<GradCheckCase> SelfAttentionCases(Generator& gen) {
  auto r = [&](const Shape& s) { return internal::RandomDouble(s, -1, 1, gen); };
  return {
      {{r({3, 2, 12})}, HeadAttrs(1), "1 head, qkv [3,2,12], no mask", {}},
      {{r({4, 2, 12}), r({4, 4})}, HeadAttrs(2), "2 heads, qkv [4,2,12], mask [4,4]", {}},
      {{r({3, 2, 18}), r({4, 3, 3})},
       HeadAttrs(2, true, 1.3),
       "2 heads, causal, qkv [3,2,18], mask [4,3,3], scale 1.3",
       {}},
      {{r({4, 1, 9})}, HeadAttrs(3, true), "3 heads, causal, qkv [4,1,9]", {}},
      {{r({4, 2, 12})},
       HeadAttrs(2, true, 0, 0.25),
       "2 heads, causal, qkv [4,2,12], dropout 0.25",
       {}},
  };
}

constexpr AttrSpec kAttentionAttrs[] = {
    {"scale", "the factor on Q K^T; 0 means 1/sqrt(d)", nullptr, nullptr, 0, 0.0, 0.25, 2.0},
    {"dropout",
     "probability of zeroing an attention weight (training only; the seed in "
     "the layer attributes)",
     nullptr, nullptr, 1, 0.0, 0.0, 1.0},
};

}  // namespace

const OpDef kScaledDotProductAttention{
    .name = "scaled_dot_product_attention",
    .formula =
        "A = softmax(scale Q K^T + mask) over keys, O = A V;  dV = A^T dO, "
        "dS = A (dO V^T - rowsum), dQ = scale dS K, dK = scale dS^T Q, dmask = dS",
    .kind = OpKind::kLinalg,
    .min_inputs = 3,
    .max_inputs = 4,
    .saves = kSaveAllInputs,
    .forward = &AttentionForward,
    .backward = &AttentionBackward,
    .backward_graph = &AttentionBackwardGraph,
    .attrs = kAttentionAttrs,
    .check_cases = &AttentionCases,
    .forward_flops = &AttentionFlops,
};

const OpDef kMultiHeadAttention{
    .name = "multi_head_attention",
    .formula =
        "per batch entry b and head j (groups heads), on columns j d..(j+1) d of the rows "
        "(l, b): scaled_dot_product_attention, written in place",
    .kind = OpKind::kLinalg,
    .min_inputs = 3,
    .max_inputs = 4,
    .saves = kSaveAllInputs,
    .forward = &MultiHeadForward,
    .backward = &MultiHeadBackward,
    .backward_graph = &MultiHeadBackwardGraph,
    .attrs = kAttentionAttrs,
    .check_cases = &MultiHeadCases,
    .forward_flops = &MultiHeadFlops,
};

const OpDef kMultiHeadSelfAttention{
    .name = "multi_head_self_attention",
    .formula =
        "qkv [L, B, 3E] = q | k | v: multi_head_attention(q, k, v); the gradient [L, B, 3E] "
        "is written in place",
    .kind = OpKind::kLinalg,
    .min_inputs = 1,
    .max_inputs = 2,
    .saves = kSaveAllInputs,
    .forward = &SelfAttentionForward,
    .backward = &SelfAttentionBackward,
    .backward_graph = &SelfAttentionBackwardGraph,
    .attrs = kAttentionAttrs,
    .check_cases = &SelfAttentionCases,
    .forward_flops = &SelfAttentionFlops,
};

}  // namespace ops

namespace {

Attrs AttentionAttrs(const AttentionOptions& options, int64_t heads) {
  Attrs a;
  a.params[0] = options.scale;
  a.params[1] = options.dropout;
  if (options.dropout > 0) a.MutableLayer().seed = options.seed;
  if (options.causal) a.MutableLayer().causal = true;
  if (heads != 1) a.MutableLayer().groups = heads;
  return a;
}

}  // namespace

Tensor ScaledDotProductAttention(const Tensor& q, const Tensor& k, const Tensor& v,
                                 const Tensor& mask, const AttentionOptions& options,
                                 std::source_location location) {
  const Attrs a = AttentionAttrs(options, 1);
  if (mask.defined()) return Apply(ops::kScaledDotProductAttention, {q, k, v, mask}, a, location);
  return Apply(ops::kScaledDotProductAttention, {q, k, v}, a, location);
}

Tensor MultiHeadAttention(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads,
                          const Tensor& mask, const AttentionOptions& options,
                          std::source_location location) {
  const Attrs a = AttentionAttrs(options, heads);
  if (mask.defined()) return Apply(ops::kMultiHeadAttention, {q, k, v, mask}, a, location);
  return Apply(ops::kMultiHeadAttention, {q, k, v}, a, location);
}

Tensor MultiHeadSelfAttention(const Tensor& qkv, int64_t heads, const Tensor& mask,
                              const AttentionOptions& options, std::source_location location) {
  const Attrs a = AttentionAttrs(options, heads);
  if (mask.defined()) return Apply(ops::kMultiHeadSelfAttention, {qkv, mask}, a, location);
  return Apply(ops::kMultiHeadSelfAttention, {qkv}, a, location);
}

}  // namespace actgrad
