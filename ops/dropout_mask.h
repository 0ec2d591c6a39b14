// -----------------------------------------------------------------------------
// File: dropout_mask.h
// -----------------------------------------------------------------------------
//
// Internal: which elements dropout keeps. Element i of a tensor is kept when
// a hash of (seed, i) clears a threshold, so any element's draw costs the
// same, needs no state, and replays exactly: the dropout row, and attention's
// dropout on its weights, recompute the mask in backward instead of storing
// it, and their recorded backwards get the same mask from the dropout row.
//
// Example:
//
//   const uint64_t threshold = internal::DropoutThreshold(0.1);
//   const bool keep = internal::DropoutKeeps(seed, index, threshold);

#ifndef ACTGRAD_OPS_DROPOUT_MASK_H_
#define ACTGRAD_OPS_DROPOUT_MASK_H_

#include <cmath>
#include <cstdint>

namespace actgrad::internal {

// SplitMix64's output function over the element's index: a counter-based
// stream.
inline bool DropoutKeeps(uint64_t seed, int64_t index, uint64_t threshold) {
  uint64_t z = seed + uint64_t(index + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (z >> 11) >= threshold;
}

// Draws below this (of 2^53) are dropped: probability p.
inline uint64_t DropoutThreshold(double p) { return uint64_t(std::ldexp(p, 53)); }

// The factor on kept elements, 1 / (1 - p); 0 when everything is dropped.
inline double DropoutScale(double p) { return p < 1 ? 1 / (1 - p) : 0.0; }

}  // namespace actgrad::internal

#endif  // ACTGRAD_OPS_DROPOUT_MASK_H_
