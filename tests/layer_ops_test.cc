// The convolutional-network ops against hand-computed values and against
// plain float64 reference implementations written from their definitions
// (direct loops, nothing shared with the kernels); batch norm's and
// dropout's training and evaluation semantics; and the errors misuse gets.
// Gradients are checked for every row by op_gradcheck_test and
// second_order_test.

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "actgrad.h"
#include "tests/test_util.h"

namespace actgrad {
namespace {

using ::actgrad::testing::ElementsAreNear;
using ::actgrad::testing::ErrorMessageOf;
using ::testing::HasSubstr;

std::vector<double> Iota(int64_t n, double start = 1) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = start + double(i);
  return v;
}

// ----------------------------------------------------------------- known values
TEST(Conv2dValuesTest, MatchesAHandComputedCase) {
  // x = [[1,2,3],[4,5,6],[7,8,9]], w = [[1,0],[0,-1]], bias 0.5:
  // y[i][j] = x[i][j] - x[i+1][j+1] + 0.5 = -4 + 0.5 everywhere.
  const Tensor x = FromValues(Iota(9), Shape{1, 1, 3, 3}, DType::kFloat64);
  const Tensor w = FromValues({1, 0, 0, -1}, Shape{1, 1, 2, 2}, DType::kFloat64);
  const Tensor b = FromValues({0.5}, Shape{1}, DType::kFloat64);
  const Tensor y = Conv2d(x, w, b);
  EXPECT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_THAT(y.ToVector(), ElementsAreNear({-3.5, -3.5, -3.5, -3.5}, 0));
  // Padding 1 and stride 2 on the same input: outputs at (-1,-1), (-1,1),
  // (1,-1), (1,1) of the padded grid: 0 - 1, 0 - 3, 0 - 7, 5 - 9.
  const Tensor strided = Conv2d(x, w, Tensor(), {.stride = {2, 2}, .padding = {1, 1}});
  EXPECT_THAT(strided.ToVector(), ElementsAreNear({-1, -3, -7, -4}, 0));
}

TEST(Conv2dValuesTest, SamePaddingKeepsTheSizeWithTheExtraAtTheFarSide) {
  const Tensor x = FromValues(Iota(16), Shape{1, 1, 4, 4}, DType::kFloat64);
  // A 2x2 kernel of ones: "same" pads 0 above/left and 1 below/right.
  const Tensor y = Conv2d(x, Ones({1, 1, 2, 2}, DType::kFloat64), Tensor(), {.same = true});
  EXPECT_EQ(y.shape(), (Shape{1, 1, 4, 4}));
  EXPECT_DOUBLE_EQ(y.ToVector()[0], 1 + 2 + 5 + 6);
  EXPECT_DOUBLE_EQ(y.ToVector()[15], 16);  // the bottom-right corner sees only itself
}

TEST(ConvTranspose2dValuesTest, SpreadsEachInputOverItsWindow) {
  // Stride 2 with a 2x2 kernel of ones: each input fills its own 2x2 block.
  const Tensor x = FromValues({1, 2, 3, 4}, Shape{1, 1, 2, 2}, DType::kFloat64);
  const Tensor y =
      ConvTranspose2d(x, Ones({1, 1, 2, 2}, DType::kFloat64), Tensor(), {.stride = {2, 2}});
  EXPECT_EQ(y.shape(), (Shape{1, 1, 4, 4}));
  EXPECT_THAT(y.ToVector(), ElementsAreNear({1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}, 0));
}

TEST(MaxPoolValuesTest, TakesTheFirstMaximumOnTiesAndLetsNanWin) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // Window 1: [5, 5, 1, 5] (a tie: the first 5, index 0, gets the gradient).
  // Window 2: [2, nan, 9, 3]: NaN wins.
  Tensor x = FromValues({5, 5, 2, nan, 1, 5, 9, 3}, Shape{1, 1, 2, 4}, DType::kFloat64)
                 .set_requires_grad(true);
  const Tensor y = MaxPool2d(x, {.window = {2, 2}});
  EXPECT_DOUBLE_EQ(y.ToVector()[0], 5);
  EXPECT_TRUE(std::isnan(y.ToVector()[1]));
  Sum(y * FromValues({1, 10}, Shape{1, 1, 1, 2}, DType::kFloat64)).Backward();
  EXPECT_THAT(x.grad().ToVector(), ElementsAreNear({1, 0, 0, 10, 0, 0, 0, 0}, 0));
}

TEST(AvgPoolValuesTest, CountsPaddingOnlyWhenAsked) {
  const Tensor x = FromValues({1, 2, 3, 4}, Shape{1, 1, 2, 2}, DType::kFloat64);
  // Window 2, stride 1, padding 1: the corner window holds one real value.
  const Tensor counted = AvgPool2d(x, {.window = {2, 2}, .stride = {1, 1}, .padding = {1, 1}});
  const Tensor real_only = AvgPool2d(
      x, {.window = {2, 2}, .stride = {1, 1}, .padding = {1, 1}, .count_include_pad = false});
  EXPECT_DOUBLE_EQ(counted.ToVector()[0], 1.0 / 4);
  EXPECT_DOUBLE_EQ(real_only.ToVector()[0], 1.0);
  EXPECT_DOUBLE_EQ(real_only.ToVector()[4], 2.5);  // the centre window: all four
}

TEST(AdaptiveAvgPoolValuesTest, OverlapsWindowsAsPyTorch) {
  // 5 -> 3: windows [0,2), [1,4), [3,5).
  const Tensor x = FromValues({1, 2, 3, 4, 5}, Shape{1, 1, 1, 5}, DType::kFloat64);
  EXPECT_THAT(AdaptiveAvgPool2d(x, {1, 3}).ToVector(), ElementsAreNear({1.5, 3, 4.5}, 1e-15));
}

TEST(PadValuesTest, PadsAndCropsTrailingDimensions) {
  const Tensor x = FromValues(Iota(6), Shape{2, 3}, DType::kFloat64);
  const Tensor y = Pad(x, {1, -1, 0, 1}, 9.0);  // columns: one before, one cropped; a row after
  EXPECT_EQ(y.shape(), (Shape{3, 3}));
  EXPECT_THAT(y.ToVector(), ElementsAreNear({9, 1, 2, 9, 4, 5, 9, 9, 9}, 0));
}

TEST(PermuteValuesTest, ReordersDimensions) {
  const Tensor x = FromValues(Iota(6, 0), Shape{1, 2, 3}, DType::kFloat64);
  const Tensor y = Permute(x, {2, 0, 1});
  EXPECT_EQ(y.shape(), (Shape{3, 1, 2}));
  EXPECT_THAT(y.ToVector(), ElementsAreNear({0, 3, 1, 4, 2, 5}, 0));
}

// ------------------------------------------------------------ float64 references
struct ConvCase {
  int64_t n, c, h, w, out, kh, kw, groups;
  std::array<int64_t, 2> stride, padding, dilation;
};

// y[n,o,i,j] = b[o] + sum_{c in o's group, p, q} w[o,c,p,q] x[n,c,i*s-pad+p*d, j*s-pad+q*d].
std::vector<double> ReferenceConv2d(const ConvCase& k, const std::vector<double>& x,
                                    const std::vector<double>& w, const std::vector<double>& b,
                                    int64_t oh, int64_t ow) {
  std::vector<double> y(static_cast<size_t>(k.n * k.out * oh * ow));
  const int64_t cg = k.c / k.groups, og = k.out / k.groups;
  for (int64_t n = 0; n < k.n; ++n)
    for (int64_t o = 0; o < k.out; ++o)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          double sum = b[size_t(o)];
          for (int64_t c = 0; c < cg; ++c)
            for (int64_t p = 0; p < k.kh; ++p)
              for (int64_t q = 0; q < k.kw; ++q) {
                const int64_t r = i * k.stride[0] - k.padding[0] + p * k.dilation[0];
                const int64_t s = j * k.stride[1] - k.padding[1] + q * k.dilation[1];
                if (r < 0 || r >= k.h || s < 0 || s >= k.w) continue;
                const int64_t ci = (o / og) * cg + c;
                sum += w[size_t(((o * cg + c) * k.kh + p) * k.kw + q)] *
                       x[size_t(((n * k.c + ci) * k.h + r) * k.w + s)];
              }
          y[size_t(((n * k.out + o) * oh + i) * ow + j)] = sum;
        }
  return y;
}

std::vector<double> RandomValues(int64_t n, Generator& gen) {
  std::vector<double> v(static_cast<size_t>(n));
  for (double& e : v) e = gen.NextUniform() * 2 - 1;
  return v;
}

TEST(Conv2dReferenceTest, AgreesWithDirectLoopsInBothPrecisions) {
  const ConvCase cases[] = {
      {2, 3, 7, 6, 4, 3, 3, 1, {1, 1}, {1, 1}, {1, 1}},
      {3, 4, 9, 8, 6, 3, 2, 2, {2, 1}, {1, 0}, {2, 1}},
      {2, 6, 5, 5, 6, 1, 1, 3, {1, 1}, {0, 0}, {1, 1}},  // pointwise, grouped
      // Images big enough that the kernels split the batch into chunks.
      {5, 2, 300, 300, 2, 3, 3, 1, {1, 1}, {1, 1}, {1, 1}},
  };
  Generator gen(5);
  for (const ConvCase& k : cases) {
    const std::vector<double> x = RandomValues(k.n * k.c * k.h * k.w, gen);
    const std::vector<double> w = RandomValues(k.out * (k.c / k.groups) * k.kh * k.kw, gen);
    const std::vector<double> b = RandomValues(k.out, gen);
    const int64_t oh = (k.h + 2 * k.padding[0] - k.dilation[0] * (k.kh - 1) - 1) / k.stride[0] + 1;
    const int64_t ow = (k.w + 2 * k.padding[1] - k.dilation[1] * (k.kw - 1) - 1) / k.stride[1] + 1;
    const std::vector<double> expected = ReferenceConv2d(k, x, w, b, oh, ow);
    for (DType dtype : {DType::kFloat64, DType::kFloat32}) {
      const Tensor y = Conv2d(
          FromValues(x, Shape{k.n, k.c, k.h, k.w}, dtype),
          FromValues(w, Shape{k.out, k.c / k.groups, k.kh, k.kw}, dtype),
          FromValues(b, Shape{k.out}, dtype),
          {.stride = k.stride, .padding = k.padding, .dilation = k.dilation, .groups = k.groups});
      ASSERT_EQ(y.shape(), (Shape{k.n, k.out, oh, ow}));
      const std::vector<double> got = y.ToVector();
      const double tolerance = dtype == DType::kFloat64 ? 1e-13 : 2e-6;
      double worst = 0;
      for (size_t i = 0; i < got.size(); ++i) {
        worst =
            std::max(worst, std::abs(got[i] - expected[i]) / std::max(1.0, std::abs(expected[i])));
      }
      EXPECT_LE(worst, tolerance) << DTypeName(dtype) << ", case with " << k.n << " images of "
                                  << k.h << "x" << k.w;
    }
  }
}

// Both float32 kernels (im2col and oneDNN), forced in turn, against the
// float64 ones (im2col in double, itself checked against direct loops
// above): outputs and both gradients, for convolutions and a transposed one.
TEST(ConvKernelTest, BothFloat32KernelsAgreeWithFloat64) {
  struct Case {
    Shape x, w;
    bool transposed;
    ConvTranspose2dOptions options;
  };
  const Case cases[] = {
      {{8, 32, 14, 14}, {64, 32, 3, 3}, false, {.padding = {1, 1}}},
      {{4, 1, 28, 28}, {32, 1, 3, 3}, false, {.padding = {1, 1}}},
      {{2, 4, 9, 8},
       {6, 2, 3, 2},
       false,
       {.stride = {2, 1}, .padding = {1, 0}, .dilation = {2, 1}, .groups = 2}},
      {{2, 6, 5, 5},
       {6, 2, 3, 3},
       true,
       {.stride = {2, 2}, .padding = {1, 1}, .output_padding = {1, 0}}},
  };
  Generator gen(12);
  for (const Case& c : cases) {
    const Tensor x64 = Uniform(c.x, -1, 1, gen, DType::kFloat64);
    const Tensor w64 = Uniform(c.w, -1, 1, gen, DType::kFloat64);
    auto run = [&](const Tensor& x, const Tensor& w) {
      if (c.transposed) return ConvTranspose2d(x, w, Tensor(), c.options);
      return Conv2d(x, w, Tensor(),
                    {.stride = c.options.stride,
                     .padding = c.options.padding,
                     .dilation = c.options.dilation,
                     .groups = c.options.groups});
    };
    Tensor xr = x64.Clone().set_requires_grad(true), wr = w64.Clone().set_requires_grad(true);
    const Tensor y64 = run(xr, wr);
    const Tensor probe = Uniform(y64.shape(), -1, 1, gen, DType::kFloat64);
    Sum(y64 * probe).Backward();
    for (ConvKernel kernel : {ConvKernel::kIm2col, ConvKernel::kOneDnn}) {
      SetConvKernel(kernel);
      Tensor x = ToDType(x64, DType::kFloat32).set_requires_grad(true);
      Tensor w = ToDType(w64, DType::kFloat32).set_requires_grad(true);
      const Tensor y = run(x, w);
      Sum(y * ToDType(probe, DType::kFloat32)).Backward();
      const std::pair<const Tensor*, const Tensor*> pairs[] = {
          {&y, &y64}, {&x.grad(), &xr.grad()}, {&w.grad(), &wr.grad()}};
      for (const auto& [got, want] : pairs) {
        const std::vector<double> a = got->ToVector(), b = want->ToVector();
        double worst = 0, scale = 1;
        for (double v : b) scale = std::max(scale, std::abs(v));
        for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
        // Sums of up to a few thousand float32 products of values in [-1, 1].
        EXPECT_LT(worst / scale, 1e-5) << (kernel == ConvKernel::kIm2col ? "im2col" : "oneDNN")
                                       << ", x " << c.x.ToString() << ", w " << c.w.ToString();
      }
    }
    SetConvKernel(ConvKernel::kFastest);
  }
}

TEST(ConvKernelTest, TheFastestIsChosenByMeasurementAndRecorded) {
  SetConvKernel(ConvKernel::kFastest);
  Generator gen(13);
  Conv2d(Uniform({3, 5, 11, 13}, -1, 1, gen), Uniform({7, 5, 3, 3}, -1, 1, gen));
  bool found = false;
  for (const ConvKernelChoice& c : ConvKernelChoices()) {
    if (c.work.find("forward [3,5,11,13] * [7,5,3,3]") == std::string::npos) continue;
    found = true;
    if (c.onednn_us > 0) {  // 0: this build has no oneDNN, and im2col ran untimed
      EXPECT_GT(c.im2col_us, 0);
      EXPECT_EQ(c.kernel, c.onednn_us < c.im2col_us ? ConvKernel::kOneDnn : ConvKernel::kIm2col);
    } else {
      EXPECT_EQ(c.kernel, ConvKernel::kIm2col);
    }
  }
  EXPECT_TRUE(found);
}

TEST(ConvTranspose2dReferenceTest, IsTheAdjointOfConv2d) {
  // <conv2d(x, w), y> = <x, conv_transpose2d(y, w)> for every x, y: the
  // definition of the transposed convolution, checked in float64.
  Generator gen(9);
  const Shape x_shape{2, 4, 7, 8};
  const Tensor w = Uniform({6, 2, 3, 2}, -1, 1, gen, DType::kFloat64);
  const Conv2dOptions conv{.stride = {2, 3}, .padding = {1, 1}, .dilation = {1, 2}, .groups = 2};
  const Tensor x = Uniform(x_shape, -1, 1, gen, DType::kFloat64);
  const Tensor y = Uniform(Conv2d(x, w, Tensor(), conv).shape(), -1, 1, gen, DType::kFloat64);
  // 7 = (4-1)*2 - 2 + 1*(3-1) + 1 + op: output_padding 0 along the height;
  // 8 = (3-1)*3 - 2 + 2*(2-1) + 1 + op: output_padding 1 along the width.
  const Tensor xt = ConvTranspose2d(y, w, Tensor(),
                                    {.stride = {2, 3},
                                     .padding = {1, 1},
                                     .output_padding = {0, 1},
                                     .dilation = {1, 2},
                                     .groups = 2});
  ASSERT_EQ(xt.shape(), x_shape);
  const double lhs = Sum(Conv2d(x, w, Tensor(), conv) * y).item();
  const double rhs = Sum(x * xt).item();
  EXPECT_NEAR(lhs, rhs, 1e-12 * std::max(1.0, std::abs(lhs)));
}

// ------------------------------------------------------------------ batch norm
TEST(BatchNormTest, TrainingNormalizesWithBatchStatisticsAndUpdatesRunningOnes) {
  Generator gen(1);
  const Tensor x = Normal({8, 3, 2, 2}, 2.0, 3.0, gen, DType::kFloat64);
  Tensor running_mean = Zeros({3}, DType::kFloat64);
  Tensor running_var = Ones({3}, DType::kFloat64);
  const Tensor y = BatchNorm(x, Ones({3}, DType::kFloat64), Zeros({3}, DType::kFloat64),
                             running_mean, running_var, {.training = true, .momentum = 0.1});
  const std::vector<double> xs = x.ToVector(), ys = y.ToVector();
  for (int64_t c = 0; c < 3; ++c) {
    double sum = 0, sq = 0, ysum = 0, ysq = 0;
    for (int64_t n = 0; n < 8; ++n)
      for (int64_t k = 0; k < 4; ++k) {
        const size_t i = size_t((n * 3 + c) * 4 + k);
        sum += xs[i];
        sq += xs[i] * xs[i];
        ysum += ys[i];
        ysq += ys[i] * ys[i];
      }
    const double mean = sum / 32, biased = sq / 32 - mean * mean;
    EXPECT_NEAR(ysum / 32, 0, 1e-12);
    EXPECT_NEAR(ysq / 32, biased / (biased + 1e-5), 1e-10);
    // PyTorch's update: the running variance moves toward the unbiased one.
    EXPECT_NEAR(running_mean.ToVector()[size_t(c)], 0.1 * mean, 1e-12);
    EXPECT_NEAR(running_var.ToVector()[size_t(c)], 0.9 + 0.1 * biased * 32 / 31, 1e-12);
  }
}

TEST(BatchNormTest, EvaluationUsesTheRunningStatisticsAndLeavesThem) {
  const Tensor x = FromValues({1, 2, 3, 4}, Shape{2, 2}, DType::kFloat64);
  Tensor running_mean = FromValues({1, -1}, Shape{2}, DType::kFloat64);
  Tensor running_var = FromValues({4, 0.25}, Shape{2}, DType::kFloat64);
  const Tensor y = BatchNorm(x, FromValues({2, 1}, Shape{2}, DType::kFloat64),
                             FromValues({0, 10}, Shape{2}, DType::kFloat64), running_mean,
                             running_var, {.training = false, .eps = 1e-300});
  // Channel 0: (x - 1) / 2 * 2; channel 1: (x + 1) / 0.5 + 10.
  EXPECT_THAT(y.ToVector(), ElementsAreNear({0, 16, 2, 20}, 1e-12));
  EXPECT_THAT(running_mean.ToVector(), ElementsAreNear({1, -1}, 0));
}

TEST(BatchNormTest, TrainingOnOneValuePerChannelIsRefused) {
  const std::string message = ErrorMessageOf([] {
    BatchNorm(Ones({1, 3}), Ones({3}), Zeros({3}), Tensor(), Tensor(), {.training = true});
  });
  EXPECT_THAT(message, HasSubstr("batch_norm: training needs more than one value per channel"));
  EXPECT_THAT(message, HasSubstr("[1,3]"));
}

TEST(NormalizationTest, LargeMeansKeepFloat32Accuracy) {
  // Values 10000 +- 1: computing y = x*s + (b - mean*s) would lose about
  // 1e-3 of the output to cancellation; centering first keeps float32's
  // accuracy. Both precisions see the same (float32) inputs.
  Generator gen(2);
  const Tensor x32 = Normal({4, 64}, 10000.0, 1.0, gen, DType::kFloat32);
  for (int batch_norm = 0; batch_norm < 2; ++batch_norm) {
    auto normalize = [&](const Tensor& x) {
      if (batch_norm == 0) return LayerNorm(x, {64});
      const Tensor rows = Reshape(x, {64, 4});
      return BatchNorm(rows, Ones({4}, x.dtype()), Zeros({4}, x.dtype()), Tensor(), Tensor());
    };
    const std::vector<double> exact = normalize(ToDType(x32, DType::kFloat64)).ToVector();
    const std::vector<double> got = normalize(x32).ToVector();
    double worst = 0;
    for (size_t i = 0; i < exact.size(); ++i) worst = std::max(worst, std::abs(exact[i] - got[i]));
    EXPECT_LT(worst, 2e-6) << (batch_norm ? "batch_norm" : "layer_norm");
  }
}

TEST(NormalizationTest, LongRowsKeepFloat32Accuracy) {
  // Statistics over 300,000 values: the float sums run in blocks of 1024
  // and add up in double, so the row's length costs no digits.
  Generator gen(3);
  const Tensor x32 = Normal({2, 300000}, 3.0, 2.0, gen, DType::kFloat32);
  const std::vector<double> exact = LayerNorm(ToDType(x32, DType::kFloat64), {300000}).ToVector();
  const std::vector<double> got = LayerNorm(x32, {300000}).ToVector();
  double worst = 0;
  for (size_t i = 0; i < exact.size(); ++i) worst = std::max(worst, std::abs(exact[i] - got[i]));
  EXPECT_LT(worst, 2e-6);
}

// --------------------------------------------------------------------- dropout
TEST(DropoutTest, ZeroesAboutPAndScalesTheRest) {
  const Tensor x = Ones({100000}, DType::kFloat64);
  const Tensor y = Dropout(x, 0.3, 7);
  int64_t zeros = 0;
  for (double v : y.ToVector()) {
    if (v == 0) {
      ++zeros;
    } else {
      EXPECT_DOUBLE_EQ(v, 1 / 0.7);
    }
  }
  EXPECT_NEAR(double(zeros) / 1e5, 0.3, 0.005);
}

TEST(DropoutTest, ASeedReplaysItsMaskOnAnyThreadCountAndInBothPrecisions) {
  const Tensor x = Ones({1 << 20});
  SetNumThreads(1);
  const std::vector<double> one = Dropout(x, 0.5, 42).ToVector();
  SetNumThreads(2);
  const std::vector<double> two = Dropout(x, 0.5, 42).ToVector();
  SetNumThreads(1);
  EXPECT_EQ(one, two);
  const std::vector<double> wide = Dropout(ToDType(x, DType::kFloat64), 0.5, 42).ToVector();
  EXPECT_EQ(one, wide);
  EXPECT_NE(one, Dropout(x, 0.5, 43).ToVector());
}

TEST(DropoutTest, BackwardMasksTheSameElements) {
  Tensor x = Ones({1000}, DType::kFloat64).set_requires_grad(true);
  const Tensor y = Dropout(x, 0.5, 3);
  Sum(y).Backward();
  EXPECT_EQ(x.grad().ToVector(), y.ToVector());
}

// ---------------------------------------------------------------------- errors
TEST(LayerOpErrorsTest, NameTheOpTheShapesAndTheCaller) {
  const std::string channels = ErrorMessageOf([] {
    Conv2d(Ones({2, 3, 5, 5}), Ones({4, 2, 3, 3}));
  });
  EXPECT_THAT(channels, HasSubstr("conv2d: the weight [4,2,3,3] expects 2 input channels"));
  EXPECT_THAT(channels, HasSubstr("the input [2,3,5,5] has 3"));
  EXPECT_THAT(channels, HasSubstr("layer_ops_test.cc"));
  EXPECT_THAT(ErrorMessageOf([] {
                Conv2d(Ones({1, 1, 2, 2}), Ones({1, 1, 3, 3}));
              }),
              HasSubstr("does not fit the padded input [1,1,2,2]"));
  EXPECT_THAT(ErrorMessageOf([] {
                Conv2d(Ones({1, 4, 5}), Ones({1, 4, 3, 3}));
              }),
              HasSubstr("conv2d: the input must be [N, C, H, W], got [1,4,5]"));
  EXPECT_THAT(ErrorMessageOf([] {
                MaxPool2d(Ones({1, 1, 4, 4}), {.window = {2, 2}, .padding = {2, 2}});
              }),
              HasSubstr("at most half the window"));
  EXPECT_THAT(ErrorMessageOf([] { Dropout(Ones({3}), 1.5, 0); }),
              HasSubstr("dropout: p must be in [0, 1], got 1.5"));
  EXPECT_THAT(ErrorMessageOf([] {
                Permute(Ones({2, 3}), {0, 0});
              }),
              HasSubstr("permute: (0, 0) is not an order of the 2 dimensions"));
  EXPECT_THAT(ErrorMessageOf([] {
                GroupNorm(Ones({2, 6, 3}), 4);
              }),
              HasSubstr("group_norm: groups 4 must divide the channels 6"));
}

}  // namespace
}  // namespace actgrad
