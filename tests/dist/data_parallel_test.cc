// Data-parallel training, run under mpirun with 1, 2 and 4 ranks: N ranks
// with per-rank batch B take the same steps as one process with batch N x B,
// the replicas stay bitwise identical, state is broadcast from rank 0, and a
// rank with another model is named.

#include "dist/data_parallel.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "dist/communicator.h"
#include "graph/factories.h"
#include "nn/nn.h"
#include "optim/adam.h"
#include "tests/residual_net.h"

namespace actgrad::dist {
namespace {

Communicator* g_comm = nullptr;

struct Problem {
  Tensor x;
  std::vector<double> y;
};

// Three classes in `features` dimensions, the same on every rank.
Problem MakeProblem(int64_t rows, int64_t features, DType dtype) {
  Generator gen(42);
  Problem p;
  p.x = Normal(Shape{rows, features}, 0, 1, gen, dtype);
  const std::vector<double> values = p.x.ToVector();
  for (int64_t r = 0; r < rows; ++r) {
    const double s = values[r * features] + 0.5 * values[r * features + 1];
    p.y.push_back(s < -0.4 ? 0 : (s < 0.4 ? 1 : 2));
  }
  return p;
}

std::unique_ptr<nn::Sequential> MakeModel(DType dtype, int64_t hidden = 16) {
  Generator gen(7);
  return nn::Mlp({.inputs = 6,
                  .hidden = {hidden, 12},
                  .outputs = 3,
                  .hidden_activation = &ops::kTanh,
                  .dtype = dtype},
                 gen);
}

nn::TrainOptions Options(int64_t batch) {
  nn::TrainOptions o;
  o.epochs = 3;
  o.batch = batch;
  o.seed = 5;
  o.sgd = {.learning_rate = 0.1, .momentum = 0.9, .weight_decay = 1e-3};
  return o;
}

// The largest difference between two models' parameters, relative to the
// largest parameter value.
double RelativeDifference(nn::Sequential& a, nn::Sequential& b) {
  const std::vector<Tensor> pa = a.Parameters(), pb = b.Parameters();
  double diff = 0, scale = 0;
  for (size_t i = 0; i < pa.size(); ++i) {
    const std::vector<double> va = pa[i].ToVector(), vb = pb[i].ToVector();
    for (size_t k = 0; k < va.size(); ++k) {
      diff = std::max(diff, std::abs(va[k] - vb[k]));
      scale = std::max(scale, std::abs(vb[k]));
    }
  }
  return diff / scale;
}

struct EquivalenceCase {
  DType dtype;
  int64_t rows;  // chosen so that the last global batch is short
  double tolerance;
};

class EquivalenceTest : public testing::TestWithParam<EquivalenceCase> {};

TEST_P(EquivalenceTest, RanksWithBatchBMatchOneProcessWithBatchNTimesB) {
  const EquivalenceCase& c = GetParam();
  const int n = g_comm->size();
  const Problem p = MakeProblem(c.rows, 6, c.dtype);
  const Tensor no_test = Zeros(Shape{0, 6}, c.dtype);

  auto distributed = MakeModel(c.dtype);
  auto ddp = DataParallel::Create(*g_comm, *distributed, {.bucket_bytes = 256});
  ASSERT_TRUE(ddp.ok()) << ddp.status();
  nn::TrainOptions options = Options(4);
  options.gradient_sync = ddp->get();
  const nn::TrainResult trained =
      nn::Train(nn::Task::kMulticlass, *distributed, p.x, p.y, no_test, {}, options);
  ASSERT_TRUE(trained.diverged.empty()) << trained.diverged;

  auto single = MakeModel(c.dtype);
  nn::TrainOptions single_options = Options(4 * n);
  const nn::TrainResult reference =
      nn::Train(nn::Task::kMulticlass, *single, p.x, p.y, no_test, {}, single_options);

  const double difference = RelativeDifference(*distributed, *single);
  if (n == 1) {
    EXPECT_EQ(difference, 0.0) << "one rank must be bitwise the plain loop";
  } else {
    EXPECT_LE(difference, c.tolerance);
    EXPECT_GT(difference, 0.0) << "the ranks must each have computed only their slice";
  }
  // The reported loss is the global batch's, as the single process saw it.
  ASSERT_EQ(trained.history.size(), reference.history.size());
  EXPECT_NEAR(trained.history.back().train_loss, reference.history.back().train_loss,
              100 * c.tolerance * reference.history.back().train_loss);
  // Every rank went through its share of the rows.
  EXPECT_NEAR(double((*ddp)->stats().rows), double(c.rows * options.epochs) / n,
              double(options.epochs * ((c.rows + 4 * n - 1) / (4 * n))));
}

INSTANTIATE_TEST_SUITE_P(DTypes, EquivalenceTest,
                         testing::Values(EquivalenceCase{DType::kFloat32, 203, 2e-5},
                                         EquivalenceCase{DType::kFloat64, 203, 1e-12},
                                         // 4 x 4 x 12 + 2: with 4 ranks, the last
                                         // global batch leaves two ranks empty.
                                         EquivalenceCase{DType::kFloat64, 194, 1e-12}));

TEST(DataParallelTest, ReplicasStayBitwiseIdentical) {
  const Problem p = MakeProblem(150, 6, DType::kFloat32);
  auto model = MakeModel(DType::kFloat32);
  auto ddp = DataParallel::Create(*g_comm, *model, {.bucket_bytes = 512});
  ASSERT_TRUE(ddp.ok()) << ddp.status();
  nn::TrainOptions options = Options(8);
  options.gradient_sync = ddp->get();
  nn::Train(nn::Task::kMulticlass, *model, p.x, p.y, Zeros(Shape{0, 6}), {}, options);
  const int64_t mine[] = {static_cast<int64_t>((*ddp)->ParameterFingerprint())};
  const std::vector<int64_t> all = g_comm->Allgather(mine, "fingerprints");
  for (int r = 1; r < g_comm->size(); ++r) EXPECT_EQ(all[r], all[0]) << "rank " << r;
}

TEST(DataParallelTest, BucketsFollowReverseParameterOrderAndOverlapTheBackwardPass) {
  auto model = MakeModel(DType::kFloat32);
  // Parameters: 0.weight [16,6], 0.bias, 2.weight [12,16], 2.bias, 4.weight [3,12], 4.bias.
  auto ddp = DataParallel::Create(*g_comm, *model, {.bucket_bytes = 200});
  ASSERT_TRUE(ddp.ok()) << ddp.status();
  const std::vector<std::vector<int>>& buckets = (*ddp)->bucket_members();
  std::vector<int> order;
  for (const auto& b : buckets) order.insert(order.end(), b.begin(), b.end());
  EXPECT_EQ(order, (std::vector<int>{5, 4, 3, 2, 1, 0}));
  EXPECT_GT(buckets.size(), 2u);
  int64_t elements = 0;
  for (const Tensor& t : model->Parameters()) elements += t.numel();
  EXPECT_EQ((*ddp)->bytes_per_step(), elements * 4);

  const Problem p = MakeProblem(64, 6, DType::kFloat32);
  nn::TrainOptions options = Options(8);
  options.epochs = 1;
  options.gradient_sync = ddp->get();
  nn::Train(nn::Task::kMulticlass, *model, p.x, p.y, Zeros(Shape{0, 6}), {}, options);
  const SyncStats& stats = (*ddp)->stats();
  const int64_t steps = stats.steps;
  EXPECT_EQ(steps, (64 + 8 * g_comm->size() - 1) / (8 * g_comm->size()));
  // All but the last bucket (whose last gradient ends the backward pass and
  // starts it) leave while the backward pass is still running.
  EXPECT_GE(stats.buckets_overlapped, steps * int64_t(buckets.size() - 1));
}

TEST(DataParallelTest, WithoutOverlapEveryBucketStartsAfterTheBackwardPass) {
  auto model = MakeModel(DType::kFloat32);
  auto ddp = DataParallel::Create(*g_comm, *model, {.bucket_bytes = 200, .overlap = false});
  ASSERT_TRUE(ddp.ok()) << ddp.status();
  const Problem p = MakeProblem(64, 6, DType::kFloat32);
  nn::TrainOptions options = Options(8);
  options.epochs = 1;
  options.gradient_sync = ddp->get();
  nn::Train(nn::Task::kMulticlass, *model, p.x, p.y, Zeros(Shape{0, 6}), {}, options);
  EXPECT_EQ((*ddp)->stats().buckets_overlapped, 0);
  EXPECT_GT((*ddp)->stats().steps, 0);
}

TEST(DataParallelTest, StateAndParametersComeFromRankZero) {
  auto model = MakeModel(DType::kFloat64);
  const int rank = g_comm->rank();
  // Each rank starts from different weights.
  Generator gen(100 + rank);
  for (Tensor& p : model->Parameters()) {
    const Tensor noise = Normal(p.shape(), 0, 1, gen, DType::kFloat64);
    std::copy_n(noise.data<double>(), p.numel(), p.data<double>());
  }
  auto ddp = DataParallel::Create(*g_comm, *model, {});
  ASSERT_TRUE(ddp.ok()) << ddp.status();
  nn::TrainState state;
  if (rank == 0) {
    Generator order(9);
    order.NextUniform();
    state.epochs_done = 4;
    state.batch_order = order.SaveState();
    state.optimizer = "Adam";
    for (const nn::NamedParameter& p : model->NamedParameters()) {
      optim::ParameterState s{.step = 7};
      s.buffers.emplace_back("exp_avg", Full(p.tensor->shape(), 0.25, DType::kFloat64));
      s.buffers.emplace_back("exp_avg_sq", Full(p.tensor->shape(), 0.5, DType::kFloat64));
      state.optimizer_state.emplace_back(p.name, std::move(s));
    }
    state.optimizer_state[1].second = {};  // a parameter without state yet
    state.early_stopping = "0x1p-2,3,1";
    state.best_weights = {{"0.weight", Full({16, 6}, 1.5, DType::kFloat64)},
                          {"0.bias", Full({16}, 2.5, DType::kFloat32)}};
  }
  (*ddp)->BroadcastState(state);
  EXPECT_EQ(state.epochs_done, 4);
  Generator expected(9);
  expected.NextUniform();
  EXPECT_EQ(state.batch_order, expected.SaveState());
  EXPECT_EQ(state.optimizer, "Adam");
  const std::vector<nn::NamedParameter> parameters = model->NamedParameters();
  ASSERT_EQ(state.optimizer_state.size(), parameters.size());
  EXPECT_EQ(state.optimizer_state[1].first, parameters[1].name);
  EXPECT_EQ(state.optimizer_state[1].second.step, 0);
  EXPECT_TRUE(state.optimizer_state[1].second.buffers.empty());
  const optim::ParameterState& first = state.optimizer_state[0].second;
  EXPECT_EQ(state.optimizer_state[0].first, parameters[0].name);
  EXPECT_EQ(first.step, 7);
  ASSERT_EQ(first.buffers.size(), 2u);
  EXPECT_EQ(first.buffers[1].first, "exp_avg_sq");
  EXPECT_EQ(first.buffer("exp_avg").ToVector(),
            std::vector<double>(first.buffer("exp_avg").numel(), 0.25));
  EXPECT_EQ(first.buffer("exp_avg_sq").ToVector(),
            std::vector<double>(first.buffer("exp_avg_sq").numel(), 0.5));
  EXPECT_EQ(state.early_stopping, "0x1p-2,3,1");
  ASSERT_EQ(state.best_weights.size(), 2u);
  EXPECT_EQ(state.best_weights[0].first, "0.weight");
  EXPECT_EQ(state.best_weights[0].second.shape(), Shape({16, 6}));
  EXPECT_EQ(state.best_weights[0].second.ToVector(), std::vector<double>(96, 1.5));
  EXPECT_EQ(state.best_weights[1].second.dtype(), DType::kFloat32);
  EXPECT_EQ(state.best_weights[1].second.ToVector(), std::vector<double>(16, 2.5));
  const int64_t mine[] = {static_cast<int64_t>((*ddp)->ParameterFingerprint())};
  const std::vector<int64_t> all = g_comm->Allgather(mine, "fingerprints");
  for (int r = 1; r < g_comm->size(); ++r) EXPECT_EQ(all[r], all[0]) << "rank " << r;
}

// Any module, any loss: a residual network with a custom loss, Adam with no
// decay on biases and early stopping on validation data trains the same on
// N ranks with batch B as on one process with batch N x B, and stops at the
// same epoch with the same best weights.
TEST(DataParallelTest, AResidualNetworkWithACustomLossAndEarlyStoppingMatchesOneProcess) {
  const int n = g_comm->size();
  const Problem p = MakeProblem(240, 6, DType::kFloat64);
  const Problem held_out = MakeProblem(80, 6, DType::kFloat64);
  auto labels = [](const std::vector<double>& y) {
    return Labels(std::vector<int64_t>(y.begin(), y.end()));
  };
  const nn::TensorData train{.inputs = p.x, .targets = labels(p.y)};
  auto options_for = [&](int64_t batch) {
    nn::TrainOptions o;
    o.epochs = 60;
    o.batch = batch;
    o.seed = 4;
    o.validation = nn::TensorData{.inputs = held_out.x, .targets = labels(held_out.y)};
    o.metrics = {nn::AccuracyMetric()};
    o.early_stopping = {.patience = 4};
    o.make_optimizer = [](nn::Module& m) {
      return std::make_unique<optim::Adam>(
          nn::SplitDecay(m, {"bias"}),
          optim::AdamOptions{.learning_rate = 0.03, .weight_decay = 1e-3});
    };
    return o;
  };
  Generator gen_a(12), gen_b(12);
  test_nets::ResidualNet distributed(6, 12, 3, gen_a, DType::kFloat64);
  test_nets::ResidualNet single(6, 12, 3, gen_b, DType::kFloat64);
  auto ddp = DataParallel::Create(*g_comm, distributed, {.bucket_bytes = 512});
  ASSERT_TRUE(ddp.ok()) << ddp.status();
  nn::TrainOptions options = options_for(6);
  options.gradient_sync = ddp->get();
  const nn::TrainResult trained =
      nn::Train(distributed, test_nets::PenalizedCrossEntropy, train, options);
  const nn::TrainResult reference =
      nn::Train(single, test_nets::PenalizedCrossEntropy, train, options_for(6 * n));
  ASSERT_TRUE(trained.diverged.empty()) << trained.diverged;
  ASSERT_FALSE(reference.stopped.empty()) << "the case must exercise early stopping";
  EXPECT_EQ(trained.stopped, reference.stopped);
  EXPECT_EQ(trained.restored_epoch, reference.restored_epoch);
  ASSERT_EQ(trained.history.size(), reference.history.size());
  EXPECT_NEAR(trained.history.back().train_metrics[0], reference.history.back().train_metrics[0],
              1e-12);
  const std::vector<Tensor> a = distributed.Parameters(), b = single.Parameters();
  double difference = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const std::vector<double> va = a[i].ToVector(), vb = b[i].ToVector();
    for (size_t k = 0; k < va.size(); ++k)
      difference = std::max(difference, std::abs(va[k] - vb[k]));
  }
  EXPECT_LE(difference, 1e-9);
  const int64_t mine[] = {static_cast<int64_t>((*ddp)->ParameterFingerprint())};
  const std::vector<int64_t> all = g_comm->Allgather(mine, "fingerprints");
  for (int r = 1; r < g_comm->size(); ++r) EXPECT_EQ(all[r], all[0]) << "rank " << r;
}

TEST(DataParallelTest, ARankWithAnotherModelIsNamed) {
  if (g_comm->size() == 1) GTEST_SKIP() << "needs two ranks";
  const int rank = g_comm->rank();
  // Odd ranks build a wider first layer.
  auto model = MakeModel(DType::kFloat32, rank % 2 == 1 ? 20 : 16);
  auto ddp = DataParallel::Create(*g_comm, *model, {});
  ASSERT_FALSE(ddp.ok());
  const std::string message(ddp.status().message());
  if (rank % 2 == 1) {
    EXPECT_NE(message.find("rank " + std::to_string(rank) + " holds a different model"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("\"0.weight\" [20,6] float32 here but \"0.weight\" [16,6] float32 on "
                           "rank 0"),
              std::string::npos)
        << message;
  } else {
    const std::string expected = g_comm->size() == 2 ? "rank 1 holds" : "ranks 1, 3 hold";
    EXPECT_NE(message.find(expected), std::string::npos) << message;
  }
}

TEST(DataParallelTest, RejectsANonPositiveBucketSize) {
  auto model = MakeModel(DType::kFloat32);
  auto ddp = DataParallel::Create(*g_comm, *model, {.bucket_bytes = 0});
  ASSERT_FALSE(ddp.ok());
  EXPECT_NE(ddp.status().message().find("bucket size must be positive"), absl::string_view::npos);
}

}  // namespace
}  // namespace actgrad::dist

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  auto comm = actgrad::dist::Communicator::Create({.timeout = absl::Seconds(60)});
  if (!comm.ok()) {
    std::cerr << comm.status() << "\n";
    return 1;
  }
  actgrad::dist::g_comm = comm->get();
  const int failed = RUN_ALL_TESTS();
  // Every rank returns the same verdict.
  const int64_t mine[] = {failed};
  const std::vector<int64_t> all = (*comm)->Allgather(mine, "the test results");
  comm->reset();
  for (int64_t f : all) {
    if (f != 0) return 1;
  }
  return 0;
}
