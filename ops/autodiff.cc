#include "ops/autodiff.h"

#include <cstring>
#include <utility>

#include "graph/dtype.h"
#include "graph/error.h"
#include "graph/factories.h"
#include "graph/forward_mode.h"
#include "graph/grad_mode.h"

namespace actgrad {

namespace {

std::vector<Tensor> FreshCopies(std::span<const Tensor> primals, const char* what,
                                const std::source_location& location) {
  std::vector<Tensor> copies;
  copies.reserve(primals.size());
  for (size_t i = 0; i < primals.size(); ++i) {
    ACTGRAD_REQUIRE(primals[i].defined(), location, what, ": input ", i, " is undefined");
    copies.push_back(primals[i].Clone());
  }
  return copies;
}

void RequireFloating(const Tensor& x, const char* what, const std::source_location& location) {
  ACTGRAD_REQUIRE(x.defined() && IsFloating(x.dtype()), location, what,
                  ": needs a defined floating-point input, got ",
                  x.defined() ? DTypeName(x.dtype()) : "an undefined tensor");
}

Tensor ZerosLike(const Tensor& x) { return Zeros(x.shape(), x.dtype()); }

// The unit vector e_k in the shape and dtype of `like`.
Tensor Basis(const Tensor& like, int64_t k) {
  Tensor e = ZerosLike(like);
  DispatchFloating(e.dtype(), [&](auto tag) {
    using T = decltype(tag);
    static_cast<T*>(e.raw_data())[k] = T(1);
  });
  return e;
}

// Writes `part` (numel `stride`) into `whole` at offset `k * stride`, or
// element j of each row when `column` (the layout of a Jacobian's column).
void Place(Tensor& whole, const Tensor& part, int64_t k, bool column) {
  DispatchFloating(whole.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* out = static_cast<T*>(whole.raw_data());
    const T* in = static_cast<const T*>(part.raw_data());
    const int64_t n = part.numel();
    const int64_t width = whole.numel() / n;
    for (int64_t i = 0; i < n; ++i) {
      (column ? out[i * width + k] : out[k * n + i]) = in[i];
    }
  });
}

Shape Concat(const Shape& a, const Shape& b) {
  std::vector<int64_t> dims(a.dims().begin(), a.dims().end());
  dims.insert(dims.end(), b.dims().begin(), b.dims().end());
  return Shape(dims);
}

}  // namespace

JvpResult Jvp(const TensorFunction& f, std::span<const Tensor> primals,
              std::span<const Tensor> tangents, std::source_location location) {
  ACTGRAD_REQUIRE(primals.size() == tangents.size(), location, "Jvp: ", primals.size(),
                  " inputs but ", tangents.size(), " tangents");
  std::vector<Tensor> inputs = FreshCopies(primals, "Jvp", location);
  ForwardAdScope scope(location);
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (tangents[i].defined()) MakeDual(inputs[i], tangents[i], location);
  }
  JvpResult result;
  result.output = f(inputs);
  ACTGRAD_REQUIRE(result.output.defined(), location, "Jvp: the function returned nothing");
  result.tangent = TangentOf(result.output);
  if (!result.tangent.defined() && IsFloating(result.output.dtype())) {
    result.tangent = ZerosLike(result.output);
  }
  return result;
}

VjpResult Vjp(const TensorFunction& f, std::span<const Tensor> primals, const Tensor& cotangent,
              std::source_location location) {
  std::vector<Tensor> inputs = FreshCopies(primals, "Vjp", location);
  for (Tensor& input : inputs) {
    RequireFloating(input, "Vjp", location);
    input.set_requires_grad(true);
  }
  GradModeGuard recording(true);
  VjpResult result;
  result.output = f(inputs);
  ACTGRAD_REQUIRE(result.output.defined(), location, "Vjp: the function returned nothing");
  if (!result.output.requires_grad()) {
    for (const Tensor& input : inputs) result.cotangents.push_back(ZerosLike(input));
    return result;
  }
  result.cotangents = Grad(result.output, inputs, cotangent, {}, location);
  result.output = result.output.Detach();
  return result;
}

Tensor Jacobian(const UnaryTensorFunction& f, const Tensor& x, JacobianMode mode,
                std::source_location location) {
  RequireFloating(x, "Jacobian", location);
  const int64_t n = x.numel();
  Tensor probe;
  {
    NoGradGuard values_only;
    probe = f(x.Clone());
  }
  RequireFloating(probe, "Jacobian (its output)", location);
  const int64_t m = probe.numel();
  if (mode == JacobianMode::kAuto) mode = m <= n ? JacobianMode::kReverse : JacobianMode::kForward;
  Tensor jacobian = Zeros(Concat(probe.shape(), x.shape()), probe.dtype());
  if (m == 0 || n == 0) return jacobian;
  const TensorFunction g = [&](std::span<const Tensor> in) { return f(in[0]); };
  if (mode == JacobianMode::kForward) {
    for (int64_t j = 0; j < n; ++j) {
      const Tensor e = Basis(x, j);
      const JvpResult r = Jvp(g, {&x, 1}, {&e, 1}, location);
      Place(jacobian, r.tangent, j, /*column=*/true);
    }
    return jacobian;
  }
  Tensor input = x.Clone();
  input.set_requires_grad(true);
  GradModeGuard recording(true);
  const Tensor y = f(input);
  for (int64_t k = 0; k < m; ++k) {
    if (!y.requires_grad()) break;
    const Tensor seed = Basis(y, k);
    const std::vector<Tensor> row = Grad(y, {input}, seed, {.retain_graph = true}, location);
    Place(jacobian, row[0], k, /*column=*/false);
  }
  return jacobian;
}

Tensor Hvp(const UnaryTensorFunction& f, const Tensor& x, const Tensor& v,
           std::source_location location) {
  RequireFloating(x, "Hvp", location);
  ACTGRAD_REQUIRE(v.defined() && v.shape() == x.shape() && v.dtype() == x.dtype(), location,
                  "Hvp: the direction must have the input's shape and dtype, got ",
                  v.defined() ? v.shape().ToString() : "nothing", " for ", x.shape().ToString());
  Tensor input = x.Clone();
  input.set_requires_grad(true);
  GradModeGuard recording(true);
  ForwardAdScope scope(location);
  MakeDual(input, v, location);
  const Tensor y = f(input);
  ACTGRAD_REQUIRE(y.defined() && y.numel() == 1, location,
                  "Hvp: the function must return one element, got ",
                  y.defined() ? y.shape().ToString() : "nothing");
  if (!y.requires_grad()) return ZerosLike(x);
  const Tensor gradient = Grad(y, {input}, Tensor(), {.create_graph = true}, location)[0];
  Tensor hv = TangentOf(gradient);
  return hv.defined() ? hv.Detach() : ZerosLike(x);
}

Tensor Hessian(const UnaryTensorFunction& f, const Tensor& x, std::source_location location) {
  RequireFloating(x, "Hessian", location);
  const int64_t n = x.numel();
  Tensor hessian = Zeros(Concat(x.shape(), x.shape()), x.dtype());
  Tensor input = x.Clone();
  input.set_requires_grad(true);
  GradModeGuard recording(true);
  const Tensor y = f(input);
  ACTGRAD_REQUIRE(y.defined() && y.numel() == 1, location,
                  "Hessian: the function must return one element, got ",
                  y.defined() ? y.shape().ToString() : "nothing");
  if (!y.requires_grad()) return hessian;
  // The gradient recorded once and differentiated once per row: cheaper for
  // a whole Hessian than a forward-over-reverse pass per column, which
  // repeats the forward and the first reverse pass every time.
  const Tensor gradient = Grad(y, {input}, Tensor(), {.create_graph = true}, location)[0];
  if (!gradient.requires_grad()) return hessian;
  for (int64_t i = 0; i < n; ++i) {
    const Tensor row = Grad(gradient, {input}, Basis(x, i), {.retain_graph = true}, location)[0];
    Place(hessian, row, i, /*column=*/false);
  }
  return hessian;
}

}  // namespace actgrad
