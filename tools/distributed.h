// -----------------------------------------------------------------------------
// File: distributed.h
// -----------------------------------------------------------------------------
//
// `actgrad train --distributed`: the command line's side of data-parallel
// training. Started under mpirun, each process becomes a rank; this class
// joins the MPI job, attaches data parallelism to the model, ends the whole
// job when one rank fails (so no rank is left waiting), and gathers every
// rank's throughput and communication time for rank 0 to print. In a build
// without MPI, Start says so.
//
// Example:
//
//   absl::StatusOr<std::unique_ptr<DistributedRun>> run = DistributedRun::Start(flags);
//   if (absl::Status s = (*run)->Attach(*model.network); !s.ok()) (*run)->Fail(...);
//   options.gradient_sync = (*run)->sync();
//   ...
//   const std::vector<RankFigures> figures = (*run)->Gather(seconds);
//   if ((*run)->rank() == 0) std::cout << FormatRankTable(figures);

#ifndef ACTGRAD_TOOLS_DISTRIBUTED_H_
#define ACTGRAD_TOOLS_DISTRIBUTED_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "nn/gradient_sync.h"
#include "nn/module.h"

namespace actgrad::tools {

struct DistributedFlags {
  double comm_timeout_seconds = 60;
  int64_t bucket_kib = 256;
  bool overlap = true;
};

// One rank's share of a data-parallel run.
struct RankFigures {
  int rank = 0;
  int64_t rows = 0;  // training rows this rank went through
  int64_t steps = 0;
  double seconds = 0;          // wall time of its training
  double exposed_seconds = 0;  // waiting for gradients the backward pass did not hide
  double hook_seconds = 0;     // copying gradients into buckets, starting allreduces
  int64_t bytes_per_step = 0;  // gradient bytes summed over the ranks each step
  int buckets = 0;
};

// A table with one row per rank: samples per second, step time, and the
// communication time per step and as a share of the step.
std::string FormatRankTable(const std::vector<RankFigures>& figures);

class DistributedRun {
 public:
  static absl::StatusOr<std::unique_ptr<DistributedRun>> Start(const DistributedFlags& flags);
  virtual ~DistributedRun() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Collective, before any training: every rank passes the same list of
  // (setting, value) pairs in the same order — every option after defaults,
  // the data's shape and a hash of its content, the plugins, the version.
  // kFailedPrecondition on every rank when any rank differs, naming the
  // first rank that does, the setting and both values ("rank 1 has
  // --activation tanh, rank 0 relu").
  virtual absl::Status Agree(const std::vector<std::pair<std::string, std::string>>& settings) = 0;
  // Checks that all ranks built the same model and hooks data parallelism
  // into it.
  virtual absl::Status Attach(nn::Module& model) = 0;
  virtual nn::GradientSync* sync() = 0;
  // Ends every rank of the job, printing `message` with this rank's number.
  [[noreturn]] virtual void Fail(const std::string& message) = 0;
  // Collective: every rank calls it with the seconds its training took.
  // Rank 0 gets every rank's figures, the others an empty list.
  virtual std::vector<RankFigures> Gather(double seconds) = 0;
  // Collective: empty when every replica holds bitwise the same parameters,
  // otherwise which ranks differ from rank 0.
  virtual std::string CompareReplicas() = 0;
};

}  // namespace actgrad::tools

#endif  // ACTGRAD_TOOLS_DISTRIBUTED_H_
