#include "ops/streaming.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace actgrad::internal {

void StreamCopy(void* dst, const void* src, size_t bytes) {
#if defined(__AVX512F__)
  auto* out = static_cast<__m512i*>(dst);
  const auto* in = static_cast<const __m512i*>(src);
  for (size_t i = 0; i < bytes / 64; ++i) _mm512_stream_si512(out + i, _mm512_load_si512(in + i));
#elif defined(__AVX__)
  auto* out = static_cast<__m256i*>(dst);
  const auto* in = static_cast<const __m256i*>(src);
  for (size_t i = 0; i < bytes / 32; ++i) _mm256_stream_si256(out + i, _mm256_load_si256(in + i));
#elif defined(__x86_64__)
  auto* out = static_cast<__m128i*>(dst);
  const auto* in = static_cast<const __m128i*>(src);
  for (size_t i = 0; i < bytes / 16; ++i) _mm_stream_si128(out + i, _mm_load_si128(in + i));
#else
  std::memcpy(dst, src, bytes);
#endif
}

void StreamFence() {
#if defined(__x86_64__)
  _mm_sfence();
#endif
}

}  // namespace actgrad::internal
