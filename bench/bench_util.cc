// Shared pieces of actgrad_bench; see bench_util.h.

#include "bench/bench_util.h"

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <string>

namespace actgrad::bench {

double Seconds(Clock::time_point start, Clock::time_point stop) {
  return std::chrono::duration<double>(stop - start).count();
}

int64_t MinorFaults() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

double PeakRssMib() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // KiB on Linux.
}

Summary Summarize(std::vector<double> sample) {
  Summary summary;
  if (sample.empty()) return summary;
  std::sort(sample.begin(), sample.end());
  const size_t n = sample.size();
  summary.median = n % 2 == 1 ? sample[n / 2] : 0.5 * (sample[n / 2 - 1] + sample[n / 2]);
  summary.min = sample.front();
  return summary;
}

double SumOf(const Tensor& t) {
  double sum = 0.0;
  for (float v : t.values<float>()) sum += v;
  return sum;
}

const OpDef* FindActivation(absl::string_view name) {
  for (const OpDef* op : OpRegistry::Global().Activations()) {
    if (op->name == name) return op;
  }
  std::fprintf(stderr, "actgrad_bench: no activation named \"%s\" in the registry\n",
               std::string(name).c_str());
  return nullptr;
}

benchmark::internal::Benchmark* AsWorkload(benchmark::internal::Benchmark* b,
                                           benchmark::TimeUnit unit) {
  return b->Iterations(1)->UseManualTime()->Unit(unit);
}

}  // namespace actgrad::bench
