// -----------------------------------------------------------------------------
// File: roofs.h
// -----------------------------------------------------------------------------
//
// What this machine can do at best, measured at start: the roofs the
// profiler's tables hold achieved rates against. Three of them, each on a
// given number of threads at once:
//
//   - the FMA roof: float32 fused multiply-adds from registers only, in the
//     widest vectors the CPU has (whatever the build's -march), each
//     thread's rate summed: the compute ceiling no kernel can pass;
//   - copy bandwidth: a STREAM copy of 16 MiB float32 arrays (the tensor
//     size of the workloads the profiler is used on), the threads copying
//     a part each: the ceiling of memory-bound ops at that size (smaller
//     tensors, served from closer caches, can pass it);
//   - the GEMM peak: a float32 512^3 product through the library's own
//     Matmul, what its matrix products reach at best.
//
// The ratio of the first two, FLOPs per byte, is the machine balance: an op doing fewer
// FLOPs per byte moved than that is bound by memory (a roofline model).
//
// Each figure is the best of many repetitions over tens of milliseconds
// (the GEMM over at least 150 ms), with the measuring threads pinned one
// per CPU, so that other processes on the machine lower it only when they
// hold a core for the whole measurement. All three take about 0.3 s on an
// idle machine, up to about 0.9 s on a loaded one.
//
// Example:
//
//   const actgrad::MachineRoofs roofs = actgrad::MeasureMachineRoofs();
//   std::cout << actgrad::FormatGroupTable(profile.ByOp(), profile.TotalNs(), "op", roofs)
//             << actgrad::RoofsLegend(roofs) << "\n";

#ifndef ACTGRAD_PROFILE_ROOFS_H_
#define ACTGRAD_PROFILE_ROOFS_H_

namespace actgrad {

struct MachineRoofs {
  // All threads together. Zero means unknown: tables then leave out what
  // needs that roof.
  double fma_gflops = 0;
  double copy_gbytes_per_s = 0;  // 2 arrays counted per element, as STREAM does
  double gemm_gflops = 0;
  int threads = 1;

  // FLOPs per byte at which compute and memory take equally long; 0 when
  // either roof is unknown.
  double Balance() const {
    return fma_gflops > 0 && copy_gbytes_per_s > 0 ? fma_gflops / copy_gbytes_per_s : 0.0;
  }
};

// Measures the three roofs on `threads` threads (at least 1; they must be
// startable, see CheckThreadsCanStart()). The GEMM is run at that thread
// count through SetNumThreads(), and the library's previous count is
// restored afterwards. While measuring, the calling thread and the
// library's OpenMP threads are pinned to CPUs; their previous affinity is
// restored. Call it outside a Profiler's scope, which would record the
// products. The no-argument form uses NumThreads().
MachineRoofs MeasureMachineRoofs(int threads);
MachineRoofs MeasureMachineRoofs();

// The GEMM peak alone, at NumThreads() threads, measured as
// MeasureMachineRoofs() measures it.
double MeasureGemmGflops();

}  // namespace actgrad

#endif  // ACTGRAD_PROFILE_ROOFS_H_
