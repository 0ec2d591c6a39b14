// -----------------------------------------------------------------------------
// File: threads.h
// -----------------------------------------------------------------------------
//
// How many threads matrix products and large elementwise ops (ops/parallel.h)
// may use. Most products in the networks this library trains are small
// (batch 32, widths of tens), where a second BLAS thread costs more than it
// saves (measured up to 5x slower), so the default is one thread unless
// OPENBLAS_NUM_THREADS says otherwise; large products gain from more, set
// here or with `--threads`.
//
// Example:
//
//   actgrad::SetNumThreads(2);
//   std::cout << actgrad::NumThreads() << " " << actgrad::BlasCoreName();

#ifndef ACTGRAD_OPS_THREADS_H_
#define ACTGRAD_OPS_THREADS_H_

#include <string>

#include "absl/status/status.h"

namespace actgrad {

// Throws `Error` for n < 1.
void SetNumThreads(int n);
// Whether this process can start the n - 1 threads that SetNumThreads(n)
// asks the BLAS and OpenMP runtimes for: under a memory or process limit
// they fail deep inside those runtimes (an abort in libgomp, a crash in the
// GEMM library), so a program checks first. kResourceExhausted says how
// many could be started. The probe threads end at once.
absl::Status CheckThreadsCanStart(int n);
int NumThreads();
// The OpenBLAS kernel family in use (e.g. "Haswell"), for reports.
std::string BlasCoreName();

namespace internal {
// Applies the default thread count once, before the first product.
void EnsureBlasThreads();
}  // namespace internal

}  // namespace actgrad

#endif  // ACTGRAD_OPS_THREADS_H_
