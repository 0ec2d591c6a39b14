// FUZZ_CHECK, the assertion the fuzz targets in this folder share.
//
// A failed check prints what failed and traps, so that libFuzzer (and the
// replay main, which catches nothing) reports it as a crash with the input
// that caused it. Unlike assert() it stays on in release builds.
//
// Example:
//
//   FUZZ_CHECK(d.x.size() == d.rows * d.features);

#ifndef ACTGRAD_FUZZ_FUZZ_CHECK_H_
#define ACTGRAD_FUZZ_FUZZ_CHECK_H_

#include <cstdio>

#define FUZZ_CHECK(condition)                                                            \
  do {                                                                                   \
    if (!(condition)) [[unlikely]] {                                                     \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #condition); \
      std::fflush(stderr);                                                               \
      __builtin_trap();                                                                  \
    }                                                                                    \
  } while (false)

#endif  // ACTGRAD_FUZZ_FUZZ_CHECK_H_
