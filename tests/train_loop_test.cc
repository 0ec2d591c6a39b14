// The training loop for any module and any loss: a residual network with a
// custom loss, Adam with parameter groups and early stopping; validation
// splits, metrics, callbacks, modes, resuming, and the errors of misuse.

#include "nn/train_loop.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "nn/nn.h"
#include "optim/adam.h"
#include "tests/residual_net.h"
#include "tests/test_util.h"

namespace actgrad {
namespace {

using test_nets::PenalizedCrossEntropy;
using test_nets::ResidualNet;
using ::testing::HasSubstr;

// Three classes from two of four features, with `noise` of the labels
// drawn at random: a network can fit the noise, so the validation loss
// turns up and early stopping has something to find.
nn::TensorData MakeData(int64_t rows, uint64_t seed, double noise = 0.15) {
  Generator gen(seed);
  const Tensor x = Normal(Shape{rows, 4}, 0, 1, gen);
  const std::vector<double> v = x.ToVector();
  std::vector<int64_t> labels;
  for (int64_t r = 0; r < rows; ++r) {
    const double s = v[r * 4] + 0.5 * v[r * 4 + 1];
    int64_t label = s < -0.5 ? 0 : (s < 0.5 ? 1 : 2);
    if (gen.NextUniform() < noise) label = static_cast<int64_t>(gen.NextBelow(3));
    labels.push_back(label);
  }
  return {.inputs = x, .targets = Labels(labels)};
}

nn::TrainOptions AdamWithGroups(double learning_rate = 0.01) {
  nn::TrainOptions options;
  options.batch = 16;
  options.seed = 1;
  options.metrics = {nn::AccuracyMetric()};
  options.make_optimizer = [learning_rate](nn::Module& m) {
    return std::make_unique<optim::Adam>(
        nn::SplitDecay(m, {"bias"}),
        optim::AdamOptions{.learning_rate = learning_rate, .weight_decay = 1e-3});
  };
  return options;
}

std::vector<std::vector<double>> Values(nn::Module& m) {
  std::vector<std::vector<double>> out;
  for (const Tensor& p : m.Parameters()) out.push_back(p.ToVector());
  return out;
}

TEST(TrainLoopTest, ResidualNetworkWithCustomLossAdamGroupsAndEarlyStopping) {
  const nn::TensorData train = MakeData(300, 1);
  const nn::TensorData validation = MakeData(100, 2);
  const nn::TensorData test = MakeData(400, 3, /*noise=*/0.0);
  Generator gen(5);
  ResidualNet net(4, 32, 3, gen);
  nn::TrainOptions options = AdamWithGroups(0.02);
  options.epochs = 400;
  options.validation = validation;
  options.test = test;
  options.early_stopping = {.patience = 8};
  // What the loop's optimizer held; the optimizer itself ends with the loop.
  size_t groups = 0, undecayed = 0;
  auto make = options.make_optimizer;
  options.make_optimizer = [&](nn::Module& m) {
    auto optimizer = make(m);
    groups = optimizer->num_groups();
    undecayed = groups > 1 ? optimizer->parameters(1).size() : 0;
    return optimizer;
  };
  const nn::TrainResult result = nn::Train(net, PenalizedCrossEntropy, train, options);

  // Two groups: decay on the weights, none on the six biases.
  ASSERT_EQ(groups, 2u);
  EXPECT_EQ(undecayed, 6u);

  ASSERT_TRUE(result.diverged.empty()) << result.diverged;
  EXPECT_THAT(result.stopped, HasSubstr("early stopping: validation loss did not improve for 8"));
  const int best = result.restored_epoch;
  ASSERT_GE(best, 0);
  ASSERT_EQ(result.history.size(), static_cast<size_t>(best + 1 + 8));
  EXPECT_LT(result.history.size(), 400u);
  const double best_loss = result.history[best].validation->loss;
  EXPECT_TRUE(result.history[best].best);
  for (const nn::EpochReport& r : result.history) {
    if (r.epoch < best) {
      EXPECT_GT(r.validation->loss, best_loss) << "epoch " << r.epoch;
    }
    if (r.epoch > best) {
      EXPECT_GE(r.validation->loss, best_loss) << "epoch " << r.epoch;
    }
  }
  // The model holds the best epoch's weights, not the last epoch's.
  const std::vector<nn::Metric> metrics = {nn::AccuracyMetric()};
  const nn::Scores now = nn::Evaluate(net, PenalizedCrossEntropy, validation, metrics);
  EXPECT_EQ(now.loss, best_loss);
  EXPECT_EQ(now.metrics[0], result.history[best].validation->metrics[0]);
  EXPECT_NE(result.history.back().validation->loss, best_loss);
  // And it learned the rule behind the noise.
  EXPECT_GT(nn::Evaluate(net, PenalizedCrossEntropy, test, metrics).metrics[0], 0.85);
}

TEST(TrainLoopTest, EarlyStoppingCanWatchAMetricWhereHigherIsBetter) {
  Generator gen(6);
  ResidualNet net(4, 16, 3, gen);
  nn::TrainOptions options = AdamWithGroups();
  options.epochs = 200;
  options.validation = MakeData(100, 2);
  options.early_stopping = {.patience = 5, .monitor = "accuracy"};
  const nn::TrainResult result = nn::Train(net, PenalizedCrossEntropy, MakeData(300, 1), options);
  ASSERT_GE(result.restored_epoch, 0);
  const double best = result.history[result.restored_epoch].validation->metrics[0];
  for (const nn::EpochReport& r : result.history) {
    if (r.epoch < result.restored_epoch) {
      EXPECT_LT(r.validation->metrics[0], best);
    }
    if (r.epoch > result.restored_epoch) {
      EXPECT_LE(r.validation->metrics[0], best);
    }
  }
  EXPECT_THAT(result.stopped, HasSubstr("validation accuracy did not improve for 5 epochs"));
}

TEST(TrainLoopTest, ValidationFractionHoldsOutTheSameRowsForTheSameSeed) {
  const nn::TensorData train = MakeData(100, 1);
  auto run = [&](uint64_t seed) {
    Generator gen(7);
    ResidualNet net(4, 8, 3, gen);
    nn::TrainOptions options = AdamWithGroups();
    options.epochs = 2;
    options.seed = seed;
    options.validation_fraction = 0.2;
    int64_t trained_rows = 0;
    options.on_batch = [&](const nn::BatchProgress& p) { trained_rows = p.samples; };
    const nn::TrainResult result = nn::Train(net, PenalizedCrossEntropy, train, options);
    EXPECT_EQ(trained_rows, 80);
    return result.history.at(0).validation->loss;
  };
  EXPECT_EQ(run(3), run(3));
  EXPECT_NE(run(3), run(4));
}

TEST(TrainLoopTest, CallbacksSeeEveryStepAndEpochWithRunningMetrics) {
  Generator gen(8);
  ResidualNet net(4, 8, 3, gen);
  nn::TrainOptions options = AdamWithGroups();
  options.epochs = 3;
  options.batch = 32;  // 100 rows: 4 batches, the last of 4 rows
  int steps = 0, epochs = 0;
  options.on_batch = [&](const nn::BatchProgress& p) {
    ++steps;
    EXPECT_EQ(p.batches, 4);
    ASSERT_EQ(p.metrics.size(), 1u);
    EXPECT_GE(p.metrics[0], 0.0);
    EXPECT_LE(p.metrics[0], 1.0);
    if (p.batch == 4) {
      EXPECT_EQ(p.samples, 100);
    }
  };
  options.on_epoch = [&](const nn::EpochReport& r) {
    EXPECT_EQ(r.epoch, epochs++);
    EXPECT_FALSE(r.validation.has_value());
    ASSERT_EQ(r.train_metrics.size(), 1u);
  };
  options.stop_if = [](const nn::EpochReport& r) { return r.epoch == 1; };
  const nn::TrainResult result = nn::Train(net, PenalizedCrossEntropy, MakeData(100, 1), options);
  EXPECT_EQ(steps, 8);
  EXPECT_EQ(epochs, 2);
  EXPECT_EQ(result.stopped, "stopped by stop_if after epoch 2");
  EXPECT_EQ(result.restored_epoch, -1);
}

// Records the mode each forward pass ran in.
class ModeProbe : public nn::Module {
 public:
  explicit ModeProbe(Generator& gen) : fc_({.in = 4, .out = 3}, gen) { RegisterModule("fc", &fc_); }
  Tensor Forward(const Tensor& x) override {
    (IsGradEnabled() ? training_calls : evaluation_calls).push_back(is_training());
    return fc_(x);
  }
  std::string ToString() const override { return "ModeProbe"; }
  std::vector<bool> training_calls, evaluation_calls;

 private:
  nn::Linear fc_;
};

TEST(TrainLoopTest, TrainsInTrainingModeScoresInEvaluationModeAndRestoresTheMode) {
  Generator gen(9);
  ModeProbe probe(gen);
  probe.Eval();
  nn::TrainOptions options = AdamWithGroups();
  options.epochs = 2;
  options.validation = MakeData(20, 2);
  nn::Train(
      probe,
      [](const Tensor& out, const nn::TensorData& b) { return CrossEntropy(out, b.targets); },
      MakeData(40, 1), options);
  EXPECT_THAT(probe.training_calls, ::testing::Each(true));
  EXPECT_EQ(probe.training_calls.size(), 6u);
  EXPECT_THAT(probe.evaluation_calls, ::testing::Each(false));
  EXPECT_EQ(probe.evaluation_calls.size(), 2u);
  EXPECT_FALSE(probe.is_training());
}

TEST(TrainLoopTest, EvaluationIsTheSameWhateverTheBatch) {
  Generator gen(10);
  ResidualNet net(4, 8, 3, gen, DType::kFloat64);
  nn::TensorData data = MakeData(101, 4);
  data.inputs = ToDType(data.inputs, DType::kFloat64);
  const std::vector<nn::Metric> metrics = {nn::AccuracyMetric()};
  const nn::Scores whole = nn::Evaluate(net, PenalizedCrossEntropy, data, metrics);
  const nn::Scores pieces = nn::Evaluate(net, PenalizedCrossEntropy, data, metrics, {}, 7);
  EXPECT_NEAR(pieces.loss, whole.loss, 1e-12);
  EXPECT_EQ(pieces.metrics[0], whole.metrics[0]);
}

TEST(TrainLoopTest, ResumingWithEarlyStoppingIsBitwiseTheStraightRun) {
  const nn::TensorData train = MakeData(200, 1);
  const std::string path = testing::TempPath("train_loop_resume.safetensors");
  auto options_for = [&] {
    nn::TrainOptions options = AdamWithGroups(0.03);
    options.epochs = 300;
    options.validation = MakeData(60, 2);
    options.early_stopping = {.patience = 4};
    options.schedule = optim::Schedule::Cosine(0.03, 300, 0.0);
    return options;
  };
  Generator gen_a(11);
  ResidualNet straight(4, 16, 3, gen_a);
  nn::TrainOptions options = options_for();
  const int stop_at = 3;
  options.checkpoint_every = 1;
  options.on_checkpoint = [&](const nn::TrainState& state) {
    if (state.epochs_done == stop_at) {
      ASSERT_TRUE(nn::SaveCheckpoint(path, straight, state).ok());
    }
  };
  const nn::TrainResult whole = nn::Train(straight, PenalizedCrossEntropy, train, options);
  ASSERT_FALSE(whole.stopped.empty());
  ASSERT_GT(whole.history.size(), static_cast<size_t>(stop_at + 4));

  Generator gen_b(99);  // other initial weights: the checkpoint replaces them
  ResidualNet resumed(4, 16, 3, gen_b);
  absl::StatusOr<nn::TrainState> state = nn::LoadCheckpoint(path, resumed);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->epochs_done, stop_at);
  EXPECT_FALSE(state->early_stopping.empty());
  EXPECT_EQ(state->best_weights.size(), resumed.StateDict().size());
  nn::TrainOptions again = options_for();
  again.resume_from = &*state;
  const nn::TrainResult rest = nn::Train(resumed, PenalizedCrossEntropy, train, again);
  EXPECT_EQ(rest.stopped, whole.stopped);
  EXPECT_EQ(rest.restored_epoch, whole.restored_epoch);
  EXPECT_EQ(rest.history.size() + stop_at, whole.history.size());
  EXPECT_EQ(Values(resumed), Values(straight));
}

TEST(TrainLoopTest, ModuleCheckpointsRefuseAnotherModelAndChangeNothing) {
  const std::string path = testing::TempPath("train_loop_refuse.safetensors");
  Generator gen(12);
  ResidualNet saved(4, 16, 3, gen);
  ASSERT_TRUE(nn::SaveCheckpoint(path, saved, nn::TrainState{.batch_order = "x"}).ok());
  ResidualNet wider(4, 17, 3, gen);
  const std::vector<std::vector<double>> before = Values(wider);
  absl::StatusOr<nn::TrainState> state = nn::LoadCheckpoint(path, wider);
  ASSERT_FALSE(state.ok());
  EXPECT_THAT(std::string(state.status().message()), HasSubstr("size mismatch for in.weight"));
  EXPECT_EQ(Values(wider), before);
}

TEST(TrainLoopTest, MisuseThrowsErrorsThatSayWhatToChange) {
  using actgrad::testing::ErrorMessageOf;
  const nn::TensorData train = MakeData(100, 1);
  Generator gen(13);
  ResidualNet net(4, 8, 3, gen);
  auto train_with = [&](auto change, const nn::Loss& loss = PenalizedCrossEntropy) {
    nn::TrainOptions options = AdamWithGroups();
    options.epochs = 1;
    change(options);
    return ErrorMessageOf([&] { nn::Train(net, loss, train, options); });
  };
  EXPECT_THAT(train_with([](nn::TrainOptions& o) { o.early_stopping.patience = 3; }),
              HasSubstr("early stopping watches validation data"));
  EXPECT_THAT(
      train_with([](nn::TrainOptions& o) {
        o.validation_fraction = 0.2;
        o.early_stopping = {.patience = 3, .monitor = "f1"};
      }),
      HasSubstr("\"f1\", which is none of the figures on validation data (loss, accuracy)"));
  EXPECT_THAT(train_with([](nn::TrainOptions& o) { o.validation_fraction = 1; }),
              HasSubstr("validation_fraction is 1; it must be in [0, 1)"));
  EXPECT_THAT(train_with([](nn::TrainOptions& o) { o.validation_fraction = 0.001; }),
              HasSubstr("leaves no row for validation"));
  EXPECT_THAT(train_with([&](nn::TrainOptions& o) {
                o.validation_fraction = 0.1;
                o.validation = train;
              }),
              HasSubstr("not both"));
  EXPECT_THAT(train_with([](nn::TrainOptions&) {},
                         [](const Tensor& out, const nn::TensorData&) { return out; }),
              HasSubstr("the loss is [16,3]; it must be a scalar"));
  nn::TensorData short_targets = train;
  short_targets.targets = Labels({0, 1});
  EXPECT_THAT(ErrorMessageOf(
                  [&] { nn::Train(net, PenalizedCrossEntropy, short_targets, AdamWithGroups()); }),
              HasSubstr("100 rows of inputs [100,4] but targets [2]"));
}

// A loss that is not finite is traced to its first cause, not blamed on
// the learning rate.
TEST(TrainLoopTest, DivergenceNamesTheFirstValueThatIsNotFinite) {
  const nn::TensorData train = MakeData(64, 1);
  auto diverged = [&](nn::Module& model, const nn::TensorData& data) {
    nn::TrainOptions options = AdamWithGroups();
    options.epochs = 1;
    return nn::Train(model, PenalizedCrossEntropy, data, options).diverged;
  };
  Generator gen(14);
  ResidualNet nan_weight(4, 8, 3, gen);
  nan_weight.NamedParameters()[0].tensor->data<float>()[0] = std::nanf("");
  EXPECT_THAT(diverged(nan_weight, train),
              HasSubstr("parameter \"in.weight\" holds nan at element 0 before the first step: "
                        "its initializer (or the initializer's gain) made it"));

  nn::Sequential elu;
  elu.Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 4, .out = 8}, gen));
  absl::StatusOr<std::unique_ptr<nn::Activation>> infinite = nn::Activation::Parse("elu:alpha=inf");
  ASSERT_TRUE(infinite.ok());
  elu.Add(*std::move(infinite));
  elu.Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 8, .out = 3}, gen));
  const std::string elu_cause = diverged(elu, train);
  EXPECT_THAT(elu_cause, HasSubstr("The first value that is not finite: "));
  EXPECT_THAT(elu_cause, HasSubstr("elu"));
  EXPECT_THAT(elu_cause, ::testing::Not(HasSubstr("learning rate")));

  // A linear layer passes an infinite input on to the loss.
  nn::Linear fine({.in = 4, .out = 3}, gen);
  nn::TensorData huge = train;
  huge.inputs = train.inputs.Clone();
  huge.inputs.data<float>()[5] = std::numeric_limits<float>::infinity();
  nn::TrainOptions options = AdamWithGroups();
  options.epochs = 1;
  options.batch = 64;
  EXPECT_THAT(nn::Train(fine, PenalizedCrossEntropy, huge, options).diverged,
              HasSubstr("the batch's inputs hold inf"));
}

TEST(EarlyStoppingTest, CountsEpochsWithoutAnImprovementBeyondMinDelta) {
  nn::EarlyStopping lower({.patience = 2, .min_delta = 0.1}, /*higher_is_better=*/false);
  EXPECT_TRUE(lower.Observe(0, 1.0));
  EXPECT_FALSE(lower.Observe(1, 0.95));  // not by more than 0.1
  EXPECT_FALSE(lower.ShouldStop());
  EXPECT_TRUE(lower.Observe(2, 0.85));
  EXPECT_FALSE(lower.Observe(3, std::nan("")));
  EXPECT_FALSE(lower.Observe(4, 0.9));
  EXPECT_TRUE(lower.ShouldStop());
  EXPECT_EQ(lower.best_epoch(), 2);
  EXPECT_EQ(lower.best_value(), 0.85);

  nn::EarlyStopping higher({.patience = 1}, /*higher_is_better=*/true);
  EXPECT_TRUE(higher.Observe(0, 0.5));
  EXPECT_TRUE(higher.Observe(1, 0.6));
  EXPECT_FALSE(higher.Observe(2, 0.6));
  EXPECT_TRUE(higher.ShouldStop());
}

TEST(EarlyStoppingTest, StateRoundTripsAndBadStateIsRefused) {
  nn::EarlyStopping a({.patience = 3}, false);
  a.Observe(0, 0.1 + 0.2);
  a.Observe(1, 0.5);
  nn::EarlyStopping b({.patience = 3}, false);
  ASSERT_TRUE(b.RestoreState(a.SaveState()));
  EXPECT_EQ(b.SaveState(), a.SaveState());
  EXPECT_EQ(b.best_value(), 0.1 + 0.2);
  EXPECT_EQ(b.best_epoch(), 0);
  for (const char* bad : {"", "1,2", "x,0,0", "0x1p-2,-2,0", "0x1p-2,0,-1", "0x1p-2,0,0,0"}) {
    EXPECT_FALSE(b.RestoreState(bad)) << bad;
  }
}

TEST(MetricsTest, AccuracyRmseAndMaeSumOverRows) {
  const nn::TensorData multiclass{.inputs = Zeros({3, 1}), .targets = Labels({2, 0, 1})};
  const Tensor scores = FromValues({0, 1, 5, 3, 1, 0, 0, 2, 1}, Shape{3, 3});
  EXPECT_EQ(nn::AccuracyMetric().sum(scores, multiclass), 3.0);
  const nn::TensorData binary{.inputs = Zeros({4, 1}),
                              .targets = FromValues({1, 0, 1, 0}, Shape{4, 1})};
  const Tensor logits = FromValues({0.0, -0.1, -2.0, 3.0}, Shape{4, 1});
  EXPECT_EQ(nn::AccuracyMetric().sum(logits, binary), 2.0);  // 0 counts as 1
  EXPECT_EQ(nn::AccuracyMetric(0.5).sum(logits, binary), 1.0);

  const nn::TensorData regression{.inputs = Zeros({2, 1}),
                                  .targets = FromValues({1, 2, 3, 4}, Shape{2, 2})};
  const Tensor predicted = FromValues({1, 2, 3, 8}, Shape{2, 2});
  const nn::Metric rmse = nn::RmseMetric();
  // Squared errors 0, 0, 0, 16: a mean of 4 over elements, 8 summed per row.
  EXPECT_EQ(rmse.sum(predicted, regression), 8.0);
  EXPECT_EQ(rmse.Finish(8.0 / 2), 2.0);
  EXPECT_FALSE(rmse.higher_is_better);
  EXPECT_EQ(nn::MeanAbsoluteErrorMetric().sum(predicted, regression), 2.0);
  EXPECT_THAT(actgrad::testing::ErrorMessageOf([&] {
                rmse.sum(Zeros({2, 3}), regression);
              }),
              HasSubstr("rmse: the output is [2,3] but the targets are [2,2]"));
}

}  // namespace
}  // namespace actgrad
