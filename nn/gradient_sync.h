// -----------------------------------------------------------------------------
// File: gradient_sync.h
// -----------------------------------------------------------------------------
//
// Where data-parallel training joins the training loop. `Train` asks a
// GradientSync which slice of every global batch this process trains on,
// lets it make the replicas start equal, and has it combine the gradients
// (and the batch's loss) of all processes before each optimizer step. The
// loop knows nothing of processes; dist::DataParallel implements this over
// MPI. Without one (the default), training is single-process.
//
// Example:
//
//   auto ddp = actgrad::dist::DataParallel::Create(*comm, model, {});
//   actgrad::nn::TrainOptions options;
//   options.batch = 32;                  // per process
//   options.gradient_sync = ddp->get();  // global batch: 32 x processes
//   actgrad::nn::Train(model, loss, train, options);

#ifndef ACTGRAD_NN_GRADIENT_SYNC_H_
#define ACTGRAD_NN_GRADIENT_SYNC_H_

#include <cstdint>
#include <span>
#include <vector>

namespace actgrad::nn {

struct TrainState;

// What the whole global batch came to, the same on every process.
struct GlobalBatchTotals {
  double loss = 0;           // mean over the global batch's rows
  std::vector<double> sums;  // each metric's sum over the global batch's rows
};

class GradientSync {
 public:
  virtual ~GradientSync() = default;

  // This process's index and the number of processes.
  virtual int rank() const = 0;
  virtual int world_size() const = 0;

  // Gives every process the parameters and training state of rank 0
  // (`state` is read on rank 0 and overwritten elsewhere).
  virtual void BroadcastState(TrainState& state) = 0;

  // Before the backward pass of a step in which this process holds
  // `local_rows` of the global batch's `global_rows` rows.
  virtual void BeginStep(int64_t local_rows, int64_t global_rows) = 0;

  // After the backward pass: every parameter's grad() holds the gradient of
  // the mean loss over the global batch, identical on all processes.
  // `local_loss` is the mean loss over this process's rows (ignored when it
  // had none); `local_sums` are the metrics' sums over them.
  virtual GlobalBatchTotals FinishStep(double local_loss, std::span<const double> local_sums) = 0;
};

}  // namespace actgrad::nn

#endif  // ACTGRAD_NN_GRADIENT_SYNC_H_
