// -----------------------------------------------------------------------------
// File: tensor.h
// -----------------------------------------------------------------------------
//
// graph/ is the ground floor: tensors, the schema of an op row
// (graph/op_def.h), the recorded graph and the backward engine. It includes
// nothing from any other folder; the ops fill its rows in from above.
//
// `actgrad::Tensor` is an N-dimensional, contiguous, row-major array of
// float32 (the default), float64 or int64 values, and a handle into the
// dynamic graph: every op applied to a tensor that requires a gradient is
// recorded, and `Backward()` computes gradients of the result with respect to
// the leaves by reverse-mode differentiation.
//
// Copies of a Tensor are shallow (they share values and graph position), like
// `torch::Tensor`. A Tensor is not thread-safe; distinct tensors may be used
// from distinct threads.
//
// Example:
//
//   actgrad::Generator gen(42);
//   actgrad::Tensor w = actgrad::Normal({3, 2}, 0.0, 1.0, gen).set_requires_grad(true);
//   actgrad::Tensor x = actgrad::Ones({4, 3});
//   actgrad::Tensor loss = actgrad::Mean(actgrad::Tanh(actgrad::Matmul(x, w)));
//   loss.Backward();
//   std::cout << w.grad();  // tensor([[...]], shape=[3,2], dtype=float32)

#ifndef ACTGRAD_GRAPH_TENSOR_H_
#define ACTGRAD_GRAPH_TENSOR_H_

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iosfwd>
#include <source_location>
#include <span>
#include <string>
#include <vector>

#include "graph/dtype.h"
#include "graph/error.h"
#include "graph/shape.h"

namespace actgrad {

class Tensor;

namespace internal {
class Graph;
struct TensorImpl;
}  // namespace internal

// Options of `Tensor::Backward()`.
struct BackwardOptions {
  // Keep the saved values of the graph so that Backward() can run through it
  // again; without it, a second pass through the same nodes throws.
  bool retain_graph = false;
  // Record the backward pass itself, so that the gradients it produces can
  // be differentiated again (double backward, Hessian-vector products).
  // Leaves' grad() then holds recorded tensors. Implies retain_graph.
  bool create_graph = false;
};

// A gradient hook sees the gradient of a tensor as it arrives during
// Backward(). Returning a defined tensor replaces the gradient (it must keep
// shape and dtype); returning `Tensor()` keeps it.
using GradHook = std::function<Tensor(const Tensor& grad)>;

class Tensor {
 public:
  // An undefined tensor: no shape, no values. `defined()` is false.
  Tensor() = default;
  Tensor(const Tensor& other);
  Tensor(Tensor&& other) noexcept : impl_(other.impl_) { other.impl_ = nullptr; }
  Tensor& operator=(const Tensor& other);
  Tensor& operator=(Tensor&& other) noexcept;
  ~Tensor();

  bool defined() const { return impl_ != nullptr; }

  const Shape& shape() const;
  DType dtype() const;
  int rank() const { return shape().rank(); }
  int64_t dim(int axis) const { return shape()[axis]; }
  int64_t numel() const { return shape().NumElements(); }

  // Typed access to the values. Throws when T does not match dtype().
  template <typename T>
  T* data(std::source_location location = std::source_location::current());
  template <typename T>
  const T* data(std::source_location location = std::source_location::current()) const;
  template <typename T>
  std::span<const T> values(std::source_location location = std::source_location::current()) const {
    return {data<T>(location), static_cast<size_t>(numel())};
  }
  // Untyped access for kernels that dispatch on dtype themselves.
  void* raw_data() const;

  // The single value of a one-element tensor, as double. Throws otherwise.
  double item(std::source_location location = std::source_location::current()) const;
  // Every value converted to double, in row-major order.
  std::vector<double> ToVector() const;

  // --- Autograd -------------------------------------------------------------

  bool requires_grad() const;
  // True for tensors not produced by a recorded op (created by a factory, by
  // Detach(), or under NoGradGuard).
  bool is_leaf() const;
  // Marks a leaf as a variable whose gradient Backward() accumulates. Throws
  // for non-leaves (their requirement follows from their inputs) and for
  // int64 tensors.
  Tensor& set_requires_grad(bool requires_grad,
                            std::source_location location = std::source_location::current());

  // The accumulated gradient of a leaf; undefined until a Backward() reaches it.
  const Tensor& grad() const;
  // Sets every value of grad() to zero, keeping its buffer (a no-op while
  // grad() is undefined).
  void ZeroGrad();
  // Drops grad(), so the next Backward() allocates a fresh one.
  void ClearGrad();
  // Replaces grad() with `grad` (a leaf's own shape and dtype, not
  // recorded; undefined clears it), for code that computes gradients
  // itself, such as averaging them over processes. Throws for non-leaves
  // and mismatched tensors.
  void set_grad(Tensor grad, std::source_location location = std::source_location::current());

  // Back-propagates from this tensor. Without a seed the tensor must have one
  // element (the seed is 1); otherwise `seed` must match its shape and dtype.
  void Backward(BackwardOptions options = {},
                std::source_location location = std::source_location::current()) const;
  void Backward(const Tensor& seed, BackwardOptions options = {},
                std::source_location location = std::source_location::current()) const;

  // A tensor sharing these values, cut from the graph (requires_grad false).
  Tensor Detach() const;
  // A deep copy of the values, cut from the graph.
  Tensor Clone() const;

  // Registers `hook`, called with this tensor's gradient whenever a
  // Backward() pass delivers one (for a leaf, before it is accumulated).
  // Hooks run in registration order. Throws for tensors that do not require
  // a gradient.
  void RegisterHook(GradHook hook, std::source_location location = std::source_location::current());

  // "tensor([[1, 2], [3, 4]], shape=[2,2], dtype=float32, requires_grad=true)";
  // long tensors are abbreviated with "...".
  std::string ToString() const;

  // Internal: wraps a TensorImpl, taking over one reference.
  explicit Tensor(internal::TensorImpl* impl) : impl_(impl) {}
  internal::TensorImpl* impl() const { return impl_; }

 private:
  internal::TensorImpl* impl_ = nullptr;
};

std::ostream& operator<<(std::ostream& os, const Tensor& tensor);

// The gradients of `output` with respect to each of `inputs` (tensors that
// require a gradient: leaves or intermediate results), as
// torch.autograd.grad computes them: no leaf's grad() is touched. The seed
// follows Backward()'s rules; an input the output does not depend on gets
// zeros. With `options.create_graph` the results are recorded, so they can
// be differentiated again:
//
//   Tensor g = Grad(Sum(Tanh(x) * x), {x}, Tensor(), {.create_graph = true})[0];
//   Tensor hessian_vector = Grad(Sum(g * v), {x})[0];
std::vector<Tensor> Grad(const Tensor& output, std::span<const Tensor> inputs,
                         const Tensor& seed = Tensor(), BackwardOptions options = {},
                         std::source_location location = std::source_location::current());
inline std::vector<Tensor> Grad(const Tensor& output, std::initializer_list<Tensor> inputs,
                                const Tensor& seed = Tensor(), BackwardOptions options = {},
                                std::source_location location = std::source_location::current()) {
  return Grad(output, std::span<const Tensor>(inputs.begin(), inputs.size()), seed, options,
              location);
}

}  // namespace actgrad

#include "graph/tensor_impl.h"

namespace actgrad {

inline Tensor::Tensor(const Tensor& other) : impl_(other.impl_) {
  if (impl_ != nullptr) impl_->Ref();
}
inline Tensor& Tensor::operator=(const Tensor& other) {
  if (other.impl_ != nullptr) other.impl_->Ref();
  if (impl_ != nullptr) impl_->Unref();
  impl_ = other.impl_;
  return *this;
}
inline Tensor& Tensor::operator=(Tensor&& other) noexcept {
  if (this != &other) {
    if (impl_ != nullptr) impl_->Unref();
    impl_ = other.impl_;
    other.impl_ = nullptr;
  }
  return *this;
}
inline Tensor::~Tensor() {
  if (impl_ != nullptr) impl_->Unref();
}

inline const Shape& Tensor::shape() const {
  if (impl_ == nullptr) [[unlikely]]
    internal::ThrowUndefined("shape");
  return impl_->shape;
}
inline DType Tensor::dtype() const {
  if (impl_ == nullptr) [[unlikely]]
    internal::ThrowUndefined("dtype");
  return impl_->dtype;
}
inline void* Tensor::raw_data() const {
  if (impl_ == nullptr) [[unlikely]]
    internal::ThrowUndefined("raw_data");
  return impl_->storage->data();
}

template <typename T>
T* Tensor::data(std::source_location location) {
  internal::CheckAccess(impl_, DTypeOf<T>(), location);
  return static_cast<T*>(impl_->storage->data());
}
template <typename T>
const T* Tensor::data(std::source_location location) const {
  internal::CheckAccess(impl_, DTypeOf<T>(), location);
  return static_cast<const T*>(impl_->storage->data());
}

}  // namespace actgrad

#endif  // ACTGRAD_GRAPH_TENSOR_H_
