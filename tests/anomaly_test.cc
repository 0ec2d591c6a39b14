// Anomaly detection stops at the first NaN or infinity, forward or backward,
// naming the op, its layer and where it was made; training that diverges
// stops with the likely fixes.

#include "graph/anomaly.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "actgrad.h"
#include "nn/nn.h"
#include "ops/scalar_activation.h"
#include "tests/test_util.h"

namespace actgrad {
namespace {

using ::testing::AllOf;
using testing::ErrorMessageOf;
using ::testing::HasSubstr;

TEST(AnomalyTest, ForwardStopsAtTheOpThatMadeNaNAndNamesItsLayer) {
  const OpDef& root = MakeActivation({
      .name = "square_root_activation",
      .forward = [](double x, const Attrs&) { return std::sqrt(x); },
      .derivative = [](double, double y, const Attrs&) { return 0.5 / y; },
      .gain = [](const Attrs&) { return 1.0; },
  });
  Generator gen(1);
  auto model = nn::Mlp({.inputs = 2, .hidden = {3}, .outputs = 1, .hidden_activation = &root}, gen);
  const Tensor x = FromValues({1, -1, -1, 1}, Shape{2, 2});
  DetectAnomalyGuard detect;
  EXPECT_THAT(ErrorMessageOf([&] { model->Forward(x); }),
              AllOf(HasSubstr("anomaly: square_root_activation in layer 1.square_root_activation"),
                    HasSubstr("produced NaN at ["), HasSubstr("from finite inputs"),
                    HasSubstr("activation.cc")));
}

TEST(AnomalyTest, BackwardStopsAtTheGradientThatBecameInfinite) {
  Tensor x = FromValues({0.0, 4.0}, DType::kFloat64).set_requires_grad(true);
  const int line = __LINE__ + 1;
  const Tensor y = Sum(Sqrt(x));  // finite forward; d sqrt(x) / dx = +Inf at 0
  DetectAnomalyGuard detect;
  EXPECT_THAT(ErrorMessageOf([&] { y.Backward(); }),
              AllOf(HasSubstr("anomaly: the backward of sqrt"),
                    HasSubstr(absl::StrCat("anomaly_test.cc:", line)),
                    HasSubstr("+Inf at [0] of [2]"), HasSubstr("gradient arriving was finite")));
}

TEST(AnomalyTest, DataThatIsAlreadyNaNIsReportedAsSuch) {
  const Tensor x = FromValues({1.0, std::nan("")});
  DetectAnomalyGuard detect;
  EXPECT_THAT(ErrorMessageOf([&] { Tanh(x); }),
              AllOf(HasSubstr("input 0 of tanh is already not finite"), HasSubstr("NaN at [1]")));
}

TEST(AnomalyTest, OffByDefault) {
  EXPECT_FALSE(IsAnomalyDetectionEnabled());
  const Tensor y = Log(FromValues({-1.0}));
  EXPECT_TRUE(std::isnan(y.item()));
}

TEST(DivergenceTest, TrainingStopsWithTheLikelyFixes) {
  Generator gen(2);
  auto model =
      nn::Mlp({.inputs = 2, .hidden = {8}, .outputs = 1, .output_activation = &ops::kSigmoid}, gen);
  const Tensor x = Normal({64, 2}, 0, 3, gen);
  std::vector<double> y(64);
  for (size_t i = 0; i < y.size(); ++i) y[i] = i % 2;
  nn::TrainOptions options;
  options.epochs = 50;
  options.sgd = {.learning_rate = 500.0, .momentum = 0.9};
  const nn::TrainResult result = nn::Train(nn::Task::kBinary, *model, x, y, x, y, options);
  EXPECT_THAT(result.diverged, AllOf(HasSubstr("training diverged at epoch"),
                                     HasSubstr("smaller learning rate (now 500)")));
  EXPECT_LT(result.history.size(), 50u);
}

}  // namespace
}  // namespace actgrad
