// actgrad_bench: the reference workloads W1-W5 of
// shared/reference/WORKLOADS.md measured with this library (w1_w2_bench.cc,
// w3_w5_bench.cc), and one benchmark per registered activation
// (activation_bench.cc), plugins' activations included (--plugin=FILE,
// repeatable). This file holds main(): the --threads and --plugin flags, the run's
// context (BLAS library and kernel, thread counts), and reporters that keep
// the workloads' names as bench/compare and the reference spell them.
//
//   actgrad_bench --threads=2 --benchmark_filter='^W3_' --benchmark_format=json

#include <dlfcn.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "actgrad.h"
#include "bench/bench_util.h"
#include "benchmark/benchmark.h"
#include "ops/plugin.h"

namespace {

// Takes every "--NAME=VALUE" or "--NAME VALUE" out of argv before Google
// Benchmark sees it, calling take(VALUE) for each; false as soon as take
// refuses one.
template <typename Take>
bool ConsumeFlag(int& argc, char** argv, const char* name, Take take) {
  const std::string with_value = std::string("--") + name + "=";
  const std::string alone = std::string("--") + name;
  int kept = 1;
  bool ok = true;
  for (int i = 1; i < argc; ++i) {
    const char* value = nullptr;
    if (std::strncmp(argv[i], with_value.c_str(), with_value.size()) == 0) {
      value = argv[i] + with_value.size();
    } else if (alone == argv[i] && i + 1 < argc) {
      value = argv[++i];
    } else {
      argv[kept++] = argv[i];
      continue;
    }
    if (ok) ok = take(value);
  }
  argc = kept;
  argv[argc] = nullptr;
  return ok;
}

// --threads=T, so that callers can drive this binary like the reference's.
// Sets `threads` to T, or to 0 when the flag is absent; returns false, after
// a message, for a value that is not a positive integer.
bool ConsumeThreadsFlag(int& argc, char** argv, int& threads) {
  threads = 0;
  return ConsumeFlag(argc, argv, "threads", [&](const char* value) {
    char* end = nullptr;
    errno = 0;
    const long parsed = std::strtol(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || parsed < 1 || parsed > 1024) {
      std::fprintf(stderr, "actgrad_bench: --threads=%s: need a positive thread count\n", value);
      return false;
    }
    threads = static_cast<int>(parsed);
    return true;
  });
}

// Loads the plugin of each --plugin=FILE (or --plugin FILE), so that its
// activations get benchmarks of their own.
bool ConsumePluginFlags(int& argc, char** argv) {
  return ConsumeFlag(argc, argv, "plugin", [](const char* path) {
    const absl::StatusOr<std::vector<const actgrad::OpDef*>> ops = actgrad::LoadPlugin(path);
    if (!ops.ok()) {
      std::fprintf(stderr, "actgrad_bench: --plugin=%s: %s\n", path,
                   ops.status().ToString().c_str());
      return false;
    }
    return true;
  });
}

// The file name of the shared object that provides sgemm_ in this process:
// which BLAS the library's products really run on.
std::string BlasLibrary() {
  void* sgemm = dlsym(RTLD_DEFAULT, "sgemm_");
  Dl_info info;
  if (sgemm == nullptr || dladdr(sgemm, &info) == 0 || info.dli_fname == nullptr) {
    return "unknown";
  }
  const std::string path = info.dli_fname;
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Fixed iterations and manual time make Google Benchmark append
// "/iterations:1/manual_time" to every name. The names are the workloads'
// own, as bench/compare and the reference spell them, so the reporters drop
// those parts.
template <typename Reporter>
class WorkloadNameReporter : public Reporter {
 public:
  using Reporter::Reporter;

  void ReportRuns(const std::vector<benchmark::BenchmarkReporter::Run>& runs) override {
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
std::unique_ptr<benchmark::BenchmarkReporter> MakeReporter(const std::string& format, bool color) {
  if (format == "console") {
    return std::make_unique<WorkloadNameReporter<benchmark::ConsoleReporter>>(
        color ? benchmark::ConsoleReporter::OO_Color : benchmark::ConsoleReporter::OO_None);
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
std::string FlagValue(int argc, char** argv, const std::string& name, const std::string& fallback) {
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
  int threads = 0;
  if (!ConsumeThreadsFlag(argc, argv, threads)) return 2;
  if (!ConsumePluginFlags(argc, argv)) return 2;
  // WORKLOADS.md's T is the BLAS thread count as well as the intra-op one;
  // in this library it is only the BLAS one. Without the flag the library's
  // default applies, as for any user.
  if (threads > 0) actgrad::SetNumThreads(threads);

  if (!actgrad::bench::RegisterOverheadWorkloads()) return 1;
  if (!actgrad::bench::RegisterTrainingWorkloads()) return 1;
  actgrad::bench::RegisterConvolutionWorkloads();
  actgrad::bench::RegisterSequenceWorkloads();
  actgrad::bench::RegisterActivationBenchmarks();
  actgrad::bench::RegisterOptimizerBenchmarks();
  actgrad::bench::RegisterAutodiffBenchmarks();

  const std::string display_format = FlagValue(argc, argv, "benchmark_format", "console");
  const std::string out_path = FlagValue(argc, argv, "benchmark_out", "");
  const std::string out_format = FlagValue(argc, argv, "benchmark_out_format", "json");
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
  benchmark::AddCustomContext("blas_core", actgrad::BlasCoreName());
  benchmark::AddCustomContext("blas_library", BlasLibrary());
  benchmark::AddCustomContext("gemm_float32", actgrad::GemmLibraryName());
  benchmark::AddCustomContext("OPENBLAS_CORETYPE", coretype != nullptr ? coretype : "(unset)");
  benchmark::AddCustomContext("actgrad_threads", std::to_string(actgrad::NumThreads()));
  benchmark::AddCustomContext("elementwise_threads",
                              "1: elementwise ops, losses and the optimiser run on the calling "
                              "thread, so W1, W2 and Activation/* are single-threaded at any "
                              "--threads, which sets the BLAS threads of W3-W5's products");
  benchmark::RunSpecifiedBenchmarks(display_reporter.get(), file_reporter.get());
  benchmark::Shutdown();
  return 0;
}
