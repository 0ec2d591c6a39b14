// Activations defined by users in one place, and loaded from plugins: they
// become first-class ops, and the checker catches each kind of wrong
// derivative a user might write, naming the worst element.

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>

#include "actgrad.h"
#include "nn/nn.h"
#include "ops/plugin.h"
#include "ops/scalar_activation.h"
#include "tests/test_util.h"

namespace actgrad {
namespace {

using ::testing::HasSubstr;

// y = x / (1 + |x|) with a derivative that is right, or wrong on purpose.
double Softsign(double x, const Attrs&) { return x / (1 + std::abs(x)); }
double SoftsignDerivative(double x, double, const Attrs&) {
  return 1 / ((1 + std::abs(x)) * (1 + std::abs(x)));
}

TEST(DefineActivationTest, BecomesAFirstClassOp) {
  absl::StatusOr<const OpDef*> op = DefineActivation({
      .name = "user_softsign",
      .formula = "y = x / (1 + |x|)",
      .forward = &Softsign,
      .derivative = &SoftsignDerivative,
  });
  ASSERT_TRUE(op.ok()) << op.status();
  EXPECT_TRUE(OpRegistry::Global().Find("user_softsign").ok());
  std::vector<std::string> names;
  for (const OpDef* a : OpRegistry::Global().Activations()) names.emplace_back(a->name);
  EXPECT_THAT(names, ::testing::Contains("user_softsign"));
  EXPECT_TRUE(CheckOp(**op).passed);
  // In a graph, in a layer, and in an MLP built by name.
  Tensor x = FromValues({-2.0, 0.5}).set_requires_grad(true);
  Sum(Apply(**op, {x})).Backward();
  EXPECT_NEAR(x.grad().ToVector()[0], 1.0 / 9, 1e-6);
  absl::StatusOr<std::unique_ptr<nn::Activation>> layer = nn::Activation::Named("user_softsign");
  ASSERT_TRUE(layer.ok());
  EXPECT_EQ((*layer)->Forward(FromValues({1.0})).item(), 0.5);
  Generator gen(0);
  auto mlp = nn::Mlp({.inputs = 2, .hidden = {3}, .outputs = 1, .hidden_activation = *op}, gen);
  EXPECT_THAT(mlp->ToString(), HasSubstr("Activation(user_softsign)"));
  // The same name again is refused.
  EXPECT_EQ(DefineActivation(
                {.name = "user_softsign", .forward = &Softsign, .derivative = &SoftsignDerivative})
                .status()
                .code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(DefineActivation({.name = "no_derivative", .forward = &Softsign}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DefineActivationTest, ParametersHaveDefaultsAndCanBeSet) {
  absl::StatusOr<const OpDef*> op = DefineActivation({
      .name = "user_scaled",
      .forward = [](double x, const Attrs& a) { return a.params[0] * x; },
      .derivative = [](double, double, const Attrs& a) { return a.params[0]; },
      .params = {{.name = "k", .default_value = 3.0, .meaning = "slope"}},
  });
  ASSERT_TRUE(op.ok());
  EXPECT_EQ(Apply(**op, {FromValues({2.0})}).item(), 6.0);
  absl::StatusOr<std::unique_ptr<nn::Activation>> custom =
      nn::Activation::Parse("user_scaled:k=0.5");
  ASSERT_TRUE(custom.ok()) << custom.status();
  EXPECT_EQ((*custom)->Forward(FromValues({2.0})).item(), 1.0);
  EXPECT_FALSE(nn::Activation::Parse("user_scaled:q=1").ok());
}

struct WrongCase {
  const char* name;
  double (*derivative)(double x, double y, const Attrs&);
  double (*forward)(double x, const Attrs&);
  std::vector<double> inputs;
  // Where the mistake is largest against the tolerance; NaN where it is the
  // same relative size everywhere.
  double expected_worst_x;
};

constexpr double kAnywhere = std::numeric_limits<double>::quiet_NaN();

double Tanh(double x, const Attrs&) { return std::tanh(x); }

// Each a mistake users make when they write a derivative by hand.
const WrongCase kWrongCases[] = {
    {"sign_flipped",
     [](double, double y, const Attrs&) { return -(1 - y * y); },
     &Tanh,
     {-1.5, -0.5, 0.1, 0.4, 1.2},
     kAnywhere},
    {"off_by_a_factor",
     [](double, double y, const Attrs&) { return 1.5 * (1 - y * y); },
     &Tanh,
     {-1.5, -0.5, 0.1, 0.4, 1.2},
     kAnywhere},
    {"wrong_for_negatives",
     [](double x, double y, const Attrs&) { return x < 0 ? 1.0 : 1 - y * y; },
     &Tanh,
     {-1.5, -0.5, 0.1, 0.4, 1.2},
     -1.5},
    {"wrong_at_large_inputs",
     [](double x, double y, const Attrs&) { return std::abs(x) > 3 ? 0.5 : 1 - y * y; },
     &Tanh,
     {-0.5, 0.2, 1.0, 4.0},
     4.0},
    // y = x tanh(x) has dy/dx = tanh(x) + x (1 - tanh^2): written from the
    // saved output alone, it forgets the chain rule through tanh.
    {"forgets_the_chain_rule",
     [](double x, double y, const Attrs&) { return std::tanh(x) + x * (1 - y * y); },
     [](double x, const Attrs&) { return x * std::tanh(x); },
     {-1.5, -0.5, 0.1, 0.4, 1.2},
     -1.5},
};

class WrongDerivativeTest : public ::testing::TestWithParam<WrongCase> {};

TEST_P(WrongDerivativeTest, IsCaughtAndTheWorstElementNamed) {
  const WrongCase& c = GetParam();
  const OpDef& op =
      MakeActivation({.name = c.name, .forward = c.forward, .derivative = c.derivative});
  const std::vector<double>& v = c.inputs;
  const GradCheckReport report =
      GradCheck([&op](std::span<const Tensor> in) { return Apply(op, in); },
                {FromValues(v, Shape{static_cast<int64_t>(v.size())}, DType::kFloat64)});
  EXPECT_FALSE(report.passed) << c.name;
  EXPECT_EQ(report.verdict, "mismatch") << c.name;
  ASSERT_FALSE(report.worst.empty());
  if (!std::isnan(c.expected_worst_x)) {
    EXPECT_EQ(report.worst.front().x, c.expected_worst_x) << report.ToString();
  }
  EXPECT_THAT(report.ToString(), HasSubstr("FAIL"));
}

INSTANTIATE_TEST_SUITE_P(UserMistakes, WrongDerivativeTest, ::testing::ValuesIn(kWrongCases),
                         [](const ::testing::TestParamInfo<WrongCase>& info) {
                           return std::string(info.param.name);
                         });

TEST(DefineActivationTest, AFormulaThatThrowsBecomesAnErrorNamingTheOp) {
  const OpDef& op = MakeActivation({
      .name = "throws_on_negatives",
      .forward =
          [](double x, const Attrs&) {
            if (x < 0) throw std::domain_error("negative input");
            return x;
          },
      .derivative = [](double, double, const Attrs&) { return 1.0; },
  });
  EXPECT_THAT(testing::ErrorMessageOf([&] {
                Apply(op, {FromValues({1.0, -1.0})});
              }),
              ::testing::AllOf(HasSubstr("throws_on_negatives: its forward formula threw"),
                               HasSubstr("negative input")));
}

TEST(PluginTest, LoadsTheExamplePluginsActivations) {
  absl::StatusOr<std::vector<const OpDef*>> ops = LoadPlugin(ACTGRAD_EXAMPLE_PLUGIN);
  ASSERT_TRUE(ops.ok()) << ops.status();
  ASSERT_EQ(ops->size(), 4u);
  for (const OpDef* op : *ops) {
    const OpCheckResult result = CheckOp(*op);
    EXPECT_TRUE(result.passed) << op->name;
  }
  EXPECT_NEAR(ApplyByName("squareplus", std::vector<Tensor>{FromValues({0.0})}).item(), 1.0, 1e-7);
  // The same file again, by its path or by a bare name in the current
  // directory, loads once: the same ops come back.
  absl::StatusOr<std::vector<const OpDef*>> again = LoadPlugin(ACTGRAD_EXAMPLE_PLUGIN);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *ops);
  const std::filesystem::path plugin(ACTGRAD_EXAMPLE_PLUGIN);
  const std::filesystem::path before = std::filesystem::current_path();
  std::filesystem::current_path(plugin.parent_path());
  absl::StatusOr<std::vector<const OpDef*>> bare = LoadPlugin(plugin.filename().string());
  std::filesystem::current_path(before);
  ASSERT_TRUE(bare.ok()) << bare.status();
  EXPECT_EQ(*bare, *ops);
}

TEST(PluginTest, OpNamesAreLettersDigitsAndUnderscores) {
  for (const char* name : {"two words", "a:b", "k=v"}) {
    absl::StatusOr<const OpDef*> op =
        DefineActivation({.name = name,
                          .formula = "y = x",
                          .forward = [](double x, const Attrs&) { return x; },
                          .derivative = [](double, double, const Attrs&) { return 1.0; }});
    ASSERT_FALSE(op.ok()) << name;
    EXPECT_THAT(std::string(op.status().message()),
                HasSubstr("names are letters, digits and underscores"));
  }
}

TEST(PluginTest, RefusesWhatIsNotAUsablePlugin) {
  EXPECT_EQ(LoadPlugin("/nonexistent/plugin.so").status().code(), absl::StatusCode::kNotFound);
  const std::string text = testing::TempPath("not_a_library.so");
  std::ofstream(text) << "hello";
  const absl::Status not_library = LoadPlugin(text).status();
  EXPECT_EQ(not_library.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(not_library.message()), HasSubstr("shared library"));
  // A real shared library without the entry points: this library itself.
  const absl::Status no_entry = LoadPlugin(ACTGRAD_CORE_LIBRARY).status();
  EXPECT_THAT(std::string(no_entry.message()), HasSubstr("missing entry point"));
  const absl::Status wrong_abi = LoadPlugin(ACTGRAD_WRONG_ABI_PLUGIN).status();
  EXPECT_EQ(wrong_abi.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(wrong_abi.message()), HasSubstr("ABI version"));
  const absl::Status throws = LoadPlugin(ACTGRAD_THROWING_PLUGIN).status();
  EXPECT_THAT(std::string(throws.message()), HasSubstr("out of coffee"));
  const absl::Status clash = LoadPlugin(ACTGRAD_CLASHING_PLUGIN).status();
  EXPECT_EQ(clash.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(clash.message()), HasSubstr("\"tanh\""));
}

}  // namespace
}  // namespace actgrad
