// -----------------------------------------------------------------------------
// File: storage.h
// -----------------------------------------------------------------------------
//
// The buffers behind tensors, drawn from a reusing pool. On the machines this
// library targets, writing into never-touched pages costs about fifty times a
// normal write, so a training step in steady state must not ask the system for
// memory: freed buffers go back to per-thread free lists, bucketed by power-of-
// two size and 64-byte aligned, and the next tensor of that size reuses one.
//
// Example:
//
//   internal::Storage* s = internal::Storage::Allocate(1024);
//   std::memset(s->data(), 0, 1024);
//   s->Unref();  // back to the pool, not to the system
//
//   actgrad::ReleaseCachedMemory();  // hand the pooled buffers back

#ifndef ACTGRAD_GRAPH_STORAGE_H_
#define ACTGRAD_GRAPH_STORAGE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace actgrad {

// Frees every buffer cached by the calling thread's pool.
void ReleaseCachedMemory();

// Bytes held in the calling thread's free lists, and bytes ever requested from
// the system by it. A steady training loop keeps the second number constant.
struct PoolStats {
  size_t cached_bytes = 0;
  size_t system_allocated_bytes = 0;
  int64_t system_allocations = 0;
};
PoolStats GetPoolStats();

namespace internal {

// The huge page some buffers are cut from (graph/storage.cc).
struct Slab;

class Storage {
 public:
  // A buffer of at least `bytes` bytes (contents unspecified), 64-byte aligned,
  // with a reference count of one. Throws std::bad_alloc when the system has
  // no memory left.
  static Storage* Allocate(size_t bytes);

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }

  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  // Ref() without the atomic increment, for a caller holding the only
  // reference through an object no other thread can see, so that no other
  // thread can be changing the count.
  void RefUnshared() {
    refs_.store(refs_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  // As TensorImpl::Unref: the last owner skips the atomic decrement.
  void Unref() {
    if (refs_.load(std::memory_order_acquire) == 1 ||
        refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      Release();
    }
  }
  // Unref() without the atomic decrement, under the same condition as
  // RefUnshared(); never the last reference.
  void UnrefUnshared() {
    refs_.store(refs_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  }
  // Exact only while no other thread holds a reference.
  int use_count() const { return refs_.load(std::memory_order_relaxed); }

 private:
  friend class StoragePool;
  void Release();

  std::atomic<int32_t> refs_{1};
  int32_t bucket_ = 0;
  size_t bytes_ = 0;
  void* data_ = nullptr;
  Storage* next_free_ = nullptr;
  // The huge page data_ was cut from, shared with other buffers, or null
  // when data_ is a system allocation of its own (graph/storage.cc).
  Slab* slab_ = nullptr;
};

}  // namespace internal
}  // namespace actgrad

#endif  // ACTGRAD_GRAPH_STORAGE_H_
