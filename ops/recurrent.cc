// Recurrent rows: lstm and gru, one layer and one direction over a whole
// sequence x [T, B, I]. The input projection of every step is one product,
// [T*B, I] x [I, G*H], before the recurrence (as cuDNN and LibTorch do);
// each step then adds one [B, H] x [H, G*H] product and applies the gates in
// one pass over the step's rows. The gate activations of every step are
// kept for backward (one [T, B, 4H] buffer), so backward runs no
// transcendental function but tanh(c_t) for the LSTM, and its weight
// gradients are again a few large products over all steps.
//
// lstm's output is [2, T, B, H]: h_t for every step, then c_t for every step,
// so that the final cell state is an output (and differentiable) and every
// h_t is contiguous for the next step's product. LstmLayer() slices it.
//
// The recorded backward (for second derivatives) unrolls the layer into
// linear, sigmoid, tanh and elementwise rows and runs the same recursion on
// them; it is meant for checks, not for training speed.

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "graph/parallel.h"
#include "ops/builtin_ops.h"
#include "ops/check_cases.h"
#include "ops/functional.h"
#include "ops/gemm.h"
#include "ops/kernels.h"
#include "ops/logistic.h"
#include "ops/sequence_ops.h"

namespace actgrad {
namespace ops {

namespace {

// Input positions of the rows.
namespace lstm_in {
constexpr int kX = 0, kH0 = 1, kC0 = 2, kWih = 3, kWhh = 4, kBih = 5, kBhh = 6;
}
namespace gru_in {
constexpr int kX = 0, kH0 = 1, kWih = 2, kWhh = 3, kBih = 4, kBhh = 5;
}

struct RecurrentPlan {
  int64_t steps = 0, batch = 0, input = 0, hidden = 0;
  int gates = 4;
  bool has_bias = false;
  bool reverse = false;

  // The time index of the s-th step processed.
  int64_t TimeOf(int64_t s) const { return reverse ? steps - 1 - s : s; }
  int64_t GateWidth() const { return gates * hidden; }
};

// Validates the inputs of lstm (with_cell) or gru and returns their sizes.
RecurrentPlan PlanRecurrent(const ForwardContext& ctx, int gates, bool with_cell) {
  internal::RequireSameFloatingDType(ctx);
  const absl::string_view name = ctx.op().name;
  const int first_weight = with_cell ? lstm_in::kWih : gru_in::kWih;
  const int n = static_cast<int>(ctx.inputs().size());
  ACTGRAD_REQUIRE(n == first_weight + 2 || n == first_weight + 4, ctx.location(), name,
                  ": takes both biases or neither, got ", n,
                  " inputs: ", internal::DescribeShapes(ctx.inputs()));
  const Tensor& x = ctx.input(0);
  const Tensor& w_ih = ctx.input(first_weight);
  const Tensor& w_hh = ctx.input(first_weight + 1);
  ACTGRAD_REQUIRE(x.rank() == 3 && x.dim(0) > 0, ctx.location(), name,
                  ": the input must be [T, B, I] with at least one step, got ",
                  x.shape().ToString());
  ACTGRAD_REQUIRE(w_hh.rank() == 2 && w_hh.dim(0) == gates * w_hh.dim(1) && w_hh.dim(1) > 0,
                  ctx.location(), name, ": weight_hh must be [", gates, "H, H], got ",
                  w_hh.shape().ToString());
  RecurrentPlan p;
  p.steps = x.dim(0);
  p.batch = x.dim(1);
  p.input = x.dim(2);
  p.hidden = w_hh.dim(1);
  p.gates = gates;
  p.has_bias = n == first_weight + 4;
  p.reverse = ctx.attrs().Layer().reverse;
  const Shape weight_ih{p.GateWidth(), p.input};
  ACTGRAD_REQUIRE(w_ih.shape() == weight_ih, ctx.location(), name, ": weight_ih must be ",
                  weight_ih.ToString(), " for the input ", x.shape().ToString(), " and weight_hh ",
                  w_hh.shape().ToString(), ", got ", w_ih.shape().ToString());
  const Shape state{p.batch, p.hidden};
  for (int i = 1; i < first_weight; ++i) {
    ACTGRAD_REQUIRE(ctx.input(i).shape() == state, ctx.location(), name, ": the initial ",
                    i == 1 ? "hidden" : "cell", " state must be ", state.ToString(), ", got ",
                    ctx.input(i).shape().ToString());
  }
  if (p.has_bias) {
    const Shape bias{p.GateWidth()};
    for (int i = first_weight + 2; i < n; ++i) {
      ACTGRAD_REQUIRE(ctx.input(i).shape() == bias, ctx.location(), name, ": ",
                      i == first_weight + 2 ? "bias_ih" : "bias_hh", " must be ", bias.ToString(),
                      ", got ", ctx.input(i).shape().ToString());
    }
  }
  return p;
}

template <typename T>
const T* Data(const Tensor& t) {
  return static_cast<const T*>(t.raw_data());
}
template <typename T>
T* MutableData(Tensor& t) {
  return static_cast<T*>(t.raw_data());
}

// Runs fn(begin, end) over [0, items), split over the threads when the
// whole is `elements` long enough to pay for waking them: the passes over
// all steps that sit between the parallel products.
template <typename Fn>
void ForLargeWork(int64_t elements, int64_t items, Fn&& fn) {
  if (elements >= (int64_t{1} << 16) && internal::ParallelThreads() > 1) {
    internal::ParallelForItems(items, fn);
  } else {
    fn(int64_t{0}, items);
  }
}

template <typename T>
using Row = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <typename T>
using ConstRow = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

// Fills `projected` [T*B, G*H] with x W_ih^T + b_ih (+ b_hh when
// `both_biases`).
template <typename T>
void ProjectInputs(const RecurrentPlan& p, const Tensor& x, const Tensor& w_ih, const Tensor* b_ih,
                   const Tensor* b_hh, T* projected) {
  const int64_t rows = p.steps * p.batch, width = p.GateWidth();
  internal::Gemm(false, true, rows, width, p.input, Data<T>(x), Data<T>(w_ih), projected, false);
  if (b_ih == nullptr) return;
  Eigen::Array<T, Eigen::Dynamic, 1> bias = ConstRow<T>(Data<T>(*b_ih), width);
  if (b_hh != nullptr) bias += ConstRow<T>(Data<T>(*b_hh), width);
  ForLargeWork(rows * width, rows, [&](int64_t first, int64_t last) {
    for (int64_t r = first; r < last; ++r) Row<T>(projected + r * width, width) += bias;
  });
}

// W_hh^T [H, G*H]: the step products read the weight untransposed, which
// oneDNN's sgemm runs about 1.3x faster at these shapes ([16, 128] x
// [128, 512] in 14.5 us against 19.3 us, one thread).
template <typename T>
Tensor TransposedHiddenWeight(const RecurrentPlan& p, const Tensor& w_hh) {
  const int64_t width = p.GateWidth(), H = p.hidden;
  Tensor transposed = internal::Empty(Shape{H, width}, w_hh.dtype());
  using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Stride = Eigen::OuterStride<>;
  // Rows of the transpose (columns of W_hh) in blocks over the threads.
  ForLargeWork(H * width, H, [&](int64_t first, int64_t last) {
    if (first == 0 && last == H) {
      Eigen::Map<Matrix>(MutableData<T>(transposed), H, width) =
          Eigen::Map<const Matrix>(Data<T>(w_hh), width, H).transpose();
      return;
    }
    Eigen::Map<Matrix>(MutableData<T>(transposed) + first * width, last - first, width) =
        Eigen::Map<const Matrix, 0, Stride>(Data<T>(w_hh) + first, width, last - first, Stride(H))
            .transpose();
  });
  return transposed;
}

// Runs fn(begin, end) over slices of the batch rows. The rows of a batch
// are independent through the whole recurrence, so each thread runs every
// step for its own rows: its step products are [rows, H] x [H, G*H], and
// the threads never wait for each other between steps (only the products
// over all steps, before and after the recurrence, are shared).
template <typename Fn>
void ForBatchSlices(const RecurrentPlan& p, Fn&& fn) {
  const int threads = internal::ParallelThreads();
  // A thread's share of one step must outweigh starting it (a few us).
  const bool split =
      threads > 1 && p.batch >= 2 * 8 && p.batch * p.GateWidth() * p.hidden >= (int64_t{1} << 18);
  if (split) {
    internal::ParallelForItems(p.batch, fn);
  } else {
    fn(int64_t{0}, p.batch);
  }
}

// ---------------------------------------------------------------------- lstm

// Forward of the whole sequence for batch rows [first, last). `gates`
// [T, B, 4H] holds the input projections on entry and the activated gates
// i, f, g, o on return; `y` is [2, T, B, H]. `w_hh_t` is W_hh^T.
template <typename T>
void LstmRecurrence(const RecurrentPlan& p, int64_t first, int64_t last, const T* h0, const T* c0,
                    const T* w_hh_t, T* gates, T* y) {
  const int64_t H = p.hidden, B = p.batch, width = p.GateWidth(), rows = last - first;
  T* hs = y;
  T* cs = y + p.steps * B * H;
  const T* h_prev = h0 + first * H;
  const T* c_prev = c0 + first * H;
  for (int64_t s = 0; s < p.steps; ++s) {
    const int64_t t = p.TimeOf(s);
    T* z = gates + (t * B + first) * width;
    internal::Gemm(false, false, rows, width, H, h_prev, w_hh_t, z, true);
    T* h = hs + (t * B + first) * H;
    T* c = cs + (t * B + first) * H;
    for (int64_t b = 0; b < rows; ++b) {
      T* zb = z + b * width;
      Row<T> i(zb, H), f(zb + H, H), g(zb + 2 * H, H), o(zb + 3 * H, H);
      internal::LogisticInPlace(zb, 2 * H);  // i and f
      internal::TanhInPlace(zb + 2 * H, H);  // g
      internal::LogisticInPlace(zb + 3 * H, H);
      Row<T> cb(c + b * H, H);
      cb = f * ConstRow<T>(c_prev + b * H, H) + i * g;
      Row<T> hb(h + b * H, H);
      hb = cb;
      internal::TanhInPlace(hb.data(), H);
      hb *= o;
    }
    h_prev = h;
    c_prev = c;
  }
}

Tensor LstmForward(ForwardContext& ctx) {
  using namespace lstm_in;
  const RecurrentPlan p = PlanRecurrent(ctx, 4, /*with_cell=*/true);
  const bool bias = p.has_bias;
  Tensor gates = internal::Empty(Shape{p.steps, p.batch, p.GateWidth()}, ctx.input(kX).dtype());
  Tensor y = internal::Empty(Shape{2, p.steps, p.batch, p.hidden}, ctx.input(kX).dtype());
  DispatchFloating(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    ProjectInputs<T>(p, ctx.input(kX), ctx.input(kWih), bias ? &ctx.input(kBih) : nullptr,
                     bias ? &ctx.input(kBhh) : nullptr, MutableData<T>(gates));
    const Tensor w_hh_t = TransposedHiddenWeight<T>(p, ctx.input(kWhh));
    ForBatchSlices(p, [&](int64_t first, int64_t last) {
      LstmRecurrence<T>(p, first, last, Data<T>(ctx.input(kH0)), Data<T>(ctx.input(kC0)),
                        Data<T>(w_hh_t), MutableData<T>(gates), MutableData<T>(y));
    });
  });
  ctx.SaveExtra(std::move(gates));
  return y;
}

// The plan of a recorded node, from the shapes its backward sees.
RecurrentPlan PlanFromSaved(const BackwardContext& ctx, int gates, int whh_index) {
  RecurrentPlan p;
  // Every input is saved; input_shape() holds only those that need a gradient.
  const Shape& x = ctx.saved_input(0).shape();
  p.steps = x[0];
  p.batch = x[1];
  p.input = x[2];
  p.hidden = ctx.saved_input(whh_index).shape()[1];
  p.gates = gates;
  p.has_bias = ctx.num_inputs() == whh_index + 3;
  p.reverse = ctx.attrs().Layer().reverse;
  return p;
}

// The weight, input and bias gradients shared by both rows, from the
// gradients `d_input_proj` [T*B, G*H] of the input projections and
// `d_hidden_proj` of the hidden ones (the same buffer for the LSTM); `h0`
// is the initial state and `hs` [T, B, H] the states the steps produced.
template <typename T>
void ProjectionGradients(BackwardContext& ctx, const RecurrentPlan& p, int wih_index,
                         const T* d_input_proj, const T* d_hidden_proj, const T* h0, const T* hs) {
  const int64_t H = p.hidden, B = p.batch, width = p.GateWidth(), rows = p.steps * B;
  const Tensor& x = ctx.saved_input(0);
  const int whh_index = wih_index + 1;
  if (ctx.needs_grad(0)) {
    Tensor dx = internal::Empty(x.shape(), x.dtype());
    internal::Gemm(false, false, rows, p.input, width, d_input_proj,
                   Data<T>(ctx.saved_input(wih_index)), MutableData<T>(dx), false);
    ctx.set_dx(0, std::move(dx));
  }
  if (ctx.needs_grad(wih_index)) {
    Tensor dw = internal::Empty(Shape{width, p.input}, x.dtype());
    internal::Gemm(true, false, width, p.input, rows, d_input_proj, Data<T>(x), MutableData<T>(dw),
                   false);
    ctx.set_dx(wih_index, std::move(dw));
  }
  if (ctx.needs_grad(whh_index)) {
    // Steps in time order read h_{t-1}: the outputs shifted by one, and h0
    // for the first step processed.
    Tensor dw = internal::Empty(Shape{width, H}, x.dtype());
    T* pdw = MutableData<T>(dw);
    const int64_t first = p.reverse ? p.steps - 1 : 0;
    internal::Gemm(true, false, width, H, B, d_hidden_proj + first * B * width, h0, pdw, false);
    if (p.steps > 1) {
      const int64_t later = p.reverse ? 0 : 1;  // steps that read an output
      const int64_t read = p.reverse ? 1 : 0;   // the outputs they read
      internal::Gemm(true, false, width, H, (p.steps - 1) * B, d_hidden_proj + later * B * width,
                     hs + read * B * H, pdw, true);
    }
    ctx.set_dx(whh_index, std::move(dw));
  }
  for (int k = 0; k < 2 && p.has_bias; ++k) {
    const int index = wih_index + 2 + k;
    if (!ctx.needs_grad(index)) continue;
    if (k == 1 && d_hidden_proj == d_input_proj && ctx.needs_grad(index - 1)) {
      ctx.set_dx(index, ctx.dx(index - 1));  // the LSTM's two biases get the same gradient
      continue;
    }
    const T* d = k == 0 ? d_input_proj : d_hidden_proj;
    Tensor db = internal::Empty(Shape{width}, x.dtype());
    T* pdb = MutableData<T>(db);
    // Column blocks of 64 over the threads; rows summed in order.
    ForLargeWork(rows * width, (width + 63) / 64, [&](int64_t first, int64_t last) {
      const int64_t begin = first * 64, n = std::min(width, last * 64) - begin;
      Row<T> sum(pdb + begin, n);
      sum = ConstRow<T>(d + begin, n);
      for (int64_t r = 1; r < rows; ++r) sum += ConstRow<T>(d + r * width + begin, n);
    });
    ctx.set_dx(index, std::move(db));
  }
}

template <typename T>
void LstmBackwardTyped(BackwardContext& ctx, const RecurrentPlan& p) {
  using namespace lstm_in;
  const int64_t H = p.hidden, B = p.batch, width = p.GateWidth(), TBH = p.steps * B * H;
  const T* gates = Data<T>(ctx.extra(0));
  const Tensor& y = ctx.saved_output();
  const T* hs = Data<T>(y);
  const T* cs = hs + TBH;
  const T* dhs = Data<T>(ctx.dy());
  const T* dcs = dhs + TBH;
  const T* c0 = Data<T>(ctx.saved_input(kC0));
  const T* w_hh = Data<T>(ctx.saved_input(kWhh));
  Tensor dz_tensor = internal::Empty(Shape{p.steps * B, width}, y.dtype());
  T* dz = MutableData<T>(dz_tensor);
  // The gradients flowing into the state a step read, from the steps after.
  Tensor dh_tensor = internal::ZerosOf(Shape{B, H}, y.dtype());
  Tensor dc_tensor = internal::ZerosOf(Shape{B, H}, y.dtype());
  T* dh_next = MutableData<T>(dh_tensor);
  T* dc_next = MutableData<T>(dc_tensor);
  ForBatchSlices(p, [&](int64_t first, int64_t last) {
    const int64_t rows = last - first;
    for (int64_t s = p.steps - 1; s >= 0; --s) {
      const int64_t t = p.TimeOf(s);
      const T* c_prev = s == 0 ? c0 : cs + p.TimeOf(s - 1) * B * H;
      T* dz_t = dz + (t * B + first) * width;
      for (int64_t b = first; b < last; ++b) {
        const T* gb = gates + (t * B + b) * width;
        ConstRow<T> i(gb, H), f(gb + H, H), g(gb + 2 * H, H), o(gb + 3 * H, H);
        const int64_t at = t * B * H + b * H;
        Eigen::Array<T, Eigen::Dynamic, 1> tc = ConstRow<T>(cs + at, H);
        internal::TanhInPlace(tc.data(), H);
        const auto dh = (ConstRow<T>(dhs + at, H) + ConstRow<T>(dh_next + b * H, H)).eval();
        const auto dc =
            (ConstRow<T>(dcs + at, H) + Row<T>(dc_next + b * H, H) + dh * o * (T(1) - tc * tc))
                .eval();
        T* dzb = dz + (t * B + b) * width;
        Row<T>(dzb, H) = dc * g * i * (T(1) - i);
        Row<T>(dzb + H, H) = dc * ConstRow<T>(c_prev + b * H, H) * f * (T(1) - f);
        Row<T>(dzb + 2 * H, H) = dc * i * (T(1) - g * g);
        Row<T>(dzb + 3 * H, H) = dh * tc * o * (T(1) - o);
        Row<T>(dc_next + b * H, H) = dc * f;
      }
      // dh_{t-1} = dz_t W_hh, for this slice's rows.
      internal::Gemm(false, false, rows, H, width, dz_t, w_hh, dh_next + first * H, false);
    }
  });
  if (ctx.needs_grad(kH0)) ctx.set_dx(kH0, std::move(dh_tensor));
  if (ctx.needs_grad(kC0)) ctx.set_dx(kC0, std::move(dc_tensor));
  ProjectionGradients<T>(ctx, p, kWih, dz, dz, Data<T>(ctx.saved_input(kH0)), hs);
}

void LstmBackward(BackwardContext& ctx) {
  const RecurrentPlan p = PlanFromSaved(ctx, 4, lstm_in::kWhh);
  DispatchFloating(ctx.dy().dtype(), [&](auto tag) { LstmBackwardTyped<decltype(tag)>(ctx, p); });
}

// ----------------------------------------------------------------------- gru

// Batch rows [first, last) of the whole sequence. `projected` [T, B, 3H]
// holds x W_ih^T + b_ih; the gates buffer [T, B, 4H] receives r, z, n and
// W_hn h + b_hn per step, `hidden_proj` [B, 3H] is scratch and `w_hh_t` is W_hh^T; `y` is
// [T, B, H].
template <typename T>
void GruRecurrence(const RecurrentPlan& p, int64_t first, int64_t last, const T* h0,
                   const T* w_hh_t, const T* b_hh, const T* projected, T* hidden_proj, T* gates,
                   T* y) {
  const int64_t H = p.hidden, B = p.batch, width = p.GateWidth();
  const T* h_prev = h0 + first * H;
  T* hp_rows = hidden_proj + first * width;
  for (int64_t s = 0; s < p.steps; ++s) {
    const int64_t t = p.TimeOf(s);
    internal::Gemm(false, false, last - first, width, H, h_prev, w_hh_t, hp_rows, false);
    T* h = y + (t * B + first) * H;
    for (int64_t b = 0; b < last - first; ++b) {
      const T* xb = projected + (t * B + first + b) * width;
      T* hp = hp_rows + b * width;
      if (b_hh != nullptr) Row<T>(hp, width) += ConstRow<T>(b_hh, width);
      T* gb = gates + (t * B + first + b) * 4 * H;
      Row<T> r(gb, H), z(gb + H, H), n(gb + 2 * H, H), hn(gb + 3 * H, H);
      r = ConstRow<T>(xb, H) + ConstRow<T>(hp, H);
      z = ConstRow<T>(xb + H, H) + ConstRow<T>(hp + H, H);
      internal::LogisticInPlace(gb, 2 * H);  // r and z
      hn = ConstRow<T>(hp + 2 * H, H);
      n = ConstRow<T>(xb + 2 * H, H) + r * hn;
      internal::TanhInPlace(gb + 2 * H, H);
      Row<T>(h + b * H, H) = n + z * (ConstRow<T>(h_prev + b * H, H) - n);
    }
    h_prev = h;
  }
}

Tensor GruForward(ForwardContext& ctx) {
  using namespace gru_in;
  const RecurrentPlan p = PlanRecurrent(ctx, 3, /*with_cell=*/false);
  const DType dtype = ctx.input(kX).dtype();
  Tensor projected = internal::Empty(Shape{p.steps, p.batch, p.GateWidth()}, dtype);
  Tensor gates = internal::Empty(Shape{p.steps, p.batch, 4 * p.hidden}, dtype);
  Tensor y = internal::Empty(Shape{p.steps, p.batch, p.hidden}, dtype);
  DispatchFloating(dtype, [&](auto tag) {
    using T = decltype(tag);
    ProjectInputs<T>(p, ctx.input(kX), ctx.input(kWih), p.has_bias ? &ctx.input(kBih) : nullptr,
                     nullptr, MutableData<T>(projected));
    Tensor hidden_proj = internal::Empty(Shape{p.batch, p.GateWidth()}, dtype);
    const Tensor w_hh_t = TransposedHiddenWeight<T>(p, ctx.input(kWhh));
    ForBatchSlices(p, [&](int64_t first, int64_t last) {
      GruRecurrence<T>(p, first, last, Data<T>(ctx.input(kH0)), Data<T>(w_hh_t),
                       p.has_bias ? Data<T>(ctx.input(kBhh)) : nullptr, Data<T>(projected),
                       MutableData<T>(hidden_proj), MutableData<T>(gates), MutableData<T>(y));
    });
  });
  ctx.SaveExtra(std::move(gates));
  return y;
}

template <typename T>
void GruBackwardTyped(BackwardContext& ctx, const RecurrentPlan& p) {
  using namespace gru_in;
  const int64_t H = p.hidden, B = p.batch, width = p.GateWidth();
  const T* gates = Data<T>(ctx.extra(0));
  const T* hs = Data<T>(ctx.saved_output());
  const T* dys = Data<T>(ctx.dy());
  const T* h0 = Data<T>(ctx.saved_input(kH0));
  const T* w_hh = Data<T>(ctx.saved_input(kWhh));
  const DType dtype = ctx.dy().dtype();
  Tensor d_input_tensor = internal::Empty(Shape{p.steps * B, width}, dtype);
  Tensor d_hidden_tensor = internal::Empty(Shape{p.steps * B, width}, dtype);
  T* d_input = MutableData<T>(d_input_tensor);
  T* d_hidden = MutableData<T>(d_hidden_tensor);
  Tensor dh_tensor = internal::ZerosOf(Shape{B, H}, dtype);
  T* dh_next = MutableData<T>(dh_tensor);
  ForBatchSlices(p, [&](int64_t first, int64_t last) {
    for (int64_t s = p.steps - 1; s >= 0; --s) {
      const int64_t t = p.TimeOf(s);
      const T* h_prev = s == 0 ? h0 : hs + p.TimeOf(s - 1) * B * H;
      for (int64_t b = first; b < last; ++b) {
        const T* gb = gates + (t * B + b) * 4 * H;
        ConstRow<T> r(gb, H), z(gb + H, H), n(gb + 2 * H, H), hn(gb + 3 * H, H);
        const auto dh =
            (ConstRow<T>(dys + (t * B + b) * H, H) + ConstRow<T>(dh_next + b * H, H)).eval();
        const auto dn_pre = (dh * (T(1) - z) * (T(1) - n * n)).eval();
        const auto dz_pre = (dh * (ConstRow<T>(h_prev + b * H, H) - n) * z * (T(1) - z)).eval();
        const auto dr_pre = (dn_pre * hn * r * (T(1) - r)).eval();
        T* dib = d_input + (t * B + b) * width;
        T* dhb = d_hidden + (t * B + b) * width;
        Row<T>(dib, H) = dr_pre;
        Row<T>(dib + H, H) = dz_pre;
        Row<T>(dib + 2 * H, H) = dn_pre;
        Row<T>(dhb, H) = dr_pre;
        Row<T>(dhb + H, H) = dz_pre;
        Row<T>(dhb + 2 * H, H) = dn_pre * r;
        // The direct path h' = ... + z h; the product's share is added below.
        Row<T>(dh_next + b * H, H) = dh * z;
      }
      internal::Gemm(false, false, last - first, H, width, d_hidden + (t * B + first) * width, w_hh,
                     dh_next + first * H, true);
    }
  });
  if (ctx.needs_grad(kH0)) ctx.set_dx(kH0, std::move(dh_tensor));
  ProjectionGradients<T>(ctx, p, kWih, d_input, d_hidden, h0, hs);
}

void GruBackward(BackwardContext& ctx) {
  const RecurrentPlan p = PlanFromSaved(ctx, 3, gru_in::kWhh);
  DispatchFloating(ctx.dy().dtype(), [&](auto tag) { GruBackwardTyped<decltype(tag)>(ctx, p); });
}

// ------------------------------------------------------- recorded backward

// The layer unrolled into rows, in processing order, with what the
// recursion backwards needs from each step.
struct UnrolledStep {
  int64_t t = 0;
  Tensor x, h_prev, c_prev;  // c_prev: LSTM only
  Tensor i, f, g, o, tc;     // LSTM: activated gates and tanh(c_t)
  Tensor r, z, n, hn;        // GRU
};

Tensor StepOf(const Tensor& sequence, int64_t t) {
  const Shape& s = sequence.shape();
  return Reshape(Slice(sequence, 0, t, t + 1), {s[1], s[2]});
}

Tensor Gate(const Tensor& z, int64_t k, int64_t H) { return Slice(z, 1, k * H, (k + 1) * H); }

// a + b, where an undefined side counts as zero.
Tensor AddIf(const Tensor& a, const Tensor& b) {
  if (!a.defined()) return b;
  if (!b.defined()) return a;
  return Add(a, b);
}

// Stacks per-time tensors [B, F] into [T, B, F].
Tensor StackSteps(const std::vector<Tensor>& by_time) {
  std::vector<Tensor> parts;
  parts.reserve(by_time.size());
  for (const Tensor& t : by_time) parts.push_back(Reshape(t, {1, t.dim(0), t.dim(1)}));
  return Concatenate(parts, 0);
}

void LstmBackwardGraph(BackwardContext& ctx) {
  using namespace lstm_in;
  const RecurrentPlan p = PlanFromSaved(ctx, 4, kWhh);
  const int64_t H = p.hidden;
  const Tensor& x = ctx.saved_input(kX);
  const Tensor& w_ih = ctx.saved_input(kWih);
  const Tensor& w_hh = ctx.saved_input(kWhh);
  const Tensor b_ih = p.has_bias ? ctx.saved_input(kBih) : Tensor();
  const Tensor b_hh = p.has_bias ? ctx.saved_input(kBhh) : Tensor();
  std::vector<UnrolledStep> steps(p.steps);
  Tensor h = ctx.saved_input(kH0), c = ctx.saved_input(kC0);
  for (int64_t s = 0; s < p.steps; ++s) {
    UnrolledStep& u = steps[s];
    u.t = p.TimeOf(s);
    u.x = StepOf(x, u.t);
    u.h_prev = h;
    u.c_prev = c;
    const Tensor z = Add(Linear(u.x, w_ih, b_ih), Linear(h, w_hh, b_hh));
    u.i = Sigmoid(Gate(z, 0, H));
    u.f = Sigmoid(Gate(z, 1, H));
    u.g = Tanh(Gate(z, 2, H));
    u.o = Sigmoid(Gate(z, 3, H));
    c = Add(Mul(u.f, c), Mul(u.i, u.g));
    u.tc = Tanh(c);
    h = Mul(u.o, u.tc);
  }
  const Tensor dy_h = Reshape(Slice(ctx.dy(), 0, 0, 1), {p.steps, p.batch, H});
  const Tensor dy_c = Reshape(Slice(ctx.dy(), 0, 1, 2), {p.steps, p.batch, H});
  Tensor dh_next, dc_next, dw_ih, dw_hh, db;
  std::vector<Tensor> dx_by_time(p.steps);
  for (int64_t s = p.steps - 1; s >= 0; --s) {
    const UnrolledStep& u = steps[s];
    const Tensor dh = AddIf(StepOf(dy_h, u.t), dh_next);
    const Tensor dc = AddIf(StepOf(dy_c, u.t), dc_next) + dh * u.o * (1.0 - u.tc * u.tc);
    const Tensor dz = Concatenate({dc * u.g * u.i * (1.0 - u.i), dc * u.c_prev * u.f * (1.0 - u.f),
                                   dc * u.i * (1.0 - u.g * u.g), dh * u.tc * u.o * (1.0 - u.o)},
                                  1);
    dc_next = dc * u.f;
    dh_next = Matmul(dz, w_hh);
    dx_by_time[u.t] = Matmul(dz, w_ih);
    dw_ih = AddIf(dw_ih, Matmul(Transpose(dz), u.x));
    dw_hh = AddIf(dw_hh, Matmul(Transpose(dz), u.h_prev));
    db = AddIf(db, Sum(dz, 0));
  }
  if (ctx.needs_grad(kX)) ctx.set_dx(kX, StackSteps(dx_by_time));
  if (ctx.needs_grad(kH0)) ctx.set_dx(kH0, dh_next);
  if (ctx.needs_grad(kC0)) ctx.set_dx(kC0, dc_next);
  if (ctx.needs_grad(kWih)) ctx.set_dx(kWih, dw_ih);
  if (ctx.needs_grad(kWhh)) ctx.set_dx(kWhh, dw_hh);
  for (int i = kBih; i <= kBhh && p.has_bias; ++i) {
    if (ctx.needs_grad(i)) ctx.set_dx(i, db);
  }
}

void GruBackwardGraph(BackwardContext& ctx) {
  using namespace gru_in;
  const RecurrentPlan p = PlanFromSaved(ctx, 3, kWhh);
  const int64_t H = p.hidden;
  const Tensor& x = ctx.saved_input(kX);
  const Tensor& w_ih = ctx.saved_input(kWih);
  const Tensor& w_hh = ctx.saved_input(kWhh);
  const Tensor b_ih = p.has_bias ? ctx.saved_input(kBih) : Tensor();
  const Tensor b_hh = p.has_bias ? ctx.saved_input(kBhh) : Tensor();
  std::vector<UnrolledStep> steps(p.steps);
  Tensor h = ctx.saved_input(kH0);
  for (int64_t s = 0; s < p.steps; ++s) {
    UnrolledStep& u = steps[s];
    u.t = p.TimeOf(s);
    u.x = StepOf(x, u.t);
    u.h_prev = h;
    const Tensor xp = Linear(u.x, w_ih, b_ih);
    const Tensor hp = Linear(h, w_hh, b_hh);
    u.r = Sigmoid(Add(Gate(xp, 0, H), Gate(hp, 0, H)));
    u.z = Sigmoid(Add(Gate(xp, 1, H), Gate(hp, 1, H)));
    u.hn = Gate(hp, 2, H);
    u.n = Tanh(Add(Gate(xp, 2, H), Mul(u.r, u.hn)));
    h = Add(u.n, Mul(u.z, Sub(h, u.n)));
  }
  Tensor dh_next, dw_ih, dw_hh, db_ih, db_hh;
  std::vector<Tensor> dx_by_time(p.steps);
  for (int64_t s = p.steps - 1; s >= 0; --s) {
    const UnrolledStep& u = steps[s];
    const Tensor dh = AddIf(StepOf(ctx.dy(), u.t), dh_next);
    const Tensor dn_pre = dh * (1.0 - u.z) * (1.0 - u.n * u.n);
    const Tensor dz_pre = dh * (u.h_prev - u.n) * u.z * (1.0 - u.z);
    const Tensor dr_pre = dn_pre * u.hn * u.r * (1.0 - u.r);
    const Tensor d_input = Concatenate({dr_pre, dz_pre, dn_pre}, 1);
    const Tensor d_hidden = Concatenate({dr_pre, dz_pre, dn_pre * u.r}, 1);
    dh_next = dh * u.z + Matmul(d_hidden, w_hh);
    dx_by_time[u.t] = Matmul(d_input, w_ih);
    dw_ih = AddIf(dw_ih, Matmul(Transpose(d_input), u.x));
    dw_hh = AddIf(dw_hh, Matmul(Transpose(d_hidden), u.h_prev));
    db_ih = AddIf(db_ih, Sum(d_input, 0));
    db_hh = AddIf(db_hh, Sum(d_hidden, 0));
  }
  if (ctx.needs_grad(kX)) ctx.set_dx(kX, StackSteps(dx_by_time));
  if (ctx.needs_grad(kH0)) ctx.set_dx(kH0, dh_next);
  if (ctx.needs_grad(kWih)) ctx.set_dx(kWih, dw_ih);
  if (ctx.needs_grad(kWhh)) ctx.set_dx(kWhh, dw_hh);
  if (p.has_bias && ctx.needs_grad(kBih)) ctx.set_dx(kBih, db_ih);
  if (p.has_bias && ctx.needs_grad(kBhh)) ctx.set_dx(kBhh, db_hh);
}

// ------------------------------------------------------------------ the rows

// 2 T B (I + H) G H: the input and hidden products of every step.
double RecurrentFlops(std::span<const Tensor> inputs, const Tensor& output, int whh_index) {
  const Shape& x = inputs[0].shape();
  const Shape& w_hh = inputs[whh_index].shape();
  return 2.0 * double(x[0]) * double(x[1]) * double(x[2] + w_hh[1]) * double(w_hh[0]);
}

std::vector<GradCheckCase> RecurrentCases(Generator& gen, int gates, bool with_cell) {
  auto random = [&](const Shape& s) { return internal::RandomDouble(s, -0.8, 0.8, gen); };
  auto make = [&](int64_t T, int64_t B, int64_t I, int64_t H, bool bias, bool reverse,
                  std::string description) {
    GradCheckCase c;
    c.inputs = {random({T, B, I}), random({B, H})};
    if (with_cell) c.inputs.push_back(random({B, H}));
    c.inputs.push_back(random({gates * H, I}));
    c.inputs.push_back(random({gates * H, H}));
    if (bias) {
      c.inputs.push_back(random({gates * H}));
      c.inputs.push_back(random({gates * H}));
    }
    c.attrs.MutableLayer().reverse = reverse;
    c.description = std::move(description);
    return c;
  };
  return {
      make(3, 2, 3, 2, true, false, "T=3 B=2 I=3 H=2"),
      make(4, 1, 2, 3, true, true, "T=4 B=1 I=2 H=3 reverse"),
      make(2, 3, 2, 2, false, false, "T=2 B=3 I=2 H=2 no bias"),
  };
}

std::vector<GradCheckCase> LstmCases(Generator& gen) { return RecurrentCases(gen, 4, true); }
std::vector<GradCheckCase> GruCases(Generator& gen) { return RecurrentCases(gen, 3, false); }

double LstmFlops(std::span<const Tensor> inputs, const Tensor& output) {
  return RecurrentFlops(inputs, output, lstm_in::kWhh);
}
double GruFlops(std::span<const Tensor> inputs, const Tensor& output) {
  return RecurrentFlops(inputs, output, gru_in::kWhh);
}

}  // namespace

const OpDef kLstm{
    .name = "lstm",
    .formula =
        "z = W_ih x_t + b_ih + W_hh h + b_hh = [i f g o];  c = s(f) c + s(i) tanh(g);  "
        "h = s(o) tanh(c);  Y = [h_1..h_T; c_1..c_T]",
    .kind = OpKind::kLayer,
    .min_inputs = 5,
    .max_inputs = 7,
    .saves = kSaveAllInputs | kSaveOutput,
    .forward = &LstmForward,
    .backward = &LstmBackward,
    .backward_graph = &LstmBackwardGraph,
    .check_cases = &LstmCases,
    .forward_flops = &LstmFlops,
};

const OpDef kGru{
    .name = "gru",
    .formula =
        "r = s(W_ir x + b_ir + W_hr h + b_hr);  z = s(...);  "
        "n = tanh(W_in x + b_in + r (W_hn h + b_hn));  h = (1 - z) n + z h",
    .kind = OpKind::kLayer,
    .min_inputs = 4,
    .max_inputs = 6,
    .saves = kSaveAllInputs | kSaveOutput,
    .forward = &GruForward,
    .backward = &GruBackward,
    .backward_graph = &GruBackwardGraph,
    .check_cases = &GruCases,
    .forward_flops = &GruFlops,
};

}  // namespace ops

namespace {

Attrs Direction(bool reverse) {
  Attrs attrs;
  if (reverse) attrs.MutableLayer().reverse = true;
  return attrs;
}

std::vector<Tensor> RecurrentInputs(std::initializer_list<Tensor> required, const Tensor& b_ih,
                                    const Tensor& b_hh, const std::source_location& location) {
  std::vector<Tensor> inputs(required);
  ACTGRAD_REQUIRE(b_ih.defined() == b_hh.defined(), location,
                  "recurrent layer: give both biases or neither");
  if (b_ih.defined()) {
    inputs.push_back(b_ih);
    inputs.push_back(b_hh);
  }
  return inputs;
}

}  // namespace

LstmSequence LstmLayer(const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& w_ih,
                       const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh, bool reverse,
                       std::source_location location) {
  const std::vector<Tensor> inputs = RecurrentInputs({x, h0, c0, w_ih, w_hh}, b_ih, b_hh, location);
  const Tensor y = Apply(ops::kLstm, inputs, Direction(reverse), location);
  const int64_t T = y.dim(1), B = y.dim(2), H = y.dim(3);
  const int64_t last = reverse ? 0 : T - 1;
  LstmSequence result;
  result.output = Reshape(Slice(y, 0, 0, 1, location), {T, B, H}, location);
  const Tensor final_states = Slice(y, 1, last, last + 1, location);  // [2, 1, B, H]
  result.h_n = Reshape(Slice(final_states, 0, 0, 1, location), {B, H}, location);
  result.c_n = Reshape(Slice(final_states, 0, 1, 2, location), {B, H}, location);
  return result;
}

Tensor GruLayer(const Tensor& x, const Tensor& h0, const Tensor& w_ih, const Tensor& w_hh,
                const Tensor& b_ih, const Tensor& b_hh, bool reverse,
                std::source_location location) {
  const std::vector<Tensor> inputs = RecurrentInputs({x, h0, w_ih, w_hh}, b_ih, b_hh, location);
  return Apply(ops::kGru, inputs, Direction(reverse), location);
}

}  // namespace actgrad
