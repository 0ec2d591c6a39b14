// The cost of data-parallel training on W3's model (784-512-256-10, relu,
// cross-entropy, SGD with momentum; shared/reference/WORKLOADS.md), run
// under mpirun: the step time at this many ranks, the gradient bytes summed
// per step, and how much of the communication the backward pass hides.
//
//   mpirun -np 2 actgrad_dist_bench [--global-batch 128 | --rank-batch 128]
//                                   [--bucket-kib 256] [--steps 100]
//
// Three modes run one after the other on the same replicas:
//   local       each rank's step on its own slice, no communication (compute);
//   no_overlap  every bucket's allreduce starts after the backward pass, so
//               the time spent finishing the step is the whole communication;
//   overlap     buckets start as the backward pass fills them (the default).
// hidden_fraction = 1 - overlap's exposed time / no_overlap's exposed time.
// Rank 0 prints one JSON line per mode; times are medians over the steps of
// the slowest rank's per-step times.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "dist/communicator.h"
#include "dist/data_parallel.h"
#include "graph/factories.h"
#include "io/json.h"
#include "nn/nn.h"
#include "ops/functional.h"
#include "optim/sgd.h"

namespace actgrad::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0 : (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]));
}

struct Flags {
  int64_t global_batch = 128;
  int64_t rank_batch = 0;  // when set, overrides global_batch / ranks
  int64_t bucket_kib = 256;
  int warmup = 10;
  int steps = 100;
};

bool ParseFlags(int argc, char** argv, Flags& f) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string name = argv[i];
    const long long value = std::atoll(argv[i + 1]);
    if (name == "--global-batch")
      f.global_batch = value;
    else if (name == "--rank-batch")
      f.rank_batch = value;
    else if (name == "--bucket-kib")
      f.bucket_kib = value;
    else if (name == "--steps")
      f.steps = static_cast<int>(value);
    else if (name == "--warmup")
      f.warmup = static_cast<int>(value);
    else
      return false;
  }
  return (argc % 2) == 1;
}

std::unique_ptr<nn::Sequential> W3Model() {
  Generator gen(0);
  return nn::Mlp({.inputs = 784, .hidden = {512, 256}, .outputs = 10}, gen);
}

struct ModeResult {
  std::vector<double> step_ms;     // per step, the slowest rank's
  std::vector<double> exposed_ms;  // per step, the slowest rank's
  double loss_last = 0;
  uint64_t fingerprint = 0;
};

// Runs warmup + steps training steps; `sync` null means no communication.
ModeResult Run(dist::Communicator& comm, nn::Sequential& model, dist::DataParallel* sync,
               const Tensor& x, const Tensor& labels, int64_t global_rows, const Flags& f) {
  optim::Sgd sgd(model.Parameters(), {.learning_rate = 0.01, .momentum = 0.9});
  std::vector<double> step_ms, exposed_ms;
  double loss_value = 0;
  for (int step = 0; step < f.warmup + f.steps; ++step) {
    const double exposed_before = sync ? sync->stats().exposed_seconds : 0;
    const auto t0 = Clock::now();
    sgd.ZeroGrad();
    if (sync) sync->BeginStep(x.dim(0), global_rows);
    const Tensor loss = CrossEntropy(model.Forward(x), labels);
    loss.Backward();
    loss_value = loss.item();
    if (sync) loss_value = sync->FinishStep(loss_value, {}).loss;
    sgd.Step();
    const auto t1 = Clock::now();
    if (step >= f.warmup) {
      step_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      exposed_ms.push_back(sync ? 1e3 * (sync->stats().exposed_seconds - exposed_before) : 0);
    }
  }
  // The slowest rank sets the pace of a synchronous job.
  ModeResult r;
  const std::vector<double> all_steps = comm.Allgather(step_ms, "step times");
  const std::vector<double> all_exposed = comm.Allgather(exposed_ms, "exposed times");
  for (int s = 0; s < f.steps; ++s) {
    double slowest = 0, exposed = 0;
    for (int rank = 0; rank < comm.size(); ++rank) {
      slowest = std::max(slowest, all_steps[rank * f.steps + s]);
      exposed = std::max(exposed, all_exposed[rank * f.steps + s]);
    }
    r.step_ms.push_back(slowest);
    r.exposed_ms.push_back(exposed);
  }
  r.loss_last = loss_value;
  return r;
}

int Main(int argc, char** argv) {
  Flags f;
  if (!ParseFlags(argc, argv, f)) {
    std::cerr << "usage: actgrad_dist_bench [--global-batch N | --rank-batch N] "
                 "[--bucket-kib K] [--steps S] [--warmup W]\n";
    return 2;
  }
  auto comm_or = dist::Communicator::Create({.timeout = absl::Seconds(120)});
  if (!comm_or.ok()) {
    std::cerr << comm_or.status() << "\n";
    return 1;
  }
  dist::Communicator& comm = **comm_or;
  const int ranks = comm.size();
  const int64_t rank_batch = f.rank_batch > 0 ? f.rank_batch : f.global_batch / ranks;
  const int64_t global_rows = rank_batch * ranks;
  // Every rank draws the global batch and keeps its slice, as training does.
  Generator gen(1);
  const Tensor all_x = Normal(Shape{global_rows, 784}, 0, 1, gen);
  std::vector<int64_t> all_labels(global_rows);
  for (int64_t& l : all_labels) l = static_cast<int64_t>(gen.NextBelow(10));
  std::vector<int64_t> rows(rank_batch);
  for (int64_t i = 0; i < rank_batch; ++i) rows[i] = comm.rank() * rank_batch + i;
  const Tensor x = nn::GatherRows(all_x, rows);
  const Tensor labels =
      Labels(std::span<const int64_t>(all_labels.data() + comm.rank() * rank_batch, rank_batch));

  struct Mode {
    const char* name;
    bool communicate;
    bool overlap;
  };
  const Mode modes[] = {
      {"local", false, false}, {"no_overlap", true, false}, {"overlap", true, true}};
  double no_overlap_exposed = 0;
  for (const Mode& mode : modes) {
    auto model = W3Model();
    std::unique_ptr<dist::DataParallel> ddp;
    if (mode.communicate) {
      auto created = dist::DataParallel::Create(
          comm, *model, {.bucket_bytes = f.bucket_kib * 1024, .overlap = mode.overlap});
      if (!created.ok()) comm.Abort(std::string(created.status().message()));
      ddp = std::move(*created);
    }
    const ModeResult r = Run(comm, *model, ddp.get(), x, labels, global_rows, f);
    const double step = Median(r.step_ms);
    const double exposed = Median(r.exposed_ms);
    if (std::string(mode.name) == "no_overlap") no_overlap_exposed = exposed;
    if (comm.rank() != 0) continue;
    io::JsonWriter line;
    line.BeginObject()
        .Key("mode")
        .String(mode.name)
        .Key("ranks")
        .Int(ranks)
        .Key("rank_batch")
        .Int(rank_batch)
        .Key("global_batch")
        .Int(global_rows)
        .Key("step_ms")
        .Number(step)
        .Key("step_ms_min")
        .Number(*std::min_element(r.step_ms.begin(), r.step_ms.end()))
        .Key("exposed_comm_ms")
        .Number(exposed)
        .Key("samples_per_s")
        .Number(std::round(global_rows / (step * 1e-3)))
        .Key("loss_last")
        .Number(r.loss_last);
    if (ddp) {
      line.Key("bytes_per_step")
          .Int(ddp->bytes_per_step())
          .Key("buckets")
          .Int(static_cast<int64_t>(ddp->bucket_members().size()))
          .Key("bucket_kib")
          .Int(f.bucket_kib);
    }
    if (std::string(mode.name) == "overlap" && no_overlap_exposed > 0) {
      line.Key("hidden_fraction").Number(std::max(0.0, 1.0 - exposed / no_overlap_exposed));
    }
    std::cout << line.EndObject().str() << std::endl;
  }
  return 0;
}

}  // namespace
}  // namespace actgrad::bench

int main(int argc, char** argv) { return actgrad::bench::Main(argc, argv); }
