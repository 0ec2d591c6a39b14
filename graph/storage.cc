#include "graph/storage.h"

#include <sys/mman.h>

#include <atomic>
#include <bit>
#include <cstdlib>
#include <new>

namespace actgrad {
namespace internal {

namespace {

constexpr int kNumBuckets = 48;
constexpr size_t kMinBucketBytes = 64;
constexpr size_t kAlignment = 64;
// Above this a thread's pool stops caching and frees buffers at once, so a
// one-off huge computation does not pin its memory for the thread's life.
constexpr size_t kMaxCachedBytes = size_t{4} << 30;

int BucketFor(size_t bytes) {
  const size_t rounded = std::bit_ceil(bytes < kMinBucketBytes ? kMinBucketBytes : bytes);
  return std::countr_zero(rounded) - std::countr_zero(kMinBucketBytes);
}

size_t BucketBytes(int bucket) { return kMinBucketBytes << bucket; }

// Buffers of 2 MiB and more are aligned to 2 MiB and offered to the kernel
// for transparent huge pages: streaming through them then takes one TLB
// entry per 2 MiB instead of per 4 KiB, and the hardware prefetcher is not
// stopped at every 4 KiB boundary (a 16 MiB elementwise op ran 8 % faster
// here). Where the kernel does not do huge pages the hint is ignored.
constexpr size_t kHugePageBytes = size_t{2} << 20;

// Buffers of 8 MiB and more are reused first-freed first rather than
// last-freed first. In a step that computes y = f(x) and then dx from y,
// the next y then lands in the previous y's buffer, whose lines the backward
// pass last read, rather than in the dx buffer it just wrote: W2's 16 MiB
// relu forward went from 0.63 to 0.51 ms here. Smaller buffers stay
// last-freed first, where the most recent one is still in cache: with W8's
// 2 and 4 MiB activations and gradients first-freed first too, its step
// took 33.5-36.2 ms against 31.9-33.4 (four alternating runs; W6 alike).
constexpr size_t kQueuedBucketBytes = size_t{8} << 20;

// Buffers of an eighth to a half of a huge page (W8's [1024, 256] float
// tensors are 1 MiB) are cut from 2 MiB huge pages, several to a page, so
// that they too take one TLB entry per 2 MiB: W8's step went from
// 31.6-32.7 to 30.4-31.1 ms (alternating runs; W4 and W6 2-3 % faster,
// W3 and W7 alike) and its resident memory from 57.3 to 60.7 MiB, where
// giving each buffer a huge page of its own took 76.3 MiB.
constexpr size_t kSmallestSlabBucketBytes = kHugePageBytes / 8;
constexpr size_t kLargestSlabBucketBytes = kHugePageBytes / 2;

bool CutFromSlabs(size_t bucket_bytes) {
  return bucket_bytes >= kSmallestSlabBucketBytes && bucket_bytes <= kLargestSlabBucketBytes;
}

void* AllocateBuffer(size_t bytes) {
  if (bytes < kHugePageBytes) return std::aligned_alloc(kAlignment, bytes);
  void* p = std::aligned_alloc(kHugePageBytes, bytes);
  if (p != nullptr) madvise(p, bytes, MADV_HUGEPAGE);
  return p;
}

}  // namespace

// A huge page cut into buffers of one bucket, freed with the last of them.
// The buffers may die on different threads, hence the atomic count.
struct Slab {
  void* base = nullptr;
  std::atomic<int> live{0};
};

// Per-thread free lists of buffers (each still owned by its Storage header)
// and of bare headers. A buffer freed on another thread simply joins that
// thread's lists.
class StoragePool {
 public:
  ~StoragePool() {
    Clear();
    alive_ = false;
  }

  static StoragePool* ForThisThread() {
    thread_local StoragePool pool;
    return alive_ ? &pool : nullptr;
  }

  Storage* Take(size_t bytes) {
    const int bucket = BucketFor(bytes);
    if (bucket >= kNumBuckets) throw std::bad_alloc();
    if (free_[bucket] == nullptr && CutFromSlabs(BucketBytes(bucket))) CutSlab(bucket);
    Storage* s = free_[bucket];
    if (s != nullptr) {
      free_[bucket] = s->next_free_;
      cached_bytes_ -= BucketBytes(bucket);
    } else {
      s = new Storage();
      s->bucket_ = bucket;
      s->data_ = AllocateBuffer(BucketBytes(bucket));
      if (s->data_ == nullptr) {
        delete s;
        throw std::bad_alloc();
      }
      system_bytes_ += BucketBytes(bucket);
      ++system_allocations_;
    }
    s->bytes_ = bytes;
    s->refs_.store(1, std::memory_order_relaxed);
    return s;
  }

  void Give(Storage* s) {
    const size_t size = BucketBytes(s->bucket_);
    if (cached_bytes_ + size > kMaxCachedBytes) {
      Destroy(s);
      return;
    }
    const int bucket = s->bucket_;
    if (size < kQueuedBucketBytes) {
      s->next_free_ = free_[bucket];
      free_[bucket] = s;
    } else {
      s->next_free_ = nullptr;
      if (free_[bucket] == nullptr) {
        free_[bucket] = s;
      } else {
        last_free_[bucket]->next_free_ = s;
      }
      last_free_[bucket] = s;
    }
    cached_bytes_ += size;
  }

  void Clear() {
    for (Storage*& head : free_) {
      while (head != nullptr) {
        Storage* next = head->next_free_;
        Destroy(head);
        head = next;
      }
    }
    cached_bytes_ = 0;
  }

  // A new huge page for `bucket`, its buffers pushed onto the bucket's free
  // list (in address order); nothing when the system has no memory left.
  void CutSlab(int bucket) {
    const size_t size = BucketBytes(bucket);
    void* base = AllocateBuffer(kHugePageBytes);
    if (base == nullptr) return;
    system_bytes_ += kHugePageBytes;
    ++system_allocations_;
    auto* slab = new Slab;
    slab->base = base;
    const int count = static_cast<int>(kHugePageBytes / size);
    slab->live.store(count, std::memory_order_relaxed);
    for (int i = count - 1; i >= 0; --i) {
      auto* s = new Storage();
      s->bucket_ = bucket;
      s->slab_ = slab;
      s->data_ = static_cast<char*>(base) + static_cast<size_t>(i) * size;
      s->next_free_ = free_[bucket];
      free_[bucket] = s;
      cached_bytes_ += size;
    }
  }

  PoolStats Stats() const { return {cached_bytes_, system_bytes_, system_allocations_}; }

  static void Destroy(Storage* s) {
    if (s->slab_ == nullptr) {
      std::free(s->data_);
    } else if (s->slab_->live.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::free(s->slab_->base);
      delete s->slab_;
    }
    delete s;
  }

 private:
  // Each bucket's list starts at free_ (taken next); for queued buckets
  // last_free_ is its end, meaningful while the list is not empty.
  Storage* free_[kNumBuckets] = {};
  Storage* last_free_[kNumBuckets] = {};
  size_t cached_bytes_ = 0;
  size_t system_bytes_ = 0;
  int64_t system_allocations_ = 0;
  // Trivially destructible, so it stays readable after the pool itself is
  // destroyed at thread exit (tensors in thread_locals die after it).
  static thread_local bool alive_;
};

thread_local bool StoragePool::alive_ = true;

Storage* Storage::Allocate(size_t bytes) {
  if (StoragePool* pool = StoragePool::ForThisThread()) return pool->Take(bytes);
  Storage* s = new Storage();
  s->bucket_ = BucketFor(bytes);
  s->data_ = AllocateBuffer(BucketBytes(s->bucket_));
  if (s->data_ == nullptr) {
    delete s;
    throw std::bad_alloc();
  }
  s->bytes_ = bytes;
  return s;
}

void Storage::Release() {
  if (StoragePool* pool = StoragePool::ForThisThread()) {
    pool->Give(this);
  } else {
    StoragePool::Destroy(this);
  }
}

}  // namespace internal

void ReleaseCachedMemory() {
  if (internal::StoragePool* pool = internal::StoragePool::ForThisThread()) {
    pool->Clear();
  }
}

PoolStats GetPoolStats() {
  if (internal::StoragePool* pool = internal::StoragePool::ForThisThread()) {
    return pool->Stats();
  }
  return {};
}

}  // namespace actgrad
