#include "tools/distributed.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

#if ACTGRAD_HAS_MPI
#include "absl/time/time.h"
#include "dist/communicator.h"
#include "dist/data_parallel.h"
#endif

namespace actgrad::tools {

std::string FormatRankTable(const std::vector<RankFigures>& figures) {
  if (figures.empty()) return "";
  std::string out = absl::StrFormat(
      "ranks      %d; gradients %.1f KiB summed per step in %d bucket%s\n", figures.size(),
      figures[0].bytes_per_step / 1024.0, figures[0].buckets, figures[0].buckets == 1 ? "" : "s");
  out += "  rank  samples/s  step ms  comm ms/step  comm share  hooks ms/step\n";
  for (const RankFigures& f : figures) {
    const double steps = std::max<double>(f.steps, 1);
    const double step_ms = 1e3 * f.seconds / steps;
    const double comm_ms = 1e3 * f.exposed_seconds / steps;
    out +=
        absl::StrFormat("  %4d  %9.0f  %7.3f  %12.3f  %9.1f%%  %13.3f\n", f.rank,
                        f.seconds > 0 ? f.rows / f.seconds : 0.0, step_ms, comm_ms,
                        step_ms > 0 ? 100 * comm_ms / step_ms : 0.0, 1e3 * f.hook_seconds / steps);
  }
  return out;
}

#if ACTGRAD_HAS_MPI

namespace {

// Length-prefixed, so values may hold any byte.
std::string Serialize(const std::vector<std::pair<std::string, std::string>>& settings) {
  std::string out;
  for (const auto& [name, value] : settings) {
    absl::StrAppend(&out, name.size(), ":", name, value.size(), ":", value);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> Deserialize(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t pos = 0;
  auto next = [&](std::string* field) {
    const size_t colon = text.find(':', pos);
    size_t length = 0;
    if (colon == std::string::npos ||
        !absl::SimpleAtoi(absl::string_view(text).substr(pos, colon - pos), &length) ||
        length > text.size() - colon - 1) {
      return false;
    }
    *field = text.substr(colon + 1, length);
    pos = colon + 1 + length;
    return true;
  };
  std::string name, value;
  while (pos < text.size() && next(&name) && next(&value)) out.emplace_back(name, value);
  return out;
}

class MpiRun final : public DistributedRun {
 public:
  MpiRun(std::unique_ptr<dist::Communicator> comm, const DistributedFlags& flags)
      : comm_(std::move(comm)), flags_(flags) {}

  int rank() const override { return comm_->rank(); }
  int size() const override { return comm_->size(); }

  absl::Status Agree(const std::vector<std::pair<std::string, std::string>>& settings) override {
    // Every rank compares its list with rank 0's, then all learn the first
    // rank that differs and where; that rank's list tells its values.
    std::string serialized = Serialize(settings);
    std::string rank0 = serialized;
    comm_->Broadcast(rank0, 0, "the settings of rank 0");
    const std::vector<std::pair<std::string, std::string>> theirs = Deserialize(rank0);
    int64_t mismatch = -1;
    for (size_t i = 0; i < std::max(settings.size(), theirs.size()); ++i) {
      if (i >= settings.size() || i >= theirs.size() || settings[i] != theirs[i]) {
        mismatch = static_cast<int64_t>(i);
        break;
      }
    }
    const int64_t mine[] = {mismatch};
    const std::vector<int64_t> all = comm_->Allgather(mine, "where the settings differ");
    int first = -1;
    std::vector<int> differing;
    for (int r = 0; r < comm_->size(); ++r) {
      if (all[r] < 0) continue;
      differing.push_back(r);
      if (first < 0) first = r;
    }
    if (first < 0) return absl::OkStatus();
    std::string first_list = serialized;
    comm_->Broadcast(first_list, first, "the settings of the first rank that differs");
    const std::vector<std::pair<std::string, std::string>> other = Deserialize(first_list);
    const size_t at = static_cast<size_t>(all[first]);
    const std::string name = at < theirs.size()  ? theirs[at].first
                             : at < other.size() ? other[at].first
                                                 : "the settings";
    auto value = [&](const std::vector<std::pair<std::string, std::string>>& list) {
      return at < list.size() ? list[at].second : std::string("nothing");
    };
    return absl::FailedPreconditionError(absl::StrCat(
        "rank ", first, " has ", name, " ", value(other), ", rank 0 ", value(theirs),
        differing.size() > 1
            ? absl::StrCat(" (ranks ", absl::StrJoin(differing, ", "), " differ from rank 0)")
            : "",
        "; every rank must train the same model on the same data with the same options"));
  }

  absl::Status Attach(nn::Module& model) override {
    absl::StatusOr<std::unique_ptr<dist::DataParallel>> ddp = dist::DataParallel::Create(
        *comm_, model, {.bucket_bytes = flags_.bucket_kib * 1024, .overlap = flags_.overlap});
    if (!ddp.ok()) return ddp.status();
    ddp_ = std::move(*ddp);
    return absl::OkStatus();
  }

  nn::GradientSync* sync() override { return ddp_.get(); }

  void Fail(const std::string& message) override { comm_->Abort(message); }

  std::vector<RankFigures> Gather(double seconds) override {
    const dist::SyncStats& s = ddp_->stats();
    const double mine[] = {double(s.rows),
                           double(s.steps),
                           seconds,
                           s.exposed_seconds,
                           s.hook_seconds,
                           double(ddp_->bytes_per_step()),
                           double(ddp_->bucket_members().size())};
    constexpr size_t kFields = sizeof(mine) / sizeof(mine[0]);
    const std::vector<double> all = comm_->Allgather(mine, "the per-rank figures");
    std::vector<RankFigures> figures;
    if (comm_->rank() != 0) return figures;
    for (int r = 0; r < comm_->size(); ++r) {
      const double* f = all.data() + r * kFields;
      figures.push_back({.rank = r,
                         .rows = static_cast<int64_t>(f[0]),
                         .steps = static_cast<int64_t>(f[1]),
                         .seconds = f[2],
                         .exposed_seconds = f[3],
                         .hook_seconds = f[4],
                         .bytes_per_step = static_cast<int64_t>(f[5]),
                         .buckets = static_cast<int>(f[6])});
    }
    return figures;
  }

  std::string CompareReplicas() override {
    const int64_t mine[] = {static_cast<int64_t>(ddp_->ParameterFingerprint())};
    const std::vector<int64_t> all = comm_->Allgather(mine, "the parameter fingerprints");
    std::vector<int> differing;
    for (int r = 1; r < comm_->size(); ++r) {
      if (all[r] != all[0]) differing.push_back(r);
    }
    if (differing.empty()) return "";
    return absl::StrCat("the parameters of rank(s) ", absl::StrJoin(differing, ", "),
                        " differ from rank 0's");
  }

 private:
  std::unique_ptr<dist::Communicator> comm_;
  DistributedFlags flags_;
  std::unique_ptr<dist::DataParallel> ddp_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<DistributedRun>> DistributedRun::Start(
    const DistributedFlags& flags) {
  absl::StatusOr<std::unique_ptr<dist::Communicator>> comm = dist::Communicator::Create(
      {.timeout = absl::Milliseconds(static_cast<int64_t>(flags.comm_timeout_seconds * 1e3))});
  if (!comm.ok()) return comm.status();
  return std::unique_ptr<DistributedRun>(new MpiRun(std::move(*comm), flags));
}

#else

absl::StatusOr<std::unique_ptr<DistributedRun>> DistributedRun::Start(const DistributedFlags&) {
  return absl::UnimplementedError(
      "--distributed: this actgrad was built without MPI; install libopenmpi-dev and "
      "openmpi-bin and configure with -DACTGRAD_MPI=ON");
}

#endif

}  // namespace actgrad::tools
