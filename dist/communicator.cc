#include "dist/communicator.h"

#include <mpi.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "graph/error.h"

namespace actgrad::dist {

namespace {

// Heartbeats travel on a communicator of their own, so they can never be
// matched against a collective's messages.
constexpr int kHeartbeatTag = 7;
// The step value a rank sends last, after which it sends nothing more.
constexpr int64_t kFinished = INT64_MAX;
// A rank that is not rank 0 and times out waits this long before aborting,
// so that rank 0, which knows every rank's step, gets to name the laggards.
constexpr double kNonRootGraceSeconds = 3.0;
// How often a rank that waits in a collective repeats its heartbeat.
constexpr double kKeepAliveSeconds = 0.5;

MPI_Datatype MpiType(DType dtype, std::source_location location) {
  switch (dtype) {
    case DType::kFloat32:
      return MPI_FLOAT;
    case DType::kFloat64:
      return MPI_DOUBLE;
    default:
      ACTGRAD_THROW(location, "allreduce: only float32 and float64 tensors can be summed, not ",
                    DTypeName(dtype));
  }
}

double Now() { return MPI_Wtime(); }

}  // namespace

struct Request::Handle {
  MPI_Request request = MPI_REQUEST_NULL;
  std::string what;
};

Request::Request(Request&& other) noexcept : handle_(other.handle_) { other.handle_ = nullptr; }

Request& Request::operator=(Request&& other) noexcept {
  std::swap(handle_, other.handle_);
  return *this;
}

Request::~Request() { delete handle_; }

struct Communicator::State {
  MPI_Comm heartbeat_comm = MPI_COMM_NULL;
  // The last step each rank reported (rank 0 hears from all; the others hear
  // from rank 0 only).
  std::vector<int64_t> reported;
  std::vector<int64_t> incoming;  // receive buffers, one per peer
  std::vector<MPI_Request> receives;
  std::vector<int64_t> outgoing;  // send buffers, one per peer
  std::vector<MPI_Request> sends;
  std::vector<int> peers;  // the ranks this one exchanges heartbeats with
  // When each rank was last heard from (any heartbeat, repeated or not), and
  // when this one last sent: a rank that is stopped (SIGSTOP) or stuck
  // outside the library falls silent, even when its last step matches.
  std::vector<double> last_heard;
  double last_sent = 0;
};

Communicator::Communicator(const CommunicatorOptions& options)
    : options_(options), state_(std::make_unique<State>()) {}

absl::StatusOr<std::unique_ptr<Communicator>> Communicator::Create(
    const CommunicatorOptions& options) {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) {
    return absl::FailedPreconditionError("MPI was already finalized in this process");
  }
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
      return absl::UnavailableError("MPI_Init_thread failed: is this process started by mpirun?");
    }
  }
  auto comm = std::unique_ptr<Communicator>(new Communicator(options));
  comm->owns_mpi_ = !initialized;
  MPI_Comm_rank(MPI_COMM_WORLD, &comm->rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &comm->size_);
  // Failures come back as codes so that they can be reported with the rank.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  State& s = *comm->state_;
  MPI_Comm_dup(MPI_COMM_WORLD, &s.heartbeat_comm);
  if (comm->rank_ == 0) {
    for (int r = 1; r < comm->size_; ++r) s.peers.push_back(r);
  } else {
    s.peers.push_back(0);
  }
  const size_t n = s.peers.size();
  s.reported.assign(comm->size_, -1);
  s.last_heard.assign(comm->size_, Now());
  s.incoming.assign(n, 0);
  s.outgoing.assign(n, 0);
  s.receives.assign(n, MPI_REQUEST_NULL);
  s.sends.assign(n, MPI_REQUEST_NULL);
  for (size_t i = 0; i < n; ++i) {
    MPI_Irecv(&s.incoming[i], 1, MPI_INT64_T, s.peers[i], kHeartbeatTag, s.heartbeat_comm,
              &s.receives[i]);
  }
  return comm;
}

Communicator::~Communicator() {
  State& s = *state_;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  // Say goodbye, then hear every peer's goodbye: messages from one rank
  // arrive in order, so nothing of theirs is left in flight afterwards.
  Heartbeat(kFinished);
  const double start = Now();
  auto all_finished = [&] {
    for (int peer : s.peers) {
      if (s.reported[peer] != kFinished) return false;
    }
    return true;
  };
  while (!all_finished() && Now() - start < absl::ToDoubleSeconds(options_.timeout)) {
    PollHeartbeats();
    std::this_thread::yield();
  }
  for (MPI_Request& r : s.receives) {
    if (r != MPI_REQUEST_NULL) {
      MPI_Cancel(&r);
      MPI_Wait(&r, MPI_STATUS_IGNORE);
    }
  }
  for (MPI_Request& r : s.sends) {
    if (r != MPI_REQUEST_NULL) MPI_Wait(&r, MPI_STATUS_IGNORE);
  }
  MPI_Comm_free(&s.heartbeat_comm);
  if (owns_mpi_) MPI_Finalize();
}

void Communicator::Heartbeat(int64_t step) {
  State& s = *state_;
  step_ = step;
  s.last_sent = Now();
  s.reported[rank_] = step;
  for (size_t i = 0; i < s.peers.size(); ++i) {
    int done = 1;
    if (s.sends[i] != MPI_REQUEST_NULL) MPI_Test(&s.sends[i], &done, MPI_STATUS_IGNORE);
    // A send still in flight carries an older step; the goodbye must go out
    // regardless, so it waits for the previous one.
    if (!done && step == kFinished) {
      MPI_Wait(&s.sends[i], MPI_STATUS_IGNORE);
      done = 1;
    }
    if (!done) continue;
    s.outgoing[i] = step;
    MPI_Isend(&s.outgoing[i], 1, MPI_INT64_T, s.peers[i], kHeartbeatTag, s.heartbeat_comm,
              &s.sends[i]);
  }
  PollHeartbeats();
}

void Communicator::PollHeartbeats() {
  State& s = *state_;
  for (size_t i = 0; i < s.peers.size(); ++i) {
    while (s.receives[i] != MPI_REQUEST_NULL) {
      int done = 0;
      MPI_Test(&s.receives[i], &done, MPI_STATUS_IGNORE);
      if (!done) break;
      s.reported[s.peers[i]] = s.incoming[i];
      s.last_heard[s.peers[i]] = Now();
      if (s.incoming[i] == kFinished) break;  // nothing more will come
      MPI_Irecv(&s.incoming[i], 1, MPI_INT64_T, s.peers[i], kHeartbeatTag, s.heartbeat_comm,
                &s.receives[i]);
    }
  }
}

std::string Communicator::DescribeLaggards() const {
  const State& s = *state_;
  auto step_text = [](int64_t step) {
    if (step == kFinished) return std::string("had finished");
    if (step < 0) return std::string("had not started its first step");
    return absl::StrCat("last reported step ", step);
  };
  std::vector<std::string> behind;
  const double now = Now();
  for (int r = 0; r < size_; ++r) {
    if (r == rank_) continue;
    const bool known = rank_ == 0 || r == 0;
    if (!known) continue;
    // Ranks waiting in a collective repeat their heartbeat twice a second.
    const double silent = now - s.last_heard[r];
    const std::string silence =
        s.reported[r] != kFinished && silent > 4 * kKeepAliveSeconds
            ? absl::StrFormat(
                  " and has sent nothing for %.0f s (stopped, or stuck outside a "
                  "collective)",
                  silent)
            : "";
    if (s.reported[r] != step_ || !silence.empty()) {
      behind.push_back(absl::StrCat("rank ", r, " ", step_text(s.reported[r]), silence));
    }
  }
  const std::string here = absl::StrCat("this rank is at step ", step_);
  if (behind.empty()) {
    return rank_ == 0 ? absl::StrCat(here, " and so is every other rank")
                      : absl::StrCat(here, " and so is rank 0; another rank is behind");
  }
  return absl::StrCat(here, "; ", absl::StrJoin(behind, ", "));
}

void Communicator::WaitOrAbort(void* request_ptr, const std::string& what) {
  MPI_Request* request = static_cast<MPI_Request*>(request_ptr);
  const double timeout = absl::ToDoubleSeconds(options_.timeout);
  const double start = Now();
  double deadline = start + timeout;
  bool grace = false;
  int spins = 0;
  for (;;) {
    int done = 0;
    const int code = MPI_Test(request, &done, MPI_STATUS_IGNORE);
    if (code != MPI_SUCCESS) {
      char text[MPI_MAX_ERROR_STRING];
      int length = 0;
      MPI_Error_string(code, text, &length);
      Abort(absl::StrCat(what, " failed: ", std::string(text, length), " (", DescribeLaggards(),
                         ")"));
    }
    if (done) return;
    PollHeartbeats();
    const double now = Now();
    // Waiting is alive: say so, so that silence means a stopped rank.
    if (now - state_->last_sent > kKeepAliveSeconds) Heartbeat(step_);
    if (now > deadline) {
      if (rank_ != 0 && !grace && size_ > 1) {
        grace = true;
        deadline = now + kNonRootGraceSeconds;
        continue;
      }
      Abort(absl::StrFormat(
          "%s made no progress for %.0f s: %s. A rank that hangs or has died stops the job; "
          "if it is only slow, raise the timeout (--comm-timeout)",
          what, now - start, DescribeLaggards()));
    }
    // Spin briefly for latency, then give the core away: ranks may share
    // cores (mpirun --oversubscribe).
    if (++spins > 64) std::this_thread::yield();
  }
}

void Communicator::Broadcast(std::span<char> bytes, int root, std::string_view what) {
  MPI_Request request;
  MPI_Ibcast(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, root, MPI_COMM_WORLD,
             &request);
  WaitOrAbort(&request, absl::StrCat("the broadcast of ", std::string(what)));
}

void Communicator::Broadcast(Tensor& tensor, int root, std::string_view what) {
  const size_t bytes = static_cast<size_t>(tensor.numel()) * DTypeSize(tensor.dtype());
  Broadcast(std::span<char>(static_cast<char*>(tensor.raw_data()), bytes), root, what);
}

void Communicator::Broadcast(std::string& text, int root, std::string_view what) {
  int64_t length = static_cast<int64_t>(text.size());
  Broadcast(std::span<char>(reinterpret_cast<char*>(&length), sizeof(length)), root, what);
  text.resize(static_cast<size_t>(length));
  Broadcast(std::span<char>(text.data(), text.size()), root, what);
}

void Communicator::AllgatherBytes(const void* mine, size_t bytes, void* all,
                                  std::string_view what) {
  MPI_Request request;
  MPI_Iallgather(mine, static_cast<int>(bytes), MPI_BYTE, all, static_cast<int>(bytes), MPI_BYTE,
                 MPI_COMM_WORLD, &request);
  WaitOrAbort(&request, absl::StrCat("gathering ", std::string(what)));
}

std::vector<int64_t> Communicator::Allgather(std::span<const int64_t> values,
                                             std::string_view what) {
  std::vector<int64_t> all(values.size() * size_);
  AllgatherBytes(values.data(), values.size_bytes(), all.data(), what);
  return all;
}

std::vector<double> Communicator::Allgather(std::span<const double> values, std::string_view what) {
  std::vector<double> all(values.size() * size_);
  AllgatherBytes(values.data(), values.size_bytes(), all.data(), what);
  return all;
}

Request Communicator::StartAllreduceSum(const Tensor& buffer, std::string what) {
  const MPI_Datatype type = MpiType(buffer.dtype(), std::source_location::current());
  Request r;
  r.handle_ = new Request::Handle{.what = std::move(what)};
  const int code = MPI_Iallreduce(MPI_IN_PLACE, buffer.raw_data(), static_cast<int>(buffer.numel()),
                                  type, MPI_SUM, MPI_COMM_WORLD, &r.handle_->request);
  if (code != MPI_SUCCESS) Abort(absl::StrCat("starting ", r.handle_->what, " failed"));
  return r;
}

bool Communicator::Test(Request& request) {
  if (request.handle_ == nullptr) return true;
  int done = 0;
  MPI_Test(&request.handle_->request, &done, MPI_STATUS_IGNORE);
  if (!done) return false;
  delete request.handle_;
  request.handle_ = nullptr;
  return true;
}

void Communicator::Wait(Request& request) {
  if (request.handle_ == nullptr) return;
  WaitOrAbort(&request.handle_->request, request.handle_->what);
  delete request.handle_;
  request.handle_ = nullptr;
}

void Communicator::Abort(const std::string& message, int exit_code) {
  // One write(2) of the whole line: ranks that abort together share the
  // terminal, and their lines must not interleave.
  const std::string line =
      absl::StrCat("actgrad: rank ", rank_, " of ", size_, ": ", message, "\n");
  std::cerr.flush();
  const char* text = line.data();
  size_t left = line.size();
  while (left > 0) {
    const ssize_t n = ::write(STDERR_FILENO, text, left);
    if (n <= 0) break;
    text += n;
    left -= static_cast<size_t>(n);
  }
  MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);  // MPI_Abort does not return; this keeps [[noreturn]] true
}

}  // namespace actgrad::dist
