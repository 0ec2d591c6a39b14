#include "nn/activation_checkpoint.h"

#include <condition_variable>
#include <cstddef>
#include <cstring>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "graph/anomaly.h"
#include "graph/error.h"
#include "graph/factories.h"
#include "graph/grad_mode.h"
#include "graph/profile_hooks.h"

namespace actgrad::nn {

// The row of one ActivationCheckpoint: the engine hands the OpDef back to forward and
// backward, and the OpDef, first member of a standard-layout struct, leads
// back to its checkpoint.
struct ActivationCheckpoint::Row {
  OpDef def;
  ActivationCheckpoint* owner = nullptr;
};

namespace {

// How deep in nested checkpoints this thread's recomputation runs: 0 on
// threads of one's own, k on the helper thread of level k.
thread_local int recompute_depth = 0;

// A helper thread that runs one task at a time for a caller that waits. Its
// graph, its storage pool and its sweep scratch are its own, so a backward
// can run there while the caller is inside one.
class RecomputeThread {
 public:
  static RecomputeThread& ForDepth(int depth) {
    static std::mutex mu;
    // Kept for the process's life: a checkpoint may run its backward at any
    // time, and the threads are idle between tasks.
    static std::vector<RecomputeThread*>* threads = new std::vector<RecomputeThread*>();
    std::lock_guard<std::mutex> lock(mu);
    while (static_cast<int>(threads->size()) <= depth) {
      threads->push_back(new RecomputeThread(static_cast<int>(threads->size()) + 1));
    }
    return *(*threads)[depth];
  }

  // Runs `task` there; rethrows here what it threw.
  void Run(const std::function<void()>& task) {
    std::unique_lock<std::mutex> lock(mu_);
    task_ = &task;
    error_ = nullptr;
    cv_.notify_all();
    cv_.wait(lock, [this] { return task_ == nullptr; });
    if (error_ != nullptr) std::rethrow_exception(error_);
  }

 private:
  explicit RecomputeThread(int depth) : thread_([this, depth] { Loop(depth); }) {
    thread_.detach();
  }

  void Loop(int depth) {
    recompute_depth = depth;
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return task_ != nullptr; });
      try {
        (*task_)();
      } catch (...) {
        error_ = std::current_exception();
      }
      task_ = nullptr;
      cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  const std::function<void()>* task_ = nullptr;
  std::exception_ptr error_;
  std::thread thread_;
};

static_assert(std::is_trivially_copyable_v<Generator>,
              "checkpoints keep generator states as bytes");
constexpr int64_t kWordsPerStream = (sizeof(Generator) + 7) / 8;

// The streams' states as an int64 tensor, kept with the node so that it
// lives exactly as long as the node does.
Tensor SaveStreams(const std::vector<Generator*>& streams) {
  Tensor state = Zeros({static_cast<int64_t>(streams.size()) * kWordsPerStream}, DType::kInt64);
  char* at = static_cast<char*>(state.raw_data());
  for (const Generator* g : streams) {
    std::memcpy(at, g, sizeof(Generator));
    at += kWordsPerStream * 8;
  }
  return state;
}

void LoadStreams(const Tensor& state, const std::vector<Generator*>& streams) {
  const char* at = static_cast<const char*>(state.raw_data());
  for (Generator* g : streams) {
    std::memcpy(static_cast<void*>(g), at, sizeof(Generator));
    at += kWordsPerStream * 8;
  }
}

std::vector<Tensor> TrainedParameters(Module& module) {
  std::vector<Tensor> out;
  for (Tensor& p : module.Parameters()) {
    if (p.requires_grad()) out.push_back(p);
  }
  return out;
}

}  // namespace

ActivationCheckpoint* ActivationCheckpoint::OwnerOf(const OpDef& def) {
  static_assert(std::is_standard_layout_v<Row> && offsetof(Row, def) == 0);
  return reinterpret_cast<const Row*>(&def)->owner;
}

ActivationCheckpoint::ActivationCheckpoint(std::unique_ptr<Module> module,
                                           std::source_location location)
    : module_(std::move(module)), row_(std::make_unique<Row>()) {
  ACTGRAD_REQUIRE(module_ != nullptr, location, "checkpoint: the module is null");
  RegisterModule("module", module_.get(), location);
  row_->def = OpDef{
      .name = "checkpoint",
      .formula = "y = module(x), recomputed in backward",
      .kind = OpKind::kLayer,
      .min_inputs = 1,
      .max_inputs = OpDef::kVariadic,
      .saves = kSaveInput0,
      .forward = &ActivationCheckpoint::RowForward,
      .backward = &ActivationCheckpoint::RowBackward,
  };
  row_->owner = this;
}

ActivationCheckpoint::~ActivationCheckpoint() = default;

Tensor ActivationCheckpoint::Forward(const Tensor& x) {
  if (!IsGradEnabled()) return (*module_)(x);
  if (IsProfiling()) layer_path_ = internal::layer_path;
  // The parameters are inputs of the node, so that it is recorded even when
  // x needs no gradient and their gradients reach them as any other.
  std::vector<Tensor> inputs = {x};
  for (Tensor& p : TrainedParameters(*module_)) inputs.push_back(std::move(p));
  return Apply(row_->def, inputs);
}

Tensor ActivationCheckpoint::RowForward(ForwardContext& ctx) {
  ActivationCheckpoint& self = *OwnerOf(ctx.op());
  const std::vector<Generator*> streams = self.module_->RandomStreams();
  if (!streams.empty()) ctx.SaveExtra(SaveStreams(streams));
  // A fresh handle: the module may hand back its input or a tensor of its
  // own, which the engine must not mark as this node's output.
  return (*self.module_)(ctx.input(0)).Detach();
}

void ActivationCheckpoint::RowBackward(BackwardContext& ctx) {
  ActivationCheckpoint& self = *OwnerOf(ctx.op());
  Module& module = *self.module_;
  const Tensor x = ctx.saved_input(0).Detach();
  const std::vector<Tensor> params = TrainedParameters(module);
  ACTGRAD_REQUIRE(static_cast<int>(params.size()) + 1 == ctx.num_inputs(), ctx.location(),
                  "checkpoint: the module had ", ctx.num_inputs() - 1,
                  " trained parameters in forward and has ", params.size(), " in backward");
  // Rewind the random streams to where the forward found them, and keep the
  // buffers as they are now: the recomputation must not move either.
  const std::vector<Generator*> streams = module.RandomStreams();
  std::vector<Generator> now;
  for (const Generator* g : streams) now.push_back(*g);
  if (!streams.empty()) LoadStreams(ctx.extra(0), streams);
  std::vector<Tensor> buffers = module.Buffers(), kept;
  for (const Tensor& b : buffers) kept.push_back(b.Clone());

  OpObserver* observer = internal::ActiveObserver();
  const bool anomaly = internal::detect_anomaly;
  const std::string& path = self.layer_path_;
  const Tensor& dy = ctx.dy();
  std::vector<Tensor> grads;
  RecomputeThread& helper = RecomputeThread::ForDepth(recompute_depth);
  helper.Run([&] {
    std::optional<ScopedOpObserver> observe;
    if (observer != nullptr) observe.emplace(observer);
    GradModeGuard grad_on(true);
    RecomputeScope recompute;
    internal::detect_anomaly = anomaly;
    internal::layer_path = observer != nullptr ? path : std::string();
    std::vector<Tensor> wrt;
    Tensor input = x;
    if (ctx.needs_grad(0)) {
      input = x.Detach();
      input.set_requires_grad(true);
      wrt.push_back(input);
    }
    for (const Tensor& p : params) wrt.push_back(p);
    const Tensor y = module(input);
    internal::layer_path.clear();
    if (!wrt.empty() && y.requires_grad()) grads = Grad(y, wrt, dy);
    internal::detect_anomaly = false;
  });
  // Copies made here, so that the helper's buffers go back to its own pool.
  std::vector<Tensor> mine;
  for (const Tensor& g : grads) mine.push_back(g.Clone());
  helper.Run([&] { grads.clear(); });

  {
    NoGradGuard no_grad;
    for (size_t i = 0; i < buffers.size(); ++i) {
      std::memcpy(buffers[i].raw_data(), kept[i].raw_data(),
                  static_cast<size_t>(kept[i].numel()) * DTypeSize(kept[i].dtype()));
    }
  }
  for (size_t i = 0; i < streams.size(); ++i) *streams[i] = now[i];
  if (mine.empty()) return;
  size_t k = 0;
  if (ctx.needs_grad(0)) ctx.set_dx(0, std::move(mine[k++]));
  for (int i = 1; i < ctx.num_inputs(); ++i, ++k) {
    if (ctx.needs_grad(i)) ctx.set_dx(i, std::move(mine[k]));
  }
}

std::string ActivationCheckpoint::ToString() const {
  return absl::StrCat("Checkpoint(", module_->ToString(), ")");
}

}  // namespace actgrad::nn
