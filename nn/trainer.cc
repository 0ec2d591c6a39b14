#include "nn/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>

#include "absl/strings/str_format.h"
#include "graph/grad_mode.h"
#include "io/csv.h"
#include "optim/clip.h"

namespace actgrad::nn {

namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::vector<double> Pick(std::span<const double> values, std::span<const int64_t> rows) {
  std::vector<double> out;
  out.reserve(rows.size());
  for (int64_t r : rows) out.push_back(values[r]);
  return out;
}

}  // namespace

Tensor GatherRows(const Tensor& x, std::span<const int64_t> rows) {
  const int64_t width = x.numel() / std::max<int64_t>(x.dim(0), 1);
  Shape shape = x.shape();
  shape[0] = static_cast<int64_t>(rows.size());
  Tensor out(internal::NewUninitialized(shape, x.dtype()));
  const size_t row_bytes = width * DTypeSize(x.dtype());
  const char* src = static_cast<const char*>(x.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  for (size_t i = 0; i < rows.size(); ++i) {
    std::memcpy(dst + i * row_bytes, src + rows[i] * row_bytes, row_bytes);
  }
  return out;
}

Evaluation Evaluate(Task task, Sequential& model, const Tensor& x, std::span<const double> y) {
  if (y.empty()) return {};
  NoGradGuard no_grad;
  const Tensor targets = TargetTensor(task, y, x.dtype());
  Evaluation e;
  e.loss = TaskLoss(task, model, x, targets).item();
  const Tensor outputs = model.Forward(x);
  e.metric = task == Task::kRegression ? Rmse(outputs, y) : Accuracy(task, outputs, y);
  return e;
}

TrainResult Train(Task task, Sequential& model, const Tensor& x_train,
                  std::span<const double> y_train, const Tensor& x_test,
                  std::span<const double> y_test, const TrainOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  std::unique_ptr<optim::Optimizer> optimizer =
      options.make_optimizer ? options.make_optimizer(model)
                             : std::make_unique<optim::Sgd>(model.Parameters(), options.sgd);
  ACTGRAD_REQUIRE(optimizer != nullptr, std::source_location::current(),
                  "Train: make_optimizer returned no optimizer");
  const std::vector<Tensor> parameters = model.Parameters();
  // The model's name of each of the optimizer's parameters, in its order
  // (groups may order them differently from the model).
  std::vector<std::string> state_names;
  {
    std::map<const internal::TensorImpl*, std::string> name_of;
    for (const NamedParameter& p : model.NamedParameters()) name_of[p.tensor->impl()] = p.name;
    for (size_t g = 0; g < optimizer->num_groups(); ++g) {
      for (const Tensor& p : optimizer->parameters(g)) {
        auto it = name_of.find(p.impl());
        ACTGRAD_REQUIRE(it != name_of.end(), std::source_location::current(),
                        "Train: the optimizer holds a tensor that is not a parameter of the model");
        state_names.push_back(it->second);
      }
    }
  }
  Generator gen(options.seed);
  std::vector<int64_t> all_rows(y_train.size());
  for (size_t i = 0; i < all_rows.size(); ++i) all_rows[i] = static_cast<int64_t>(i);

  int first_epoch = 0;
  TrainState start_state;
  if (options.resume_from != nullptr) start_state = *options.resume_from;
  GradientSync* sync = options.gradient_sync;
  if (sync != nullptr) sync->BroadcastState(start_state);
  if (options.resume_from != nullptr || !start_state.batch_order.empty()) {
    first_epoch = start_state.epochs_done;
    ACTGRAD_REQUIRE(gen.RestoreState(start_state.batch_order), std::source_location::current(),
                    "Train: the saved batch order is not a generator state");
    if (!start_state.optimizer_state.empty()) {
      ACTGRAD_REQUIRE(start_state.optimizer == optimizer->name(), std::source_location::current(),
                      "Train: the saved state is ", start_state.optimizer,
                      "'s; this run's optimizer is ", optimizer->name());
    }
    for (const auto& [name, saved] : start_state.optimizer_state) {
      auto it = std::find(state_names.begin(), state_names.end(), name);
      ACTGRAD_REQUIRE(it != state_names.end(), std::source_location::current(),
                      "Train: the saved optimizer state names \"", name,
                      "\", which is not a parameter of this model");
      optimizer->set_state(it - state_names.begin(), saved);
    }
  }
  const int world = sync != nullptr ? sync->world_size() : 1;
  const int rank = sync != nullptr ? sync->rank() : 0;
  // Every epoch has the same number of batches: the schedule counts steps.
  const int64_t global_batch = options.batch * world;
  const int64_t steps_per_epoch =
      (static_cast<int64_t>(all_rows.size()) + global_batch - 1) / global_batch;
  std::optional<optim::PlateauReducer> plateau;
  if (options.schedule.has_value() && options.schedule->plateau().has_value()) {
    plateau.emplace(*options.schedule->plateau());
    if (!start_state.plateau.empty()) {
      ACTGRAD_REQUIRE(plateau->RestoreState(start_state.plateau), std::source_location::current(),
                      "Train: the saved plateau state \"", start_state.plateau,
                      "\" is not one PlateauReducer::SaveState wrote");
    }
  }
  auto checkpoint = [&](int epochs_done) {
    TrainState state;
    state.epochs_done = epochs_done;
    state.batch_order = gen.SaveState();
    state.optimizer = optimizer->name();
    if (plateau.has_value()) state.plateau = plateau->SaveState();
    for (size_t i = 0; i < optimizer->num_parameters(); ++i) {
      state.optimizer_state.emplace_back(state_names[i], optimizer->state(i));
    }
    options.on_checkpoint(state);
  };

  TrainResult result;
  double first_loss = -1;
  for (int epoch = first_epoch; epoch < options.epochs && result.stopped_early.empty(); ++epoch) {
    const auto epoch_start = std::chrono::steady_clock::now();
    const std::vector<std::vector<int64_t>> batches =
        io::ShuffledBatches(all_rows, global_batch, gen);
    double loss_sum = 0;
    int64_t samples = 0;
    int64_t correct = 0;
    const Activation* output = model.OutputActivation();
    const OpDef& output_op = output != nullptr ? output->op() : ops::kIdentity;
    for (size_t b = 0; b < batches.size(); ++b) {
      const std::vector<int64_t>& global_rows = batches[b];
      // This process's contiguous slice of the global batch; slices differ
      // by at most one row, and may be empty in a short last batch.
      const size_t rows_total = global_rows.size();
      const std::span<const int64_t> rows(
          global_rows.data() + rows_total * rank / world,
          rows_total * (rank + 1) / world - rows_total * rank / world);
      if (options.schedule.has_value()) {
        const double rate = options.schedule->LearningRateAtStep(
            epoch * steps_per_epoch + int64_t(b), steps_per_epoch);
        optimizer->set_learning_rate(plateau.has_value() ? plateau->Apply(rate) : rate);
      }
      optimizer->ZeroGrad();
      if (sync != nullptr) {
        sync->BeginStep(static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows_total));
      }
      double value = 0;
      int64_t step_correct = 0;
      if (!rows.empty()) {
        const Tensor x = GatherRows(x_train, rows);
        const std::vector<double> targets = Pick(y_train, rows);
        const Tensor y = TargetTensor(task, targets, x_train.dtype());
        const Tensor logits = model.Logits(x);
        const Tensor loss = TaskLossFromLogits(task, output_op, logits, y);
        loss.Backward();
        step_correct = CountCorrect(task, logits, targets);
        value = loss.item();
      }
      if (sync != nullptr) {
        const GlobalBatchTotals totals = sync->FinishStep(value, step_correct);
        value = totals.loss;
        step_correct = totals.correct;
      }
      correct += step_correct;
      if (options.clip_norm > 0) optim::ClipGradNorm(parameters, options.clip_norm);
      optimizer->Step();
      if (first_loss < 0) first_loss = value;
      if (!std::isfinite(value) || (value > 100 * first_loss && value > first_loss + 10)) {
        result.stopped_early = absl::StrFormat(
            "training diverged at epoch %d, batch %d: the loss is %g (it started at %g). "
            "Likely fixes: a smaller learning rate (now %g), inputs scaled to the activation's "
            "range, the activation's recommended initializer, or gradient clipping",
            epoch + 1, b + 1, value, first_loss, optimizer->learning_rate());
        break;
      }
      loss_sum += value;
      samples += static_cast<int64_t>(sync != nullptr ? rows_total : rows.size());
      if (options.on_batch) {
        options.on_batch({.epoch = epoch,
                          .batch = static_cast<int>(b + 1),
                          .batches = static_cast<int>(batches.size()),
                          .samples = samples,
                          .loss = loss_sum / double(b + 1),
                          .accuracy = double(correct) / double(samples)});
      }
    }
    if (!result.stopped_early.empty()) break;
    const Evaluation test = Evaluate(task, model, x_test, y_test);
    EpochReport report{.epoch = epoch,
                       .train_loss = loss_sum / std::max<size_t>(batches.size(), 1),
                       .test_loss = test.loss,
                       .test_metric = test.metric,
                       .learning_rate = optimizer->learning_rate(),
                       .seconds = SecondsSince(epoch_start)};
    result.history.push_back(report);
    if (plateau.has_value()) plateau->Observe(y_test.empty() ? report.train_loss : test.loss);
    if (options.on_epoch) options.on_epoch(report);
    if (options.checkpoint_every > 0 && options.on_checkpoint &&
        (epoch + 1) % options.checkpoint_every == 0) {
      checkpoint(epoch + 1);
    }
  }
  result.seconds = SecondsSince(start);
  return result;
}

}  // namespace actgrad::nn
