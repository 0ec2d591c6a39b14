// -----------------------------------------------------------------------------
// File: hash.h
// -----------------------------------------------------------------------------
//
// FNV-1a over bytes: the fingerprint that data-parallel ranks compare their
// parameters, data and plugins by. Not for untrusted keys (it is not
// collision-resistant); for "are these two the same bytes".
//
// Example:
//
//   uint64_t h = actgrad::io::Fnv1a(x.data(), x.size() * sizeof(double));
//   h = actgrad::io::Fnv1a(name.data(), name.size(), h);  // chained

#ifndef ACTGRAD_IO_HASH_H_
#define ACTGRAD_IO_HASH_H_

#include <cstddef>
#include <cstdint>

namespace actgrad::io {

inline constexpr uint64_t kFnv1aSeed = 0xcbf29ce484222325ULL;

inline uint64_t Fnv1a(const void* data, size_t bytes, uint64_t hash = kFnv1aSeed) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < bytes; ++i) hash = (hash ^ p[i]) * 0x100000001b3ULL;
  return hash;
}

}  // namespace actgrad::io

#endif  // ACTGRAD_IO_HASH_H_
