// The soak test: 100,000 SGD steps of the default 30-64-32-1 network on the
// bundled breast-cancer data in one process, reporting resident memory as it
// goes. Memory that grows with the step count (a leaked node, buffer or
// graph) shows up here long before it shows in a 200-epoch run.
//
//   build/release/fuzz/actgrad_soak [DATA.csv] [--steps N] [--keep-losses]
//
// Each step is what nn::Train does for a batch: gather 32 shuffled rows,
// forward to the logits, binary cross-entropy with logits, backward, SGD
// with momentum. RSS (from /proc/self/statm) is printed after steps 1,
// 1000, 10000, 50000 and 100000. The exit status is 0 when the RSS after the
// last step exceeds the RSS after step 1000 by at most 1 MiB ("flat"), 1
// otherwise, and 2 for a bad argument or unreadable data. Run by
// scripts/soak.sh.
//
// --keep-losses is the negative control: it keeps every step's loss tensor
// alive, as a leak in user code would, and with it that step's graph, so
// the RSS must grow and the exit status be 1.

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "actgrad.h"
#include "io/csv.h"
#include "nn/nn.h"
#include "optim/sgd.h"

namespace {

constexpr int64_t kBatch = 32;
constexpr int64_t kBaselineStep = 1000;
constexpr int64_t kFlatKiB = 1024;

// Resident set size in KiB, from the second field of /proc/self/statm.
int64_t ResidentKiB() {
  std::ifstream statm("/proc/self/statm");
  long pages_total = 0;
  long pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return static_cast<int64_t>(pages_resident) * sysconf(_SC_PAGESIZE) / 1024;
}

bool IsReportStep(int64_t step, int64_t steps) {
  return step == 1 || step == kBaselineStep || step == 10'000 || step == 50'000 || step == steps;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace actgrad;
  std::string data_path = ACTGRAD_SOAK_DATA;
  int64_t steps = 100'000;
  bool keep_losses = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--steps") == 0 && i + 1 < argc) {
      steps = std::atoll(argv[++i]);
    } else if (std::strcmp(argv[i], "--keep-losses") == 0) {
      keep_losses = true;
    } else {
      data_path = argv[i];
    }
  }
  if (steps < kBaselineStep) {
    std::fprintf(stderr, "soak: --steps must be at least %lld\n",
                 static_cast<long long>(kBaselineStep));
    return 2;
  }
  const absl::StatusOr<io::Dataset> data = io::ReadCsv(data_path);
  if (!data.ok()) {
    std::fprintf(stderr, "soak: %s\n", std::string(data.status().message()).c_str());
    return 2;
  }

  const nn::Scaler scaler = nn::Scaler::Fit(nn::Scaling::kUnit, data->Features());
  io::Dataset scaled = *data;
  scaled.x = scaler.Transform(data->Features()).ToVector();

  Generator gen(0);
  std::unique_ptr<nn::Sequential> model =
      nn::Mlp({.inputs = data->features, .hidden = {64, 32}, .outputs = 1}, gen);
  optim::Sgd sgd(model->Parameters(), {.learning_rate = 0.05, .momentum = 0.9});

  std::vector<int64_t> rows(static_cast<size_t>(scaled.rows));
  for (int64_t i = 0; i < scaled.rows; ++i) rows[static_cast<size_t>(i)] = i;
  std::vector<std::vector<int64_t>> batches;
  size_t next_batch = 0;

  std::printf("soak: %lld SGD steps, %s, %lld rows, network %lld-64-32-1, batch %lld\n",
              static_cast<long long>(steps), data_path.c_str(), static_cast<long long>(scaled.rows),
              static_cast<long long>(scaled.features), static_cast<long long>(kBatch));
  std::printf("soak: rss before the first step %lld KiB\n", static_cast<long long>(ResidentKiB()));
  const auto start = std::chrono::steady_clock::now();
  int64_t baseline = 0;
  std::vector<Tensor> kept;
  double last_loss = 0;
  for (int64_t step = 1; step <= steps; ++step) {
    if (next_batch == batches.size()) {
      batches = io::ShuffledBatches(rows, kBatch, gen);
      next_batch = 0;
    }
    const io::Dataset batch = scaled.Subset(batches[next_batch++]);
    const Tensor x = batch.Features();
    const Tensor y = FromValues(std::span<const double>(batch.y), Shape{batch.rows, 1});
    sgd.ZeroGrad();
    const Tensor loss = BinaryCrossEntropyWithLogits(model->Logits(x), y);
    loss.Backward();
    sgd.Step();
    if (keep_losses) kept.push_back(loss);
    if (IsReportStep(step, steps)) {
      last_loss = loss.item();
      const int64_t rss = ResidentKiB();
      if (step == kBaselineStep) baseline = rss;
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("soak: step %7lld  rss %6lld KiB  loss %.6f  %.1f s\n",
                  static_cast<long long>(step), static_cast<long long>(rss), last_loss, seconds);
      std::fflush(stdout);
    }
  }
  const int64_t growth = ResidentKiB() - baseline;
  const bool flat = growth <= kFlatKiB && std::isfinite(last_loss);
  std::printf("soak: rss grew %+lld KiB from step %lld to step %lld: %s (limit %lld KiB)\n",
              static_cast<long long>(growth), static_cast<long long>(kBaselineStep),
              static_cast<long long>(steps), flat ? "flat" : "NOT flat",
              static_cast<long long>(kFlatKiB));
  return flat ? 0 : 1;
}
