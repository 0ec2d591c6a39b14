#include "tools/profile_command.h"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "graph/anomaly.h"
#include "graph/factories.h"
#include "io/json.h"
#include "nn/model_file.h"
#include "nn/nn.h"
#include "ops/functional.h"
#include "ops/gemm.h"
#include "ops/threads.h"
#include "profile/export.h"
#include "profile/memory_advice.h"
#include "profile/profiler.h"
#include "tools/model_options.h"
#include "tools/output_paths.h"
#include "tools/plugins.h"

namespace actgrad::tools {

namespace {

struct ProfileFlags {
  ModelFlags model;
  std::string saved_model;  // --model: a saved network instead of one built from the flags
  int steps = 20;
  int warmup = 5;
  std::string trace;
  std::string dot;
  double peak_gflops = 0;
  bool json = false;
  bool memory = false;
  bool unfuse = false;
  std::string memory_budget;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0.0 : (n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2);
}

// What one profiled training step runs: a network, the same batch every
// step (as the reference workloads do), its loss and an optimizer.
struct Workload {
  std::unique_ptr<nn::Module> module;
  Tensor x, y;
  std::optional<nn::Task> task;
  std::unique_ptr<optim::Optimizer> optimizer;
  int64_t rows = 0;
  std::string description;  // what was profiled, for the header line

  Tensor Loss() {
    auto* sequential = dynamic_cast<nn::Sequential*>(module.get());
    if (task.has_value() && sequential != nullptr) return nn::TaskLoss(*task, *sequential, x, y);
    // A network that names no task, or is not a chain of layers: the mean
    // square of its outputs stands in for a loss, so that backward runs
    // through every layer.
    return Mean(Square((*module)(x)));
  }
};

// The first `batch` training rows of the planned data.
absl::StatusOr<io::Dataset> FirstRows(const ModelPlan& plan, int64_t batch) {
  const io::Dataset train = plan.data.Subset(plan.split.train);
  if (train.rows == 0) return absl::InvalidArgumentError("no training rows");
  std::vector<int64_t> rows;
  for (int64_t r = 0; r < std::min<int64_t>(batch, train.rows); ++r) rows.push_back(r);
  return train.Subset(rows);
}

absl::StatusOr<Workload> BuildFromFlags(const ProfileFlags& flags) {
  absl::StatusOr<ModelPlan> planned = MakePlan(flags.model);
  if (!planned.ok()) return planned.status();
  ModelPlan& plan = *planned;
  const io::Dataset train = plan.data.Subset(plan.split.train);
  const nn::Scaler scaler = nn::Scaler::Fit(plan.scaling, train.Features());
  Generator gen(flags.model.seed);
  absl::StatusOr<std::unique_ptr<nn::Sequential>> built =
      BuildPlannedNetwork(flags.model, plan, gen);
  if (!built.ok()) return built.status();
  absl::StatusOr<io::Dataset> batch = FirstRows(plan, flags.model.batch);
  if (!batch.ok()) return batch.status();
  Workload w;
  w.module = *std::move(built);
  w.x = scaler.Transform(batch->Features());
  w.y = nn::TargetTensor(plan.task, batch->y, DType::kFloat32);
  w.task = plan.task;
  w.rows = batch->rows;
  w.description = flags.model.data;
  absl::StatusOr<std::unique_ptr<optim::Optimizer>> optimizer =
      MakePlannedOptimizer(flags.model, plan, *w.module);
  if (!optimizer.ok()) return optimizer.status();
  w.optimizer = *std::move(optimizer);
  return w;
}

// A saved network on its data: the data file's columns must be the
// network's features; its scaler, task and weights come from the file.
absl::StatusOr<Workload> BuildFromSavedModel(const ProfileFlags& flags) {
  absl::StatusOr<nn::SavedModel> saved = nn::Load(flags.saved_model);
  if (!saved.ok()) return saved.status();
  const nn::ModelInfo& info = saved->info;
  ModelFlags model_flags = flags.model;
  if (model_flags.target.empty()) model_flags.target = info.target_name;
  if (info.task.has_value() && model_flags.task == "auto") {
    model_flags.task = std::string(nn::TaskName(*info.task));
  }
  absl::StatusOr<ModelPlan> planned = MakePlan(model_flags);
  if (!planned.ok()) return planned.status();
  const io::Dataset& data = planned->data;
  if (!info.feature_names.empty() && data.feature_names != info.feature_names) {
    return absl::InvalidArgumentError(absl::StrCat(
        model_flags.data, ": its columns are not the features of ", flags.saved_model, " (",
        info.feature_names.size(), " columns from \"", info.feature_names.front(), "\" to \"",
        info.feature_names.back(), "\"); pass the data it was trained on with --data"));
  }
  absl::StatusOr<io::Dataset> batch = FirstRows(*planned, flags.model.batch);
  if (!batch.ok()) return batch.status();
  Workload w;
  const DType dtype = saved->dtype();
  w.module = std::move(saved->module);
  w.module->Train();
  w.x = batch->Features(dtype);
  if (info.scaler.scaling() != nn::Scaling::kNone) w.x = info.scaler.Transform(w.x);
  w.task = info.task;
  if (w.task.has_value()) w.y = nn::TargetTensor(*w.task, batch->y, dtype);
  w.rows = batch->rows;
  w.description = absl::StrCat(flags.saved_model, " on ", model_flags.data);
  absl::StatusOr<std::unique_ptr<optim::Optimizer>> optimizer =
      MakePlannedOptimizer(model_flags, *planned, *w.module);
  if (!optimizer.ok()) return optimizer.status();
  w.optimizer = *std::move(optimizer);
  return w;
}

// Runs every Linear + activation pair of `module`'s chains as one fused op
// (the default) or as two.
void SetFusion(nn::Module& module, bool on) {
  for (auto& [name, m] : module.NamedModules()) {
    if (auto* sequential = dynamic_cast<nn::Sequential*>(m); sequential != nullptr) {
      sequential->set_fusion(on);
    }
  }
}

int RunProfile(const ProfileFlags& given) {
  ProfileFlags flags = given;
  ResolveBundledData(flags.model);
  std::vector<std::string> inputs = {flags.model.data};
  if (!flags.saved_model.empty()) inputs.push_back(flags.saved_model);
  inputs.insert(inputs.end(), flags.model.plugins.begin(), flags.model.plugins.end());
  if (!CheckOutputs("actgrad profile", {{"--trace", &flags.trace}, {"--dot", &flags.dot}}, inputs,
                    flags.model.follow_symlinks)) {
    return 2;
  }
  int64_t budget = -1;
  if (!flags.memory_budget.empty()) {
    absl::StatusOr<int64_t> parsed = ParseByteSize(flags.memory_budget);
    if (!parsed.ok()) {
      std::cerr << "actgrad profile: --memory-budget " << parsed.status().message() << "\n";
      return 2;
    }
    budget = *parsed;
  }
  if (!LoadPlugins(flags.model.plugins, "actgrad profile")) return 1;
  if (absl::Status s = CheckThreadsCanStart(flags.model.threads); !s.ok()) {
    std::cerr << "actgrad profile: --threads " << s.message() << "\n";
    return 1;
  }
  SetNumThreads(flags.model.threads);
  absl::StatusOr<Workload> built =
      flags.saved_model.empty() ? BuildFromFlags(flags) : BuildFromSavedModel(flags);
  if (!built.ok()) {
    std::cerr << "actgrad profile: " << built.status().message() << "\n";
    return 1;
  }
  Workload& work = *built;
  const std::vector<nn::NamedParameter> named = work.module->NamedParameters();
  ProfilerOptions options;
  for (const nn::NamedParameter& p : named) options.parameters.push_back({p.name, *p.tensor});

  Tensor last_loss;
  // The whole step, with the work outside ops named so that the profile
  // accounts for all of it.
  auto step = [&]() {
    const auto start = std::chrono::steady_clock::now();
    {
      ProfileScope scope("optimizer.zero_grad");
      work.optimizer->ZeroGrad();
    }
    last_loss = work.Loss();
    last_loss.Backward();
    {
      ProfileScope scope("optimizer.step");
      work.optimizer->Step();
    }
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
        .count();
  };
  std::optional<DetectAnomalyGuard> detect;
  if (flags.model.detect_anomaly) detect.emplace();
  for (int i = 0; i < flags.warmup; ++i) step();
  // Unprofiled steps as the program runs (fused), and unfused when asked:
  // the overhead of the profiler is the first against the profiled steps of
  // the same program, never mixed with the cost of unfusing.
  std::vector<double> plain, plain_unfused;
  SetFusion(*work.module, !flags.unfuse);
  std::vector<Profile> steps;
  steps.reserve(flags.steps);
  // Each step records into the same scratch profile, whose capacity was
  // reached by the step before, and is copied out after it: the profiler
  // allocates no fresh pages while the ops it times run.
  Profile scratch;
  for (int i = 0; i < flags.steps + 1; ++i) {
    SetFusion(*work.module, true);
    const double fused = step();
    if (flags.unfuse) {
      SetFusion(*work.module, false);
      const double unfused = step();
      if (i > 0) plain_unfused.push_back(unfused);
    }
    scratch.Clear();
    {
      Profiler profiler(&scratch, options);
      step();
    }
    // The first round fills the scratch profile's capacity, and says what
    // keeping every step will take: refused before it is allocated.
    if (i == 0) {
      const double per_step = 2.0 * (scratch.records().size() * sizeof(OpRecord) +
                                     scratch.saved_buffers().size() * sizeof(SavedBuffer) +
                                     scratch.saved_refs().size() * sizeof(uint32_t));
      constexpr double kMaxKeptBytes = 2.0 * (1 << 30);
      if (per_step * flags.steps > kMaxKeptBytes) {
        std::cerr << absl::StrFormat(
            "actgrad profile: --steps %d would keep about %.1f GiB of profiles (%.0f KiB a "
            "step); at most %d steps fit in 2 GiB\n",
            flags.steps, per_step * flags.steps / (1 << 30), per_step / 1024,
            static_cast<int>(kMaxKeptBytes / per_step));
        return 2;
      }
      continue;
    }
    plain.push_back(fused);
    steps.push_back(scratch);
  }
  // The profiled step as the profiler saw it, its own set-up and teardown
  // included: what the rows add up to.
  const int64_t step_ns = MedianWallNs(steps);
  const double off_ms = Median(plain), on_ms = step_ns / 1e6;
  const Profile median = MedianProfile(steps);
  MachineRoofs roofs = MeasureMachineRoofs(NumThreads());
  if (flags.peak_gflops > 0) roofs.gemm_gflops = flags.peak_gflops;
  const double peak = roofs.gemm_gflops;
  const std::vector<ProfileGroup> by_op = MedianByOp(steps), by_layer = MedianByLayer(steps),
                                  by_module = MedianByModule(steps);

  if (!flags.trace.empty()) {
    if (absl::Status s = WriteChromeTrace(steps, flags.trace); !s.ok()) {
      std::cerr << "actgrad profile: " << s.message() << "\n";
      return 1;
    }
  }
  if (!flags.dot.empty()) {
    // The last profiled step's graph, with every node's median times.
    const std::string title =
        absl::StrFormat("%s, batch %d: median times over %d profiled steps (%s)", work.description,
                        work.rows, flags.steps, flags.unfuse ? "unfused" : "fused");
    if (absl::Status s = WriteProfileDot(median, last_loss, options.parameters, flags.dot, title);
        !s.ok()) {
      std::cerr << "actgrad profile: " << s.message() << "\n";
      return 1;
    }
  }
  const MemoryTimeline timeline = median.Memory();
  if (flags.json) {
    io::JsonWriter out;
    out.BeginObject()
        .Key("steps")
        .Int(flags.steps)
        .Key("warmup")
        .Int(flags.warmup)
        .Key("batch")
        .Int(work.rows)
        .Key("fused")
        .Bool(!flags.unfuse)
        .Key("step_ms")
        .Number(off_ms)
        .Key("step_ms_profiled")
        .Number(on_ms);
    if (flags.unfuse) out.Key("step_ms_unfused").Number(Median(plain_unfused));
    out.Key("gemm_peak_gflops")
        .Number(peak)
        .Key("fma_peak_gflops")
        .Number(roofs.fma_gflops)
        .Key("copy_gbytes_per_s")
        .Number(roofs.copy_gbytes_per_s)
        .Key("gemm_library")
        .String(GemmLibraryName())
        .Key("blas_core")
        .String(BlasCoreName());
    // The tables come as JSON text; read back, they nest as values.
    for (const auto& [key, groups] : {std::pair{"ops", &by_op}, std::pair{"layers", &by_layer},
                                      std::pair{"modules", &by_module}}) {
      absl::StatusOr<io::JsonDocument> table =
          io::ParseJson(GroupsJson(*groups, step_ns, roofs), absl::StrCat("the ", key, " table"));
      if (!table.ok()) {
        std::cerr << "actgrad profile: " << table.status().message() << "\n";
        return 1;
      }
      out.Key(key).Value(*table);
    }
    absl::StatusOr<io::JsonDocument> memory =
        io::ParseJson(MemoryJson(median, timeline), "the memory report");
    if (!memory.ok()) {
      std::cerr << "actgrad profile: " << memory.status().message() << "\n";
      return 1;
    }
    out.Key("memory").Value(*memory);
    const CheckpointPlan plan = AdviseCheckpoints(median, timeline, budget);
    out.Key("checkpoint_advice").BeginArray();
    for (const CheckpointCandidate& c : plan.ranked) {
      out.BeginObject()
          .Key("name")
          .String(c.name)
          .Key("saved_bytes")
          .Int(c.saved_bytes)
          .Key("added_ms")
          .Number(c.added_ns / 1e6)
          .EndObject();
    }
    out.EndArray();
    if (budget >= 0) {
      out.Key("checkpoint_plan").BeginObject().Key("budget_bytes").Int(budget);
      out.Key("predicted_peak_bytes").Int(plan.predicted_peak_bytes);
      out.Key("added_ms").Number(plan.added_ns / 1e6).Key("fits").Bool(plan.fits);
      out.Key("checkpoint").BeginArray();
      for (size_t i : plan.chosen) out.String(plan.ranked[i].name);
      out.EndArray().EndObject();
    }
    out.EndObject();
    std::cout << out.str() << "\n";
    return 0;
  }
  std::cout << absl::StrFormat(
      "profile    %s, batch %d, %d steps after %d warm-up, %s; median step %.3f ms without the "
      "profiler, %.3f ms with it (%+.1f%%)",
      work.description, work.rows, flags.steps, flags.warmup, flags.unfuse ? "unfused" : "fused",
      off_ms, on_ms, 100 * (on_ms / off_ms - 1));
  if (flags.unfuse) {
    const double unfused_ms = Median(plain_unfused);
    std::cout << absl::StrFormat("; unfused without the profiler %.3f ms (%+.1f%%)", unfused_ms,
                                 100 * (unfused_ms / off_ms - 1));
  }
  std::cout << absl::StrFormat("; %s, %d thread%s\n\n", GemmLibraryName(), NumThreads(),
                               NumThreads() == 1 ? "" : "s");
  std::cout << FormatGroupTable(by_op, step_ns, "op", roofs) << "\n";
  std::cout << FormatGroupTable(by_layer, step_ns, "layer", roofs) << "\n";
  // Modules read as a tree: each under its parent, with its kind.
  std::vector<ProfileGroup> tree = by_module;
  for (ProfileGroup& g : tree) {
    const size_t depth = std::count(g.name.begin(), g.name.end(), '.');
    if (!g.kind.empty())
      g.name = absl::StrCat(std::string(2 * depth, ' '), g.name, " (", g.kind, ")");
  }
  std::cout << FormatGroupTable(tree, step_ns, "module", roofs);
  std::cout << "\nfigures are medians over the profiled steps, per row (microseconds); shares are "
               "of the median profiled\nstep, which the rows of the op and layer tables add up "
               "to, gaps included (the time between\nops: dispatch, the profiler's own "
               "bookkeeping); modules include their children. Overhead is\nthe time outside the "
               "ops' kernels (recording, dispatch, allocation, accumulation). "
            << RoofsLegend(roofs) << "\n";
  if (flags.memory) {
    std::cout << "\n" << FormatMemoryReport(median, timeline);
    std::cout << "\nsaved memory is what the step keeps for backward beyond what lives anyway: "
                 "outputs of the step's ops\nthat a node keeps, and the extras rows save, each "
                 "storage once; parameters and the data batch\nare not counted. A buffer lives "
                 "from its producer's forward to the backward of the last node keeping it.\n";
  }
  if (flags.memory || budget >= 0) {
    std::cout << "\n" << FormatCheckpointPlan(AdviseCheckpoints(median, timeline, budget));
    std::cout << "\nwrap a module or segment in nn::ActivationCheckpoint to keep only its input "
                 "for backward and\nrecompute the rest in backward (nn/activation_checkpoint.h)."
                 "\n";
  }
  if (!flags.trace.empty()) {
    std::cout << "trace      " << flags.trace << " (" << flags.steps
              << " steps; open in https://ui.perfetto.dev or chrome://tracing)\n";
  }
  if (!flags.dot.empty()) std::cout << "graph      " << flags.dot << " (dot -Tsvg)\n";
  return 0;
}

}  // namespace

void AddProfileCommand(CLI::App& app, int* exit_code) {
  auto f = std::make_shared<ProfileFlags>();
  CLI::App* sub = app.add_subcommand(
      "profile", "Measure forward and backward cost per op and per layer of training steps");
  AddModelOptions(sub, &f->model);
  sub->add_option("--model", f->saved_model,
                  "Profile a network saved by train --save or nn::Save, on --data (its features "
                  "and target)");
  sub->add_flag("--unfuse", f->unfuse,
                "Run each Linear and its activation as two ops, for per-activation rows (the "
                "unprofiled unfused step is timed too)");
  sub->add_option("--steps", f->steps, "Profiled steps (figures are medians over them)")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  sub->add_option("--warmup", f->warmup, "Unprofiled steps first")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  sub->add_option("--trace", f->trace, "Write a Chrome trace-event JSON file here");
  sub->add_option("--dot", f->dot, "Write the step's graph, coloured by backward cost, here");
  sub->add_option("--peak-gflops", f->peak_gflops,
                  "GEMM rate to compare against (default: measured at start)")
      ->check(CLI::NonNegativeNumber);
  sub->add_flag("--json", f->json, "Print one JSON object on stdout (with the memory report)");
  sub->add_flag("--memory", f->memory,
                "Also print the memory saved for backward: its peak, what is alive there per op, "
                "layer and module, and the largest buffers");
  sub->add_option("--memory-budget", f->memory_budget,
                  "Advise which modules to checkpoint to bring saved memory under this size "
                  "(\"50MiB\")");
  sub->add_flag("--follow-symlinks", f->model.follow_symlinks,
                "Write --trace and --dot through symbolic links to their targets");
  sub->callback([f, exit_code] { *exit_code = RunProfile(*f); });
}

}  // namespace actgrad::tools
