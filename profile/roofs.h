// -----------------------------------------------------------------------------
// File: roofs.h
// -----------------------------------------------------------------------------
//
// What this machine can do at best, measured at start: the roofs the
// profiler's tables compare achieved rates with.
//
// Example:
//
//   const double peak = actgrad::MeasureGemmGflops();

#ifndef ACTGRAD_PROFILE_ROOFS_H_
#define ACTGRAD_PROFILE_ROOFS_H_

namespace actgrad {

// This machine's single-thread float32 GEMM rate at 512^3, best of five: the
// roof the tables compare achieved GFLOP/s with.
double MeasureGemmGflops();

}  // namespace actgrad

#endif  // ACTGRAD_PROFILE_ROOFS_H_
