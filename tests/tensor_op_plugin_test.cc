// Tensor ops from plugins: loaded only after their gradients check out to
// second order, refused with the op, shape and worst element otherwise,
// usable as layers (trained, saved and loaded again) and in forward mode.

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "check/conformance.h"
#include "check/op_check.h"
#include "check/plugin_check.h"
#include "gmock/gmock.h"
#include "graph/factories.h"
#include "graph/forward_mode.h"
#include "gtest/gtest.h"
#include "nn/layer_spec.h"
#include "nn/model_file.h"
#include "ops/functional.h"
#include "ops/plugin.h"
#include "ops/registry.h"
#include "optim/sgd.h"
#include "tests/test_util.h"

namespace actgrad {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

const OpDef& LoadedOp(const char* name) {
  absl::StatusOr<std::vector<const OpDef*>> ops = LoadCheckedPlugin(ACTGRAD_TENSOR_OPS_PLUGIN);
  EXPECT_TRUE(ops.ok()) << ops.status();
  absl::StatusOr<const OpDef*> op = OpRegistry::Global().Find(name);
  EXPECT_TRUE(op.ok()) << op.status();
  return **op;
}

TEST(TensorOpPluginTest, LoadsItsOpsCheckedToSecondOrder) {
  absl::StatusOr<std::vector<const OpDef*>> ops = LoadCheckedPlugin(ACTGRAD_TENSOR_OPS_PLUGIN);
  ASSERT_TRUE(ops.ok()) << ops.status();
  ASSERT_EQ(ops->size(), 2u);
  for (const OpDef* op : *ops) {
    ASSERT_NE(TensorOpDefinitionOf(*op), nullptr) << op->name;
    ASSERT_NE(op->check_cases, nullptr) << op->name;
    // The declared shapes and shapes drawn near them that the rule accepts.
    Generator gen(1);
    const std::vector<GradCheckCase> cases = DrawCheckCases(*op, gen);
    EXPECT_EQ(cases.size(), TensorOpDefinitionOf(*op)->example_shapes.size() + 2) << op->name;
    ConformanceOptions options;
    options.second_order = true;
    const ConformanceReport report = CheckConformance(*op, options);
    EXPECT_TRUE(report.passed) << report.ToString();
    EXPECT_TRUE(report.second_order_checked);
    EXPECT_FALSE(report.second_order.empty());
  }
}

TEST(TensorOpPluginTest, ComputesWhatItsFormulaSays) {
  const OpDef& rms_norm = LoadedOp("rms_norm");
  const Tensor y = Apply(rms_norm, {FromValues({3.0, 4.0}, Shape{1, 2}, DType::kFloat64)});
  const double rms = std::sqrt((9.0 + 16.0) / 2 + 1e-5);
  EXPECT_NEAR(y.ToVector()[0], 3 / rms, 1e-12);
  EXPECT_NEAR(y.ToVector()[1], 4 / rms, 1e-12);
  const OpDef& l2_pool = LoadedOp("l2_pool1d");
  const Tensor pooled = Apply(l2_pool, {FromValues({3.0, 4.0, 1.0, 0.0}, Shape{1, 4})});
  EXPECT_EQ(pooled.shape(), (Shape{1, 2}));
  EXPECT_NEAR(pooled.ToVector()[0], 5.0, 1e-6);
  EXPECT_NEAR(pooled.ToVector()[1], 1.0, 1e-6);
}

TEST(TensorOpPluginTest, MisuseNamesTheOpTheShapesAndTheLine) {
  const OpDef& l2_pool = LoadedOp("l2_pool1d");
  EXPECT_THAT(testing::ErrorMessageOf([&] {
                Apply(l2_pool, {Zeros(Shape{2, 5})});
              }),
              AllOf(HasSubstr("l2_pool1d: [2,5]: "), HasSubstr("multiple of kernel = 2"),
                    HasSubstr("tensor_op_plugin_test.cc:")));
  Attrs kernel_5;
  kernel_5.params[0] = 5;
  EXPECT_EQ(Apply(l2_pool, {Zeros(Shape{2, 5})}, kernel_5).shape(), (Shape{2, 1}));
  EXPECT_THAT(testing::ErrorMessageOf([&] {
                Apply(l2_pool, {Zeros(Shape{2, 4}, DType::kInt64)});
              }),
              HasSubstr("l2_pool1d: takes floating inputs"));
}

TEST(TensorOpPluginTest, RefusesAWrongBackwardAtLoad) {
  const absl::Status refused = LoadCheckedPlugin(ACTGRAD_WRONG_BACKWARD_PLUGIN).status();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.message()),
              AllOf(HasSubstr("tensor op \"bad_rms_norm\" is refused"),
                    HasSubstr("first derivative, case [3,4]"), HasSubstr("worst element"),
                    HasSubstr("analytic"), HasSubstr("numeric")));
  EXPECT_FALSE(OpRegistry::Global().Find("bad_rms_norm").ok());
}

TEST(TensorOpPluginTest, RefusesAWrongJvpAtLoad) {
  const absl::Status refused = LoadCheckedPlugin(ACTGRAD_WRONG_JVP_PLUGIN).status();
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.message()),
              AllOf(HasSubstr("\"bad_rms_norm\" is refused"), HasSubstr("forward mode")));
  EXPECT_FALSE(OpRegistry::Global().Find("bad_rms_norm").ok());
}

TEST(TensorOpPluginTest, RefusesTensorOpsWithoutAVerifier) {
  const absl::Status refused = LoadPlugin(ACTGRAD_WRONG_BACKWARD_PLUGIN).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.message()), HasSubstr("must be verified"));
}

TEST(TensorOpPluginTest, ForwardModeUsesTheRowsJvp) {
  const OpDef& rms_norm = LoadedOp("rms_norm");
  ASSERT_NE(rms_norm.jvp, nullptr);
  EXPECT_EQ(rms_norm.jvp, TensorOpDefinitionOf(rms_norm)->jvp);
  EXPECT_EQ(JvpSourceOf(rms_norm), JvpSource::kRow);
  Generator gen(3);
  const Tensor x = Normal(Shape{3, 5}, 0.0, 1.0, gen, DType::kFloat64);
  const Tensor v = Normal(Shape{3, 5}, 0.0, 1.0, gen, DType::kFloat64);
  Tensor tangent;
  {
    ForwardAdScope scope;
    tangent = TangentOf(Apply(rms_norm, {MakeDual(x, v)}));
  }
  ASSERT_TRUE(tangent.defined());
  constexpr double kStep = 1e-6;
  const std::vector<double> numeric =
      ((Apply(rms_norm, {x + kStep * v}) - Apply(rms_norm, {x - kStep * v})) / (2 * kStep))
          .ToVector();
  const std::vector<double> analytic = tangent.ToVector();
  ASSERT_EQ(analytic.size(), numeric.size());
  for (size_t i = 0; i < numeric.size(); ++i) EXPECT_NEAR(analytic[i], numeric[i], 1e-6) << i;
}

TEST(TensorOpPluginTest, TrainsSavesAndLoadsAsLayers) {
  LoadedOp("rms_norm");
  Generator gen(5);
  absl::StatusOr<nn::BuiltNetwork> built =
      nn::BuildFromLayerSpec("linear:16,rms_norm:eps=0.001,relu,l2_pool1d,linear:8,tanh",
                             {.input_shape = {6}, .outputs = 1, .dtype = DType::kFloat64}, gen);
  ASSERT_TRUE(built.ok()) << built.status();
  nn::Module& net = *built->network;
  // y = sum of the first three features: a smooth target the net can fit.
  const Tensor x = Normal(Shape{64, 6}, 0.0, 1.0, gen, DType::kFloat64);
  const Tensor target = Sum(Slice(x, 1, 0, 3), 1, /*keepdim=*/true);
  optim::Sgd sgd(net.Parameters(), {.learning_rate = 0.05, .momentum = 0.9});
  double first = 0, last = 0;
  for (int step = 0; step < 200; ++step) {
    sgd.ZeroGrad();
    Tensor loss = MseLoss(net(x), target);
    loss.Backward();
    sgd.Step();
    (step == 0 ? first : last) = loss.item();
  }
  EXPECT_LT(last, 0.25 * first) << "first " << first << ", last " << last;

  const std::string path = testing::TempPath("tensor_op_layers.actgrad");
  ASSERT_TRUE(nn::Save(path, net).ok());
  absl::StatusOr<nn::SavedModel> loaded = nn::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  NoGradGuard no_grad;
  const std::vector<double> before = net(x).ToVector();
  const std::vector<double> after = (*loaded->module)(x).ToVector();
  ASSERT_EQ(before.size(), after.size());
  for (size_t i = 0; i < before.size(); ++i) EXPECT_DOUBLE_EQ(before[i], after[i]) << i;
  EXPECT_THAT(loaded->module->ToString(), HasSubstr("eps=0.001"));
}

TEST(TensorOpPluginTest, LayerSpecTakesOnlyOpsThatKeepTheBatchAndLeadingAxes) {
  LoadedOp("l2_pool1d");
  Generator gen(0);
  const nn::LayerSpecOptions flat = {.input_shape = {6}, .outputs = 2};
  EXPECT_THAT(
      std::string(nn::BuildFromLayerSpec("linear:5,l2_pool1d", flat, gen).status().message()),
      AllOf(HasSubstr("layer 2 (\"l2_pool1d\")"), HasSubstr("does not fit the shape [5]"),
            HasSubstr("multiple of kernel = 2")));
  EXPECT_THAT(std::string(nn::BuildFromLayerSpec("l2_pool1d:size=3", flat, gen).status().message()),
              HasSubstr("size is not a param of l2_pool1d (its params: kernel, eps)"));
  EXPECT_TRUE(nn::BuildFromLayerSpec("l2_pool1d:kernel=3", flat, gen).ok());

  // A reshape, and an op of two inputs, are not layers.
  absl::StatusOr<const OpDef*> flatten = DefineTensorOp({
      .name = "test_flatten_all",
      .shape = [](std::span<const Shape> in, const Attrs&) -> absl::StatusOr<Shape> {
        return Shape{in[0].NumElements()};
      },
      .forward = [](ForwardContext& ctx) { return Reshape(ctx.input(0), {-1}); },
      .backward =
          [](BackwardContext& ctx) {
            const Shape& s = ctx.input_shape(0);
            ctx.set_dx(0, Reshape(ctx.dy(), {s.dims().begin(), s.dims().end()}));
          },
  });
  ASSERT_TRUE(flatten.ok()) << flatten.status();
  EXPECT_THAT(std::string(nn::BuildFromLayerSpec("test_flatten_all", flat, gen).status().message()),
              HasSubstr("must keep the batch axis and every axis but the last"));
  absl::StatusOr<const OpDef*> binary = DefineTensorOp({
      .name = "test_binary",
      .num_inputs = 2,
      .shape = [](std::span<const Shape> in, const Attrs&) -> absl::StatusOr<Shape> {
        return in[0];
      },
      .forward = [](ForwardContext& ctx) { return ctx.input(0) * ctx.input(1); },
      .backward = [](BackwardContext&) {},
  });
  ASSERT_TRUE(binary.ok()) << binary.status();
  EXPECT_THAT(std::string(nn::BuildFromLayerSpec("test_binary", flat, gen).status().message()),
              HasSubstr("takes 2 inputs; a layer gives one"));
}

}  // namespace
}  // namespace actgrad
