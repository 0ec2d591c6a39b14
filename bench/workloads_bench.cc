// Reference workloads W1 (per-op autodiff overhead) and W2 (activation
// bandwidth) of shared/reference/WORKLOADS.md, measured with this library.
// The counters carry the field names of the LibTorch reference's JSON lines,
// so that bench/compare can put the two side by side.
//
// Each benchmark runs one Google Benchmark iteration that holds all warm-up
// and timed repetitions of its workload: the workload fixes its own
// repetition counts and takes medians over them, which the framework's
// iteration-count estimation and mean-based aggregates would not reproduce.

#include <cblas.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "actgrad.h"
#include "benchmark/benchmark.h"

namespace {

using Clock = std::chrono::steady_clock;

// The library runs every op on the calling thread, so the reference's T = 1
// is the only setting that measures the same thing on both sides.
constexpr int kThreads = 1;

double Seconds(Clock::time_point start, Clock::time_point stop) {
  return std::chrono::duration<double>(stop - start).count();
}

// Minor page faults so far. A never-touched page costs 10-20 us on the
// target VMs, so this shows whether buffers are being reused between
// repetitions.
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

struct Summary {
  double median = 0.0;
  double min = 0.0;
};

// WORKLOADS.md's median: for an even count, the mean of the two middle values.
Summary Summarize(std::vector<double> sample) {
  Summary summary;
  if (sample.empty()) return summary;
  std::sort(sample.begin(), sample.end());
  const size_t n = sample.size();
  summary.median =
      n % 2 == 1 ? sample[n / 2] : 0.5 * (sample[n / 2 - 1] + sample[n / 2]);
  summary.min = sample.front();
  return summary;
}

// --- W1 overhead --------------------------------------------------------------

constexpr int kChainOps = 1000;
constexpr int kOverheadWarmup = 20;
constexpr int kOverheadReps = 200;

actgrad::Tensor Chain(const actgrad::Tensor& x) {
  actgrad::Tensor y = x;
  for (int i = 0; i < kChainOps; ++i) {
    switch (i % 4) {
      case 0:
        y = actgrad::Sigmoid(y);
        break;
      case 1:
        y = actgrad::Tanh(y);
        break;
      case 2:
        y = actgrad::Relu(y);
        break;
      default:
        y = actgrad::LeakyRelu(y, 0.01);
        break;
    }
  }
  return actgrad::Sum(y);
}

double NsPerOp(double seconds) { return seconds * 1e9 / kChainOps; }

void OverheadBenchmark(benchmark::State& state) {
  actgrad::Tensor x = actgrad::Full({1}, 0.5);
  x.set_requires_grad(true);

  std::vector<double> fwd, bwd, total, teardown, nograd;
  double check_loss = 0.0;
  double check_grad_x = 0.0;
  int64_t faults = 0;
  for (auto _ : state) {
    for (int rep = 0; rep < kOverheadWarmup + kOverheadReps; ++rep) {
      // Backward must allocate the leaf's gradient afresh, as in the reference.
      x.ClearGrad();
      const int64_t faults_before = MinorFaults();
      const Clock::time_point t0 = Clock::now();
      actgrad::Tensor loss = Chain(x);
      const Clock::time_point t1 = Clock::now();
      loss.Backward();
      const Clock::time_point t2 = Clock::now();
      if (rep == 0) {
        check_loss = loss.item();
        check_grad_x = x.grad().item();
      }
      const Clock::time_point t3 = Clock::now();
      loss = actgrad::Tensor();  // The last reference to the graph.
      const Clock::time_point t4 = Clock::now();
      if (rep < kOverheadWarmup) continue;
      faults += MinorFaults() - faults_before;
      fwd.push_back(NsPerOp(Seconds(t0, t1)));
      bwd.push_back(NsPerOp(Seconds(t1, t2)));
      total.push_back(NsPerOp(Seconds(t0, t2)));
      teardown.push_back(NsPerOp(Seconds(t3, t4)));
    }
    {
      actgrad::NoGradGuard no_grad;
      for (int rep = 0; rep < kOverheadWarmup + kOverheadReps; ++rep) {
        const Clock::time_point t0 = Clock::now();
        actgrad::Tensor out = Chain(x);
        const Clock::time_point t1 = Clock::now();
        if (rep >= kOverheadWarmup) nograd.push_back(NsPerOp(Seconds(t0, t1)));
      }
    }
    // The framework's own time column: one repetition's forward + backward.
    state.SetIterationTime(Summarize(total).median * kChainOps * 1e-9);
  }

  const Summary f = Summarize(fwd);
  const Summary b = Summarize(bwd);
  const Summary t = Summarize(total);
  const Summary d = Summarize(teardown);
  const Summary n = Summarize(nograd);
  state.counters["fwd_ns_per_op"] = f.median;
  state.counters["bwd_ns_per_op"] = b.median;
  state.counters["total_ns_per_op"] = t.median;
  state.counters["nograd_fwd_ns_per_op"] = n.median;
  state.counters["teardown_ns_per_op"] = d.median;
  state.counters["fwd_ns_per_op_min"] = f.min;
  state.counters["bwd_ns_per_op_min"] = b.min;
  state.counters["total_ns_per_op_min"] = t.min;
  state.counters["nograd_fwd_ns_per_op_min"] = n.min;
  state.counters["minflt_per_rep"] =
      static_cast<double>(faults) / kOverheadReps;
  state.counters["check_loss"] = check_loss;
  state.counters["check_grad_x"] = check_grad_x;
  state.counters["chain_ops"] = kChainOps;
  state.counters["reps"] = kOverheadReps;
  state.counters["warmup"] = kOverheadWarmup;
  state.counters["threads"] = kThreads;
  state.counters["peak_rss_mib"] = PeakRssMib();
}

// --- W2 activations -----------------------------------------------------------

constexpr int64_t kActivationN = int64_t{1} << 22;  // 16 MiB of float32.
constexpr int kActivationWarmup = 3;
constexpr int kActivationReps = 30;
constexpr std::array<const char*, 4> kActivationNames = {"sigmoid", "tanh",
                                                         "relu", "leaky_relu"};

// The reference makes x and the seed once for all four activations; sharing
// them keeps the allocator's state comparable too.
struct ActivationInputs {
  actgrad::Tensor x;
  actgrad::Tensor seed;
};

ActivationInputs& SharedActivationInputs() {
  static ActivationInputs* inputs = [] {
    actgrad::Generator gen(0);
    auto* made = new ActivationInputs;
    made->x = actgrad::Uniform({kActivationN}, -4.0, 4.0, gen);
    made->x.set_requires_grad(true);
    made->seed = actgrad::Ones({kActivationN});
    return made;
  }();
  return *inputs;
}

double SumOf(const actgrad::Tensor& t) {
  double sum = 0.0;
  for (float v : t.values<float>()) sum += v;
  return sum;
}

void ActivationBenchmark(benchmark::State& state, const actgrad::OpDef& op) {
  ActivationInputs& inputs = SharedActivationInputs();
  actgrad::Tensor& x = inputs.x;

  std::vector<double> fwd, bwd, total;
  double check_grad_sum = 0.0;
  int64_t faults = 0;
  for (auto _ : state) {
    for (int rep = 0; rep < kActivationWarmup + kActivationReps; ++rep) {
      x.ClearGrad();
      const int64_t faults_before = MinorFaults();
      const Clock::time_point t0 = Clock::now();
      actgrad::Tensor y = actgrad::Apply(op, {x});
      const Clock::time_point t1 = Clock::now();
      y.Backward(inputs.seed);
      const Clock::time_point t2 = Clock::now();
      if (rep >= kActivationWarmup) faults += MinorFaults() - faults_before;
      if (rep == 0) check_grad_sum = SumOf(x.grad());
      y = actgrad::Tensor();
      if (rep < kActivationWarmup) continue;
      fwd.push_back(Seconds(t0, t1) * 1e3);
      bwd.push_back(Seconds(t1, t2) * 1e3);
      total.push_back(Seconds(t0, t2) * 1e3);
    }
    state.SetIterationTime(Summarize(total).median * 1e-3);
  }

  const Summary f = Summarize(fwd);
  const Summary b = Summarize(bwd);
  // Bytes that must move at least: read x, write y; read dy, read the one
  // saved tensor, write dx (GB = 1e9 bytes).
  const double fwd_bytes = 8.0 * kActivationN;
  const double bwd_bytes = 12.0 * kActivationN;
  state.counters["fwd_ms"] = f.median;
  state.counters["bwd_ms"] = b.median;
  state.counters["fwd_ms_min"] = f.min;
  state.counters["bwd_ms_min"] = b.min;
  state.counters["fwd_gbs"] = fwd_bytes / (f.median * 1e-3) / 1e9;
  state.counters["bwd_gbs"] = bwd_bytes / (b.median * 1e-3) / 1e9;
  state.counters["minflt_per_rep"] =
      static_cast<double>(faults) / kActivationReps;
  state.counters["check_grad_sum"] = check_grad_sum;
  state.counters["n"] = static_cast<double>(kActivationN);
  state.counters["reps"] = kActivationReps;
  state.counters["warmup"] = kActivationWarmup;
  state.counters["threads"] = kThreads;
  state.counters["peak_rss_mib"] = PeakRssMib();
}

// Takes "--threads=T" or "--threads T" out of argv before Google Benchmark
// sees it, so that callers can drive this binary like the reference's.
// Returns false, after a message, for a count the library cannot honour.
bool ConsumeThreadsFlag(int& argc, char** argv) {
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const char* value = nullptr;
    if (std::strncmp(argv[i], "--threads=", 10) == 0) {
      value = argv[i] + 10;
    } else if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      value = argv[++i];
    } else {
      argv[kept++] = argv[i];
      continue;
    }
    if (std::atoi(value) != kThreads) {
      std::fprintf(stderr,
                   "actgrad_bench: --threads=%s: the library runs ops on one "
                   "thread, so only --threads=%d is measured\n",
                   value, kThreads);
      return false;
    }
  }
  argc = kept;
  argv[argc] = nullptr;
  return true;
}

// Fixed iterations and manual time make Google Benchmark append
// "/iterations:1/manual_time" to every name. The names are the workloads'
// own, as bench/compare and the reference spell them, so the reporters drop
// those parts.
template <typename Reporter>
class WorkloadNameReporter : public Reporter {
 public:
  using Reporter::Reporter;

  void ReportRuns(
      const std::vector<benchmark::BenchmarkReporter::Run>& runs) override {
    std::vector<benchmark::BenchmarkReporter::Run> renamed = runs;
    for (benchmark::BenchmarkReporter::Run& run : renamed) {
      run.run_name.iterations.clear();
      run.run_name.time_type.clear();
    }
    Reporter::ReportRuns(renamed);
  }
};

// Passing our own reporters bypasses --benchmark_format and
// --benchmark_out_format, so this reads them from argv (Google Benchmark
// still parses and validates the rest). Returns nullptr, after a message,
// for a format without a renaming reporter.
std::unique_ptr<benchmark::BenchmarkReporter> MakeReporter(
    const std::string& format, bool color) {
  if (format == "console") {
    return std::make_unique<WorkloadNameReporter<benchmark::ConsoleReporter>>(
        color ? benchmark::ConsoleReporter::OO_Color
              : benchmark::ConsoleReporter::OO_None);
  }
  if (format == "json") {
    return std::make_unique<WorkloadNameReporter<benchmark::JSONReporter>>();
  }
  std::fprintf(stderr,
               "actgrad_bench: output format \"%s\" is not supported "
               "(console or json)\n",
               format.c_str());
  return nullptr;
}

// The value of "--name=value" in argv, or `fallback`.
std::string FlagValue(int argc, char** argv, const std::string& name,
                      const std::string& fallback) {
  const std::string prefix = "--" + name + "=";
  std::string value = fallback;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) {
      value = argv[i] + prefix.size();
    }
  }
  return value;
}

}  // namespace

int main(int argc, char** argv) {
  if (!ConsumeThreadsFlag(argc, argv)) return 2;
  // WORKLOADS.md sets the BLAS thread count to T as well; W1 and W2 make no
  // BLAS calls, but an idle OpenBLAS pool must not differ between the sides.
  openblas_set_num_threads(kThreads);

  benchmark::RegisterBenchmark("W1_overhead", OverheadBenchmark)
      ->Iterations(1)
      ->UseManualTime()
      ->Unit(benchmark::kMicrosecond);

  // The registry, not this file, is the list of ops: a row that stops being
  // an activation, or is renamed, fails here instead of being benchmarked
  // through some other path.
  const std::vector<const actgrad::OpDef*> activations =
      actgrad::OpRegistry::Global().Activations();
  for (const char* name : kActivationNames) {
    const auto row = std::find_if(
        activations.begin(), activations.end(),
        [name](const actgrad::OpDef* op) { return op->name == name; });
    if (row == activations.end()) {
      std::fprintf(stderr,
                   "actgrad_bench: no activation named \"%s\" in the registry\n",
                   name);
      return 1;
    }
    const actgrad::OpDef* op = *row;
    benchmark::RegisterBenchmark(
        ("W2_activations/" + std::string(name)).c_str(),
        [op](benchmark::State& state) { ActivationBenchmark(state, *op); })
        ->Iterations(1)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }

  const std::string display_format =
      FlagValue(argc, argv, "benchmark_format", "console");
  const std::string out_path = FlagValue(argc, argv, "benchmark_out", "");
  const std::string out_format =
      FlagValue(argc, argv, "benchmark_out_format", "json");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  std::unique_ptr<benchmark::BenchmarkReporter> display_reporter =
      MakeReporter(display_format, isatty(STDOUT_FILENO) != 0);
  if (display_reporter == nullptr) return 1;
  std::unique_ptr<benchmark::BenchmarkReporter> file_reporter;
  if (!out_path.empty()) {
    file_reporter = MakeReporter(out_format, /*color=*/false);
    if (file_reporter == nullptr) return 1;
  }
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  benchmark::AddCustomContext("openblas_core", openblas_get_corename());
  benchmark::AddCustomContext("OPENBLAS_CORETYPE",
                              coretype != nullptr ? coretype : "(unset)");
  benchmark::AddCustomContext("actgrad_threads", std::to_string(kThreads));
  benchmark::RunSpecifiedBenchmarks(display_reporter.get(),
                                    file_reporter.get());
  benchmark::Shutdown();
  return 0;
}
