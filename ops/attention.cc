// Scaled dot-product attention as one row: per batch entry,
// A = softmax(scale Q K^T + mask) over the keys and O = A V, with the
// products in internal::Gemm and the batch entries spread over the threads.
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

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "graph/parallel.h"
#include "ops/builtin_ops.h"
#include "ops/check_cases.h"
#include "ops/functional.h"
#include "ops/gemm.h"
#include "ops/kernels.h"
#include "ops/sequence_ops.h"

namespace actgrad {
namespace ops {

namespace {

// q is [B, L, d], k [B, S, d], v [B, S, dv]; the mask [L, S] or [B, L, S].
struct AttentionPlan {
  int64_t batch = 0, queries = 0, keys = 0, depth = 0, value_depth = 0;
  bool has_mask = false;
  bool mask_batched = false;
  bool causal = false;
  double scale = 1;

  int64_t ScoresPerEntry() const { return queries * keys; }
  // The keys query i may see before the mask: all, or 0..i when causal.
  int64_t VisibleKeys(int64_t i) const { return causal ? std::min(i + 1, keys) : keys; }
};

// The scale the row uses: params[0], 0 (the default) meaning 1/sqrt(d).
double ResolveScale(const OpDef& op, const Attrs& attrs, int64_t depth) {
  const double scale = WithDefaults(op, attrs).params[0];
  if (scale != 0) return scale;
  return depth > 0 ? 1 / std::sqrt(double(depth)) : 1.0;
}

AttentionPlan PlanFromShapes(const OpDef& op, const Attrs& attrs, const Shape& q, const Shape& k,
                             const Shape& v, const Shape* mask) {
  AttentionPlan p;
  p.batch = q[0];
  p.queries = q[1];
  p.depth = q[2];
  p.keys = k[1];
  p.value_depth = v[2];
  p.has_mask = mask != nullptr;
  p.mask_batched = mask != nullptr && mask->rank() == 3;
  p.causal = attrs.Layer().causal;
  p.scale = ResolveScale(op, attrs, p.depth);
  return p;
}

AttentionPlan PlanAttention(const ForwardContext& ctx) {
  internal::RequireSameFloatingDType(ctx);
  const Shape& q = ctx.input(0).shape();
  const Shape& k = ctx.input(1).shape();
  const Shape& v = ctx.input(2).shape();
  const bool shapes_agree = q.rank() == 3 && k.rank() == 3 && v.rank() == 3 && k[0] == q[0] &&
                            v[0] == q[0] && k[2] == q[2] && v[1] == k[1];
  ACTGRAD_REQUIRE(shapes_agree, ctx.location(), ctx.op().name, ": q ", q.ToString(), ", k ",
                  k.ToString(), " and v ", v.ToString(),
                  " must be [B, L, d], [B, S, d] and [B, S, dv]");
  const Shape* mask = ctx.inputs().size() == 4 ? &ctx.input(3).shape() : nullptr;
  if (mask != nullptr) {
    const bool shared = mask->rank() == 2 && (*mask)[0] == q[1] && (*mask)[1] == k[1];
    const bool batched =
        mask->rank() == 3 && (*mask)[0] == q[0] && (*mask)[1] == q[1] && (*mask)[2] == k[1];
    ACTGRAD_REQUIRE(shared || batched, ctx.location(), ctx.op().name, ": the mask ",
                    mask->ToString(), " must be [L, S] = [", q[1], ",", k[1], "] or [B, L, S] = [",
                    q[0], ",", q[1], ",", k[1], "] for q ", q.ToString(), " and k ", k.ToString());
  }
  const AttentionPlan p = PlanFromShapes(ctx.op(), ctx.attrs(), q, k, v, mask);
  ACTGRAD_REQUIRE(!p.causal || p.queries <= p.keys, ctx.location(), ctx.op().name,
                  ": causal attention needs no more queries than keys, got L = ", p.queries,
                  " and S = ", p.keys, " (q ", q.ToString(), ", k ", k.ToString(), ")");
  ACTGRAD_REQUIRE(std::isfinite(p.scale), ctx.location(), ctx.op().name,
                  ": the scale must be finite, got ", p.scale);
  return p;
}

// C[m,n] = op(A) op(B) as internal::Gemm, also for empty extents (an empty
// sum is zero; not every GEMM library is asked to agree).
template <typename T>
void Product(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const T* a, const T* b,
             T* c) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    std::fill(c, c + m * n, T(0));
    return;
  }
  internal::Gemm(trans_a, trans_b, m, n, k, a, b, c, /*accumulate=*/false);
}

// Runs body(b) for every batch entry, on the threads when there are several
// entries and enough work in them to pay for waking the threads. Each entry
// writes only its own slices, so the split never changes a result.
template <typename Fn>
void ForEachEntry(const AttentionPlan& p, Fn body) {
  auto range = [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) body(b);
  };
  const int64_t work = p.batch * p.ScoresPerEntry() * (p.depth + p.value_depth);
  if (p.batch > 1 && work >= internal::kParallelMinElements) {
    internal::ParallelForItems(p.batch, range);
  } else {
    range(0, p.batch);
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
  T sum = 0;
  for (int64_t j = 0; j < visible; ++j) {
    row[j] = std::exp(row[j] - top);
    sum += row[j];
  }
  const T inv = T(1) / sum;
  for (int64_t j = 0; j < visible; ++j) row[j] *= inv;
}

Tensor AttentionForward(ForwardContext& ctx) {
  const AttentionPlan p = PlanAttention(ctx);
  const Tensor& q = ctx.input(0);
  const Tensor& k = ctx.input(1);
  const Tensor& v = ctx.input(2);
  Tensor probabilities = internal::Empty(Shape{p.batch, p.queries, p.keys}, q.dtype());
  Tensor y = internal::Empty(Shape{p.batch, p.queries, p.value_depth}, q.dtype());
  DispatchFloating(q.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pq = static_cast<const T*>(q.raw_data());
    const T* pk = static_cast<const T*>(k.raw_data());
    const T* pv = static_cast<const T*>(v.raw_data());
    const T* pm = p.has_mask ? static_cast<const T*>(ctx.input(3).raw_data()) : nullptr;
    T* pa = static_cast<T*>(probabilities.raw_data());
    T* py = static_cast<T*>(y.raw_data());
    const int64_t L = p.queries, S = p.keys, d = p.depth, dv = p.value_depth;
    ForEachEntry(p, [&](int64_t b) {
      T* a = pa + b * L * S;
      Product<T>(false, true, L, S, d, pq + b * L * d, pk + b * S * d, a);
      const T* mask = pm == nullptr ? nullptr : pm + (p.mask_batched ? b * L * S : 0);
      for (int64_t i = 0; i < L; ++i) {
        SoftmaxRow<T>(a + i * S, mask == nullptr ? nullptr : mask + i * S, p.VisibleKeys(i), S,
                      T(p.scale));
      }
      Product<T>(false, false, L, dv, S, a, pv + b * S * dv, py + b * L * dv);
    });
  });
  ctx.SaveExtra(std::move(probabilities));
  return y;
}

// dV = A^T dO;  dA = dO V^T;  dS = A (dA - rowsum(dA A));
// dQ = scale dS K;  dK = scale dS^T Q;  dmask = dS summed to the mask's shape.
void AttentionBackward(BackwardContext& ctx) {
  const Tensor& q = ctx.saved_input(0);
  const Tensor& k = ctx.saved_input(1);
  const Tensor& v = ctx.saved_input(2);
  const Tensor& probabilities = ctx.extra(0);
  const Tensor& dy = ctx.dy();
  const bool has_mask = ctx.num_inputs() == 4;
  const AttentionPlan p = PlanFromShapes(ctx.op(), ctx.attrs(), q.shape(), k.shape(), v.shape(),
                                         has_mask ? &ctx.input_shape(3) : nullptr);
  const bool want_q = ctx.needs_grad(0), want_k = ctx.needs_grad(1), want_v = ctx.needs_grad(2);
  const bool want_mask = has_mask && ctx.needs_grad(3);
  const bool want_scores = want_q || want_k || want_mask;
  const int64_t L = p.queries, S = p.keys, d = p.depth, dv = p.value_depth;
  const DType dtype = q.dtype();
  Tensor dq = want_q ? internal::Empty(q.shape(), dtype) : Tensor();
  Tensor dk = want_k ? internal::Empty(k.shape(), dtype) : Tensor();
  Tensor dv_t = want_v ? internal::Empty(v.shape(), dtype) : Tensor();
  Tensor ds = want_scores ? internal::Empty(probabilities.shape(), dtype) : Tensor();
  DispatchFloating(dtype, [&](auto tag) {
    using T = decltype(tag);
    auto ptr = [](const Tensor& t) {
      return t.defined() ? static_cast<T*>(t.raw_data()) : nullptr;
    };
    const T *pq = ptr(q), *pk = ptr(k), *pv = ptr(v), *pa = ptr(probabilities), *pdy = ptr(dy);
    T *pdq = ptr(dq), *pdk = ptr(dk), *pdv = ptr(dv_t), *pds = ptr(ds);
    const T scale = T(p.scale);
    ForEachEntry(p, [&](int64_t b) {
      const T* a = pa + b * L * S;
      const T* dout = pdy + b * L * dv;
      if (want_v) Product<T>(true, false, S, dv, L, a, dout, pdv + b * S * dv);
      if (!want_scores) return;
      T* dscores = pds + b * L * S;
      Product<T>(false, true, L, S, dv, dout, pv + b * S * dv, dscores);
      for (int64_t i = 0; i < L; ++i) {
        const T* ar = a + i * S;
        T* dr = dscores + i * S;
        T dot = 0;
        for (int64_t j = 0; j < S; ++j) dot += dr[j] * ar[j];
        for (int64_t j = 0; j < S; ++j) dr[j] = ar[j] * (dr[j] - dot);
      }
      if (want_q) {
        T* out = pdq + b * L * d;
        Product<T>(false, false, L, d, S, dscores, pk + b * S * d, out);
        for (int64_t i = 0; i < L * d; ++i) out[i] *= scale;
      }
      if (want_k) {
        T* out = pdk + b * S * d;
        Product<T>(true, false, S, d, L, dscores, pq + b * L * d, out);
        for (int64_t i = 0; i < S * d; ++i) out[i] *= scale;
      }
    });
  });
  if (want_q) ctx.set_dx(0, std::move(dq));
  if (want_k) ctx.set_dx(1, std::move(dk));
  if (want_v) ctx.set_dx(2, std::move(dv_t));
  // Summed over the batch in order, on one thread: reproducible.
  if (want_mask) ctx.set_dx(3, internal::SumToShape(ds, ctx.input_shape(3)));
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
  const int64_t entries = p.mask_batched ? p.batch : 1;
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

void AttentionBackwardGraph(BackwardContext& ctx) {
  const Tensor& q = ctx.saved_input(0);
  const Tensor& k = ctx.saved_input(1);
  const Tensor& v = ctx.saved_input(2);
  const bool has_mask = ctx.num_inputs() == 4;
  const Tensor mask = has_mask ? ctx.saved_input(3) : Tensor();
  const AttentionPlan p = PlanFromShapes(ctx.op(), ctx.attrs(), q.shape(), k.shape(), v.shape(),
                                         has_mask ? &mask.shape() : nullptr);
  const HiddenKeys hidden = FindHiddenKeys(p, mask, q.dtype());
  Tensor scores = Matmul(q, Transpose(k)) * p.scale;
  if (has_mask) {
    scores = scores + (hidden.clamp_mask
                           ? Clamp(mask, hidden.hide, std::numeric_limits<double>::infinity())
                           : mask);
  }
  if (hidden.fill.defined()) scores = scores + hidden.fill;
  Tensor a = Softmax(scores, -1);
  if (hidden.visible.defined()) a = a * hidden.visible;

  const Tensor& dy = ctx.dy();
  if (ctx.needs_grad(2)) ctx.set_dx(2, Matmul(Transpose(a), dy));
  const bool want_mask = has_mask && ctx.needs_grad(3);
  if (!ctx.needs_grad(0) && !ctx.needs_grad(1) && !want_mask) return;
  const Tensor da = Matmul(dy, Transpose(v));
  const Tensor ds = a * (da - Sum(da * a, -1, /*keepdim=*/true));
  if (ctx.needs_grad(0)) ctx.set_dx(0, Matmul(ds, k) * p.scale);
  if (ctx.needs_grad(1)) ctx.set_dx(1, Matmul(Transpose(ds), q) * p.scale);
  if (want_mask) ctx.set_dx(3, SumTo(ds, mask.shape()));
}

// Two products of 2 B L S d and 2 B L S dv.
double AttentionFlops(std::span<const Tensor> inputs, const Tensor& output) {
  const double scores =
      double(inputs[0].dim(0)) * double(inputs[0].dim(1)) * double(inputs[1].dim(1));
  return 2.0 * scores * double(inputs[0].dim(2) + inputs[2].dim(2));
}

std::vector<GradCheckCase> AttentionCases(Generator& gen) {
  auto r = [&](const Shape& s) { return internal::RandomDouble(s, -1, 1, gen); };
  Attrs causal;
  causal.MutableLayer().causal = true;
  Attrs scaled;
  scaled.params[0] = 0.8;
  Attrs causal_scaled = causal;
  causal_scaled.params[0] = 1.3;
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
  };
}

constexpr AttrSpec kAttentionAttrs[] = {
    {"scale", "the factor on Q K^T; 0 means 1/sqrt(d)", nullptr, nullptr, 0, 0.0, 0.25, 2.0},
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

}  // namespace ops

Tensor ScaledDotProductAttention(const Tensor& q, const Tensor& k, const Tensor& v,
                                 const Tensor& mask, const AttentionOptions& options,
                                 std::source_location location) {
  Attrs a;
  a.params[0] = options.scale;
  if (options.causal) a.MutableLayer().causal = true;
  if (mask.defined()) return Apply(ops::kScaledDotProductAttention, {q, k, v, mask}, a, location);
  return Apply(ops::kScaledDotProductAttention, {q, k, v}, a, location);
}

}  // namespace actgrad
