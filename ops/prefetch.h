// -----------------------------------------------------------------------------
// File: prefetch.h
// -----------------------------------------------------------------------------
//
// Internal: asking for the cache lines a streaming loop reads next.
// Loops that spend many cycles on each line they read (gelu's tables,
// the logistic's division) run too slowly for the processor's own
// prefetchers to keep the next lines coming from memory or a far cache:
// on the 2-core Xeon this was measured on, gelu's backward over 4 MiB read
// from memory took 1.45 ms, twice its 0.72 ms over data already in L2, and
// 0.87 ms when its loop asked for the lines 2 KiB ahead itself. Loops
// that only move data gain nothing (W8's residual add took as long either
// way): the processor's prefetchers keep up with them.
//
// Example (inside a loop over x[i], 16 floats at a time):
//
//   internal::PrefetchAhead(x + i);

#ifndef ACTGRAD_OPS_PREFETCH_H_
#define ACTGRAD_OPS_PREFETCH_H_

#include <cstdint>

namespace actgrad::internal {

// How far ahead of what it reads a loop asks for lines: 32 lines, enough
// to cover memory's latency at the rate these loops read.
inline constexpr int64_t kPrefetchAheadBytes = 2048;

// Asks for the line kPrefetchAheadBytes past `at`, into L1. A hint only:
// an address past the end of the data (or anywhere) never faults.
template <typename T>
inline void PrefetchAhead(const T* at) {
  __builtin_prefetch(reinterpret_cast<const char*>(at) + kPrefetchAheadBytes, /*rw=*/0,
                     /*locality=*/3);
}

// PrefetchAhead for each line the `count` values at `at` span.
template <typename T>
inline void PrefetchAheadOf(const T* at, int64_t count) {
  const char* bytes = reinterpret_cast<const char*>(at);
  for (int64_t line = 0; line < count * int64_t{sizeof(T)}; line += 64) PrefetchAhead(bytes + line);
}

}  // namespace actgrad::internal

#endif  // ACTGRAD_OPS_PREFETCH_H_
