#include "tools/profile_command.h"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "graph/anomaly.h"
#include "graph/factories.h"
#include "io/json.h"
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
  int steps = 20;
  int warmup = 5;
  std::string trace;
  std::string dot;
  double peak_gflops = 0;
  bool json = false;
  bool memory = false;
  std::string memory_budget;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0.0 : (n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2);
}

int RunProfile(const ProfileFlags& given) {
  ProfileFlags flags = given;
  ResolveBundledData(flags.model);
  std::vector<std::string> inputs = {flags.model.data};
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
  absl::StatusOr<ModelPlan> planned = MakePlan(flags.model);
  if (!planned.ok()) {
    std::cerr << "actgrad profile: " << planned.status().message() << "\n";
    return 1;
  }
  ModelPlan& plan = *planned;
  const io::Dataset train = plan.data.Subset(plan.split.train);
  const nn::Scaler scaler = nn::Scaler::Fit(plan.scaling, train.Features());
  Generator gen(flags.model.seed);
  absl::StatusOr<std::unique_ptr<nn::Sequential>> built =
      BuildPlannedNetwork(flags.model, plan, gen);
  if (!built.ok()) {
    std::cerr << "actgrad profile: " << built.status().message() << "\n";
    return 1;
  }
  std::unique_ptr<nn::Sequential> model = *std::move(built);

  // The same batch every step, as the reference workloads do.
  std::vector<int64_t> rows;
  for (int64_t r = 0; r < std::min<int64_t>(flags.model.batch, train.rows); ++r) rows.push_back(r);
  const io::Dataset batch = train.Subset(rows);
  const Tensor x = scaler.Transform(batch.Features());
  const Tensor y = nn::TargetTensor(plan.task, batch.y, DType::kFloat32);
  absl::StatusOr<std::unique_ptr<optim::Optimizer>> optimizer =
      MakePlannedOptimizer(flags.model, plan, *model);
  if (!optimizer.ok()) {
    std::cerr << "actgrad profile: " << optimizer.status().message() << "\n";
    return 1;
  }
  Tensor last_loss;
  auto step = [&]() {
    const auto start = std::chrono::steady_clock::now();
    (*optimizer)->ZeroGrad();
    last_loss = nn::TaskLoss(plan.task, *model, x, y);
    last_loss.Backward();
    (*optimizer)->Step();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
        .count();
  };
  std::optional<DetectAnomalyGuard> detect;
  if (flags.model.detect_anomaly) detect.emplace();
  for (int i = 0; i < flags.warmup; ++i) step();
  std::vector<double> plain, profiled;
  std::vector<Profile> profiles(flags.steps);
  for (int i = 0; i < flags.steps; ++i) {
    plain.push_back(step());
    Profiler profiler(&profiles[i]);
    profiled.push_back(step());
  }
  // The profile of the median profiled step.
  std::vector<size_t> order(flags.steps);
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return profiled[a] < profiled[b]; });
  const Profile& median = profiles[order[order.size() / 2]];
  const double peak = flags.peak_gflops > 0 ? flags.peak_gflops : MeasureGemmGflops();
  const double off_ms = Median(plain), on_ms = Median(profiled);

  if (!flags.trace.empty()) {
    if (absl::Status s = WriteChromeTrace(median, flags.trace); !s.ok()) {
      std::cerr << "actgrad profile: " << s.message() << "\n";
      return 1;
    }
  }
  if (!flags.dot.empty()) {
    Profile dot_profile;
    {
      Profiler profiler(&dot_profile);
      step();
    }
    if (absl::Status s = WriteProfileDot(dot_profile, last_loss, flags.dot); !s.ok()) {
      std::cerr << "actgrad profile: " << s.message() << "\n";
      return 1;
    }
  }
  if (flags.json) {
    io::JsonWriter out;
    out.BeginObject()
        .Key("steps")
        .Int(flags.steps)
        .Key("warmup")
        .Int(flags.warmup)
        .Key("batch")
        .Int(static_cast<int64_t>(rows.size()))
        .Key("step_ms")
        .Number(off_ms)
        .Key("step_ms_profiled")
        .Number(on_ms)
        .Key("gemm_peak_gflops")
        .Number(peak)
        .Key("gemm_library")
        .String(GemmLibraryName())
        .Key("blas_core")
        .String(BlasCoreName());
    // The tables come as JSON text; read back, they nest as values.
    for (const auto& [key, groups] :
         {std::pair{"ops", median.ByOp()}, std::pair{"layers", median.ByLayer()}}) {
      absl::StatusOr<io::JsonDocument> table =
          io::ParseJson(GroupsJson(groups, median), absl::StrCat("the ", key, " table"));
      if (!table.ok()) {
        std::cerr << "actgrad profile: " << table.status().message() << "\n";
        return 1;
      }
      out.Key(key).Value(*table);
    }
    absl::StatusOr<io::JsonDocument> memory =
        io::ParseJson(MemoryJson(median, median.Memory()), "the memory report");
    if (!memory.ok()) {
      std::cerr << "actgrad profile: " << memory.status().message() << "\n";
      return 1;
    }
    out.Key("memory").Value(*memory);
    const CheckpointPlan plan = AdviseCheckpoints(median, median.Memory(), budget);
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
      "profile    %s, batch %d, %d steps after %d warm-up; median step %.3f ms without the "
      "profiler, %.3f ms with it (%+.1f%%); GEMM peak %.1f GFLOP/s (%s, %d thread%s)\n\n",
      flags.model.data, rows.size(), flags.steps, flags.warmup, off_ms, on_ms,
      100 * (on_ms / off_ms - 1), peak, GemmLibraryName(), NumThreads(),
      NumThreads() == 1 ? "" : "s");
  std::cout << FormatGroupTable(median.ByOp(), median, "op", peak) << "\n";
  std::cout << FormatGroupTable(median.ByLayer(), median, "layer", peak);
  std::cout << "\nforward and backward times are totals over the median step (microseconds); "
               "overhead is the time outside\nthe ops' kernels (recording, dispatch, allocation, "
               "accumulation); GFLOP/s in parentheses is the share of the GEMM peak.\n";
  if (flags.memory) {
    std::cout << "\n" << FormatMemoryReport(median, median.Memory());
    std::cout << "\nsaved memory is what the step keeps for backward beyond what lives anyway: "
                 "outputs of the step's ops\nthat a node keeps, and the extras rows save, each "
                 "storage once; parameters and the data batch\nare not counted. A buffer lives "
                 "from its producer's forward to the backward of the last node keeping it.\n";
  }
  if (flags.memory || budget >= 0) {
    std::cout << "\n" << FormatCheckpointPlan(AdviseCheckpoints(median, median.Memory(), budget));
    std::cout << "\nwrap a module or segment in nn::ActivationCheckpoint to keep only its input "
                 "for backward and\nrecompute the rest in backward (nn/activation_checkpoint.h)."
                 "\n";
  }
  if (!flags.trace.empty()) {
    std::cout << "trace      " << flags.trace
              << " (open in https://ui.perfetto.dev or chrome://tracing)\n";
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
  sub->add_option("--steps", f->steps, "Profiled steps (the median one is reported)")
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
