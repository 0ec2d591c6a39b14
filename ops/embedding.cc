// Embedding: a gather of table rows by int64 index, and its adjoint
// embedding_backward, the scatter-add that is its gradient. The two are an
// exact adjoint pair, <embedding(i, W), G> == <W, embedding_backward(G, i)>,
// so each row's recorded backward is the other and both differentiate to
// any order.
//
// padding_index follows torch.nn.functional.embedding: that row of the table
// gets no gradient. For the gradient to be the derivative of the forward (as
// the checker demands), a padding position reads zeros rather than the
// padding row: the same output as PyTorch's whenever that row holds zeros,
// which nn.Embedding initializes it to and no gradient ever changes.
//
// Example:
//
//   Tensor tokens = Labels({3, 0, 3});                   // int64 [3]
//   Tensor y = Embedding(tokens, table, /*padding_index=*/0);  // [3, D]; y[1] is zeros

#include <algorithm>
#include <cstring>
#include <string>

#include "graph/parallel.h"
#include "ops/builtin_ops.h"
#include "ops/check_cases.h"
#include "ops/jvp_rules.h"
#include "ops/kernels.h"
#include "ops/sequence_ops.h"

namespace actgrad {
namespace ops {

namespace {

// "[1,2]": where flat position `flat` sits in `shape`, for messages.
std::string PositionString(const Shape& shape, int64_t flat) {
  if (shape.rank() == 0) return "[]";
  std::string out = "]";
  for (int d = shape.rank() - 1; d >= 0; --d) {
    const int64_t extent = std::max<int64_t>(shape[d], 1);
    out = absl::StrCat(d == 0 ? "[" : ",", flat % extent, out);
    flat /= extent;
  }
  return out;
}

// Throws naming the op unless `indices` is int64 with every value in
// [0, rows), and the padding index is -1 or a row.
void CheckIndices(const ForwardContext& ctx, const Tensor& indices, int64_t rows) {
  ACTGRAD_REQUIRE(indices.dtype() == DType::kInt64, ctx.location(), ctx.op().name,
                  ": the indices must be int64, got ", DTypeName(indices.dtype()), " ",
                  indices.shape().ToString());
  const int64_t padding = ctx.attrs().Layer().padding_index;
  ACTGRAD_REQUIRE(padding >= -1 && padding < rows, ctx.location(), ctx.op().name,
                  ": padding_index ", padding, " is outside [-1, ", rows, ") for a table of ", rows,
                  " rows");
  const int64_t* index = static_cast<const int64_t*>(indices.raw_data());
  for (int64_t p = 0; p < indices.numel(); ++p) {
    ACTGRAD_REQUIRE(index[p] >= 0 && index[p] < rows, ctx.location(), ctx.op().name, ": index ",
                    index[p], " at ", PositionString(indices.shape(), p), " of the indices ",
                    indices.shape().ToString(), " is outside [0, ", rows, ")");
  }
}

// out[p] = table[index[p]], or zeros where index[p] is the padding row.
Tensor Gather(const Tensor& indices, const Tensor& table, int64_t padding) {
  const int64_t width = table.dim(1), positions = indices.numel();
  Shape out_shape = indices.shape();
  out_shape.PushBack(width);
  Tensor out = internal::Empty(out_shape, table.dtype());
  const int64_t* index = static_cast<const int64_t*>(indices.raw_data());
  DispatchFloating(table.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* src = static_cast<const T*>(table.raw_data());
    T* dst = static_cast<T*>(out.raw_data());
    auto rows = [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        T* row = dst + p * width;
        if (index[p] == padding) {
          std::fill(row, row + width, T(0));
        } else {
          std::copy_n(src + index[p] * width, width, row);
        }
      }
    };
    if (positions > 1 && positions * width >= internal::kParallelMinElements) {
      internal::ParallelForItems(positions, rows);
    } else {
      rows(0, positions);
    }
  });
  return out;
}

// out[index[p]] += values[p] into zeros of [rows, D], skipping the padding
// row. One thread, in position order, so the sums are reproducible.
Tensor ScatterAdd(const Tensor& values, const Tensor& indices, int64_t rows, int64_t padding) {
  const int64_t width = values.dim(values.rank() - 1), positions = indices.numel();
  Tensor out = internal::ZerosOf(Shape{rows, width}, values.dtype());
  const int64_t* index = static_cast<const int64_t*>(indices.raw_data());
  DispatchFloating(values.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* src = static_cast<const T*>(values.raw_data());
    T* dst = static_cast<T*>(out.raw_data());
    for (int64_t p = 0; p < positions; ++p) {
      if (index[p] == padding) continue;
      T* row = dst + index[p] * width;
      const T* add = src + p * width;
      for (int64_t j = 0; j < width; ++j) row[j] += add[j];
    }
  });
  return out;
}

// ----------------------------------------------------------------- embedding
Tensor EmbeddingForward(ForwardContext& ctx) {
  const Tensor& indices = ctx.input(0);
  const Tensor& weight = ctx.input(1);
  ACTGRAD_REQUIRE(IsFloating(weight.dtype()) && weight.rank() == 2, ctx.location(),
                  "embedding: the weight must be a float32 or float64 table [V, D], got ",
                  DTypeName(weight.dtype()), " ", weight.shape().ToString());
  CheckIndices(ctx, indices, weight.dim(0));
  return Gather(indices, weight, ctx.attrs().Layer().padding_index);
}

// dW = embedding_backward(dY, indices): dY's rows added into the rows they read.
void EmbeddingBackward(BackwardContext& ctx) {
  if (!ctx.needs_grad(1)) return;
  ctx.set_dx(1, ScatterAdd(ctx.dy(), ctx.saved_input(0), ctx.input_shape(1)[0],
                           ctx.attrs().Layer().padding_index));
}

void EmbeddingBackwardGraph(BackwardContext& ctx) {
  if (!ctx.needs_grad(1)) return;
  Attrs a = ctx.attrs();
  a.MutableLayer().rows = ctx.input_shape(1)[0];
  ctx.set_dx(1, Apply(kEmbeddingBackward, {ctx.dy(), ctx.saved_input(0)}, a));
}

// ------------------------------------------------------- embedding_backward
Tensor EmbeddingBackwardForward(ForwardContext& ctx) {
  const Tensor& values = ctx.input(0);
  const Tensor& indices = ctx.input(1);
  const int64_t rows = ctx.attrs().Layer().rows;
  ACTGRAD_REQUIRE(IsFloating(values.dtype()) && values.rank() >= 1, ctx.location(),
                  "embedding_backward: the values must be float32 or float64 [..., D], got ",
                  DTypeName(values.dtype()), " ", values.shape().ToString());
  ACTGRAD_REQUIRE(rows >= 0, ctx.location(), "embedding_backward: rows must be at least 0, got ",
                  rows);
  Shape leading = indices.shape();
  leading.PushBack(values.dim(values.rank() - 1));
  ACTGRAD_REQUIRE(leading == values.shape(), ctx.location(), "embedding_backward: values ",
                  values.shape().ToString(), " must be the indices' shape ",
                  indices.shape().ToString(), " plus [D]");
  CheckIndices(ctx, indices, rows);
  return ScatterAdd(values, indices, rows, ctx.attrs().Layer().padding_index);
}

// The adjoint of a scatter that skips the padding row is a gather that reads
// zeros there: embedding at the same padding index.
void EmbeddingBackwardBackward(BackwardContext& ctx) {
  if (!ctx.needs_grad(0)) return;
  ctx.set_dx(0, Gather(ctx.saved_input(1), ctx.dy(), ctx.attrs().Layer().padding_index));
}

void EmbeddingBackwardBackwardGraph(BackwardContext& ctx) {
  if (!ctx.needs_grad(0)) return;
  ctx.set_dx(0, Apply(kEmbedding, {ctx.saved_input(1), ctx.dy()}, ctx.attrs()));
}

// ------------------------------------------------------------- check cases
Tensor Indices(std::initializer_list<int64_t> values, const Shape& shape) {
  Tensor t = internal::Empty(shape, DType::kInt64);
  std::copy(values.begin(), values.end(), static_cast<int64_t*>(t.raw_data()));
  return t;
}

Attrs Padding(int64_t padding_index, int64_t rows = 0) {
  Attrs a;
  a.MutableLayer().padding_index = padding_index;
  a.MutableLayer().rows = rows;
  return a;
}

std::vector<GradCheckCase> EmbeddingCases(Generator& gen) {
  auto r = [&](const Shape& s) { return internal::RandomDouble(s, -1, 1, gen); };
  return {
      {{Indices({1, 4, 1, 0, 2, 4}, {2, 3}), r({5, 3})},
       {},
       "indices [2,3] (repeated) into [5,3]",
       {}},
      {{Indices({2, 0, 2, 3, 1, 2, 3}, {7}), r({4, 2})},
       Padding(2),
       "indices [7] into [4,2], padding_index 2 (repeated)",
       {}},
      {{Indices({0, 3, 3, 1, 0, 2, 1, 3}, {2, 2, 2}), r({4, 3})},
       Padding(0),
       "indices [2,2,2] into [4,3], padding_index 0",
       {}},
  };
}

std::vector<GradCheckCase> EmbeddingBackwardCases(Generator& gen) {
  auto r = [&](const Shape& s) { return internal::RandomDouble(s, -1, 1, gen); };
  return {
      {{r({2, 3, 4}), Indices({1, 4, 1, 0, 2, 4}, {2, 3})},
       Padding(-1, 5),
       "[2,3,4] into 5 rows (repeated indices)",
       {}},
      {{r({6, 2}), Indices({2, 0, 2, 3, 1, 2}, {6})},
       Padding(2, 4),
       "[6,2] into 4 rows, padding_index 2",
       {}},
  };
}

}  // namespace

const OpDef kEmbedding{
    .name = "embedding",
    .formula =
        "Y[p] = W[I[p]] (zeros where I[p] = padding_index);  "
        "dW = embedding_backward(dY, I)",
    .kind = OpKind::kShape,
    .min_inputs = 2,
    .max_inputs = 2,
    .saves = kSaveInput0,
    .non_differentiable = 1u << 0,
    .forward = &EmbeddingForward,
    .backward = &EmbeddingBackward,
    .backward_graph = &EmbeddingBackwardGraph,
    .jvp = &internal::LinearJvp,
    .check_cases = &EmbeddingCases,
};

const OpDef kEmbeddingBackward{
    .name = "embedding_backward",
    .formula =
        "Y[V, D] = zeros; Y[I[p]] += X[p] unless I[p] = padding_index;  "
        "dX = embedding(I, dY)",
    .kind = OpKind::kShape,
    .min_inputs = 2,
    .max_inputs = 2,
    .saves = kSaveInput1,
    .non_differentiable = 1u << 1,
    .forward = &EmbeddingBackwardForward,
    .backward = &EmbeddingBackwardBackward,
    .backward_graph = &EmbeddingBackwardBackwardGraph,
    .jvp = &internal::LinearJvp,
    .check_cases = &EmbeddingBackwardCases,
};

}  // namespace ops

Tensor Embedding(const Tensor& indices, const Tensor& weight, int64_t padding_index,
                 std::source_location location) {
  Attrs a;
  a.MutableLayer().padding_index = padding_index;
  return Apply(ops::kEmbedding, {indices, weight}, a, location);
}

}  // namespace actgrad
