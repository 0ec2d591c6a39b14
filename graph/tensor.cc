#include "graph/tensor.h"

#include <cstring>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "graph/backward.h"
#include "graph/graph.h"

namespace actgrad {
namespace internal {

namespace {

// Per-thread free list of TensorImpl objects.
class ImplPool {
 public:
  ~ImplPool() {
    alive_ = false;
    while (head_ != nullptr) {
      FreeImpl* next = head_->next;
      ::operator delete(head_);
      head_ = next;
    }
  }
  static ImplPool* ForThisThread() {
    thread_local ImplPool pool;
    return alive_ ? &pool : nullptr;
  }
  void* Take() {
    if (head_ == nullptr) return ::operator new(sizeof(TensorImpl));
    FreeImpl* p = head_;
    head_ = p->next;
    return p;
  }
  void Give(void* p) {
    auto* f = static_cast<FreeImpl*>(p);
    f->next = head_;
    head_ = f;
  }

 private:
  struct FreeImpl {
    FreeImpl* next;
  };
  static_assert(sizeof(FreeImpl) <= sizeof(TensorImpl));
  FreeImpl* head_ = nullptr;
  static thread_local bool alive_;
};

thread_local bool ImplPool::alive_ = true;

}  // namespace

TensorImpl* TensorImpl::Make(Storage* storage, const Shape& shape, DType dtype) {
  ImplPool* pool = ImplPool::ForThisThread();
  void* memory = pool != nullptr ? pool->Take() : ::operator new(sizeof(TensorImpl));
  auto* impl = new (memory) TensorImpl();
  impl->storage = storage;
  impl->shape = shape;
  impl->dtype = dtype;
  return impl;
}

void TensorImpl::Destroy(TensorImpl* impl) {
  if (impl->graph != nullptr) {
    impl->graph->ReleaseOutputStorage(*impl);
  } else {
    impl->storage->Unref();
  }
  if (impl->grad != nullptr) impl->grad->Unref();
  Graph* graph = impl->graph;
  impl->~TensorImpl();
  if (ImplPool* pool = ImplPool::ForThisThread()) {
    pool->Give(impl);
  } else {
    ::operator delete(impl);
  }
  // Last, because it may clear the graph, which releases other tensors.
  if (graph != nullptr) graph->Unref();
}

TensorImpl* NewUninitialized(const Shape& shape, DType dtype) {
  const size_t bytes = static_cast<size_t>(shape.NumElements()) * DTypeSize(dtype);
  return TensorImpl::Make(Storage::Allocate(bytes), shape, dtype);
}

void CheckAccess(const TensorImpl* impl, DType dtype, const std::source_location& location) {
  ACTGRAD_REQUIRE(impl != nullptr, location, "data: the tensor is undefined");
  ACTGRAD_REQUIRE(impl->dtype == dtype, location, "data: the tensor holds ", DTypeName(impl->dtype),
                  ", not ", DTypeName(dtype));
}

}  // namespace internal

namespace {

const internal::TensorImpl& Defined(
    const internal::TensorImpl* impl, const char* what,
    const std::source_location& location = std::source_location::current()) {
  ACTGRAD_REQUIRE(impl != nullptr, location, what, ": the tensor is undefined");
  return *impl;
}

double ValueAt(const internal::TensorImpl& impl, int64_t i) {
  switch (impl.dtype) {
    case DType::kFloat32:
      return static_cast<const float*>(impl.data())[i];
    case DType::kFloat64:
      return static_cast<const double*>(impl.data())[i];
    case DType::kInt64:
      return static_cast<double>(static_cast<const int64_t*>(impl.data())[i]);
  }
  return 0.0;
}

}  // namespace

namespace internal {
void ThrowUndefined(const char* accessor) {
  ACTGRAD_THROW(std::source_location::current(), accessor, ": the tensor is undefined");
}
}  // namespace internal

double Tensor::item(std::source_location location) const {
  ACTGRAD_REQUIRE(impl_ != nullptr, location, "item: the tensor is undefined");
  ACTGRAD_REQUIRE(numel() == 1, location, "item: needs a tensor with one element, got shape ",
                  shape().ToString());
  return ValueAt(*impl_, 0);
}

std::vector<double> Tensor::ToVector() const {
  const internal::TensorImpl& impl = Defined(impl_, "ToVector");
  std::vector<double> out(static_cast<size_t>(impl.shape.NumElements()));
  for (size_t i = 0; i < out.size(); ++i) out[i] = ValueAt(impl, static_cast<int64_t>(i));
  return out;
}

bool Tensor::requires_grad() const { return impl_ != nullptr && impl_->requires_grad; }
bool Tensor::is_leaf() const { return impl_ == nullptr || impl_->graph == nullptr; }

Tensor& Tensor::set_requires_grad(bool requires_grad, std::source_location location) {
  ACTGRAD_REQUIRE(impl_ != nullptr, location, "set_requires_grad: the tensor is undefined");
  ACTGRAD_REQUIRE(is_leaf(), location,
                  "set_requires_grad: only leaves can be marked; this tensor was produced by ",
                  impl_->graph->node(impl_->node).op->name,
                  " and requires a gradient because its inputs do (use Detach())");
  ACTGRAD_REQUIRE(!requires_grad || IsFloating(impl_->dtype), location,
                  "set_requires_grad: ", DTypeName(impl_->dtype),
                  " tensors cannot require a gradient");
  impl_->requires_grad = requires_grad;
  return *this;
}

const Tensor& Tensor::grad() const {
  static const Tensor kUndefined;
  if (impl_ == nullptr || impl_->grad == nullptr) return kUndefined;
  // A Tensor is exactly one TensorImpl pointer, so the owned pointer can be
  // viewed as a handle without touching the reference count.
  static_assert(sizeof(Tensor) == sizeof(internal::TensorImpl*));
  return *reinterpret_cast<const Tensor*>(&impl_->grad);
}

void Tensor::ZeroGrad() {
  if (impl_ == nullptr || impl_->grad == nullptr) return;
  internal::TensorImpl* g = impl_->grad;
  std::memset(g->data(), 0, g->shape.NumElements() * DTypeSize(g->dtype));
}

void Tensor::ClearGrad() {
  if (impl_ == nullptr || impl_->grad == nullptr) return;
  impl_->grad->Unref();
  impl_->grad = nullptr;
}

void Tensor::set_grad(Tensor grad, std::source_location location) {
  ACTGRAD_REQUIRE(impl_ != nullptr, location, "set_grad: the tensor is undefined");
  ACTGRAD_REQUIRE(is_leaf(), location, "set_grad: only a leaf holds a gradient, and this ",
                  shape().ToString(), " tensor was computed by an op");
  ACTGRAD_REQUIRE(grad.shape() == shape() && grad.dtype() == dtype(), location,
                  "set_grad: a gradient of ", grad.shape().ToString(), " ", DTypeName(grad.dtype()),
                  " for a tensor of ", shape().ToString(), " ", DTypeName(dtype()));
  ACTGRAD_REQUIRE(!grad.requires_grad(), location,
                  "set_grad: the gradient must not itself require a gradient (Detach() it)");
  ClearGrad();
  impl_->grad = grad.impl_;
  grad.impl_ = nullptr;  // the reference moves into impl_->grad
}

void Tensor::Backward(BackwardOptions options, std::source_location location) const {
  internal::RunBackward(*this, Tensor(), options, location);
}

void Tensor::Backward(const Tensor& seed, BackwardOptions options,
                      std::source_location location) const {
  ACTGRAD_REQUIRE(seed.defined(), location, "backward: the seed gradient is undefined");
  internal::RunBackward(*this, seed, options, location);
}

std::vector<Tensor> Grad(const Tensor& output, std::span<const Tensor> inputs, const Tensor& seed,
                         BackwardOptions options, std::source_location location) {
  for (const Tensor& input : inputs) {
    ACTGRAD_REQUIRE(input.requires_grad(), location, "grad: an input of shape ",
                    input.defined() ? input.shape().ToString() : "?",
                    " does not require a gradient");
  }
  std::vector<Tensor> grads = internal::RunBackward(output, seed, options, location, inputs);
  for (size_t k = 0; k < grads.size(); ++k) {
    if (!grads[k].defined()) {
      grads[k] = Tensor(internal::NewUninitialized(inputs[k].shape(), inputs[k].dtype()));
      std::memset(grads[k].raw_data(), 0, grads[k].numel() * DTypeSize(grads[k].dtype()));
    }
  }
  return grads;
}

Tensor Tensor::Detach() const {
  const internal::TensorImpl& impl = Defined(impl_, "Detach");
  impl.storage->Ref();
  return Tensor(internal::TensorImpl::Make(impl.storage, impl.shape, impl.dtype));
}

Tensor Tensor::Clone() const {
  const internal::TensorImpl& impl = Defined(impl_, "Clone");
  Tensor out(internal::NewUninitialized(impl.shape, impl.dtype));
  std::memcpy(out.raw_data(), impl.data(), impl.shape.NumElements() * DTypeSize(impl.dtype));
  return out;
}

void Tensor::RegisterHook(GradHook hook, std::source_location location) {
  ACTGRAD_REQUIRE(requires_grad(), location,
                  "RegisterHook: the tensor does not require a gradient, so no "
                  "gradient will ever arrive");
  if (impl_->graph != nullptr) {
    impl_->graph->AddHook(impl_->node, std::move(hook));
    return;
  }
  if (impl_->hooks == nullptr) impl_->hooks = std::make_unique<std::vector<GradHook>>();
  impl_->hooks->push_back(std::move(hook));
}

namespace {

constexpr int64_t kEdgeItems = 3;  // shown at each end of a long dimension
constexpr int64_t kSummarizeAbove = 64;

void AppendValue(std::string* out, double v, DType dtype) {
  if (dtype == DType::kInt64) {
    absl::StrAppend(out, static_cast<int64_t>(v));
  } else {
    absl::StrAppendFormat(out, "%.6g", v);
  }
}

void AppendDims(std::string* out, const internal::TensorImpl& impl, int axis, int64_t offset,
                bool summarize, const std::array<int64_t, Shape::kMaxRank>& strides) {
  const int64_t n = impl.shape[axis];
  out->push_back('[');
  for (int64_t i = 0; i < n; ++i) {
    if (summarize && n > 2 * kEdgeItems && i == kEdgeItems) {
      out->append("..., ");
      i = n - kEdgeItems;
    }
    const int64_t at = offset + i * strides[axis];
    if (axis + 1 == impl.shape.rank()) {
      AppendValue(out, ValueAt(impl, at), impl.dtype);
    } else {
      AppendDims(out, impl, axis + 1, at, summarize, strides);
    }
    if (i + 1 < n) out->append(", ");
  }
  out->push_back(']');
}

}  // namespace

std::string Tensor::ToString() const {
  if (impl_ == nullptr) return "tensor(undefined)";
  const internal::TensorImpl& impl = *impl_;
  std::string out = "tensor(";
  if (impl.shape.rank() == 0) {
    AppendValue(&out, ValueAt(impl, 0), impl.dtype);
  } else {
    AppendDims(&out, impl, 0, 0, impl.shape.NumElements() > kSummarizeAbove, impl.shape.Strides());
  }
  absl::StrAppend(&out, ", shape=", impl.shape.ToString(), ", dtype=", DTypeName(impl.dtype));
  if (impl.requires_grad) out += ", requires_grad=true";
  if (impl.graph != nullptr) {
    absl::StrAppend(&out, ", grad_fn=", impl.graph->node(impl.node).op->name);
  }
  out += ")";
  return out;
}

std::ostream& operator<<(std::ostream& os, const Tensor& tensor) { return os << tensor.ToString(); }

}  // namespace actgrad
