// -----------------------------------------------------------------------------
// File: tensor_impl.h
// -----------------------------------------------------------------------------
//
// Internal: the object a `Tensor` handle points to. Included by tensor.h for
// its inline accessors; user code should not name anything in here.
//
// TensorImpl objects come from a per-thread free list, and their buffers from
// the storage pool, so creating a tensor in a steady loop never reaches the
// system allocator.

#ifndef ACTGRAD_GRAPH_TENSOR_IMPL_H_
#define ACTGRAD_GRAPH_TENSOR_IMPL_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <source_location>
#include <vector>

#include "graph/dtype.h"
#include "graph/shape.h"
#include "graph/storage.h"

namespace actgrad {
namespace internal {

inline constexpr uint32_t kNoNode = UINT32_MAX;

struct TensorImpl {
  std::atomic<int32_t> refs{1};
  Storage* storage = nullptr;  // Owns one reference.
  Shape shape;
  DType dtype = DType::kFloat32;
  bool requires_grad = false;

  // Set for the output of a recorded op; owns one reference on `graph`.
  Graph* graph = nullptr;
  uint32_t node = kNoNode;

  // Leaves only: the accumulated gradient (owned), the hooks, and the
  // accumulator node that stands for this leaf in the graph incarnation
  // `leaf_epoch` (see Graph::epoch()).
  TensorImpl* grad = nullptr;
  std::unique_ptr<std::vector<GradHook>> hooks;
  uint64_t leaf_epoch = 0;
  uint32_t leaf_node = kNoNode;

  void Ref() { refs.fetch_add(1, std::memory_order_relaxed); }
  // The last owner skips the atomic decrement: a count of 1 seen here means
  // no other thread holds a reference it could copy, so none can race.
  void Unref() {
    if (refs.load(std::memory_order_acquire) == 1 ||
        refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      Destroy(this);
    }
  }
  void* data() const { return storage->data(); }

  // A fresh impl with one reference, taking over one reference of `storage`.
  static TensorImpl* Make(Storage* storage, const Shape& shape, DType dtype);
  static void Destroy(TensorImpl* impl);
};

// A new tensor of `shape` and `dtype` with uninitialized values.
TensorImpl* NewUninitialized(const Shape& shape, DType dtype);

// Throws for an accessor (`shape`, `dtype`, ...) called on an undefined
// tensor; out of line so that the inline accessors stay small.
[[noreturn]] void ThrowUndefined(const char* accessor);

// Throws unless `impl` is defined and holds elements of `dtype`.
void CheckAccess(const TensorImpl* impl, DType dtype, const std::source_location& location);

}  // namespace internal
}  // namespace actgrad

#endif  // ACTGRAD_GRAPH_TENSOR_IMPL_H_
