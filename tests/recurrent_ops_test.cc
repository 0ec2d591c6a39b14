// The lstm and gru rows against float64 references written from their
// definitions (scalar loops over steps, rows and units, nothing shared with
// the kernels), in both directions, with and without biases, in float64 and
// float32 and at W7's size on one and two threads; and the errors misuse
// gets. Gradients are checked for every row by op_gradcheck_test and
// second_order_test; modules built on the rows are compared with hand-
// unrolled cells in sequence_modules_test.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "actgrad.h"
#include "tests/test_util.h"

namespace actgrad {
namespace {

using ::actgrad::testing::ErrorMessageOf;
using ::testing::HasSubstr;

double Sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

struct Sizes {
  int64_t steps, batch, input, hidden;
};

struct Weights {
  std::vector<double> x, h0, c0, w_ih, w_hh, b_ih, b_hh;
};

Weights RandomWeights(const Sizes& s, int gates, uint64_t seed) {
  Generator gen(seed);
  auto draw = [&](int64_t n, double scale) {
    std::vector<double> v(static_cast<size_t>(n));
    for (double& e : v) e = scale * (2 * gen.NextUniform() - 1);
    return v;
  };
  // PyTorch's initial range, widened so that gates reach their saturated
  // ends, but short of the chaotic regime where float32 rounding grows
  // from step to step.
  const int64_t width = gates * s.hidden;
  const double range = 2 / std::sqrt(double(s.hidden + s.input));
  return {draw(s.steps * s.batch * s.input, 1.5),
          draw(s.batch * s.hidden, 0.5),
          draw(s.batch * s.hidden, 0.5),
          draw(width * s.input, range),
          draw(width * s.hidden, range),
          draw(width, 0.3),
          draw(width, 0.3)};
}

// Row `row` of a [rows, cols] matrix dotted with v.
double Dot(const std::vector<double>& m, int64_t row, int64_t cols, const double* v) {
  double sum = 0;
  for (int64_t j = 0; j < cols; ++j) sum += m[size_t(row * cols + j)] * v[j];
  return sum;
}

struct Reference {
  std::vector<double> output, h_n, c_n;  // output [T, B, H]
};

Reference ReferenceLstm(const Sizes& s, const Weights& w, bool bias, bool reverse) {
  const int64_t H = s.hidden;
  std::vector<double> h = w.h0, c = w.c0;
  Reference r;
  r.output.assign(size_t(s.steps * s.batch * H), 0);
  for (int64_t k = 0; k < s.steps; ++k) {
    const int64_t t = reverse ? s.steps - 1 - k : k;
    std::vector<double> h_next(h.size()), c_next(c.size());
    for (int64_t b = 0; b < s.batch; ++b) {
      const double* x = &w.x[size_t((t * s.batch + b) * s.input)];
      for (int64_t u = 0; u < H; ++u) {
        double z[4];
        for (int g = 0; g < 4; ++g) {
          const int64_t row = g * H + u;
          z[g] = Dot(w.w_ih, row, s.input, x) + Dot(w.w_hh, row, H, &h[size_t(b * H)]) +
                 (bias ? w.b_ih[size_t(row)] + w.b_hh[size_t(row)] : 0);
        }
        const size_t at = size_t(b * H + u);
        c_next[at] = Sigmoid(z[1]) * c[at] + Sigmoid(z[0]) * std::tanh(z[2]);
        h_next[at] = Sigmoid(z[3]) * std::tanh(c_next[at]);
        r.output[size_t((t * s.batch + b) * H + u)] = h_next[at];
      }
    }
    h = h_next;
    c = c_next;
  }
  r.h_n = h;
  r.c_n = c;
  return r;
}

Reference ReferenceGru(const Sizes& s, const Weights& w, bool bias, bool reverse) {
  const int64_t H = s.hidden;
  std::vector<double> h = w.h0;
  Reference r;
  r.output.assign(size_t(s.steps * s.batch * H), 0);
  for (int64_t k = 0; k < s.steps; ++k) {
    const int64_t t = reverse ? s.steps - 1 - k : k;
    std::vector<double> h_next(h.size());
    for (int64_t b = 0; b < s.batch; ++b) {
      const double* x = &w.x[size_t((t * s.batch + b) * s.input)];
      const double* hb = &h[size_t(b * H)];
      for (int64_t u = 0; u < H; ++u) {
        double xi[3], hh[3];
        for (int g = 0; g < 3; ++g) {
          const int64_t row = g * H + u;
          xi[g] = Dot(w.w_ih, row, s.input, x) + (bias ? w.b_ih[size_t(row)] : 0);
          hh[g] = Dot(w.w_hh, row, H, hb) + (bias ? w.b_hh[size_t(row)] : 0);
        }
        const double reset = Sigmoid(xi[0] + hh[0]);
        const double update = Sigmoid(xi[1] + hh[1]);
        const double candidate = std::tanh(xi[2] + reset * hh[2]);
        const double next = (1 - update) * candidate + update * hb[u];
        h_next[size_t(b * H + u)] = next;
        r.output[size_t((t * s.batch + b) * H + u)] = next;
      }
    }
    h = h_next;
  }
  r.h_n = h;
  return r;
}

// Elementwise for float64; for float32, against the tensor's largest value,
// since a state that is a sum of nearly cancelling terms keeps only the
// absolute accuracy of those terms.
void ExpectClose(const std::vector<double>& actual, const std::vector<double>& expected,
                 DType dtype, const char* what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  double largest = 0;
  for (double e : expected) largest = std::max(largest, std::abs(e));
  double worst = 0;
  size_t worst_at = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double scale = dtype == DType::kFloat64 ? std::abs(expected[i]) + 1e-3 : largest;
    const double error = std::abs(actual[i] - expected[i]) / scale;
    if (error > worst) worst = error, worst_at = i;
  }
  EXPECT_LE(worst, dtype == DType::kFloat64 ? 1e-12 : 2e-6)
      << what << ": worst at " << worst_at << ": " << actual[worst_at] << " against "
      << expected[worst_at];
}

struct Case {
  Sizes sizes;
  bool bias;
  bool reverse;
  DType dtype;
  int threads;
};

class RecurrentReferenceTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override { SetNumThreads(GetParam().threads); }
  void TearDown() override { SetNumThreads(1); }
};

TEST_P(RecurrentReferenceTest, LstmMatchesTheDefinition) {
  const Case& c = GetParam();
  const Sizes& s = c.sizes;
  const Weights w = RandomWeights(s, 4, 7);
  auto tensor = [&](const std::vector<double>& v, Shape shape) {
    return FromValues(v, shape, c.dtype);
  };
  const Shape state{s.batch, s.hidden};
  const LstmSequence y =
      LstmLayer(tensor(w.x, {s.steps, s.batch, s.input}), tensor(w.h0, state), tensor(w.c0, state),
                tensor(w.w_ih, {4 * s.hidden, s.input}), tensor(w.w_hh, {4 * s.hidden, s.hidden}),
                c.bias ? tensor(w.b_ih, {4 * s.hidden}) : Tensor(),
                c.bias ? tensor(w.b_hh, {4 * s.hidden}) : Tensor(), c.reverse);
  const Reference r = ReferenceLstm(s, w, c.bias, c.reverse);
  EXPECT_EQ(y.output.shape(), (Shape{s.steps, s.batch, s.hidden}));
  ExpectClose(y.output.ToVector(), r.output, c.dtype, "output");
  ExpectClose(y.h_n.ToVector(), r.h_n, c.dtype, "h_n");
  ExpectClose(y.c_n.ToVector(), r.c_n, c.dtype, "c_n");
}

TEST_P(RecurrentReferenceTest, GruMatchesTheDefinition) {
  const Case& c = GetParam();
  const Sizes& s = c.sizes;
  const Weights w = RandomWeights(s, 3, 11);
  auto tensor = [&](const std::vector<double>& v, Shape shape) {
    return FromValues(v, shape, c.dtype);
  };
  const Tensor y =
      GruLayer(tensor(w.x, {s.steps, s.batch, s.input}), tensor(w.h0, {s.batch, s.hidden}),
               tensor(w.w_ih, {3 * s.hidden, s.input}), tensor(w.w_hh, {3 * s.hidden, s.hidden}),
               c.bias ? tensor(w.b_ih, {3 * s.hidden}) : Tensor(),
               c.bias ? tensor(w.b_hh, {3 * s.hidden}) : Tensor(), c.reverse);
  const Reference r = ReferenceGru(s, w, c.bias, c.reverse);
  ExpectClose(y.ToVector(), r.output, c.dtype, "output");
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, RecurrentReferenceTest,
    ::testing::Values(Case{{5, 3, 4, 6}, true, false, DType::kFloat64, 1},
                      Case{{5, 3, 4, 6}, true, true, DType::kFloat64, 1},
                      Case{{4, 2, 3, 5}, false, false, DType::kFloat64, 1},
                      Case{{1, 1, 1, 1}, true, false, DType::kFloat64, 1},
                      Case{{6, 4, 5, 7}, true, true, DType::kFloat32, 1},
                      // W7's size, where the step's rows are split over two threads.
                      Case{{32, 32, 64, 128}, true, false, DType::kFloat32, 2},
                      Case{{32, 32, 64, 128}, true, true, DType::kFloat32, 2}));

// Float32 gradients against float64 ones at W7's size, on two threads:
// the batch slices' own step products and the bias sums over column
// blocks. Gradients are sums over steps and rows, where float32 rounding is
// relative to the largest terms: compared against each tensor's largest.
void ExpectFloat32GradientsMatchFloat64(bool lstm, bool reverse) {
  SetNumThreads(2);
  const Sizes s{12, 32, 64, 128};
  const int64_t G = lstm ? 4 : 3;
  const Weights w = RandomWeights(s, int(G), 3);
  const Shape state{s.batch, s.hidden};
  std::vector<std::vector<double>> grads[2];
  for (int k = 0; k < 2; ++k) {
    const DType dtype = k == 0 ? DType::kFloat64 : DType::kFloat32;
    std::vector<Tensor> inputs = {FromValues(w.x, {s.steps, s.batch, s.input}, dtype),
                                  FromValues(w.h0, state, dtype),
                                  FromValues(w.c0, state, dtype),
                                  FromValues(w.w_ih, {G * s.hidden, s.input}, dtype),
                                  FromValues(w.w_hh, {G * s.hidden, s.hidden}, dtype),
                                  FromValues(w.b_ih, {G * s.hidden}, dtype),
                                  FromValues(w.b_hh, {G * s.hidden}, dtype)};
    for (Tensor& t : inputs) t.set_requires_grad(true);
    Tensor loss;
    if (lstm) {
      const LstmSequence y = LstmLayer(inputs[0], inputs[1], inputs[2], inputs[3], inputs[4],
                                       inputs[5], inputs[6], reverse);
      // Weights on every output, the final cell state included.
      loss = Add(Sum(Mul(y.output, y.output)), Sum(Mul(y.c_n, y.h_n)));
    } else {
      const Tensor y =
          GruLayer(inputs[0], inputs[1], inputs[3], inputs[4], inputs[5], inputs[6], reverse);
      loss = Sum(Mul(y, y));
      inputs.erase(inputs.begin() + 2);  // no cell state
    }
    loss.Backward();
    for (const Tensor& t : inputs) grads[k].push_back(t.grad().ToVector());
  }
  SetNumThreads(1);
  for (size_t i = 0; i < grads[0].size(); ++i) {
    double largest = 0, worst = 0;
    for (double g : grads[0][i]) largest = std::max(largest, std::abs(g));
    for (size_t j = 0; j < grads[0][i].size(); ++j) {
      worst = std::max(worst, std::abs(grads[1][i][j] - grads[0][i][j]));
    }
    EXPECT_LE(worst, 1e-5 * largest) << (lstm ? "lstm" : "gru") << " input " << i;
  }
}

TEST(RecurrentGradientTest, Float32LstmBackwardAtW7SizeMatchesFloat64OnTwoThreads) {
  ExpectFloat32GradientsMatchFloat64(/*lstm=*/true, /*reverse=*/false);
  ExpectFloat32GradientsMatchFloat64(/*lstm=*/true, /*reverse=*/true);
}

TEST(RecurrentGradientTest, Float32GruBackwardAtW7SizeMatchesFloat64OnTwoThreads) {
  ExpectFloat32GradientsMatchFloat64(/*lstm=*/false, /*reverse=*/false);
  ExpectFloat32GradientsMatchFloat64(/*lstm=*/false, /*reverse=*/true);
}

// Two threads give the batch rows to different threads; one thread runs
// them all. The float64 results agree to rounding of the shared products.
TEST(RecurrentGradientTest, TwoThreadsAgreeWithOne) {
  const Sizes s{6, 32, 16, 64};
  const Weights w = RandomWeights(s, 4, 5);
  std::vector<double> results[2];
  for (int threads = 1; threads <= 2; ++threads) {
    SetNumThreads(threads);
    std::vector<Tensor> inputs = {FromValues(w.x, {s.steps, s.batch, s.input}, DType::kFloat64),
                                  FromValues(w.h0, {s.batch, s.hidden}, DType::kFloat64),
                                  FromValues(w.c0, {s.batch, s.hidden}, DType::kFloat64),
                                  FromValues(w.w_ih, {4 * s.hidden, s.input}, DType::kFloat64),
                                  FromValues(w.w_hh, {4 * s.hidden, s.hidden}, DType::kFloat64)};
    for (Tensor& t : inputs) t.set_requires_grad(true);
    const LstmSequence y = LstmLayer(inputs[0], inputs[1], inputs[2], inputs[3], inputs[4]);
    Sum(Mul(y.output, y.output)).Backward();
    for (const Tensor& t : inputs) {
      for (double g : t.grad().ToVector()) results[threads - 1].push_back(g);
    }
  }
  SetNumThreads(1);
  ASSERT_EQ(results[0].size(), results[1].size());
  for (size_t i = 0; i < results[0].size(); ++i) {
    ASSERT_NEAR(results[0][i], results[1][i], 1e-12 * (1 + std::abs(results[0][i]))) << i;
  }
}

TEST(RecurrentErrorsTest, NameTheOpAndTheShapes) {
  const Tensor x = Zeros({3, 2, 4});
  const Tensor h = Zeros({2, 5});
  EXPECT_THAT(ErrorMessageOf([&] {
                LstmLayer(x, h, h, Zeros({20, 3}), Zeros({20, 5}));
              }),
              HasSubstr("lstm: weight_ih must be [20,4] for the input [3,2,4]"));
  EXPECT_THAT(ErrorMessageOf([&] {
                LstmLayer(x, h, h, Zeros({20, 4}), Zeros({15, 5}));
              }),
              HasSubstr("lstm: weight_hh must be [4H, H], got [15,5]"));
  EXPECT_THAT(ErrorMessageOf([&] {
                LstmLayer(x, Zeros({3, 5}), h, Zeros({20, 4}), Zeros({20, 5}));
              }),
              HasSubstr("lstm: the initial hidden state must be [2,5], got [3,5]"));
  EXPECT_THAT(ErrorMessageOf([&] {
                GruLayer(Zeros({3, 4}), h, Zeros({15, 4}), Zeros({15, 5}));
              }),
              HasSubstr("gru: the input must be [T, B, I] with at least one step, got [3,4]"));
  EXPECT_THAT(ErrorMessageOf([&] {
                LstmLayer(Zeros({0, 2, 4}), h, h, Zeros({20, 4}), Zeros({20, 5}));
              }),
              HasSubstr("lstm: the input must be [T, B, I] with at least one step, got [0,2,4]"));
  EXPECT_THAT(ErrorMessageOf([&] {
                GruLayer(x, h, Zeros({15, 4}), Zeros({15, 5}), Zeros({15}));
              }),
              HasSubstr("give both biases or neither"));
  EXPECT_THAT(ErrorMessageOf([&] {
                GruLayer(x, h, Zeros({15, 4}), Zeros({15, 5}), Zeros({15}), Zeros({12}));
              }),
              HasSubstr("gru: bias_hh must be [15], got [12]"));
  EXPECT_THAT(ErrorMessageOf([&] {
                GruLayer(x, h, Zeros({15, 4}), Zeros({15, 5}, DType::kFloat64));
              }),
              HasSubstr("gru"));
  // The caller's line, not the library's.
  EXPECT_THAT(ErrorMessageOf([&] {
                GruLayer(x, h, Zeros({15, 4}), Zeros({14, 5}));
              }),
              HasSubstr("recurrent_ops_test.cc"));
}

}  // namespace
}  // namespace actgrad
