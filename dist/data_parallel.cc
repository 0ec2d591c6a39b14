#include "dist/data_parallel.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "graph/factories.h"
#include "io/hash.h"
#include "nn/train_loop.h"

namespace actgrad::dist {

namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int64_t Bytes(const Tensor& t) { return t.numel() * static_cast<int64_t>(DTypeSize(t.dtype())); }

std::string Describe(const nn::NamedParameter& p) {
  return absl::StrCat("\"", p.name, "\" ", p.tensor->shape().ToString(), " ",
                      DTypeName(p.tensor->dtype()));
}

// dst = src * scale, or dst += src * scale.
template <typename T>
void ScaleInto(T* dst, const T* src, int64_t n, T scale, bool add) {
  if (add) {
    for (int64_t i = 0; i < n; ++i) dst[i] += src[i] * scale;
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i] * scale;
  }
}

// Every rank compares its parameter list with rank 0's; the message names
// the ranks that differ and, on those ranks, the first parameter that does.
absl::Status CheckSameModel(Communicator& comm, const std::vector<nn::NamedParameter>& params) {
  std::vector<std::string> mine;
  for (const nn::NamedParameter& p : params) mine.push_back(Describe(p));
  std::string reference = absl::StrJoin(mine, "\n");
  comm.Broadcast(reference, 0, "rank 0's parameter list");
  const std::vector<std::string> theirs =
      reference.empty() ? std::vector<std::string>{}
                        : std::vector<std::string>(absl::StrSplit(reference, '\n'));
  int64_t first_difference = -1;
  std::string detail;
  for (size_t i = 0; i < std::max(mine.size(), theirs.size()); ++i) {
    const std::string here = i < mine.size() ? mine[i] : "nothing";
    const std::string there = i < theirs.size() ? theirs[i] : "nothing";
    if (here != there) {
      first_difference = static_cast<int64_t>(i);
      detail = absl::StrFormat(
          "parameter %d is %s here but %s on rank 0 (%d parameters here, %d "
          "on rank 0)",
          i, here, there, mine.size(), theirs.size());
      break;
    }
  }
  const int64_t flag[1] = {first_difference};
  const std::vector<int64_t> all = comm.Allgather(flag, "the model checks");
  std::vector<int> differing;
  for (int r = 0; r < comm.size(); ++r) {
    if (all[r] >= 0) differing.push_back(r);
  }
  if (differing.empty()) return absl::OkStatus();
  if (first_difference >= 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "rank %d holds a different model than rank 0: %s. Every rank must build the same "
        "architecture",
        comm.rank(), detail));
  }
  return absl::FailedPreconditionError(
      absl::StrCat(differing.size() == 1 ? "rank " : "ranks ", absl::StrJoin(differing, ", "),
                   differing.size() == 1 ? " holds" : " hold",
                   " a different model than rank 0 (each names the parameter that differs); "
                   "every rank must build the same architecture"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<DataParallel>> DataParallel::Create(
    Communicator& comm, nn::Module& model, const DataParallelOptions& options) {
  if (options.bucket_bytes <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("the bucket size must be positive, not ", options.bucket_bytes, " bytes"));
  }
  std::vector<nn::NamedParameter> params = model.NamedParameters();
  if (absl::Status same = CheckSameModel(comm, params); !same.ok()) return same;
  return std::unique_ptr<DataParallel>(new DataParallel(comm, std::move(params), options));
}

DataParallel::DataParallel(Communicator& comm, std::vector<nn::NamedParameter> parameters,
                           const DataParallelOptions& options)
    : comm_(comm),
      parameters_(std::move(parameters)),
      options_(options),
      alive_(std::make_shared<bool>(true)),
      step_totals_(Zeros(Shape{1}, DType::kFloat64)) {
  const int n = static_cast<int>(parameters_.size());
  bucket_of_.assign(n, -1);
  slot_in_bucket_.assign(n, -1);
  arrived_.assign(n, false);
  // Reverse order: the last layer's gradients arrive first.
  std::vector<int> current;
  int64_t current_bytes = 0;
  auto close_bucket = [&] {
    if (current.empty()) return;
    bucket_members_.push_back(current);
    current.clear();
    current_bytes = 0;
  };
  for (int i = n - 1; i >= 0; --i) {
    const Tensor& t = *parameters_[i].tensor;
    if (!current.empty() && t.dtype() != parameters_[current.front()].tensor->dtype()) {
      close_bucket();
    }
    current.push_back(i);
    current_bytes += Bytes(t);
    if (current_bytes >= options_.bucket_bytes) close_bucket();
  }
  close_bucket();
  for (size_t b = 0; b < bucket_members_.size(); ++b) {
    Bucket bucket;
    bucket.members = bucket_members_[b];
    int64_t elements = 0;
    for (size_t k = 0; k < bucket.members.size(); ++k) {
      const int p = bucket.members[k];
      bucket_of_[p] = static_cast<int>(b);
      slot_in_bucket_[p] = static_cast<int>(k);
      bucket.offsets.push_back(elements);
      elements += parameters_[p].tensor->numel();
    }
    bucket.buffer = Zeros(Shape{elements}, parameters_[bucket.members.front()].tensor->dtype());
    bytes_per_step_ += Bytes(bucket.buffer);
    buckets_.push_back(std::move(bucket));
  }
  for (int i = 0; i < n; ++i) {
    std::shared_ptr<bool> alive = alive_;
    parameters_[i].tensor->RegisterHook([this, alive, i](const Tensor& grad) {
      if (*alive) OnGradient(i, grad);
      return Tensor();
    });
  }
}

DataParallel::~DataParallel() { *alive_ = false; }

void DataParallel::BroadcastParameters() {
  const auto start = std::chrono::steady_clock::now();
  for (const nn::NamedParameter& p : parameters_) {
    comm_.Broadcast(*p.tensor, 0, absl::StrCat("parameter \"", p.name, "\""));
  }
  stats_.broadcast_seconds += SecondsSince(start);
}

void DataParallel::BroadcastState(nn::TrainState& state) {
  BroadcastParameters();
  const auto start = std::chrono::steady_clock::now();
  int64_t epochs_done = state.epochs_done;
  comm_.Broadcast(std::span<char>(reinterpret_cast<char*>(&epochs_done), sizeof(epochs_done)), 0,
                  "the epochs done");
  state.epochs_done = static_cast<int>(epochs_done);
  comm_.Broadcast(state.batch_order, 0, "the batch order");
  comm_.Broadcast(state.plateau, 0, "the plateau state");
  comm_.Broadcast(state.optimizer, 0, "the optimizer's name");
  int64_t entries = static_cast<int64_t>(state.optimizer_state.size());
  comm_.Broadcast(std::span<char>(reinterpret_cast<char*>(&entries), sizeof(entries)), 0,
                  "the optimizer's state");
  state.optimizer_state.resize(entries);
  for (auto& [name, parameter_state] : state.optimizer_state) {
    comm_.Broadcast(name, 0, "the optimizer state's parameter names");
    const std::string what = absl::StrCat("the optimizer state of \"", name, "\"");
    const nn::NamedParameter* parameter = nullptr;
    for (const nn::NamedParameter& p : parameters_) {
      if (p.name == name) parameter = &p;
    }
    ACTGRAD_REQUIRE(parameter != nullptr, std::source_location::current(), "DataParallel: ", what,
                    " names no parameter of the model");
    int64_t header[2] = {parameter_state.step,
                         static_cast<int64_t>(parameter_state.buffers.size())};
    comm_.Broadcast(std::span<char>(reinterpret_cast<char*>(header), sizeof(header)), 0, what);
    parameter_state.step = header[0];
    parameter_state.buffers.resize(header[1]);
    for (auto& [buffer_name, value] : parameter_state.buffers) {
      comm_.Broadcast(buffer_name, 0, what);
      if (comm_.rank() != 0) {
        value = Zeros(parameter->tensor->shape(), parameter->tensor->dtype());
      }
      comm_.Broadcast(value, 0, what);
    }
  }
  comm_.Broadcast(state.early_stopping, 0, "the early-stopping state");
  int64_t best_count = static_cast<int64_t>(state.best_weights.size());
  comm_.Broadcast(std::span<char>(reinterpret_cast<char*>(&best_count), sizeof(best_count)), 0,
                  "the best weights");
  state.best_weights.resize(best_count);
  for (auto& [name, value] : state.best_weights) {
    comm_.Broadcast(name, 0, "the best weights' names");
    const std::string what = absl::StrCat("the best weights' \"", name, "\"");
    // dtype, rank, then the dimensions.
    std::vector<int64_t> header = {0, 0};
    if (comm_.rank() == 0) {
      header = {static_cast<int64_t>(value.dtype()), value.rank()};
      for (int d = 0; d < value.rank(); ++d) header.push_back(value.dim(d));
    }
    comm_.Broadcast(std::span<char>(reinterpret_cast<char*>(header.data()), 2 * sizeof(int64_t)), 0,
                    what);
    ACTGRAD_REQUIRE(header[0] >= 0 && header[0] <= static_cast<int64_t>(DType::kInt64) &&
                        header[1] >= 0 && header[1] <= 16,
                    std::source_location::current(), "DataParallel: ", what, " arrived with dtype ",
                    header[0], " and rank ", header[1]);
    header.resize(2 + header[1]);
    comm_.Broadcast(
        std::span<char>(reinterpret_cast<char*>(header.data() + 2), header[1] * sizeof(int64_t)), 0,
        what);
    if (comm_.rank() != 0) {
      value = Zeros(Shape(std::vector<int64_t>(header.begin() + 2, header.end())),
                    static_cast<DType>(header[0]));
    }
    comm_.Broadcast(value, 0, what);
  }
  stats_.broadcast_seconds += SecondsSince(start);
}

void DataParallel::BeginStep(int64_t local_rows, int64_t global_rows) {
  gradient_scale_ = global_rows > 0 ? double(local_rows) / double(global_rows) : 0.0;
  std::fill(arrived_.begin(), arrived_.end(), false);
  for (Bucket& b : buckets_) {
    b.pending = static_cast<int>(b.members.size());
    b.started = false;
  }
  next_bucket_ = 0;
  in_step_ = true;
  stats_.rows += local_rows;
  comm_.Heartbeat(step_);
}

void DataParallel::OnGradient(int parameter, const Tensor& grad) {
  if (!in_step_) return;
  const auto start = std::chrono::steady_clock::now();
  Bucket& bucket = buckets_[bucket_of_[parameter]];
  if (bucket.started) {
    // A second backward pass in the same step, after this bucket left:
    // averaging it would need another round, which no rank expects.
    comm_.Abort(absl::StrCat("the gradient of \"", parameters_[parameter].name,
                             "\" arrived after its bucket was sent; call Backward() once per "
                             "step when training data-parallel"));
  }
  const int64_t offset = bucket.offsets[slot_in_bucket_[parameter]];
  const int64_t n = grad.numel();
  const bool add = arrived_[parameter];
  if (grad.dtype() == DType::kFloat64) {
    ScaleInto(bucket.buffer.data<double>() + offset, grad.data<double>(), n, gradient_scale_, add);
  } else {
    ScaleInto(bucket.buffer.data<float>() + offset, grad.data<float>(), n,
              static_cast<float>(gradient_scale_), add);
  }
  if (!add) {
    arrived_[parameter] = true;
    --bucket.pending;
  }
  if (options_.overlap) {
    const int before = next_bucket_;
    StartReadyBuckets(false);
    stats_.buckets_overlapped += next_bucket_ - before;
  }
  // Drive the allreduces already in flight: without a progress thread, MPI
  // moves them along only when called.
  for (int b = 0; b < next_bucket_; ++b) comm_.Test(buckets_[b].request);
  stats_.hook_seconds += SecondsSince(start);
}

void DataParallel::StartReadyBuckets(bool force) {
  while (next_bucket_ < static_cast<int>(buckets_.size())) {
    Bucket& bucket = buckets_[next_bucket_];
    if (bucket.pending > 0 && !force) return;
    // Parameters that got no gradient this step contribute zeros.
    for (size_t k = 0; k < bucket.members.size(); ++k) {
      const int p = bucket.members[k];
      if (arrived_[p]) continue;
      const int64_t bytes = Bytes(*parameters_[p].tensor);
      std::memset(static_cast<char*>(bucket.buffer.raw_data()) +
                      bucket.offsets[k] * DTypeSize(bucket.buffer.dtype()),
                  0, bytes);
    }
    bucket.started = true;
    bucket.request = comm_.StartAllreduceSum(
        bucket.buffer,
        absl::StrFormat("the gradient allreduce of step %d (bucket %d of %d, %d "
                        "bytes)",
                        step_, next_bucket_ + 1, buckets_.size(), Bytes(bucket.buffer)));
    ++next_bucket_;
  }
}

nn::GlobalBatchTotals DataParallel::FinishStep(double local_loss,
                                               std::span<const double> local_sums) {
  const auto start = std::chrono::steady_clock::now();
  StartReadyBuckets(true);
  const int64_t width = 1 + static_cast<int64_t>(local_sums.size());
  if (!step_totals_.defined() || step_totals_.numel() != width) {
    step_totals_ = Zeros(Shape{width}, DType::kFloat64);
  }
  Tensor& totals = step_totals_;
  // A rank with no rows this step contributes nothing, whatever it passed.
  totals.data<double>()[0] = gradient_scale_ > 0 ? local_loss * gradient_scale_ : 0.0;
  std::copy(local_sums.begin(), local_sums.end(), totals.data<double>() + 1);
  Request totals_request =
      comm_.StartAllreduceSum(totals, absl::StrCat("the loss allreduce of step ", step_));
  for (Bucket& bucket : buckets_) {
    comm_.Wait(bucket.request);
    for (size_t k = 0; k < bucket.members.size(); ++k) {
      Tensor& parameter = *parameters_[bucket.members[k]].tensor;
      const size_t bytes = Bytes(parameter);
      const char* averaged = static_cast<const char*>(bucket.buffer.raw_data()) +
                             bucket.offsets[k] * DTypeSize(bucket.buffer.dtype());
      if (!parameter.grad().defined()) {
        parameter.set_grad(Zeros(parameter.shape(), parameter.dtype()));
      }
      std::memcpy(parameter.grad().raw_data(), averaged, bytes);
    }
  }
  comm_.Wait(totals_request);
  in_step_ = false;
  ++step_;
  ++stats_.steps;
  stats_.bytes_reduced += bytes_per_step_;
  stats_.exposed_seconds += SecondsSince(start);
  return {.loss = totals.data<double>()[0],
          .sums = std::vector<double>(totals.data<double>() + 1, totals.data<double>() + width)};
}

uint64_t DataParallel::ParameterFingerprint() const {
  uint64_t hash = io::kFnv1aSeed;
  for (const nn::NamedParameter& p : parameters_) {
    hash = io::Fnv1a(p.tensor->raw_data(), Bytes(*p.tensor), hash);
  }
  return hash;
}

}  // namespace actgrad::dist
