#include "tools/train_command.h"

#include <cmath>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "io/csv.h"
#include "io/file.h"
#include "io/hash.h"
#include "io/json.h"
#include "nn/nn.h"
#include "ops/registry.h"
#include "ops/threads.h"
#include "tools/model_options.h"
#include "tools/output_paths.h"
#include "tools/plugins.h"

namespace actgrad::tools {

namespace {

// Prints why training cannot go on and returns the exit code; in a
// distributed run, ends every rank so that none waits for this one.
int Fail(DistributedRun* run, const std::string& message) {
  if (run != nullptr && run->size() > 1) run->Fail(absl::StrCat("actgrad train: ", message));
  std::cerr << "actgrad train: " << message << "\n";
  return 1;
}

// Everything that decides the steps and the result, for the ranks of a
// distributed run to agree on before the first step: the options after
// defaults, the data (shape and a hash of every value and name), the
// plugins (by content), the version.
std::vector<std::pair<std::string, std::string>> TrainingSettings(const ModelFlags& flags,
                                                                  const ModelPlan& plan) {
  const io::Dataset& data = plan.data;
  uint64_t hash = io::Fnv1a(data.x.data(), data.x.size() * sizeof(double));
  hash = io::Fnv1a(data.y.data(), data.y.size() * sizeof(double), hash);
  for (const std::string& name : data.feature_names)
    hash = io::Fnv1a(name.data(), name.size() + 1, hash);
  for (const std::string& label : plan.labels)
    hash = io::Fnv1a(label.data(), label.size() + 1, hash);
  std::vector<std::string> plugins;
  for (const std::string& path : flags.plugins) {
    absl::StatusOr<std::string> bytes = io::ReadFile(path);
    plugins.push_back(absl::StrFormat("%s (content %016x)", path,
                                      bytes.ok() ? io::Fnv1a(bytes->data(), bytes->size()) : 0));
  }
  const optim::OptimizerSpec& o = plan.optimizer;
  auto maybe = [](const std::optional<double>& v) {
    return v.has_value() ? absl::StrCat(*v) : std::string("default");
  };
  return {
      {"version", ACTGRAD_VERSION},
      {"plugins", absl::StrJoin(plugins, ", ")},
      {"the data's shape", absl::StrCat(data.rows, " rows x ", data.features, " features")},
      {"the data's content", absl::StrFormat("hash %016x", hash)},
      {"--target", data.target_name},
      {"--task", nn::TaskName(plan.task)},
      {"--hidden", flags.hidden},
      {"--layers", flags.layers},
      {"--input-shape", flags.input_shape},
      {"--activation", flags.activation},
      {"--output-activation", std::string(plan.mlp.output_activation->name)},
      {"--init", flags.init},
      {"--scale", nn::ScalingName(plan.scaling)},
      {"--epochs", absl::StrCat(flags.epochs)},
      {"--batch", absl::StrCat(flags.batch)},
      {"--optimizer", o.name},
      {"--lr", maybe(o.learning_rate)},
      {"--weight-decay", maybe(o.weight_decay)},
      {"--momentum", maybe(o.momentum)},
      {"--beta1", maybe(o.beta1)},
      {"--beta2", maybe(o.beta2)},
      {"--eps", maybe(o.eps)},
      {"--alpha", maybe(o.alpha)},
      {"--no-decay-on", absl::StrJoin(flags.no_decay_on, ",")},
      {"--schedule", plan.schedule->ToString()},
      {"--clip-norm", absl::StrCat(flags.clip_norm)},
      {"--test-fraction", absl::StrCat(flags.test_fraction)},
      {"--validation-fraction", absl::StrCat(flags.validation_fraction)},
      {"--early-stopping", absl::StrCat(flags.early_stopping)},
      {"--split-seed", absl::StrCat(flags.split_seed)},
      {"--seed", absl::StrCat(flags.seed)},
      {"--threads", absl::StrCat(flags.threads)},
      {"--resume", flags.resume ? "yes" : "no"},
      {"--detect-anomaly", flags.detect_anomaly ? "yes" : "no"},
  };
}

int TrainOnThisRank(const ModelFlags& flags, DistributedRun* run) {
  const bool leader = run == nullptr || run->rank() == 0;
  if (!LoadPlugins(flags.plugins, "actgrad train")) return Fail(run, "a plugin did not load");
  if (absl::Status s = CheckThreadsCanStart(flags.threads); !s.ok()) {
    return Fail(run, absl::StrCat("--threads ", s.message()));
  }
  SetNumThreads(flags.threads);
  absl::StatusOr<ModelPlan> planned = MakePlan(flags);
  if (!planned.ok()) return Fail(run, std::string(planned.status().message()));
  ModelPlan& plan = *planned;
  if (run != nullptr) {
    // Ranks that disagree would take different steps or train a mix.
    if (absl::Status agreed = run->Agree(TrainingSettings(flags, plan)); !agreed.ok()) {
      if (leader) std::cerr << "actgrad train: " << agreed.message() << "\n";
      return 1;
    }
  }
  const io::Dataset train = plan.data.Subset(plan.split.train);
  const io::Dataset validation = plan.data.Subset(plan.validation);
  const io::Dataset test = plan.data.Subset(plan.split.test);

  nn::MlpModel model;
  model.options = plan.mlp;
  model.task = plan.task;
  model.feature_names = plan.data.feature_names;
  model.target_name = plan.data.target_name;
  const Tensor raw_train = train.Features();
  model.scaler = nn::Scaler::Fit(plan.scaling, raw_train);
  const Tensor x_train = model.scaler.Transform(raw_train);
  const Tensor x_test = model.scaler.Transform(test.Features());
  const Tensor x_validation = model.scaler.Transform(validation.Features());
  Generator gen(flags.seed);
  absl::StatusOr<std::unique_ptr<nn::Sequential>> network = BuildPlannedNetwork(flags, plan, gen);
  if (!network.ok()) return Fail(run, std::string(network.status().message()));
  model.network = *std::move(network);
  nn::TrainState resumed;
  // Rank 0 reads the checkpoint; data parallelism broadcasts it to the rest.
  if (flags.resume && leader && !flags.layers.empty()) {
    // A --layers network is rebuilt from the flags; the checkpoint must
    // hold exactly its tensors.
    absl::StatusOr<nn::TrainState> state = nn::LoadCheckpoint(flags.checkpoint, *model.network);
    if (!state.ok()) return Fail(run, absl::StrCat("--resume: ", state.status().message()));
    resumed = *std::move(state);
  } else if (flags.resume && leader) {
    absl::StatusOr<nn::Checkpoint> checkpoint = nn::LoadCheckpoint(flags.checkpoint);
    if (!checkpoint.ok()) {
      return Fail(run, absl::StrCat("--resume: ", checkpoint.status().message()));
    }
    if (checkpoint->model.options.inputs != plan.mlp.inputs ||
        checkpoint->model.options.hidden != plan.mlp.hidden ||
        checkpoint->model.options.hidden_activation != plan.mlp.hidden_activation) {
      return Fail(run, absl::StrCat("--resume: ", flags.checkpoint,
                                    " holds another architecture than these options describe"));
    }
    model = std::move(checkpoint->model);
    resumed = std::move(checkpoint->state);
  }
  absl::StatusOr<std::unique_ptr<optim::Optimizer>> optimizer =
      MakePlannedOptimizer(flags, plan, *model.network);
  if (!optimizer.ok()) return Fail(run, std::string(optimizer.status().message()));
  if (!resumed.optimizer.empty() && resumed.optimizer != (*optimizer)->name()) {
    return Fail(run, absl::StrCat("--resume: ", flags.checkpoint, " was trained with ",
                                  resumed.optimizer, "; this run uses ", (*optimizer)->name(),
                                  " (--optimizer ", flags.optimizer, ")"));
  }
  if (run != nullptr) {
    if (absl::Status attached = run->Attach(*model.network); !attached.ok()) {
      return Fail(run, std::string(attached.message()));
    }
  }

  std::ostream& log = flags.json ? std::cerr : std::cout;
  if (leader) {
    PrintPlan(log, flags, plan, model.network->ToString());
    if (run != nullptr) {
      log << absl::StrFormat(
          "distributed %d ranks, %d rows per rank per step (global batch %d); progress and "
          "saving on rank 0\n",
          run->size(), flags.batch, flags.batch * run->size());
    }
    log << std::flush;
  }

  const bool interactive = leader && !flags.no_progress && nn::ProgressBar::StderrIsInteractive();
  nn::ProgressBar bar(std::cerr, interactive, flags.epochs);
  const bool classification = plan.task != nn::Task::kRegression;
  const nn::TaskTraining training = nn::ForTask(plan.task, *model.network);
  nn::TrainOptions options;
  options.epochs = flags.epochs;
  options.batch = flags.batch;
  options.forward = training.forward;
  options.metrics = {training.metric};
  if (validation.rows > 0) {
    options.validation = nn::TaskData(plan.task, x_validation, validation.y);
  }
  if (test.rows > 0) options.test = nn::TaskData(plan.task, x_test, test.y);
  options.early_stopping.patience = flags.early_stopping;
  options.detect_anomaly = flags.detect_anomaly;
  options.make_optimizer = [&](nn::Module& network) {
    absl::StatusOr<std::unique_ptr<optim::Optimizer>> made =
        MakePlannedOptimizer(flags, plan, network);
    // The same flags built one for this model above.
    ACTGRAD_REQUIRE(made.ok(), std::source_location::current(), made.status().message());
    return *std::move(made);
  };
  options.schedule = plan.schedule;
  options.clip_norm = flags.clip_norm;
  options.seed = flags.seed;
  if (run != nullptr) options.gradient_sync = run->sync();
  if (leader && !flags.no_progress) bar.AttachTo(options);
  absl::Status checkpoint_status;
  if (flags.resume && leader) options.resume_from = &resumed;
  if (flags.checkpoint_every > 0 && leader) {
    options.checkpoint_every = flags.checkpoint_every;
    options.on_checkpoint = [&](const nn::TrainState& state) {
      if (checkpoint_status.ok()) {
        checkpoint_status = flags.layers.empty()
                                ? nn::SaveCheckpoint(flags.checkpoint, model, state)
                                : nn::SaveCheckpoint(flags.checkpoint, *model.network, state,
                                                     {{"layers", flags.layers},
                                                      {"input_shape", flags.input_shape}});
      }
    };
  }
  const nn::TrainResult result =
      nn::Train(*model.network, training.loss, nn::TaskData(plan.task, x_train, train.y), options);
  // The global loss decides, so every rank stops at the same step.
  if (!result.diverged.empty()) {
    if (leader) std::cerr << "actgrad train: " << result.diverged << "\n";
    return 1;
  }
  if (!checkpoint_status.ok()) {
    return Fail(run, absl::StrCat("checkpoint: ", checkpoint_status.message()));
  }
  std::vector<RankFigures> rank_figures;
  if (run != nullptr) {
    if (const std::string drift = run->CompareReplicas(); !drift.empty()) return Fail(run, drift);
    rank_figures = run->Gather(result.seconds);
    if (!leader) return 0;
  }

  // The training loss of the epoch whose weights the model holds (early
  // stopping's best, or the last) when this run trained it; NaN when it ran
  // before --resume.
  const int kept_epoch = result.restored_epoch >= 0 ? result.restored_epoch
                         : result.history.empty()   ? -1
                                                    : result.history.back().epoch;
  double kept_train_loss = std::nan("");
  for (const nn::EpochReport& r : result.history) {
    if (r.epoch == kept_epoch) kept_train_loss = r.train_loss;
  }
  // Scored again rather than taken from the history: the weights may have
  // been restored from an epoch of an earlier, resumed run. Without test
  // rows there is no test figure (null in --json), not a zero.
  const nn::Evaluation final_test =
      test.rows > 0 ? nn::Evaluate(plan.task, *model.network, x_test, test.y)
                    : nn::Evaluation{.loss = std::nan(""), .metric = std::nan("")};
  const nn::Evaluation final_validation =
      nn::Evaluate(plan.task, *model.network, x_validation, validation.y);
  const int epochs_run = static_cast<int>(result.history.size());
  // A resumed run with nothing left to do has no speed to report.
  const double samples_per_second = epochs_run > 0 && result.seconds > 0
                                        ? double(train.rows) * epochs_run / result.seconds
                                        : std::nan("");
  if (!flags.save.empty()) {
    nn::ModelInfo info{
        .task = plan.task,
        .output = classification ? nn::ModelOutput::kProbabilities : nn::ModelOutput::kValues,
        .scaler = model.scaler,
        .feature_names = model.feature_names,
        .target_name = model.target_name};
    info.labels = plan.labels;
    if (absl::Status s = nn::Save(flags.save, *model.network, info); !s.ok()) {
      return Fail(run, std::string(s.message()));
    }
  }
  const char* metric_key = classification ? "accuracy" : "rmse";
  if (flags.json) {
    io::JsonWriter out;
    out.BeginObject()
        .Key("task")
        .String(nn::TaskName(plan.task))
        .Key("data")
        .String(flags.data)
        .Key("epochs")
        .Int(flags.epochs)
        .Key("epochs_run")
        .Int(epochs_run)
        .Key("best_epoch");
    if (result.restored_epoch >= 0) {
      out.Int(result.restored_epoch + 1);
    } else {
      out.Null();
    }
    out.Key("stopped");
    if (result.stopped.empty()) {
      out.Null();
    } else {
      out.String(result.stopped);
    }
    out.Key("train_rows")
        .Int(train.rows)
        .Key("validation_rows")
        .Int(validation.rows)
        .Key("test_rows")
        .Int(test.rows)
        .Key("train_loss")
        .Number(kept_train_loss);
    if (validation.rows > 0) {
      out.Key("validation_loss")
          .Number(final_validation.loss)
          .Key(absl::StrCat("validation_", metric_key))
          .Number(final_validation.metric);
    }
    out.Key("test_loss")
        .Number(final_test.loss)
        .Key(absl::StrCat("test_", metric_key))
        .Number(final_test.metric)
        .Key("seconds")
        .Number(result.seconds)
        .Key("samples_per_second")
        .Number(samples_per_second)
        .Key("activation")
        .String(flags.activation)
        .Key("saved");
    if (flags.save.empty()) {
      out.Null();
    } else {
      out.String(flags.save);
    }
    if (run != nullptr) {
      out.Key("ranks").BeginArray();
      for (const RankFigures& f : rank_figures) {
        out.BeginObject()
            .Key("rank")
            .Int(f.rank)
            .Key("rows")
            .Int(f.rows)
            .Key("steps")
            .Int(f.steps)
            .Key("seconds")
            .Number(f.seconds)
            .Key("comm_seconds")
            .Number(f.exposed_seconds)
            .Key("bytes_per_step")
            .Int(f.bytes_per_step)
            .EndObject();
      }
      out.EndArray();
    }
    out.EndObject();
    std::cout << out.str() << "\n";
    return 0;
  }
  if (!result.stopped.empty()) std::cout << "stopped    " << result.stopped << "\n";
  if (result.restored_epoch >= 0) {
    std::cout << absl::StrFormat(
        "kept       the weights of epoch %d (validation loss %.4f, %s %.4f)\n",
        result.restored_epoch + 1, final_validation.loss, metric_key, final_validation.metric);
  }
  const std::string test_text = test.rows > 0
                                    ? absl::StrFormat("test %s %.4f on %d rows, test loss %.4f",
                                                      classification ? "accuracy" : "RMSE",
                                                      final_test.metric, test.rows, final_test.loss)
                                    : std::string("no test rows (--test-fraction 0)");
  std::cout << absl::StrFormat(
      "result     %s, train loss %s; %d epochs in %.3f s (%.0f samples/s)\n", test_text,
      std::isnan(kept_train_loss) ? std::string("of that epoch not in this run")
                                  : absl::StrFormat("%.4f", kept_train_loss),
      epochs_run, result.seconds, samples_per_second);
  if (!flags.save.empty()) std::cout << "saved      " << flags.save << "\n";
  std::cout << FormatRankTable(rank_figures);
  return 0;
}

// Every file train writes, checked before anything is read or trained.
bool CheckTrainOutputs(ModelFlags& flags) {
  std::vector<std::string> inputs = {flags.data};
  inputs.insert(inputs.end(), flags.plugins.begin(), flags.plugins.end());
  std::string checkpoint = flags.checkpoint_every > 0 || flags.resume ? flags.checkpoint : "";
  const bool ok =
      CheckOutputs("actgrad train", {{"--checkpoint", &checkpoint}, {"--save", &flags.save}},
                   inputs, flags.follow_symlinks);
  if (!checkpoint.empty()) flags.checkpoint = checkpoint;
  return ok;
}

int RunTrain(const ModelFlags& given) {
  ModelFlags flags = given;
  ResolveBundledData(flags);
  // NaN and huge values would make every collective time out at once.
  if (flags.distributed &&
      !(flags.dist.comm_timeout_seconds > 0 && flags.dist.comm_timeout_seconds <= 1e6)) {
    std::cerr << "actgrad train: --comm-timeout " << flags.dist.comm_timeout_seconds
              << ": must be a number of seconds in (0, 1000000]\n";
    return 2;
  }
  if (!CheckTrainOutputs(flags)) return 2;
  if (!flags.distributed) return TrainOnThisRank(flags, nullptr);
  absl::StatusOr<std::unique_ptr<DistributedRun>> run = DistributedRun::Start(flags.dist);
  if (!run.ok()) {
    std::cerr << "actgrad train: " << run.status().message() << "\n";
    return 1;
  }
  // An exception on one rank must end them all, not leave the others
  // waiting in a collective until the timeout.
  try {
    return TrainOnThisRank(flags, run->get());
  } catch (const std::exception& e) {
    return Fail(run->get(), e.what());
  }
}

}  // namespace

void AddTrainCommand(CLI::App& app, int* exit_code) {
  auto f = std::make_shared<ModelFlags>();
  CLI::App* sub = app.add_subcommand(
      "train", "Train an MLP on a CSV data set (by default the bundled breast-cancer data)");
  AddModelOptions(sub, f.get());
  sub->add_option("--checkpoint", f->checkpoint,
                  "Checkpoint file for --checkpoint-every and --resume")
      ->capture_default_str();
  sub->add_option("--checkpoint-every", f->checkpoint_every,
                  "Save a checkpoint after every N epochs (0: never)")
      ->check(CLI::NonNegativeNumber);
  sub->add_flag("--resume", f->resume,
                "Continue from --checkpoint (same options; one thread gives bitwise the weights "
                "of an uninterrupted run)");
  sub->add_option("--save", f->save, "Write the trained model (safetensors) here");
  sub->add_flag("--follow-symlinks", f->follow_symlinks,
                "Write --save and --checkpoint through symbolic links to their targets (refused "
                "otherwise)");
  sub->add_option("--validation-fraction", f->validation_fraction,
                  "Hold out this fraction of the training rows (stratified for classes) for "
                  "early stopping and --schedule's plateau")
      ->capture_default_str();
  sub->add_option("--early-stopping", f->early_stopping,
                  "Stop after this many epochs without a lower validation loss and keep the best "
                  "epoch's weights (0: off; holds out 0.1 of the rows unless "
                  "--validation-fraction says otherwise)")
      ->capture_default_str();
  sub->add_flag("--json", f->json, "Print one JSON object with the results on stdout");
  sub->add_flag("--no-progress", f->no_progress, "No per-epoch output on stderr");
  sub->add_flag("--distributed", f->distributed,
                "Data-parallel training over MPI: start with mpirun -np N; --batch is per rank");
  sub->add_option("--comm-timeout", f->dist.comm_timeout_seconds,
                  "With --distributed: seconds a collective may make no progress before the job "
                  "ends, naming the ranks behind")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->add_option("--bucket-kib", f->dist.bucket_kib,
                  "With --distributed: gradient bucket size; each bucket's allreduce starts as "
                  "soon as the backward pass fills it")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->callback([f, exit_code] { *exit_code = RunTrain(*f); });
}

}  // namespace actgrad::tools
