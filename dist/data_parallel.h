// -----------------------------------------------------------------------------
// File: data_parallel.h
// -----------------------------------------------------------------------------
//
// dist/ trains one model on several processes over MPI; it is built when
// Open MPI is found.
//
// Data-parallel training as PyTorch's DistributedDataParallel does it: every
// rank holds a full replica of the model and trains on its slice of each
// global batch; the gradients are averaged over the ranks before the
// optimizer step, so the replicas stay identical. Gradients are grouped in
// buckets (about `bucket_bytes` each, in reverse parameter order, which is
// the order the backward pass produces them); a gradient hook copies each
// parameter's gradient into its bucket as it arrives, and a bucket's
// non-blocking allreduce starts as soon as it is full, so communication
// overlaps the rest of the backward pass. Buckets start in the same order on
// every rank, as MPI requires.
//
// Creating one checks that every rank holds the same architecture (names,
// shapes and dtypes of the parameters) and names the rank that differs.
//
// Example:
//
//   auto comm = actgrad::dist::Communicator::Create();
//   auto ddp = actgrad::dist::DataParallel::Create(**comm, model, {});
//   if (!ddp.ok()) { (*comm)->Abort(std::string(ddp.status().message())); }
//   options.gradient_sync = ddp->get();
//   actgrad::nn::Train(model, loss, train, options);
//   const actgrad::dist::SyncStats& stats = (*ddp)->stats();

#ifndef ACTGRAD_DIST_DATA_PARALLEL_H_
#define ACTGRAD_DIST_DATA_PARALLEL_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "dist/communicator.h"
#include "nn/gradient_sync.h"
#include "nn/module.h"

namespace actgrad::dist {

struct DataParallelOptions {
  // Target size of a gradient bucket. Smaller buckets start communicating
  // earlier in the backward pass; larger ones pay the per-message latency
  // fewer times.
  int64_t bucket_bytes = 256 << 10;
  // Start each bucket's allreduce as soon as it is full (true), or all of
  // them after the backward pass (false; only useful to measure how much the
  // overlap hides).
  bool overlap = true;
};

// Where the time of the steps went, on this rank.
struct SyncStats {
  int64_t steps = 0;
  int64_t rows = 0;  // training rows this rank went through
  // Buckets whose allreduce started inside the backward pass (overlapped),
  // rather than after it.
  int64_t buckets_overlapped = 0;
  int64_t bytes_reduced = 0;  // gradient bytes summed per step, times steps
  // Time in FinishStep: waiting for allreduces the backward pass did not
  // hide, and writing the averaged gradients back.
  double exposed_seconds = 0;
  // Time in the gradient hooks (copying into buckets, starting allreduces).
  double hook_seconds = 0;
  double broadcast_seconds = 0;
};

class DataParallel final : public nn::GradientSync {
 public:
  // Registers a gradient hook on each parameter of `model` and checks that
  // every rank's model has the same parameters. The communicator and the
  // model must outlive this object.
  static absl::StatusOr<std::unique_ptr<DataParallel>> Create(Communicator& comm, nn::Module& model,
                                                              const DataParallelOptions& options);
  ~DataParallel() override;

  int rank() const override { return comm_.rank(); }
  int world_size() const override { return comm_.size(); }
  void BroadcastState(nn::TrainState& state) override;
  void BeginStep(int64_t local_rows, int64_t global_rows) override;
  nn::GlobalBatchTotals FinishStep(double local_loss, std::span<const double> local_sums) override;

  // Copies rank 0's parameter values to every rank.
  void BroadcastParameters();
  // A hash of this rank's parameter values: replicas that agree bitwise
  // have the same fingerprint.
  uint64_t ParameterFingerprint() const;

  // Buckets in the order their allreduces start; each lists parameter indices.
  const std::vector<std::vector<int>>& bucket_members() const { return bucket_members_; }
  int64_t bytes_per_step() const { return bytes_per_step_; }
  const SyncStats& stats() const { return stats_; }

 private:
  struct Bucket {
    std::vector<int> members;  // parameter indices
    Tensor buffer;             // flat, the members' gradients back to back
    std::vector<int64_t> offsets;
    int pending = 0;  // members whose gradient has not arrived this step
    Request request;
    bool started = false;
  };

  DataParallel(Communicator& comm, std::vector<nn::NamedParameter> parameters,
               const DataParallelOptions& options);
  void OnGradient(int parameter, const Tensor& grad);
  // Starts the allreduces of full buckets, strictly in bucket order.
  void StartReadyBuckets(bool force);

  Communicator& comm_;
  std::vector<nn::NamedParameter> parameters_;
  DataParallelOptions options_;
  std::vector<Bucket> buckets_;
  std::vector<std::vector<int>> bucket_members_;
  std::vector<int> bucket_of_;       // per parameter
  std::vector<int> slot_in_bucket_;  // per parameter
  std::vector<bool> arrived_;        // per parameter, this step
  std::shared_ptr<bool> alive_;      // hooks outlive this object; they check it
  Tensor step_totals_;               // the step's weighted loss and metric sums
  int next_bucket_ = 0;
  bool in_step_ = false;
  double gradient_scale_ = 1;
  int64_t step_ = 0;
  int64_t bytes_per_step_ = 0;
  SyncStats stats_;
};

}  // namespace actgrad::dist

#endif  // ACTGRAD_DIST_DATA_PARALLEL_H_
