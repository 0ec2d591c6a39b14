// A plugin with two tensor ops of its own, each defined in one place by a
// shape rule, a forward, a backward written with actgrad ops (so that it
// differentiates twice) and a JVP:
//
//   rms_norm    y = x / sqrt(mean(x^2) + eps) over the last axis     [..., F] -> [..., F]
//   l2_pool1d   y = sqrt(sum of x^2 + eps) over windows of `kernel`  [..., F] -> [..., F/kernel]
//               along the last axis
//
//   actgrad gradcheck --plugin build/release/examples/libexample_tensor_ops.so --op rms_norm
//   actgrad train --plugin build/release/examples/libexample_tensor_ops.so \
//       --layers linear:64,rms_norm,relu,l2_pool1d,linear:32,relu

#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "ops/functional.h"
#include "ops/plugin.h"

namespace {

using actgrad::Attrs;
using actgrad::BackwardContext;
using actgrad::ForwardContext;
using actgrad::JvpContext;
using actgrad::Shape;
using actgrad::Tensor;

// ------------------------------------------------------------------ rms_norm

// One entry normalizes to +-1 whatever it is: a degenerate use, refused.
absl::StatusOr<Shape> LastAxisKept(std::span<const Shape> inputs, const Attrs&) {
  if (inputs[0].rank() < 1 || inputs[0][inputs[0].rank() - 1] < 2) {
    return absl::InvalidArgumentError("needs a last axis of at least two entries");
  }
  return inputs[0];
}

// 1 / sqrt(mean(x^2) + eps) over the last axis, kept for broadcasting.
Tensor InverseRms(const Tensor& x, const Attrs& attrs, const actgrad::OpDef& op) {
  const double eps = actgrad::WithDefaults(op, attrs).params[0];
  return 1.0 / actgrad::Sqrt(actgrad::Mean(actgrad::Square(x), -1, /*keepdim=*/true) + eps);
}

Tensor RmsNormForward(ForwardContext& ctx) {
  return ctx.input(0) * InverseRms(ctx.input(0), ctx.attrs(), ctx.op());
}

// The Jacobian r (I - y y^T / F) is symmetric: backward and JVP share it.
Tensor RmsNormJacobianTimes(const Tensor& x, const Tensor& v, const Attrs& attrs,
                            const actgrad::OpDef& op) {
  const Tensor r = InverseRms(x, attrs, op);
  const Tensor y = x * r;
  return r * (v - y * actgrad::Mean(v * y, -1, /*keepdim=*/true));
}

void RmsNormBackward(BackwardContext& ctx) {
  ctx.set_dx(0, RmsNormJacobianTimes(ctx.saved_input(0), ctx.dy(), ctx.attrs(), ctx.op()));
}

Tensor RmsNormJvp(JvpContext& ctx) {
  return RmsNormJacobianTimes(ctx.input(0), ctx.tangent(0), ctx.attrs(), ctx.op());
}

// ----------------------------------------------------------------- l2_pool1d

absl::StatusOr<int64_t> Kernel(const Attrs& attrs) {
  const double k = attrs.params[0];
  if (!(k >= 1 && k <= 1024 && k == std::floor(k))) {
    return absl::InvalidArgumentError(absl::StrCat("kernel = ", k, " is not a whole number >= 1"));
  }
  return static_cast<int64_t>(k);
}

absl::StatusOr<Shape> Pooled(std::span<const Shape> inputs, const Attrs& attrs) {
  absl::StatusOr<int64_t> k = Kernel(attrs);
  if (!k.ok()) return k.status();
  Shape out = inputs[0];
  const int last = out.rank() - 1;
  if (last < 0 || out[last] == 0 || out[last] % *k != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("the last axis must hold a positive multiple of kernel = ", *k, " entries"));
  }
  out[last] /= *k;
  return out;
}

// x as [..., F / kernel, kernel]: one window per row of the last two axes.
Tensor Windows(const Tensor& x, const Attrs& attrs, const actgrad::OpDef& op) {
  const int64_t k = *Kernel(actgrad::WithDefaults(op, attrs));
  std::vector<int64_t> dims(x.shape().dims().begin(), x.shape().dims().end());
  dims.back() /= k;
  dims.push_back(k);
  return actgrad::Reshape(x, dims);
}

// eps keeps a window of zeros (after a relu) differentiable.
Tensor L2Pool(const Tensor& windows, const Attrs& attrs, const actgrad::OpDef& op) {
  const double eps = actgrad::WithDefaults(op, attrs).params[1];
  return actgrad::Sqrt(actgrad::Sum(actgrad::Square(windows), -1) + eps);
}

Tensor L2PoolForward(ForwardContext& ctx) {
  return L2Pool(Windows(ctx.input(0), ctx.attrs(), ctx.op()), ctx.attrs(), ctx.op());
}

// dx = dy x / y within each window.
void L2PoolBackward(BackwardContext& ctx) {
  const Tensor& x = ctx.saved_input(0);
  const Tensor w = Windows(x, ctx.attrs(), ctx.op());
  std::vector<int64_t> column(ctx.dy().shape().dims().begin(), ctx.dy().shape().dims().end());
  column.push_back(1);
  const Tensor scale = actgrad::Reshape(ctx.dy() / L2Pool(w, ctx.attrs(), ctx.op()), column);
  ctx.set_dx(0, actgrad::Reshape(scale * w, {x.shape().dims().begin(), x.shape().dims().end()}));
}

// dy = sum(x dx) / y within each window.
Tensor L2PoolJvp(JvpContext& ctx) {
  const Tensor w = Windows(ctx.input(0), ctx.attrs(), ctx.op());
  const Tensor dw = Windows(ctx.tangent(0), ctx.attrs(), ctx.op());
  return actgrad::Sum(w * dw, -1) / ctx.output();
}

void Register(actgrad::PluginRegistrar& registrar) {
  registrar.AddTensorOp({
      .name = "rms_norm",
      .formula = "y = x / sqrt(mean(x^2) + eps) over the last axis",
      .shape = &LastAxisKept,
      .forward = &RmsNormForward,
      .backward = &RmsNormBackward,
      .jvp = &RmsNormJvp,
      .params = {{.name = "eps",
                  .default_value = 1e-5,
                  .meaning = "added to the mean square",
                  .low = 1e-6,
                  .high = 1.0}},
      .example_shapes = {{Shape{4, 6}}, {Shape{2, 3, 5}}},
  });
  registrar.AddTensorOp({
      .name = "l2_pool1d",
      .formula = "y = sqrt(sum of x^2 + eps) over windows of `kernel` along the last axis",
      .shape = &Pooled,
      .forward = &L2PoolForward,
      .backward = &L2PoolBackward,
      .jvp = &L2PoolJvp,
      .params = {{.name = "kernel", .default_value = 2, .meaning = "window length and stride"},
                 {.name = "eps", .default_value = 1e-6, .meaning = "added to each sum"}},
      .example_shapes = {{Shape{3, 8}}, {Shape{2, 2, 6}}},
  });
}

}  // namespace

ACTGRAD_PLUGIN(Register)
