#include "nn/train_loop.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "graph/anomaly.h"
#include "graph/grad_mode.h"
#include "io/csv.h"
#include "optim/clip.h"
#include "optim/factory.h"

namespace actgrad::nn {

namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Deep copies: a state dict shares storage with the live weights.
NamedTensors CloneState(const NamedTensors& state) {
  NamedTensors copy;
  copy.reserve(state.size());
  for (const auto& [name, t] : state) copy.emplace_back(name, t.Clone());
  return copy;
}

// The training and validation rows of `train` when `fraction` of them is
// held out: a permutation drawn from its own generator, so the batch order
// (and a resumed run's) does not depend on whether there is a split.
std::pair<std::vector<int64_t>, std::vector<int64_t>> SplitRows(int64_t rows, double fraction,
                                                                uint64_t seed) {
  std::vector<int64_t> all(rows);
  for (int64_t i = 0; i < rows; ++i) all[i] = i;
  if (fraction == 0) return {all, {}};
  const int64_t held_out = static_cast<int64_t>(std::llround(fraction * double(rows)));
  ACTGRAD_REQUIRE(held_out > 0 && held_out < rows, std::source_location::current(),
                  "Train: validation_fraction ", fraction, " of ", rows,
                  " rows leaves no row for validation or none for training");
  Generator gen(seed ^ 0x9e3779b97f4a7c15ULL);
  std::vector<int64_t> order = io::ShuffledBatches(all, rows, gen).front();
  std::vector<int64_t> validation(order.end() - held_out, order.end());
  order.resize(rows - held_out);
  std::sort(order.begin(), order.end());
  std::sort(validation.begin(), validation.end());
  return {order, validation};
}

// Which figure early stopping watches: -1 for the loss, else a metric index.
int MonitoredIndex(const EarlyStoppingOptions& options, std::span<const Metric> metrics) {
  if (options.monitor == "loss") return -1;
  std::vector<std::string> names = {"loss"};
  for (size_t i = 0; i < metrics.size(); ++i) {
    if (metrics[i].name == options.monitor) return static_cast<int>(i);
    names.push_back(metrics[i].name);
  }
  ACTGRAD_THROW(std::source_location::current(), "Train: early stopping monitors \"",
                options.monitor, "\", which is none of the figures on validation data (",
                absl::StrJoin(names, ", "), ")");
}

// The first quantity of a step whose loss is not finite that is not finite
// itself, and where it came from: a parameter (its initializer or its gain,
// or an earlier step), the batch's inputs (a value beyond the network's
// float range), or the first op whose output is not finite (an activation's
// attribute, a plugin's formula), found by running the batch again under
// anomaly detection. Empty when none is found.
std::string FirstNonFinite(Module& module, const TensorData& batch, const ForwardFn& forward,
                           const Loss& loss, bool first_step) {
  for (const NamedParameter& p : module.NamedParameters()) {
    const std::vector<double> values = p.tensor->ToVector();
    for (size_t i = 0; i < values.size(); ++i) {
      if (!std::isfinite(values[i])) {
        return absl::StrCat("parameter \"", p.name, "\" holds ", values[i], " at element ", i,
                            first_step ? " before the first step: its initializer (or the "
                                         "initializer's gain) made it"
                                       : " (an earlier step made it)");
      }
    }
  }
  const std::vector<double> inputs = batch.inputs.ToVector();
  const int64_t width = batch.rows() > 0 ? batch.inputs.numel() / batch.rows() : 1;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!std::isfinite(inputs[i])) {
      return absl::StrCat("the batch's inputs hold ", inputs[i], " (row ", int64_t(i) / width,
                          " of the batch, column ", int64_t(i) % width,
                          "): a value beyond the network's float range");
    }
  }
  try {
    DetectAnomalyGuard detect;
    const Tensor output = forward ? forward(batch.inputs) : module.Forward(batch.inputs);
    loss(output, batch).Backward();
  } catch (const Error& e) {
    return e.message();
  }
  return "";
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
    ACTGRAD_REQUIRE(rows[i] >= 0 && rows[i] < x.dim(0), std::source_location::current(),
                    "GatherRows: row ", rows[i], " of a tensor with ", x.dim(0), " rows (",
                    x.shape().ToString(), ")");
    std::memcpy(dst + i * row_bytes, src + rows[i] * row_bytes, row_bytes);
  }
  return out;
}

Scores Evaluate(Module& module, const Loss& loss, const TensorData& data,
                std::span<const Metric> metrics, const ForwardFn& forward, int64_t batch) {
  Scores scores;
  scores.metrics.assign(metrics.size(), 0.0);
  const int64_t rows = data.rows();
  if (rows == 0) return scores;
  ACTGRAD_REQUIRE(batch > 0, std::source_location::current(), "Evaluate: batch is ", batch);
  NoGradGuard no_grad;
  const bool was_training = module.is_training();
  module.Eval();
  double loss_sum = 0;
  std::vector<double> sums(metrics.size(), 0.0);
  std::vector<int64_t> chunk;
  for (int64_t begin = 0; begin < rows; begin += batch) {
    const int64_t end = std::min(rows, begin + batch);
    chunk.resize(end - begin);
    for (int64_t r = begin; r < end; ++r) chunk[r - begin] = r;
    const TensorData part = begin == 0 && end == rows ? data : data.Rows(chunk);
    const Tensor output = forward ? forward(part.inputs) : module.Forward(part.inputs);
    loss_sum += loss(output, part).item() * double(end - begin);
    for (size_t m = 0; m < metrics.size(); ++m) sums[m] += metrics[m].sum(output, part);
  }
  module.Train(was_training);
  scores.loss = loss_sum / double(rows);
  for (size_t m = 0; m < metrics.size(); ++m) {
    scores.metrics[m] = metrics[m].Finish(sums[m] / double(rows));
  }
  return scores;
}

TrainResult Train(Module& module, const Loss& loss, const TensorData& train,
                  const TrainOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const std::source_location here = std::source_location::current();
  ACTGRAD_REQUIRE(loss != nullptr, here, "Train: no loss was given");
  ACTGRAD_REQUIRE(options.batch > 0, here, "Train: batch is ", options.batch);
  ACTGRAD_REQUIRE(
      train.targets.defined() && train.targets.rank() > 0 && train.targets.dim(0) == train.rows(),
      here, "Train: ", train.rows(), " rows of inputs ", train.inputs.shape().ToString(),
      " but targets ", train.targets.defined() ? train.targets.shape().ToString() : "undefined");
  ACTGRAD_REQUIRE(options.validation_fraction >= 0 && options.validation_fraction < 1, here,
                  "Train: validation_fraction is ", options.validation_fraction,
                  "; it must be in [0, 1)");
  ACTGRAD_REQUIRE(!(options.validation.has_value() && options.validation_fraction > 0), here,
                  "Train: give validation data or a validation_fraction, not both");

  std::unique_ptr<optim::Optimizer> optimizer =
      options.make_optimizer ? options.make_optimizer(module)
                             : std::make_unique<optim::Sgd>(module.Parameters(), options.sgd);
  ACTGRAD_REQUIRE(optimizer != nullptr, here, "Train: make_optimizer returned no optimizer");
  const std::vector<Tensor> parameters = module.Parameters();
  // The model's name of each of the optimizer's parameters, in its order
  // (groups may order them differently from the model).
  std::vector<std::string> state_names;
  {
    std::map<const internal::TensorImpl*, std::string> name_of;
    for (const NamedParameter& p : module.NamedParameters()) name_of[p.tensor->impl()] = p.name;
    for (size_t g = 0; g < optimizer->num_groups(); ++g) {
      for (const Tensor& p : optimizer->parameters(g)) {
        auto it = name_of.find(p.impl());
        ACTGRAD_REQUIRE(it != name_of.end(), here,
                        "Train: the optimizer holds a tensor that is not a parameter of the model");
        state_names.push_back(it->second);
      }
    }
  }

  auto [train_rows, validation_rows] =
      SplitRows(train.rows(), options.validation_fraction, options.seed);
  std::optional<TensorData> validation = options.validation;
  if (!validation_rows.empty()) validation = train.Rows(validation_rows);
  const bool stopping = options.early_stopping.patience > 0;
  ACTGRAD_REQUIRE(!stopping || (validation.has_value() && validation->rows() > 0), here,
                  "Train: early stopping watches validation data; give TrainOptions::validation "
                  "or a validation_fraction");
  const int monitored = MonitoredIndex(options.early_stopping, options.metrics);
  EarlyStopping early_stopping(options.early_stopping,
                               monitored >= 0 && options.metrics[monitored].higher_is_better);
  NamedTensors best_weights;

  Generator gen(options.seed);
  int first_epoch = 0;
  TrainState start_state;
  if (options.resume_from != nullptr) start_state = *options.resume_from;
  GradientSync* sync = options.gradient_sync;
  if (sync != nullptr) sync->BroadcastState(start_state);
  if (options.resume_from != nullptr || !start_state.batch_order.empty()) {
    first_epoch = start_state.epochs_done;
    ACTGRAD_REQUIRE(gen.RestoreState(start_state.batch_order), here,
                    "Train: the saved batch order is not a generator state");
    if (!start_state.optimizer_state.empty()) {
      ACTGRAD_REQUIRE(start_state.optimizer == optimizer->name(), here,
                      "Train: the saved state is ", start_state.optimizer,
                      "'s; this run's optimizer is ", optimizer->name());
    }
    for (const auto& [name, saved] : start_state.optimizer_state) {
      auto it = std::find(state_names.begin(), state_names.end(), name);
      ACTGRAD_REQUIRE(it != state_names.end(), here, "Train: the saved optimizer state names \"",
                      name, "\", which is not a parameter of this model");
      optimizer->set_state(it - state_names.begin(), saved);
    }
    if (stopping && !start_state.early_stopping.empty()) {
      ACTGRAD_REQUIRE(early_stopping.RestoreState(start_state.early_stopping), here,
                      "Train: the saved early-stopping state \"", start_state.early_stopping,
                      "\" is not one EarlyStopping::SaveState wrote");
      best_weights = CloneState(start_state.best_weights);
    }
  }
  const int world = sync != nullptr ? sync->world_size() : 1;
  const int rank = sync != nullptr ? sync->rank() : 0;
  // Every epoch has the same number of batches: the schedule counts steps.
  const int64_t global_batch = options.batch * world;
  const int64_t steps_per_epoch =
      (static_cast<int64_t>(train_rows.size()) + global_batch - 1) / global_batch;
  std::optional<optim::PlateauReducer> plateau;
  if (options.schedule.has_value() && options.schedule->plateau().has_value()) {
    plateau.emplace(*options.schedule->plateau());
    if (!start_state.plateau.empty()) {
      ACTGRAD_REQUIRE(plateau->RestoreState(start_state.plateau), here,
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
    if (stopping) {
      state.early_stopping = early_stopping.SaveState();
      state.best_weights = best_weights;
    }
    for (size_t i = 0; i < optimizer->num_parameters(); ++i) {
      state.optimizer_state.emplace_back(state_names[i], optimizer->state(i));
    }
    options.on_checkpoint(state);
  };

  std::optional<DetectAnomalyGuard> detect;
  if (options.detect_anomaly) detect.emplace();
  const bool was_training = module.is_training();
  const size_t metric_count = options.metrics.size();
  TrainResult result;
  double first_loss = -1;
  for (int epoch = first_epoch; epoch < options.epochs; ++epoch) {
    const auto epoch_start = std::chrono::steady_clock::now();
    module.Train();
    const std::vector<std::vector<int64_t>> batches =
        io::ShuffledBatches(train_rows, global_batch, gen);
    double loss_sum = 0;
    int64_t samples = 0;
    std::vector<double> metric_sums(metric_count, 0.0);
    std::vector<double> step_sums(metric_count);
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
      std::fill(step_sums.begin(), step_sums.end(), 0.0);
      TensorData batch;
      if (!rows.empty()) {
        batch = train.Rows(rows);
        const Tensor output =
            options.forward ? options.forward(batch.inputs) : module.Forward(batch.inputs);
        const Tensor batch_loss = loss(output, batch);
        ACTGRAD_REQUIRE(batch_loss.numel() == 1, here, "Train: the loss is ",
                        batch_loss.shape().ToString(), "; it must be a scalar");
        batch_loss.Backward();
        value = batch_loss.item();
        if (metric_count > 0) {
          NoGradGuard no_grad;
          const Tensor scored = output.Detach();
          for (size_t m = 0; m < metric_count; ++m) {
            step_sums[m] = options.metrics[m].sum(scored, batch);
          }
        }
      }
      if (sync != nullptr) {
        const GlobalBatchTotals totals = sync->FinishStep(value, step_sums);
        value = totals.loss;
        step_sums = totals.sums;
      }
      for (size_t m = 0; m < metric_count; ++m) metric_sums[m] += step_sums[m];
      if (!std::isfinite(value)) {
        // Before the step, so the weights are those that gave the loss.
        const std::string cause =
            batch.rows() > 0 ? FirstNonFinite(module, batch, options.forward, loss, first_loss < 0)
                             : "";
        result.diverged = absl::StrFormat(
            "training diverged at epoch %d, batch %d: the loss is %g. %s", epoch + 1, b + 1, value,
            cause.empty()
                ? absl::StrFormat("Likely fixes: a smaller learning rate (now %g), inputs scaled "
                                  "to the activation's range, the activation's recommended "
                                  "initializer, or gradient clipping",
                                  optimizer->learning_rate())
                : absl::StrCat("The first value that is not finite: ", cause));
        break;
      }
      if (options.clip_norm > 0) optim::ClipGradNorm(parameters, options.clip_norm);
      optimizer->Step();
      if (first_loss < 0) first_loss = value;
      if (value > 100 * first_loss && value > first_loss + 10) {
        result.diverged = absl::StrFormat(
            "training diverged at epoch %d, batch %d: the loss is %g (it started at %g). "
            "Likely fixes: a smaller learning rate (now %g), inputs scaled to the activation's "
            "range, the activation's recommended initializer, or gradient clipping",
            epoch + 1, b + 1, value, first_loss, optimizer->learning_rate());
        break;
      }
      loss_sum += value;
      samples += static_cast<int64_t>(sync != nullptr ? rows_total : rows.size());
      if (options.on_batch) {
        BatchProgress progress{.epoch = epoch,
                               .batch = static_cast<int>(b + 1),
                               .batches = static_cast<int>(batches.size()),
                               .samples = samples,
                               .loss = loss_sum / double(b + 1)};
        for (size_t m = 0; m < metric_count; ++m) {
          progress.metrics.push_back(options.metrics[m].Finish(metric_sums[m] / double(samples)));
        }
        options.on_batch(progress);
      }
    }
    if (!result.diverged.empty()) break;
    EpochReport report{.epoch = epoch,
                       .train_loss = loss_sum / double(std::max<size_t>(batches.size(), 1)),
                       .learning_rate = optimizer->learning_rate()};
    for (size_t m = 0; m < metric_count; ++m) {
      report.train_metrics.push_back(
          options.metrics[m].Finish(samples > 0 ? metric_sums[m] / double(samples) : 0.0));
    }
    if (validation.has_value()) {
      report.validation = Evaluate(module, loss, *validation, options.metrics, options.forward,
                                   options.evaluation_batch);
    }
    if (options.test.has_value()) {
      report.test = Evaluate(module, loss, *options.test, options.metrics, options.forward,
                             options.evaluation_batch);
    }
    if (stopping) {
      const double watched =
          monitored < 0 ? report.validation->loss : report.validation->metrics[monitored];
      report.best = early_stopping.Observe(epoch, watched);
      if (report.best && options.early_stopping.restore_best) {
        best_weights = CloneState(module.StateDict());
      }
    }
    if (plateau.has_value()) {
      plateau->Observe(validation.has_value() ? report.validation->loss : report.train_loss);
    }
    report.seconds = SecondsSince(epoch_start);
    result.history.push_back(report);
    if (options.on_epoch) options.on_epoch(report);
    if (options.checkpoint_every > 0 && options.on_checkpoint &&
        (epoch + 1) % options.checkpoint_every == 0) {
      checkpoint(epoch + 1);
    }
    if (stopping && early_stopping.ShouldStop()) {
      result.stopped = absl::StrFormat(
          "early stopping: validation %s did not improve for %d epochs; best %.6g at epoch %d",
          options.early_stopping.monitor, options.early_stopping.patience,
          early_stopping.best_value(), early_stopping.best_epoch() + 1);
      break;
    }
    if (options.stop_if && options.stop_if(report)) {
      result.stopped = absl::StrFormat("stopped by stop_if after epoch %d", epoch + 1);
      break;
    }
  }
  if (result.diverged.empty() && stopping && options.early_stopping.restore_best &&
      !best_weights.empty()) {
    absl::StatusOr<LoadReport> loaded = module.LoadStateDict(best_weights, /*strict=*/true);
    ACTGRAD_REQUIRE(loaded.ok(), here,
                    "Train: restoring the best weights: ", loaded.status().message());
    result.restored_epoch = early_stopping.best_epoch();
  }
  module.Train(was_training);
  result.seconds = SecondsSince(start);
  return result;
}

std::vector<optim::ParamGroup> SplitDecay(Module& module,
                                          const std::vector<std::string>& no_decay) {
  std::vector<optim::NamedParameterRef> parameters;
  for (const NamedParameter& p : module.NamedParameters())
    parameters.push_back({p.name, *p.tensor});
  return optim::SplitDecay(parameters, no_decay);
}

}  // namespace actgrad::nn
