// GradCheckModule on whole networks: one network per layer kind the library
// has passes (built in float32 and checked on a float64 copy), and a layer
// whose op row has a subtly wrong backward — defined here, never in the
// library — is caught, named, and shrunk to a smaller input.

#include "check/module_check.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/factories.h"
#include "graph/op_def.h"
#include "nn/activation.h"
#include "nn/flatten.h"
#include "nn/layer_spec.h"
#include "nn/linear.h"
#include "nn/module_kinds.h"
#include "nn/normalization.h"
#include "nn/recurrent.h"
#include "nn/residual.h"
#include "nn/sequence_layers.h"
#include "nn/sequential.h"
#include "ops/builtin_ops.h"
#include "ops/registry.h"

namespace actgrad {
namespace {

using ::testing::HasSubstr;

// y[n, f] = x[n, f] * w[f], with a backward that is wrong for dw in one of
// two ways: dw[0] scaled by 1.001, or dw summed over the first row only and
// multiplied by the batch size (right for one row, wrong for more).
Tensor MutantForward(ForwardContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  const int64_t f = w.numel();
  Tensor y = Zeros(x.shape(), DType::kFloat64);
  const double* xs = x.data<double>();
  const double* ws = w.data<double>();
  double* ys = y.data<double>();
  for (int64_t i = 0; i < x.numel(); ++i) ys[i] = xs[i] * ws[i % f];
  return y;
}

template <bool kBatchBug>
void MutantBackward(BackwardContext& ctx) {
  const Tensor& x = ctx.saved_input(0);
  const Tensor& w = ctx.saved_input(1);
  const int64_t f = w.numel(), n = x.numel() / f;
  const double* dy = ctx.dy().data<double>();
  const double* xs = x.data<double>();
  const double* ws = w.data<double>();
  if (ctx.needs_grad(0)) {
    Tensor dx = Zeros(x.shape(), DType::kFloat64);
    double* d = dx.data<double>();
    for (int64_t i = 0; i < x.numel(); ++i) d[i] = dy[i] * ws[i % f];
    ctx.set_dx(0, dx);
  }
  if (ctx.needs_grad(1)) {
    Tensor dw = Zeros(w.shape(), DType::kFloat64);
    double* d = dw.data<double>();
    for (int64_t r = 0; r < (kBatchBug ? 1 : n); ++r) {
      for (int64_t j = 0; j < f; ++j) d[j] += dy[r * f + j] * xs[r * f + j] * (kBatchBug ? n : 1);
    }
    if (!kBatchBug) d[0] *= 1.001;
    ctx.set_dx(1, dw);
  }
}

const OpDef kMutantOneElement{
    .name = "test_mutant_scale_one_element",
    .formula = "y = x * w;  dw[0] off by 0.1%",
    .kind = OpKind::kElementwise,
    .min_inputs = 2,
    .max_inputs = 2,
    .saves = kSaveInput0 | kSaveInput1,
    .forward = &MutantForward,
    .backward = &MutantBackward<false>,
};
const OpDef kMutantBatch{
    .name = "test_mutant_scale_batch",
    .formula = "y = x * w;  dw from the first row times the batch size",
    .kind = OpKind::kElementwise,
    .min_inputs = 2,
    .max_inputs = 2,
    .saves = kSaveInput0 | kSaveInput1,
    .forward = &MutantForward,
    .backward = &MutantBackward<true>,
};

void RegisterMutants() {
  static const bool registered = [] {
    EXPECT_TRUE(OpRegistry::Global().Register(kMutantOneElement).ok());
    EXPECT_TRUE(OpRegistry::Global().Register(kMutantBatch).ok());
    return true;
  }();
  (void)registered;
}

// A per-feature scale whose op row is one of the mutants; a registered
// kind, so that the checker can copy it in float64.
class MutantScale : public nn::Module {
 public:
  MutantScale(int64_t features, bool batch_bug, DType dtype)
      : features_(features), batch_bug_(batch_bug) {
    std::vector<double> w;
    for (int64_t i = 0; i < features; ++i) w.push_back(0.5 + 0.1 * double(i));
    weight_ = FromValues(w, Shape{features}, dtype);
    RegisterParameter("weight", &weight_);
  }
  Tensor Forward(const Tensor& x) override {
    return Apply(batch_bug_ ? kMutantBatch : kMutantOneElement, {x, weight_});
  }
  std::string ToString() const override { return "MutantScale"; }
  std::string Kind() const override { return "mutant_scale"; }
  nn::ModuleConfig Config() const override {
    return nn::ModuleConfig()
        .Set("features", features_)
        .Set("batch_bug", batch_bug_)
        .Set("dtype", DTypeName(weight_.dtype()));
  }
  static absl::StatusOr<std::unique_ptr<MutantScale>> FromConfig(const nn::ModuleConfig& config) {
    absl::StatusOr<int64_t> features = config.Int("features");
    absl::StatusOr<bool> batch_bug = config.Bool("batch_bug");
    absl::StatusOr<std::string> dtype = config.String("dtype");
    if (!features.ok()) return features.status();
    if (!batch_bug.ok()) return batch_bug.status();
    return std::make_unique<MutantScale>(
        *features, *batch_bug,
        dtype.ok() && *dtype == "float64" ? DType::kFloat64 : DType::kFloat32);
  }

 private:
  int64_t features_;
  bool batch_bug_;
  Tensor weight_;
};
ACTGRAD_REGISTER_MODULE_KIND(MutantScale, "mutant_scale");

Tensor RandomInput(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  return Normal(shape, 0.0, 1.0, gen);
}

struct NetworkCase {
  std::string name;
  std::string spec;
  std::vector<int64_t> input_shape;
  bool indices = false;
};

// Names the case in test listings instead of dumping its bytes.
void PrintTo(const NetworkCase& c, std::ostream* os) { *os << c.name; }

class EveryLayerKindTest : public ::testing::TestWithParam<NetworkCase> {};

TEST_P(EveryLayerKindTest, HealthyNetworkPasses) {
  const NetworkCase& c = GetParam();
  Generator gen(3);
  absl::StatusOr<nn::BuiltNetwork> built = nn::BuildFromLayerSpec(
      c.spec, {.input_shape = c.input_shape, .outputs = 3, .output_activation = &ops::kSoftmax},
      gen);
  ASSERT_TRUE(built.ok()) << built.status();
  int64_t width = 1;
  for (int64_t d : c.input_shape) width *= d;
  Tensor x = RandomInput(Shape{4, width}, 11);
  if (c.indices) {
    std::vector<double> tokens;
    for (int64_t i = 0; i < 4 * width; ++i) tokens.push_back(double((i * 7 + 3) % 10));
    x = FromValues(tokens, Shape{4, width});
  }
  ModuleCheckReport report = GradCheckModule(*built->network, x);
  EXPECT_TRUE(report.passed) << c.spec << "\n" << report.ToString();
  EXPECT_EQ(report.checks.size(), size_t(2 + report.parameter_tensors + (c.indices ? 0 : 1)));
  // The caller's network stays float32.
  EXPECT_EQ(built->network->Parameters()[0].dtype(), DType::kFloat32);
}

// Together these hold every layer kind of nn/layer_kinds.cc,
// nn/module_kinds.cc and nn/sequence_kinds.cc that the layer spec builds;
// residual, stacked LSTMs and the task loss have tests of their own below.
INSTANTIATE_TEST_SUITE_P(
    Networks, EveryLayerKindTest,
    ::testing::Values(
        NetworkCase{"mlp", "linear:10,tanh,linear:8,relu,dropout:0.5,linear:6,sigmoid", {12}},
        NetworkCase{
            "activations", "linear:8,elu,linear:8,gelu,linear:8,softplus,linear:8,leaky_relu", {6}},
        NetworkCase{"cnn",
                    "conv2d:4:3:pad=1,batchnorm,relu,maxpool:2,conv2d:6:3:pad=1,batchnorm,relu,"
                    "maxpool:2,flatten,dropout:0.25,linear:8,relu",
                    {1, 8, 8}},
        NetworkCase{"groupnorm_avgpool",
                    "conv2d:4:3:pad=1,groupnorm:2,elu,avgpool:2,conv2d:4:3,adaptive_avgpool:1,"
                    "flatten,layernorm",
                    {2, 6, 6}},
        NetworkCase{
            "conv_transpose", "conv_transpose2d:3:3:stride=2,tanh,maxpool:2,flatten", {2, 3, 3}},
        NetworkCase{
            "conv1d", "conv1d:4:3:pad=1,batchnorm,relu,maxpool:2,avgpool:2,flatten", {2, 12}},
        NetworkCase{"lstm", "lstm:6:layers=2:dropout=0.3,last,dropout:0.3", {5, 4}},
        NetworkCase{"gru", "gru:5:bidirectional=1,mean", {5, 4}},
        NetworkCase{"transformer", "linear:8,posembed,transformer:2:16,mean", {5, 4}},
        NetworkCase{"prenorm_attention",
                    "linear:8,transformer:2:12:gelu:prenorm,attention:2,layernorm,last",
                    {4, 3}},
        NetworkCase{"embedding", "embedding:10:6,gru:6,last", {5}, true}),
    [](const ::testing::TestParamInfo<NetworkCase>& info) { return info.param.name; });

TEST(ModuleCheckTest, ResidualAndTaskLossPass) {
  Generator gen(5);
  auto body = std::make_unique<nn::Sequential>();
  body->Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 6, .out = 6}, gen));
  body->Add(std::make_unique<nn::Activation>(ops::kTanh));
  auto net = std::make_unique<nn::Sequential>();
  net->Add(std::make_unique<nn::Residual>(std::move(body)));
  net->Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 6, .out = 3}, gen));
  net->Add(std::make_unique<nn::Activation>(ops::kSoftmax));
  ModuleCheckOptions options;
  options.task = nn::Task::kMulticlass;
  options.targets = {0, 2, 1, 2};
  ModuleCheckReport report = GradCheckModule(*net, RandomInput(Shape{4, 6}, 2), options);
  EXPECT_TRUE(report.passed) << report.ToString();
  EXPECT_EQ(report.loss_name, "multiclass loss");
  EXPECT_EQ(report.Worst()->kind == "linear" || report.Worst()->tensor == "input" ||
                report.Worst()->tensor == "all",
            true);
}

// Linear 12 -> 8, tanh, the mutant scale, linear 8 -> 3.
std::unique_ptr<nn::Sequential> MutantNetwork(bool batch_bug) {
  RegisterMutants();
  Generator gen(1);
  auto net = std::make_unique<nn::Sequential>();
  net->Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 12, .out = 8}, gen));
  net->Add(std::make_unique<nn::Activation>(ops::kTanh));
  net->Add(std::make_unique<MutantScale>(8, batch_bug, DType::kFloat32));
  net->Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 8, .out = 3}, gen));
  return net;
}

TEST(ModuleCheckTest, WrongBackwardOnOneElementIsCaughtNamedAndShrunkToOneRow) {
  auto net = MutantNetwork(/*batch_bug=*/false);
  ModuleCheckReport report = GradCheckModule(*net, RandomInput(Shape{8, 12}, 4));
  ASSERT_FALSE(report.passed) << report.ToString();
  EXPECT_EQ(report.verdict, "mismatch");
  ASSERT_NE(report.Worst(), nullptr);
  EXPECT_EQ(report.Worst()->tensor, "2.weight");
  EXPECT_EQ(report.Worst()->layer, "2");
  EXPECT_EQ(report.Worst()->kind, "mutant_scale");
  EXPECT_EQ(report.input_shape, (Shape{8, 12}));
  EXPECT_EQ(report.checked_shape, (Shape{1, 12}));
  EXPECT_LT(report.nonzero_inputs, 12);
  // Every other tensor's own direction passes: the fault is in one layer.
  for (const DirectionCheck& c : report.checks) {
    if (c.tensor != "2.weight" && c.tensor != "all") {
      EXPECT_TRUE(c.passed) << c.tensor;
    }
  }
  const std::string text = report.ToString();
  EXPECT_THAT(text, HasSubstr("FAIL  mismatch"));
  EXPECT_THAT(text, HasSubstr("2.weight [8] in layer 2 (mutant_scale)"));
  EXPECT_THAT(text, HasSubstr("shrunk input: [1,12] (from [8,12])"));
  EXPECT_THAT(text, HasSubstr("rows 8 -> 4"));
  EXPECT_THAT(text, HasSubstr("zeroed 11 of 12 features"));
  EXPECT_THAT(report.ToJson(), HasSubstr("\"tensor\": \"2.weight\""));
}

TEST(ModuleCheckTest, WrongBackwardOnlyForBatchesStopsShrinkingAtTwoRows) {
  auto net = MutantNetwork(/*batch_bug=*/true);
  ModuleCheckReport report = GradCheckModule(*net, RandomInput(Shape{8, 12}, 4));
  ASSERT_FALSE(report.passed) << report.ToString();
  EXPECT_EQ(report.Worst()->tensor, "2.weight");
  EXPECT_EQ(report.checked_shape, (Shape{2, 12})) << report.ToString();
}

TEST(ModuleCheckTest, FlattenedSequenceIsShortenedToOneStep) {
  RegisterMutants();
  Generator gen(2);
  auto net = std::make_unique<nn::Sequential>();
  net->Add(std::make_unique<nn::Unflatten>(1, std::vector<int64_t>{6, 4}));
  net->Add(std::make_unique<nn::Lstm>(
      nn::RecurrentOptions{.input_size = 4, .hidden_size = 5, .batch_first = true}, gen));
  net->Add(std::make_unique<nn::LastStep>());
  net->Add(std::make_unique<MutantScale>(5, false, DType::kFloat32));
  net->Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 5, .out = 2}, gen));
  ModuleCheckReport report = GradCheckModule(*net, RandomInput(Shape{4, 24}, 6));
  ASSERT_FALSE(report.passed) << report.ToString();
  EXPECT_EQ(report.Worst()->tensor, "3.weight");
  EXPECT_EQ(report.checked_shape, (Shape{1, 4})) << report.ToString();
  EXPECT_THAT(report.ToString(), HasSubstr("steps 6 -> 3"));
  EXPECT_THAT(report.ToString(), HasSubstr("steps 3 -> 1"));
}

TEST(ModuleCheckTest, MisuseThrows) {
  auto net = MutantNetwork(false);
  EXPECT_THROW(GradCheckModule(*net, Tensor()), Error);
  ModuleCheckOptions options;
  options.task = nn::Task::kMulticlass;
  options.targets = {0, 1};
  EXPECT_THROW(GradCheckModule(*net, RandomInput(Shape{3, 12}, 1), options), Error);
}

}  // namespace
}  // namespace actgrad
