// Matrix products (2-D and batched) and transpose; products go to ops/gemm.h.

#include <algorithm>

#include "ops/builtin_ops.h"
#include "ops/check_cases.h"
#include "ops/functional.h"
#include "ops/gemm.h"
#include "ops/jvp_rules.h"
#include "ops/kernels.h"
#include "ops/linear_kernels.h"
#include "ops/threads.h"

namespace actgrad {
namespace ops {

namespace {

// The geometry of a (possibly batched) product: A is [batch?, m, k], B is
// [batch?, k, n]; a rank-2 side is shared by every batch.
struct MatmulPlan {
  int64_t batch = 1, m = 0, k = 0, n = 0;
  bool a_batched = false, b_batched = false;
  Shape out_shape;
};

MatmulPlan PlanMatmul(const Shape& a, const Shape& b) {
  MatmulPlan p;
  p.a_batched = a.rank() == 3;
  p.b_batched = b.rank() == 3;
  p.m = a[a.rank() - 2];
  p.k = a[a.rank() - 1];
  p.n = b[b.rank() - 1];
  if (p.a_batched) p.batch = a[0];
  if (p.b_batched) p.batch = b[0];
  if (p.a_batched || p.b_batched) p.out_shape.PushBack(p.batch);
  p.out_shape.PushBack(p.m);
  p.out_shape.PushBack(p.n);
  return p;
}

Tensor MatmulForward(ForwardContext& ctx) {
  internal::RequireSameFloatingDType(ctx);
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  ACTGRAD_REQUIRE((a.rank() == 2 || a.rank() == 3) && (b.rank() == 2 || b.rank() == 3),
                  ctx.location(), "matmul: needs 2-D or batched 3-D operands, got ",
                  internal::DescribeShapes(ctx.inputs()));
  ACTGRAD_REQUIRE(a.dim(a.rank() - 1) == b.dim(b.rank() - 2), ctx.location(),
                  "matmul: inner dimensions differ: ", a.shape().ToString(), " x ",
                  b.shape().ToString());
  ACTGRAD_REQUIRE(a.rank() == 2 || b.rank() == 2 || a.dim(0) == b.dim(0), ctx.location(),
                  "matmul: batch sizes differ: ", a.shape().ToString(), " x ",
                  b.shape().ToString());
  const MatmulPlan p = PlanMatmul(a.shape(), b.shape());
  Tensor y = internal::Empty(p.out_shape, a.dtype());
  DispatchFloating(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pa = static_cast<const T*>(a.raw_data());
    const T* pb = static_cast<const T*>(b.raw_data());
    T* py = static_cast<T*>(y.raw_data());
    if (!p.b_batched) {
      // A shared B: all batches of A form one [batch*m, k] matrix.
      internal::Gemm(false, false, p.batch * p.m, p.n, p.k, pa, pb, py, false);
      return;
    }
    for (int64_t i = 0; i < p.batch; ++i) {
      internal::Gemm(false, false, p.m, p.n, p.k, pa + (p.a_batched ? i * p.m * p.k : 0),
                     pb + i * p.k * p.n, py + i * p.m * p.n, false);
    }
  });
  return y;
}

// dA = dY B^T;  dB = A^T dY (summed over batches for a shared operand).
void MatmulBackward(BackwardContext& ctx) {
  const Tensor& a = ctx.saved_input(0);
  const Tensor& b = ctx.saved_input(1);
  const Tensor& dy = ctx.dy();
  const MatmulPlan p = PlanMatmul(a.shape(), b.shape());
  DispatchFloating(dy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pa = static_cast<const T*>(a.raw_data());
    const T* pb = static_cast<const T*>(b.raw_data());
    const T* pdy = static_cast<const T*>(dy.raw_data());
    if (ctx.needs_grad(0)) {
      Tensor da = internal::Empty(a.shape(), a.dtype());
      T* pda = static_cast<T*>(da.raw_data());
      if (!p.b_batched) {
        internal::Gemm(false, true, p.batch * p.m, p.k, p.n, pdy, pb, pda, false);
      } else {
        for (int64_t i = 0; i < p.batch; ++i) {
          // A shared A accumulates over batches.
          const bool accumulate = !p.a_batched && i > 0;
          internal::Gemm(false, true, p.m, p.k, p.n, pdy + i * p.m * p.n, pb + i * p.k * p.n,
                         pda + (p.a_batched ? i * p.m * p.k : 0), accumulate);
        }
      }
      ctx.set_dx(0, std::move(da));
    }
    if (ctx.needs_grad(1)) {
      Tensor db = internal::Empty(b.shape(), b.dtype());
      T* pdb = static_cast<T*>(db.raw_data());
      if (!p.b_batched) {
        internal::Gemm(true, false, p.k, p.n, p.batch * p.m, pa, pdy, pdb, false);
      } else {
        for (int64_t i = 0; i < p.batch; ++i) {
          internal::Gemm(true, false, p.k, p.n, p.m, pa + (p.a_batched ? i * p.m * p.k : 0),
                         pdy + i * p.m * p.n, pdb + i * p.k * p.n, false);
        }
      }
      ctx.set_dx(1, std::move(db));
    }
  });
}

// 2 m n k per product: each output element is a k-long dot product.
double MatmulFlops(std::span<const Tensor> inputs, const Tensor& output) {
  const Tensor& a = inputs[0];
  return 2.0 * double(output.numel()) * double(a.dim(a.rank() - 1));
}

std::vector<GradCheckCase> MatmulCases(Generator& gen) {
  auto r = [&](const Shape& s) { return internal::RandomDouble(s, -1, 1, gen); };
  return {
      {{r({3, 4}), r({4, 2})}, {}, "[3,4] x [4,2]", {}},
      {{r({2, 3, 4}), r({2, 4, 5})}, {}, "[2,3,4] x [2,4,5] (batched)", {}},
      {{r({2, 3, 4}), r({4, 2})}, {}, "[2,3,4] x [4,2] (shared right)", {}},
      {{r({3, 4}), r({2, 4, 2})}, {}, "[3,4] x [2,4,2] (shared left)", {}},
  };
}

// The recorded form: the same products written with ops.
void MatmulBackwardGraph(BackwardContext& ctx) {
  const Tensor& a = ctx.saved_input(0);
  const Tensor& b = ctx.saved_input(1);
  const Tensor& dy = ctx.dy();
  const bool a3 = a.rank() == 3, b3 = b.rank() == 3;
  if (ctx.needs_grad(0)) {
    const Tensor da = Matmul(dy, Transpose(b));  // [B?,m,k]
    ctx.set_dx(0, (!a3 && b3) ? Sum(da, 0) : da);
  }
  if (ctx.needs_grad(1)) {
    if (a3 && !b3) {
      const int64_t k = a.dim(2), n = dy.dim(2);
      ctx.set_dx(1, Matmul(Transpose(Reshape(a, {-1, k})), Reshape(dy, {-1, n})));
    } else {
      ctx.set_dx(1, Matmul(Transpose(a), dy));
    }
  }
}

// ---------------------------------------------------------------- linear
Tensor LinearForward(ForwardContext& ctx) { return internal::LinearValues(ctx); }

// dX = dY W;  dW = dY^T X;  db = column sums of dY
void LinearBackward(BackwardContext& ctx) {
  // The bias gradient first: dy's last lines are then still in cache from
  // the backward that wrote them, where the products would have pushed them
  // out.
  if (ctx.num_inputs() == 3 && ctx.needs_grad(2)) {
    const Tensor& dy = ctx.dy();
    const int64_t out = dy.dim(dy.rank() - 1), rows = dy.numel() / std::max<int64_t>(out, 1);
    const Tensor* into = ctx.gradient_to_add_into(2);
    Tensor db = into != nullptr ? *into : internal::ZerosOf(Shape{out}, dy.dtype());
    DispatchFloating(dy.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* pdy = static_cast<const T*>(dy.raw_data());
      T* pdb = static_cast<T*>(db.raw_data());
      for (int64_t r = 0; r < rows; ++r) {
        const T* row = pdy + r * out;
        for (int64_t j = 0; j < out; ++j) pdb[j] += row[j];
      }
    });
    into != nullptr ? ctx.set_dx_added(2) : ctx.set_dx(2, std::move(db));
  }
  internal::LinearProductGradients(ctx, ctx.dy());
}

void LinearBackwardGraph(BackwardContext& ctx) {
  const int64_t out = ctx.saved_input(1).dim(0);
  const Tensor dy = Reshape(ctx.dy(), {-1, out});
  internal::LinearProductGradientsGraph(ctx, dy);
  if (ctx.num_inputs() == 3 && ctx.needs_grad(2)) ctx.set_dx(2, Sum(dy, 0));
}

std::vector<GradCheckCase> LinearCases(Generator& gen) {
  auto r = [&](const Shape& s) { return internal::RandomDouble(s, -1, 1, gen); };
  return {
      {{r({4, 3}), r({2, 3}), r({2})}, {}, "[4,3] by [2,3] + [2]", {}},
      {{r({5, 3}), r({4, 3})}, {}, "[5,3] by [4,3], no bias", {}},
      {{r({2, 3, 3}), r({2, 3}), r({2})}, {}, "[2,3,3] by [2,3] + [2] (leading dims)", {}},
  };
}

// ------------------------------------------------------------- transpose
// Swaps the last two dimensions (a copy, since tensors are contiguous).
Tensor TransposeLastTwo(const Tensor& x) {
  const int r = x.rank();
  Shape out_shape = x.shape();
  out_shape[r - 2] = x.dim(r - 1);
  out_shape[r - 1] = x.dim(r - 2);
  Tensor y = internal::Empty(out_shape, x.dtype());
  const int64_t rows = x.dim(r - 2), cols = x.dim(r - 1);
  const int64_t batches = x.numel() / std::max<int64_t>(1, rows * cols);
  DispatchFloating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    for (int64_t i = 0; i < batches; ++i) {
      Eigen::Map<const Matrix> in(static_cast<const T*>(x.raw_data()) + i * rows * cols, rows,
                                  cols);
      Eigen::Map<Matrix> out(static_cast<T*>(y.raw_data()) + i * rows * cols, cols, rows);
      out = in.transpose();
    }
  });
  return y;
}

Tensor TransposeForward(ForwardContext& ctx) {
  internal::RequireSameFloatingDType(ctx);
  ACTGRAD_REQUIRE(ctx.input(0).rank() >= 2, ctx.location(),
                  "transpose: needs at least two dimensions, got ",
                  ctx.input(0).shape().ToString());
  return TransposeLastTwo(ctx.input(0));
}

void TransposeBackward(BackwardContext& ctx) { ctx.set_dx(0, TransposeLastTwo(ctx.dy())); }
void TransposeBackwardGraph(BackwardContext& ctx) { ctx.set_dx(0, Transpose(ctx.dy())); }

std::vector<GradCheckCase> TransposeCases(Generator& gen) {
  return {
      {{internal::RandomDouble({3, 4}, -1, 1, gen)}, {}, "[3,4]", {}},
      {{internal::RandomDouble({2, 3, 4}, -1, 1, gen)}, {}, "[2,3,4]", {}},
  };
}

}  // namespace

const OpDef kMatmul{
    .name = "matmul",
    .formula = "Y = A B (2-D or batched);  dA = dY B^T, dB = A^T dY",
    .kind = OpKind::kLinalg,
    .min_inputs = 2,
    .max_inputs = 2,
    .saves = kSaveInput0 | kSaveInput1,
    .forward = &MatmulForward,
    .backward = &MatmulBackward,
    .backward_graph = &MatmulBackwardGraph,
    .jvp = &internal::ProductJvp,
    .check_cases = &MatmulCases,
    .forward_flops = &MatmulFlops,
};

const OpDef kLinear{
    .name = "linear",
    .formula = "Y = X W^T + b (W is [out, in]);  dX = dY W, dW = dY^T X, db = sum_rows(dY)",
    .kind = OpKind::kLinalg,
    .min_inputs = 2,
    .max_inputs = 3,
    .saves = kSaveInput0 | kSaveInput1,
    .forward = &LinearForward,
    .backward = &LinearBackward,
    .backward_graph = &LinearBackwardGraph,
    .jvp = &internal::ProductWithBiasJvp,
    .check_cases = &LinearCases,
    .forward_flops = &internal::LinearFlops,
};

const OpDef kTranspose{
    .name = "transpose",
    .formula = "Y = X^T (last two dimensions);  dX = dY^T",
    .kind = OpKind::kShape,
    .forward = &TransposeForward,
    .backward = &TransposeBackward,
    .backward_graph = &TransposeBackwardGraph,
    .jvp = &internal::LinearJvp,
    .check_cases = &TransposeCases,
};

}  // namespace ops
}  // namespace actgrad

namespace actgrad::internal {

// Y = X W^T + b, with W stored [out, in] as PyTorch does: one GEMM with the
// bias folded in, and no transposed copy of W in either direction.
Tensor LinearValues(const ForwardContext& ctx) {
  RequireSameFloatingDType(ctx);
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  const absl::string_view name = ctx.op().name;
  ACTGRAD_REQUIRE(w.rank() == 2 && x.rank() >= 1 && x.dim(x.rank() - 1) == w.dim(1), ctx.location(),
                  name, ": input ", x.shape().ToString(), " does not match weight ",
                  w.shape().ToString(),
                  " (the weight is [out, in]; the input's last dimension must be in)");
  const bool has_bias = ctx.inputs().size() == 3;
  if (has_bias) {
    const Tensor& b = ctx.input(2);
    ACTGRAD_REQUIRE(b.rank() == 1 && b.dim(0) == w.dim(0), ctx.location(), name, ": bias ",
                    b.shape().ToString(), " does not match weight ", w.shape().ToString());
  }
  const int64_t in = w.dim(1), out = w.dim(0), rows = x.numel() / std::max<int64_t>(in, 1);
  Shape out_shape = x.shape();
  out_shape[x.rank() - 1] = out;
  Tensor y = Empty(out_shape, x.dtype());
  DispatchFloating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* py = static_cast<T*>(y.raw_data());
    const T* px = static_cast<const T*>(x.raw_data());
    const T* pw = static_cast<const T*>(w.raw_data());
    if (has_bias) {
      GemmWithBias(false, true, rows, out, in, px, pw,
                   static_cast<const T*>(ctx.input(2).raw_data()), py);
    } else {
      Gemm(false, true, rows, out, in, px, pw, py, /*accumulate=*/false);
    }
  });
  return y;
}

void LinearProductGradients(BackwardContext& ctx, const Tensor& dz) {
  const Tensor& x = ctx.saved_input(0);
  const Tensor& w = ctx.saved_input(1);
  const int64_t in = w.dim(1), out = w.dim(0), rows = x.numel() / std::max<int64_t>(in, 1);
  DispatchFloating(dz.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pdz = static_cast<const T*>(dz.raw_data());
    if (ctx.needs_grad(0)) {
      Tensor dx = Empty(x.shape(), x.dtype());
      Gemm(false, false, rows, in, out, pdz, static_cast<const T*>(w.raw_data()),
           static_cast<T*>(dx.raw_data()), false);
      ctx.set_dx(0, std::move(dx));
    }
    if (!ctx.needs_grad(1)) return;
    const T* px = static_cast<const T*>(x.raw_data());
    if (const Tensor* into = ctx.gradient_to_add_into(1)) {
      Gemm(true, false, out, in, rows, pdz, px, static_cast<T*>(into->raw_data()), true);
      ctx.set_dx_added(1);
      return;
    }
    Tensor dw = Empty(w.shape(), w.dtype());
    Gemm(true, false, out, in, rows, pdz, px, static_cast<T*>(dw.raw_data()), false);
    ctx.set_dx(1, std::move(dw));
  });
}

void LinearProductGradientsGraph(BackwardContext& ctx, const Tensor& dz) {
  const Tensor& x = ctx.saved_input(0);
  const Tensor& w = ctx.saved_input(1);
  const int64_t in = w.dim(1);
  if (ctx.needs_grad(0)) {
    const Tensor dx = Matmul(dz, w);
    ctx.set_dx(0,
               Reshape(dx, std::vector<int64_t>(x.shape().dims().begin(), x.shape().dims().end())));
  }
  if (ctx.needs_grad(1)) ctx.set_dx(1, Matmul(Transpose(dz), Reshape(x, {-1, in})));
}

double LinearFlops(std::span<const Tensor> inputs, const Tensor& output) {
  const Tensor& x = inputs[0];
  return 2.0 * double(output.numel()) * double(x.dim(x.rank() - 1));
}

}  // namespace actgrad::internal
