// -----------------------------------------------------------------------------
// File: communicator.h
// -----------------------------------------------------------------------------
//
// The processes of a data-parallel job and the collectives between them, on
// MPI (Open MPI). Every wait has a deadline: a collective that makes no
// progress for `timeout` ends the whole job (MPI_Abort) with a message that
// names the ranks that fell behind, instead of hanging. Each rank reports the
// step it has reached on a side channel (`Heartbeat`), which is how the
// message can name them. A rank that dies outright is reported by mpirun
// ("process rank 1 ... exited on signal 9").
//
// MPI stays inside this library: the header does not include <mpi.h>.
//
// Example:
//
//   absl::StatusOr<std::unique_ptr<actgrad::dist::Communicator>> comm =
//       actgrad::dist::Communicator::Create({.timeout = absl::Seconds(60)});
//   if (!comm.ok()) { ... }
//   (*comm)->Broadcast(weights, /*root=*/0, "initial weights");
//   actgrad::dist::Request r = (*comm)->StartAllreduceSum(gradients, "bucket 0");
//   (*comm)->Wait(r);

#ifndef ACTGRAD_DIST_COMMUNICATOR_H_
#define ACTGRAD_DIST_COMMUNICATOR_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "graph/tensor.h"

namespace actgrad::dist {

struct CommunicatorOptions {
  // How long any collective may go without completing before the job is
  // ended. Generous by default: a slow rank is not a dead one.
  absl::Duration timeout = absl::Seconds(60);
};

// An outstanding non-blocking collective. Move-only; `Wait` or `Test` it to
// completion before the buffer it works on is read or freed.
class Request {
 public:
  Request() = default;
  Request(Request&& other) noexcept;
  Request& operator=(Request&& other) noexcept;
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;
  ~Request();

  bool pending() const { return handle_ != nullptr; }

 private:
  friend class Communicator;
  struct Handle;
  Handle* handle_ = nullptr;
};

class Communicator {
 public:
  // Initializes MPI for this process unless the program already has (a
  // process started without mpirun is a job of one rank). Fails when MPI
  // cannot start or was already finalized.
  static absl::StatusOr<std::unique_ptr<Communicator>> Create(
      const CommunicatorOptions& options = {});
  // Says goodbye to the other ranks (so none is left waiting on this one's
  // heartbeats) and finalizes MPI if Create initialized it.
  ~Communicator();

  int rank() const { return rank_; }
  int size() const { return size_; }
  absl::Duration timeout() const { return options_.timeout; }

  // Copies `tensor`'s values on `root` into `tensor` on every rank (same
  // shape and dtype everywhere). `what` names the data in timeout messages.
  void Broadcast(Tensor& tensor, int root, std::string_view what);
  void Broadcast(std::span<char> bytes, int root, std::string_view what);
  void Broadcast(std::string& text, int root, std::string_view what);

  // Every rank's `values`, rank after rank (each rank gives the same count).
  std::vector<int64_t> Allgather(std::span<const int64_t> values, std::string_view what);
  std::vector<double> Allgather(std::span<const double> values, std::string_view what);

  // Starts summing `buffer` (float32 or float64, contiguous) over all ranks,
  // in place. The buffer must stay alive and untouched until completion.
  Request StartAllreduceSum(const Tensor& buffer, std::string what);
  // Drives MPI's progress and reports whether `request` has completed.
  bool Test(Request& request);
  // Blocks until `request` completes, or ends the job after the timeout.
  void Wait(Request& request);

  // Tells the others that this rank has reached `step`. Cheap (one small
  // message to rank 0, or from rank 0 to each rank); call once per step.
  void Heartbeat(int64_t step);

  // Prints "actgrad: rank R: message" on stderr and ends every rank of the
  // job with `exit_code`.
  [[noreturn]] void Abort(const std::string& message, int exit_code = 1);

 private:
  struct State;
  explicit Communicator(const CommunicatorOptions& options);
  // Waits for `request`, polling heartbeats; on timeout, aborts with a
  // diagnosis naming the ranks that are behind.
  void WaitOrAbort(void* request, const std::string& what);
  std::string DescribeLaggards() const;
  void AllgatherBytes(const void* mine, size_t bytes, void* all, std::string_view what);
  void PollHeartbeats();

  CommunicatorOptions options_;
  int rank_ = 0;
  int size_ = 1;
  int64_t step_ = -1;
  bool owns_mpi_ = false;
  std::unique_ptr<State> state_;
};

}  // namespace actgrad::dist

#endif  // ACTGRAD_DIST_COMMUNICATOR_H_
