// The embedding and attention rows against hand-computed values and against
// plain float64 references written from their definitions (direct loops,
// nothing shared with the kernels): padding semantics, the adjoint pair
// embedding / embedding_backward, masks, causality, fully hidden rows, the
// float32 kernels, the thread split, and the errors misuse gets; the
// multi-head rows against splitting the heads, attending and merging. Every
// row is also gradient-checked to first and second order by op_gradcheck_test and
// second_order_test; the direct checks here pin the cases named.

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "actgrad.h"
#include "ops/sequence_ops.h"
#include "tests/test_util.h"

namespace actgrad {
namespace {

using ::actgrad::testing::ElementsAreNear;
using ::actgrad::testing::ErrorMessageOf;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr double kInf = std::numeric_limits<double>::infinity();

class ThreadCount {
 public:
  explicit ThreadCount(int n) : previous_(NumThreads()) { SetNumThreads(n); }
  ~ThreadCount() { SetNumThreads(previous_); }

 private:
  int previous_;
};

Tensor Indices(std::initializer_list<int64_t> values, std::vector<int64_t> dims) {
  return Reshape(Labels(values), std::move(dims));
}

double Dot(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.ToVector(), y = b.ToVector();
  double sum = 0;
  for (size_t i = 0; i < x.size(); ++i) sum += x[i] * y[i];
  return sum;
}

Tensor EmbeddingBackwardRow(const Tensor& values, const Tensor& indices, int64_t rows,
                            int64_t padding_index = -1) {
  Attrs a;
  a.MutableLayer().rows = rows;
  a.MutableLayer().padding_index = padding_index;
  return Apply(ops::kEmbeddingBackward, {values, indices}, a);
}

// ----------------------------------------------------------------- embedding
TEST(EmbeddingTest, GathersRowsIntoTheIndicesShape) {
  const Tensor table = FromValues({0, 1, 10, 11, 20, 21, 30, 31}, Shape{4, 2}, DType::kFloat64);
  const Tensor y = Embedding(Indices({3, 0, 1, 3}, {2, 2}), table);
  EXPECT_EQ(y.shape(), (Shape{2, 2, 2}));
  EXPECT_THAT(y.ToVector(), ElementsAreNear({30, 31, 0, 1, 10, 11, 30, 31}, 0));
  // A scalar index gives one row.
  const Tensor one = Embedding(Reshape(Labels({2}), {}), table);
  EXPECT_EQ(one.shape(), (Shape{2}));
  EXPECT_THAT(one.ToVector(), ElementsAreNear({20, 21}, 0));
}

TEST(EmbeddingTest, RepeatedIndicesAddTheirGradients) {
  Tensor table = Zeros({3, 2}, DType::kFloat64).set_requires_grad(true);
  const Tensor y = Embedding(Labels({2, 0, 2}), table);
  Sum(y * FromValues({1, 2, 3, 4, 5, 6}, Shape{3, 2}, DType::kFloat64)).Backward();
  EXPECT_THAT(table.grad().ToVector(), ElementsAreNear({3, 4, 0, 0, 1 + 5, 2 + 6}, 0));
}

TEST(EmbeddingTest, PaddingPositionsReadZerosAndThePaddingRowGetsNoGradient) {
  // The padding row holds non-zeros on purpose: padding positions still read zeros.
  Tensor table =
      FromValues({1, 2, 3, 4, 5, 6}, Shape{3, 2}, DType::kFloat64).set_requires_grad(true);
  const Tensor y = Embedding(Labels({1, 2, 1, 0}), table, /*padding_index=*/1);
  EXPECT_THAT(y.ToVector(), ElementsAreNear({0, 0, 5, 6, 0, 0, 1, 2}, 0));
  Sum(y * FromValues({1, 2, 3, 4, 5, 6, 7, 8}, Shape{4, 2}, DType::kFloat64)).Backward();
  EXPECT_THAT(table.grad().ToVector(), ElementsAreNear({7, 8, 0, 0, 3, 4}, 0));
}

TEST(EmbeddingTest, TheTwoRowsAreAdjoint) {
  Generator gen(5);
  const Tensor indices = Indices({4, 2, 0, 2, 2, 1, 4, 3}, {2, 4});
  const Tensor table = Normal({5, 3}, 0, 1, gen, DType::kFloat64);
  const Tensor g = Normal({2, 4, 3}, 0, 1, gen, DType::kFloat64);
  for (int64_t padding : {-1, 2, 0}) {
    const double lhs = Dot(Embedding(indices, table, padding), g);
    const double rhs = Dot(table, EmbeddingBackwardRow(g, indices, 5, padding));
    EXPECT_NEAR(lhs, rhs, 1e-12 * std::max(1.0, std::abs(lhs))) << "padding_index " << padding;
  }
}

TEST(EmbeddingTest, RecordedBackwardsAreEachOther) {
  // d/dG <embedding_backward(G, i), H> = embedding(i, H), zeros at padding.
  const Tensor indices = Labels({1, 0, 1, 2});
  Tensor table = Zeros({3, 2}, DType::kFloat64).set_requires_grad(true);
  Tensor g =
      FromValues({1, 2, 3, 4, 5, 6, 7, 8}, Shape{4, 2}, DType::kFloat64).set_requires_grad(true);
  const Tensor dtable =
      Grad(Sum(Embedding(indices, table, 0) * g), {table}, Tensor(), {.create_graph = true})[0];
  EXPECT_THAT(dtable.ToVector(), ElementsAreNear({0, 0, 1 + 5, 2 + 6, 7, 8}, 0));
  const Tensor h = FromValues({10, 20, 30, 40, 50, 60}, Shape{3, 2}, DType::kFloat64);
  const Tensor dg = Grad(Sum(dtable * h), {g})[0];
  EXPECT_THAT(dg.ToVector(), ElementsAreNear({30, 40, 0, 0, 30, 40, 50, 60}, 0));
}

TEST(EmbeddingTest, LargeGathersAreSplitOverThreadsWithTheSameResult) {
  Generator gen(8);
  const Tensor table = Normal({50, 64}, 0, 1, gen);
  std::vector<int64_t> index(8192);
  for (size_t p = 0; p < index.size(); ++p) index[p] = int64_t((p * 7) % 50);
  const Tensor indices = Labels(index);
  const Tensor one = [&] {
    ThreadCount threads(1);
    return Embedding(indices, table, 3);
  }();
  const Tensor two = [&] {
    ThreadCount threads(2);
    return Embedding(indices, table, 3);
  }();
  EXPECT_EQ(one.ToVector(), two.ToVector());
  const std::vector<double> w = table.ToVector(), y = one.ToVector();
  for (size_t p = 0; p < index.size(); p += 997) {
    for (size_t j = 0; j < 64; ++j) {
      EXPECT_EQ(y[p * 64 + j], index[p] == 3 ? 0.0 : w[size_t(index[p]) * 64 + j]);
    }
  }
}

TEST(EmbeddingTest, ErrorsNameTheOpTheValueAndWhereItIs) {
  const Tensor table = Zeros({4, 3});
  EXPECT_THAT(ErrorMessageOf([&] {
                Embedding(Indices({0, 1, 5, 2}, {2, 2}), table);
              }),
              AllOf(HasSubstr("embedding"), HasSubstr("index 5 at [1,0]"), HasSubstr("[0, 4)")));
  EXPECT_THAT(ErrorMessageOf([&] { Embedding(Labels({-1}), table); }),
              AllOf(HasSubstr("embedding"), HasSubstr("index -1 at [0]")));
  EXPECT_THAT(ErrorMessageOf([&] {
                Embedding(FromValues({0, 1}), table);
              }),
              AllOf(HasSubstr("embedding"), HasSubstr("int64"), HasSubstr("float32")));
  EXPECT_THAT(ErrorMessageOf([&] { Embedding(Labels({0}), Zeros({4})); }),
              AllOf(HasSubstr("embedding"), HasSubstr("[V, D]"), HasSubstr("[4]")));
  EXPECT_THAT(ErrorMessageOf([&] {
                Embedding(Labels({0}), Labels({0, 1}));
              }),
              AllOf(HasSubstr("embedding"), HasSubstr("int64")));
  EXPECT_THAT(ErrorMessageOf([&] { Embedding(Labels({0}), table, 4); }),
              AllOf(HasSubstr("embedding"), HasSubstr("padding_index 4"), HasSubstr("[-1, 4)")));
  EXPECT_THAT(ErrorMessageOf([&] {
                EmbeddingBackwardRow(Zeros({3, 2}), Labels({0, 1}), 4);
              }),
              AllOf(HasSubstr("embedding_backward"), HasSubstr("[3,2]"), HasSubstr("[2]")));
  EXPECT_THAT(ErrorMessageOf([&] {
                EmbeddingBackwardRow(Zeros({2, 2}), Labels({0, 4}), 4);
              }),
              AllOf(HasSubstr("embedding_backward"), HasSubstr("index 4 at [1]")));
}

// ----------------------------------------------------------------- attention
struct AttentionCase {
  int64_t batch, queries, keys, depth, value_depth;
  enum MaskKind { kNoMask, kShared, kBatched } mask;
  bool causal;
  double scale;  // 0: 1/sqrt(d)
};

std::vector<int64_t> MaskDims(const AttentionCase& c) {
  if (c.mask == AttentionCase::kShared) return {c.queries, c.keys};
  return {c.batch, c.queries, c.keys};
}

// softmax(scale q k^T + mask) v by direct loops in double; a row with every
// key hidden gives zeros.
std::vector<double> ReferenceAttention(const AttentionCase& c, const std::vector<double>& q,
                                       const std::vector<double>& k, const std::vector<double>& v,
                                       const std::vector<double>& mask) {
  const int64_t B = c.batch, L = c.queries, S = c.keys, d = c.depth, dv = c.value_depth;
  const double scale = c.scale != 0 ? c.scale : 1 / std::sqrt(double(d));
  std::vector<double> out(size_t(B * L * dv), 0.0);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t i = 0; i < L; ++i) {
      std::vector<double> s(size_t(S), -kInf);
      double top = -kInf;
      for (int64_t j = 0; j < S; ++j) {
        if (c.causal && j > i) continue;
        double dot = 0;
        for (int64_t t = 0; t < d; ++t)
          dot += q[size_t((b * L + i) * d + t)] * k[size_t((b * S + j) * d + t)];
        s[size_t(j)] = scale * dot;
        if (c.mask == AttentionCase::kShared) s[size_t(j)] += mask[size_t(i * S + j)];
        if (c.mask == AttentionCase::kBatched) s[size_t(j)] += mask[size_t((b * L + i) * S + j)];
        top = std::max(top, s[size_t(j)]);
      }
      if (top == -kInf) continue;
      double total = 0;
      for (double& x : s) total += (x = std::exp(x - top));
      for (int64_t j = 0; j < S; ++j) {
        for (int64_t t = 0; t < dv; ++t) {
          out[size_t((b * L + i) * dv + t)] +=
              s[size_t(j)] / total * v[size_t((b * S + j) * dv + t)];
        }
      }
    }
  }
  return out;
}

struct AttentionInputs {
  Tensor q, k, v, mask;
};

AttentionInputs RandomInputs(const AttentionCase& c, Generator& gen, DType dtype) {
  AttentionInputs in;
  in.q = Uniform({c.batch, c.queries, c.depth}, -1.5, 1.5, gen, dtype);
  in.k = Uniform({c.batch, c.keys, c.depth}, -1.5, 1.5, gen, dtype);
  in.v = Uniform({c.batch, c.keys, c.value_depth}, -1, 1, gen, dtype);
  if (c.mask != AttentionCase::kNoMask) {
    const std::vector<int64_t> dims = MaskDims(c);
    in.mask = Uniform(Shape(std::span<const int64_t>(dims)), -2, 2, gen, dtype);
  }
  return in;
}

Tensor Attend(const AttentionInputs& in, const AttentionCase& c) {
  return ScaledDotProductAttention(in.q, in.k, in.v, in.mask,
                                   {.causal = c.causal, .scale = c.scale});
}

const AttentionCase kReferenceCases[] = {
    {2, 3, 3, 4, 4, AttentionCase::kNoMask, false, 0},
    {2, 3, 5, 2, 3, AttentionCase::kShared, false, 0},
    {3, 4, 6, 3, 2, AttentionCase::kBatched, false, 0.7},
    {2, 5, 5, 3, 3, AttentionCase::kNoMask, true, 0},
    {2, 3, 5, 4, 2, AttentionCase::kShared, true, 1.5},
    {1, 4, 4, 8, 5, AttentionCase::kBatched, true, 0},
    // Rows of many keys: the float kernel's whole registers and their tails.
    {2, 6, 37, 5, 4, AttentionCase::kBatched, false, 0},
    {1, 21, 40, 3, 3, AttentionCase::kShared, true, 0},
    {2, 3, 32, 4, 4, AttentionCase::kNoMask, false, 2.5},
};

TEST(AttentionTest, MatchesAHandComputedCase) {
  // One query and two keys: scores 0 and ln 3 give weights 1/4 and 3/4.
  const Tensor q = FromValues({1}, Shape{1, 1, 1}, DType::kFloat64);
  const Tensor k = FromValues({0, std::log(3.0)}, Shape{1, 2, 1}, DType::kFloat64);
  const Tensor v = FromValues({4, 8}, Shape{1, 2, 1}, DType::kFloat64);
  EXPECT_THAT(ScaledDotProductAttention(q, k, v).ToVector(), ElementsAreNear({7}, 1e-14));
  // A mask of -ln 3 on the second key evens the weights out.
  const Tensor mask = FromValues({0, -std::log(3.0)}, Shape{1, 2}, DType::kFloat64);
  EXPECT_THAT(ScaledDotProductAttention(q, k, v, mask).ToVector(), ElementsAreNear({6}, 1e-14));
  // Scale 2 squares the odds: weights 1/10 and 9/10.
  EXPECT_THAT(ScaledDotProductAttention(q, k, v, Tensor(), {.scale = 2}).ToVector(),
              ElementsAreNear({0.4 + 7.2}, 1e-14));
}

TEST(AttentionTest, AgreesWithDirectLoopsInBothPrecisions) {
  Generator gen(21);
  for (const AttentionCase& c : kReferenceCases) {
    const AttentionInputs in = RandomInputs(c, gen, DType::kFloat64);
    const std::vector<double> expected =
        ReferenceAttention(c, in.q.ToVector(), in.k.ToVector(), in.v.ToVector(),
                           in.mask.defined() ? in.mask.ToVector() : std::vector<double>());
    const Tensor y = Attend(in, c);
    ASSERT_EQ(y.shape(), (Shape{c.batch, c.queries, c.value_depth}));
    EXPECT_THAT(y.ToVector(), ElementsAreNear(expected, 1e-12))
        << "B " << c.batch << " L " << c.queries << " S " << c.keys << " mask " << c.mask
        << " causal " << c.causal;

    // float32 inputs are the float64 ones rounded; the reference starts from them.
    AttentionInputs narrow{ToDType(in.q, DType::kFloat32), ToDType(in.k, DType::kFloat32),
                           ToDType(in.v, DType::kFloat32),
                           in.mask.defined() ? ToDType(in.mask, DType::kFloat32) : Tensor()};
    const std::vector<double> rounded_expected =
        ReferenceAttention(c, narrow.q.ToVector(), narrow.k.ToVector(), narrow.v.ToVector(),
                           narrow.mask.defined() ? narrow.mask.ToVector() : std::vector<double>());
    const std::vector<double> got = Attend(narrow, c).ToVector();
    double largest = 0, worst = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      largest = std::max(largest, std::abs(rounded_expected[i]));
      worst = std::max(worst, std::abs(got[i] - rounded_expected[i]));
    }
    EXPECT_LT(worst / largest, 1e-5) << "float32, mask " << c.mask << " causal " << c.causal;
  }
}

TEST(AttentionTest, CausalQueriesIgnoreLaterKeys) {
  Generator gen(3);
  const AttentionCase c{1, 4, 4, 3, 2, AttentionCase::kNoMask, true, 0};
  AttentionInputs in = RandomInputs(c, gen, DType::kFloat64);
  const std::vector<double> before = Attend(in, c).ToVector();
  // The first query sees only the first key: its output is that key's value.
  EXPECT_THAT(std::vector<double>(before.begin(), before.begin() + 2),
              ElementsAreNear({in.v.ToVector()[0], in.v.ToVector()[1]}, 1e-15));
  // Changing the last key and value moves only the last query's output.
  std::vector<double> k = in.k.ToVector(), v = in.v.ToVector();
  for (size_t i = 9; i < 12; ++i) k[i] += 1;
  for (size_t i = 6; i < 8; ++i) v[i] -= 2;
  in.k = FromValues(k, Shape{1, 4, 3}, DType::kFloat64);
  in.v = FromValues(v, Shape{1, 4, 2}, DType::kFloat64);
  const std::vector<double> after = Attend(in, c).ToVector();
  EXPECT_EQ(std::vector<double>(before.begin(), before.begin() + 6),
            std::vector<double>(after.begin(), after.begin() + 6));
  EXPECT_NE(before[6], after[6]);
}

// Row 1 of the first batch entry sees no key at all; row 0 hides one key.
Tensor MaskWithAHiddenRow() {
  std::vector<double> m(2 * 3 * 4, 0.0);
  for (int j = 0; j < 4; ++j) m[size_t(4 + j)] = -kInf;
  m[2] = -kInf;
  m[13] = 0.5;
  return FromValues(m, Shape{2, 3, 4}, DType::kFloat64);
}

TEST(AttentionTest, AFullyMaskedRowOutputsZerosAndPassesNoGradient) {
  Generator gen(4);
  Tensor q = Uniform({2, 3, 2}, -1, 1, gen, DType::kFloat64).set_requires_grad(true);
  Tensor k = Uniform({2, 4, 2}, -1, 1, gen, DType::kFloat64).set_requires_grad(true);
  Tensor v = Uniform({2, 4, 3}, -1, 1, gen, DType::kFloat64).set_requires_grad(true);
  Tensor mask = MaskWithAHiddenRow().set_requires_grad(true);
  const Tensor y = ScaledDotProductAttention(q, k, v, mask);
  const std::vector<double> out = y.ToVector();
  for (double x : out) ASSERT_TRUE(std::isfinite(x));
  EXPECT_THAT(std::vector<double>(out.begin() + 3, out.begin() + 6), ElementsAreNear({0, 0, 0}, 0));
  const AttentionCase c{2, 3, 4, 2, 3, AttentionCase::kBatched, false, 0};
  EXPECT_THAT(out, ElementsAreNear(ReferenceAttention(c, q.ToVector(), k.ToVector(), v.ToVector(),
                                                      mask.ToVector()),
                                   1e-12));

  Generator weights(9);
  const Tensor w = Normal(y.shape(), 0, 1, weights, DType::kFloat64);
  const std::vector<Tensor> g = Grad(Sum(y * w), {q, k, v, mask}, Tensor(), {.create_graph = true});
  for (const Tensor& t : g) {
    for (double x : t.ToVector()) ASSERT_TRUE(std::isfinite(x));
  }
  const std::vector<double> dq = g[0].ToVector();
  EXPECT_THAT(std::vector<double>(dq.begin() + 2, dq.begin() + 4), ElementsAreNear({0, 0}, 0));
  const std::vector<double> dmask = g[3].ToVector();
  EXPECT_THAT(std::vector<double>(dmask.begin() + 4, dmask.begin() + 8),
              ElementsAreNear({0, 0, 0, 0}, 0));
  EXPECT_EQ(dmask[2], 0.0);  // a hidden key
  // The recorded gradients differentiate again without NaN.
  const std::vector<Tensor> second = Grad(Sum(g[0] * g[0]) + Sum(g[3]), {q, k, v});
  for (const Tensor& t : second) {
    for (double x : t.ToVector()) ASSERT_TRUE(std::isfinite(x));
  }
}

// In float32, a row of 40 keys that the mask hides whole gives zeros, and
// its neighbour the reference's values.
TEST(AttentionTest, AFullyMaskedLongRowInFloat32OutputsZeros) {
  Generator gen(5);
  const AttentionCase c{1, 2, 40, 4, 3, AttentionCase::kBatched, false, 0};
  AttentionInputs in = RandomInputs(c, gen, DType::kFloat32);
  std::vector<double> mask = in.mask.ToVector();
  std::fill(mask.begin() + 40, mask.end(), -std::numeric_limits<double>::infinity());
  in.mask = FromValues(mask, Shape{1, 2, 40}, DType::kFloat32);
  const std::vector<double> got = Attend(in, c).ToVector();
  const std::vector<double> expected =
      ReferenceAttention(c, in.q.ToVector(), in.k.ToVector(), in.v.ToVector(), mask);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(got[i], expected[i], 1e-6) << i;
  EXPECT_THAT(std::vector<double>(got.begin() + 3, got.end()), ElementsAreNear({0, 0, 0}, 0));
}

TEST(AttentionTest, GradientsMatchFiniteDifferences) {
  Generator gen(6);
  const Tensor q = Uniform({2, 5, 3}, -1, 1, gen, DType::kFloat64);
  const Tensor k = Uniform({2, 5, 3}, -1, 1, gen, DType::kFloat64);
  const Tensor v = Uniform({2, 5, 3}, -1, 1, gen, DType::kFloat64);
  const Tensor mask = Uniform({5, 5}, -1, 1, gen, DType::kFloat64);
  for (bool causal : {false, true}) {
    auto f = [causal](std::span<const Tensor> in) {
      return ScaledDotProductAttention(in[0], in[1], in[2], in[3], {.causal = causal});
    };
    const GradCheckReport first = GradCheck(f, {q, k, v, mask});
    EXPECT_TRUE(first.passed) << "causal " << causal << "\n" << first.ToString();
    EXPECT_EQ(first.checked, 3 * 30 + 25);
    GradCheckOptions loose;
    loose.atol = 1e-6;
    loose.rtol = 1e-4;
    const GradCheckReport second = GradCheckSecondOrder(f, {q, k, v, mask}, loose);
    EXPECT_TRUE(second.passed) << "causal " << causal << "\n" << second.ToString();
  }
}

TEST(AttentionTest, GradientsAroundAFullyMaskedRowMatchFiniteDifferences) {
  // The mask holds -inf, so it is a constant here (finite differences cannot
  // step through it); q, k and v are checked to second order.
  Generator gen(7);
  const Tensor mask = MaskWithAHiddenRow();
  auto f = [&mask](std::span<const Tensor> in) {
    return ScaledDotProductAttention(in[0], in[1], in[2], mask);
  };
  const std::vector<Tensor> inputs = {Uniform({2, 3, 2}, -1, 1, gen, DType::kFloat64),
                                      Uniform({2, 4, 2}, -1, 1, gen, DType::kFloat64),
                                      Uniform({2, 4, 3}, -1, 1, gen, DType::kFloat64)};
  const GradCheckReport first = GradCheck(f, inputs);
  EXPECT_TRUE(first.passed) << first.ToString();
  GradCheckOptions loose;
  loose.atol = 1e-6;
  loose.rtol = 1e-4;
  const GradCheckReport second = GradCheckSecondOrder(f, inputs, loose);
  EXPECT_TRUE(second.passed) << second.ToString();
}

TEST(AttentionTest, BatchEntriesSplitOverThreadsGiveTheSameResult) {
  Generator gen(10);
  const AttentionCase c{6, 48, 64, 32, 32, AttentionCase::kShared, true, 0};
  const AttentionInputs in = RandomInputs(c, gen, DType::kFloat32);
  auto run = [&](int threads) {
    ThreadCount count(threads);
    AttentionInputs x{in.q.Clone().set_requires_grad(true), in.k.Clone().set_requires_grad(true),
                      in.v.Clone().set_requires_grad(true),
                      in.mask.Clone().set_requires_grad(true)};
    const Tensor y = Attend(x, c);
    Sum(y * y).Backward();
    return std::vector<std::vector<double>>{y.ToVector(), x.q.grad().ToVector(),
                                            x.k.grad().ToVector(), x.v.grad().ToVector(),
                                            x.mask.grad().ToVector()};
  };
  const auto one = run(1), two = run(2);
  for (size_t t = 0; t < one.size(); ++t) {
    double largest = 0;
    for (double x : one[t]) largest = std::max(largest, std::abs(x));
    EXPECT_THAT(two[t], ElementsAreNear(one[t], 1e-6 * largest)) << "tensor " << t;
  }
}

TEST(AttentionTest, ErrorsNameTheOpAndTheShapes) {
  const Tensor q = Zeros({2, 3, 4}), k = Zeros({2, 5, 4}), v = Zeros({2, 5, 6});
  EXPECT_THAT(ErrorMessageOf([&] {
                ScaledDotProductAttention(Zeros({3, 4}), k, v);
              }),
              AllOf(HasSubstr("scaled_dot_product_attention"), HasSubstr("[3,4]"),
                    HasSubstr("[2,5,4]"), HasSubstr("[2,5,6]")));
  EXPECT_THAT(
      ErrorMessageOf([&] {
        ScaledDotProductAttention(q, Zeros({2, 5, 3}), v);
      }),
      AllOf(HasSubstr("scaled_dot_product_attention"), HasSubstr("[2,3,4]"), HasSubstr("[2,5,3]")));
  EXPECT_THAT(ErrorMessageOf([&] {
                ScaledDotProductAttention(q, k, Zeros({2, 4, 6}));
              }),
              AllOf(HasSubstr("scaled_dot_product_attention"), HasSubstr("[2,4,6]")));
  EXPECT_THAT(ErrorMessageOf([&] {
                ScaledDotProductAttention(q, k, Zeros({1, 5, 6}));
              }),
              AllOf(HasSubstr("scaled_dot_product_attention"), HasSubstr("[1,5,6]")));
  EXPECT_THAT(ErrorMessageOf([&] {
                ScaledDotProductAttention(q, k, v, Zeros({5, 3}));
              }),
              AllOf(HasSubstr("scaled_dot_product_attention"), HasSubstr("mask [5,3]"),
                    HasSubstr("[3,5]")));
  EXPECT_THAT(ErrorMessageOf([&] {
                ScaledDotProductAttention(q, k, v, Zeros({3, 3, 5}));
              }),
              AllOf(HasSubstr("scaled_dot_product_attention"), HasSubstr("mask [3,3,5]")));
  EXPECT_THAT(ErrorMessageOf([&] {
                ScaledDotProductAttention(Zeros({2, 6, 4}), k, v, Tensor(), {.causal = true});
              }),
              AllOf(HasSubstr("scaled_dot_product_attention"), HasSubstr("causal"),
                    HasSubstr("L = 6"), HasSubstr("S = 5")));
  EXPECT_THAT(ErrorMessageOf([&] {
                ScaledDotProductAttention(q, Zeros({2, 5, 4}, DType::kFloat64), v);
              }),
              AllOf(HasSubstr("scaled_dot_product_attention"), HasSubstr("float64")));
  // The caller's line, not the library's.
  EXPECT_THAT(ErrorMessageOf([&] {
                ScaledDotProductAttention(q, k, Zeros({2, 4, 6}));
              }),
              HasSubstr("attention_ops_test.cc"));
}

TEST(AttentionTest, ProfilerCountsBothProducts) {
  const Tensor q = Zeros({2, 3, 4}), k = Zeros({2, 5, 4}), v = Zeros({2, 5, 6});
  const Tensor y = ScaledDotProductAttention(q, k, v);
  const std::vector<Tensor> inputs = {q, k, v};
  EXPECT_DOUBLE_EQ(ops::kScaledDotProductAttention.forward_flops(inputs, y),
                   2.0 * 2 * 3 * 5 * (4 + 6));
}

// ------------------------------------------------------ multi-head attention
// The head-layout rows against the composition they replace: split the heads
// out of [len, B, h c] with copies, ScaledDotProductAttention on [B h, len, c],
// merge back.
struct HeadCase {
  int64_t batch, heads, queries, keys, depth, value_depth;
  enum MaskKind { kNoMask, kShared, kPerHead } mask;
  bool causal;
  double scale;  // 0: 1/sqrt(d)
};

const HeadCase kHeadCases[] = {
    {2, 1, 3, 3, 4, 4, HeadCase::kNoMask, false, 0},
    {2, 2, 3, 5, 2, 3, HeadCase::kShared, false, 0},
    {3, 2, 4, 6, 3, 2, HeadCase::kPerHead, false, 0.7},
    {2, 4, 5, 5, 3, 3, HeadCase::kNoMask, true, 0},
    {2, 3, 3, 5, 4, 2, HeadCase::kShared, true, 1.5},
    {1, 2, 4, 4, 8, 5, HeadCase::kPerHead, true, 0},
};

std::string Describe(const HeadCase& c) {
  return absl::StrCat("B ", c.batch, " heads ", c.heads, " L ", c.queries, " S ", c.keys, " d ",
                      c.depth, " dv ", c.value_depth, " mask ", c.mask, " causal ", c.causal);
}

Tensor SplitHeadsByCopy(const Tensor& x, int64_t heads) {
  const int64_t len = x.dim(0), batch = x.dim(1), c = x.dim(2) / heads;
  return Reshape(Permute(Reshape(x, {len, batch, heads, c}), {1, 2, 0, 3}),
                 {batch * heads, len, c});
}

Tensor MergeHeadsByCopy(const Tensor& x, int64_t heads) {
  const int64_t batch = x.dim(0) / heads, len = x.dim(1), c = x.dim(2);
  return Reshape(Permute(Reshape(x, {batch, heads, len, c}), {2, 0, 1, 3}),
                 {len, batch, heads * c});
}

Tensor ComposedAttention(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads,
                         const Tensor& mask, const AttentionOptions& options) {
  return MergeHeadsByCopy(
      ScaledDotProductAttention(SplitHeadsByCopy(q, heads), SplitHeadsByCopy(k, heads),
                                SplitHeadsByCopy(v, heads), mask, options),
      heads);
}

Tensor ComposedSelfAttention(const Tensor& qkv, int64_t heads, const Tensor& mask,
                             const AttentionOptions& options) {
  const int64_t e = qkv.dim(2) / 3;
  return ComposedAttention(Slice(qkv, 2, 0, e), Slice(qkv, 2, e, 2 * e),
                           Slice(qkv, 2, 2 * e, 3 * e), heads, mask, options);
}

Tensor HeadMask(const HeadCase& c, Generator& gen, DType dtype) {
  if (c.mask == HeadCase::kShared) return Uniform({c.queries, c.keys}, -2, 2, gen, dtype);
  if (c.mask == HeadCase::kPerHead) {
    return Uniform({c.batch * c.heads, c.queries, c.keys}, -2, 2, gen, dtype);
  }
  return Tensor();
}

// The output and the gradients of <y, w> for every input, w fixed.
std::vector<std::vector<double>> ValueAndGradients(
    const std::function<Tensor(std::span<const Tensor>)>& f, const std::vector<Tensor>& inputs,
    const Tensor& w) {
  std::vector<Tensor> leaves;
  for (const Tensor& t : inputs) leaves.push_back(t.Clone().set_requires_grad(true));
  const Tensor y = f(leaves);
  std::vector<std::vector<double>> out = {y.ToVector()};
  for (const Tensor& g : Grad(Sum(y * w), leaves)) out.push_back(g.ToVector());
  return out;
}

// Largest |got - expected| over largest |expected|, per tensor.
double NormwiseError(const std::vector<double>& got, const std::vector<double>& expected) {
  double largest = 0, worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    largest = std::max(largest, std::abs(expected[i]));
    worst = std::max(worst, std::abs(got[i] - expected[i]));
  }
  return largest == 0 ? worst : worst / largest;
}

// Runs both forms in float64 (elementwise to 1e-12) and float32 (normwise to
// 1e-6): outputs first, then the gradient of each input.
void ExpectSameAsComposition(const std::function<Tensor(std::span<const Tensor>)>& fused,
                             const std::function<Tensor(std::span<const Tensor>)>& composed,
                             const std::vector<Tensor>& inputs64, const Tensor& w64,
                             const std::string& label) {
  const auto got = ValueAndGradients(fused, inputs64, w64);
  const auto expected = ValueAndGradients(composed, inputs64, w64);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t t = 0; t < got.size(); ++t) {
    ASSERT_EQ(got[t].size(), expected[t].size()) << label << ", tensor " << t;
    double largest = 0;
    for (double x : expected[t]) largest = std::max(largest, std::abs(x));
    EXPECT_GT(largest, 0) << label << ", tensor " << t << " is all zeros: the check proves nothing";
    EXPECT_THAT(got[t], ElementsAreNear(expected[t], 1e-12)) << label << ", tensor " << t;
  }
  std::vector<Tensor> inputs32;
  for (const Tensor& t : inputs64) inputs32.push_back(ToDType(t, DType::kFloat32));
  const Tensor w32 = ToDType(w64, DType::kFloat32);
  const auto got32 = ValueAndGradients(fused, inputs32, w32);
  const auto expected32 = ValueAndGradients(composed, inputs32, w32);
  for (size_t t = 0; t < got32.size(); ++t) {
    EXPECT_LE(NormwiseError(got32[t], expected32[t]), 1e-6) << label << ", float32, tensor " << t;
  }
}

TEST(MultiHeadAttentionTest, EqualsSplittingTheHeadsAttendingAndMerging) {
  Generator gen(31);
  for (const HeadCase& c : kHeadCases) {
    const int64_t B = c.batch, h = c.heads;
    std::vector<Tensor> inputs = {
        Uniform({c.queries, B, h * c.depth}, -1.5, 1.5, gen, DType::kFloat64),
        Uniform({c.keys, B, h * c.depth}, -1.5, 1.5, gen, DType::kFloat64),
        Uniform({c.keys, B, h * c.value_depth}, -1, 1, gen, DType::kFloat64)};
    if (c.mask != HeadCase::kNoMask) inputs.push_back(HeadMask(c, gen, DType::kFloat64));
    const Tensor w = Normal({c.queries, B, h * c.value_depth}, 0, 1, gen, DType::kFloat64);
    const AttentionOptions options{.causal = c.causal, .scale = c.scale};
    auto mask_of = [](std::span<const Tensor> in) { return in.size() == 4 ? in[3] : Tensor(); };
    ExpectSameAsComposition(
        [&](std::span<const Tensor> in) {
          return MultiHeadAttention(in[0], in[1], in[2], h, mask_of(in), options);
        },
        [&](std::span<const Tensor> in) {
          return ComposedAttention(in[0], in[1], in[2], h, mask_of(in), options);
        },
        inputs, w, Describe(c));
  }
}

TEST(MultiHeadSelfAttentionTest, EqualsSlicingThePackedInputAndAttending) {
  Generator gen(32);
  for (HeadCase c : kHeadCases) {
    c.keys = c.queries;  // self-attention: S = L, dv = d
    c.value_depth = c.depth;
    const int64_t B = c.batch, h = c.heads, e = h * c.depth;
    std::vector<Tensor> inputs = {Uniform({c.queries, B, 3 * e}, -1.5, 1.5, gen, DType::kFloat64)};
    if (c.mask != HeadCase::kNoMask) inputs.push_back(HeadMask(c, gen, DType::kFloat64));
    const Tensor w = Normal({c.queries, B, e}, 0, 1, gen, DType::kFloat64);
    const AttentionOptions options{.causal = c.causal, .scale = c.scale};
    auto mask_of = [](std::span<const Tensor> in) { return in.size() == 2 ? in[1] : Tensor(); };
    ExpectSameAsComposition(
        [&](std::span<const Tensor> in) {
          return MultiHeadSelfAttention(in[0], h, mask_of(in), options);
        },
        [&](std::span<const Tensor> in) {
          return ComposedSelfAttention(in[0], h, mask_of(in), options);
        },
        inputs, w, Describe(c));
  }
}

TEST(MultiHeadSelfAttentionTest, RecordedGradientsDifferentiateLikeTheComposition) {
  Generator gen(33);
  const Tensor qkv = Uniform({4, 2, 12}, -1, 1, gen, DType::kFloat64);
  const Tensor mask = Uniform({4, 4, 4}, -1, 1, gen, DType::kFloat64);
  const Tensor w = Normal({4, 2, 4}, 0, 1, gen, DType::kFloat64);
  const Tensor u = Normal({4, 2, 12}, 0, 1, gen, DType::kFloat64);
  auto second = [&](bool fused) {
    Tensor x = qkv.Clone().set_requires_grad(true);
    Tensor m = mask.Clone().set_requires_grad(true);
    const AttentionOptions options{.causal = true};
    const Tensor y =
        fused ? MultiHeadSelfAttention(x, 2, m, options) : ComposedSelfAttention(x, 2, m, options);
    const Tensor g = Grad(Sum(y * w), {x}, Tensor(), {.create_graph = true})[0];
    std::vector<std::vector<double>> out;
    for (const Tensor& t : Grad(Sum(g * u), {x, m})) out.push_back(t.ToVector());
    return out;
  };
  const auto got = second(true), expected = second(false);
  for (size_t t = 0; t < got.size(); ++t) {
    EXPECT_THAT(got[t], ElementsAreNear(expected[t], 1e-12)) << "input " << t;
  }
}

// Attention's dropout acts on the weights with the dropout row's mask over
// [entries, L, S]: the row equals softmax, then dropout, then the product,
// in value and in every gradient; and the multi-head forms equal the
// composition through the batch-major row at the same seed.
TEST(AttentionDropoutTest, EqualsDroppingTheWeightsWithTheDropoutRow) {
  Generator gen(31);
  const AttentionOptions options{.dropout = 0.35, .seed = 1234};
  const std::vector<Tensor> inputs = {Uniform({2, 4, 3}, -1, 1, gen, DType::kFloat64),
                                      Uniform({2, 5, 3}, -1, 1, gen, DType::kFloat64),
                                      Uniform({2, 5, 2}, -1, 1, gen, DType::kFloat64),
                                      Uniform({4, 5}, -1, 1, gen, DType::kFloat64)};
  const Tensor w = Uniform({2, 4, 2}, -1, 1, gen, DType::kFloat64);
  const auto fused = ValueAndGradients(
      [&](std::span<const Tensor> in) {
        return ScaledDotProductAttention(in[0], in[1], in[2], in[3], options);
      },
      inputs, w);
  const auto composed = ValueAndGradients(
      [&](std::span<const Tensor> in) {
        const Tensor scores = Matmul(in[0], Transpose(in[1])) * (1 / std::sqrt(3.0)) + in[3];
        return Matmul(Dropout(Softmax(scores, -1), options.dropout, options.seed), in[2]);
      },
      inputs, w);
  ASSERT_EQ(fused.size(), composed.size());
  for (size_t i = 0; i < fused.size(); ++i) {
    EXPECT_THAT(fused[i], ElementsAreNear(composed[i], 1e-12)) << "tensor " << i;
  }
  // Some weights are dropped and some kept: the mask is not all or nothing.
  const Tensor without = ScaledDotProductAttention(inputs[0], inputs[1], inputs[2], inputs[3]);
  EXPECT_THAT(without.ToVector(), Not(ElementsAreNear(fused[0], 1e-6)));

  const std::vector<Tensor> heads_inputs = {Uniform({4, 2, 6}, -1, 1, gen, DType::kFloat64),
                                            Uniform({5, 2, 6}, -1, 1, gen, DType::kFloat64),
                                            Uniform({5, 2, 4}, -1, 1, gen, DType::kFloat64)};
  const Tensor hw = Uniform({4, 2, 4}, -1, 1, gen, DType::kFloat64);
  const auto heads_fused = ValueAndGradients(
      [&](std::span<const Tensor> in) {
        return MultiHeadAttention(in[0], in[1], in[2], 2, Tensor(), options);
      },
      heads_inputs, hw);
  const auto heads_composed = ValueAndGradients(
      [&](std::span<const Tensor> in) {
        return ComposedAttention(in[0], in[1], in[2], 2, Tensor(), options);
      },
      heads_inputs, hw);
  for (size_t i = 0; i < heads_fused.size(); ++i) {
    EXPECT_THAT(heads_fused[i], ElementsAreNear(heads_composed[i], 1e-12)) << "tensor " << i;
  }
  EXPECT_THAT(ErrorMessageOf([&] {
                ScaledDotProductAttention(inputs[0], inputs[1], inputs[2], Tensor(),
                                          {.dropout = 1.5});
              }),
              HasSubstr("scaled_dot_product_attention: dropout must be in [0, 1], got 1.5"));
}

TEST(MultiHeadAttentionTest, PairsSplitOverThreadsGiveTheSameResult) {
  Generator gen(34);
  const Tensor qkv = Normal({48, 3, 3 * 64}, 0, 1, gen);
  const Tensor mask = Uniform({12, 48, 48}, -1, 1, gen);
  auto run = [&](int threads) {
    ThreadCount count(threads);
    Tensor x = qkv.Clone().set_requires_grad(true);
    Tensor m = mask.Clone().set_requires_grad(true);
    const Tensor y = MultiHeadSelfAttention(x, 4, m, {.causal = true});
    Sum(y * y).Backward();
    return std::vector<std::vector<double>>{y.ToVector(), x.grad().ToVector(), m.grad().ToVector()};
  };
  const auto one = run(1), two = run(2);
  for (size_t t = 0; t < one.size(); ++t) {
    double largest = 0;
    for (double x : one[t]) largest = std::max(largest, std::abs(x));
    EXPECT_THAT(two[t], ElementsAreNear(one[t], 1e-6 * largest)) << "tensor " << t;
  }
}

TEST(MultiHeadAttentionTest, ErrorsNameTheOpAndTheShapes) {
  const Tensor q = Zeros({3, 2, 8}), k = Zeros({5, 2, 8}), v = Zeros({5, 2, 4});
  EXPECT_THAT(ErrorMessageOf([&] {
                MultiHeadAttention(Zeros({3, 2, 6}), Zeros({5, 2, 6}), v, 4);
              }),
              AllOf(HasSubstr("multi_head_attention"), HasSubstr("[3,2,6]"), HasSubstr("[5,2,4]"),
                    HasSubstr("heads = 4")));
  EXPECT_THAT(
      ErrorMessageOf([&] {
        MultiHeadAttention(q, k, Zeros({5, 2, 6}), 4);
      }),
      AllOf(HasSubstr("multi_head_attention"), HasSubstr("[5,2,6]"), HasSubstr("heads = 4")));
  EXPECT_THAT(ErrorMessageOf([&] {
                MultiHeadAttention(q, Zeros({5, 3, 8}), v, 2);
              }),
              AllOf(HasSubstr("multi_head_attention"), HasSubstr("[3,2,8]"), HasSubstr("[5,3,8]"),
                    HasSubstr("[5,2,4]")));
  EXPECT_THAT(ErrorMessageOf([&] {
                MultiHeadAttention(q, k, Zeros({4, 2, 4}), 2);
              }),
              AllOf(HasSubstr("multi_head_attention"), HasSubstr("[4,2,4]")));
  EXPECT_THAT(ErrorMessageOf([&] {
                MultiHeadAttention(q, Zeros({5, 2, 6}), v, 2);
              }),
              AllOf(HasSubstr("multi_head_attention"), HasSubstr("[5,2,6]")));
  EXPECT_THAT(ErrorMessageOf([&] {
                MultiHeadAttention(Zeros({3, 8}), k, v, 2);
              }),
              AllOf(HasSubstr("multi_head_attention"), HasSubstr("[3,8]")));
  EXPECT_THAT(ErrorMessageOf([&] { MultiHeadAttention(q, k, v, 0); }),
              AllOf(HasSubstr("multi_head_attention"), HasSubstr("heads must be positive, got 0")));
  // A [B, L, S] mask where [B heads, L, S] is due.
  EXPECT_THAT(ErrorMessageOf([&] {
                MultiHeadAttention(q, k, v, 2, Zeros({2, 3, 5}));
              }),
              AllOf(HasSubstr("multi_head_attention"), HasSubstr("mask [2,3,5]"),
                    HasSubstr("[L, S] = [3,5]"), HasSubstr("[B * heads, L, S] = [4,3,5]")));
  EXPECT_THAT(ErrorMessageOf([&] {
                MultiHeadAttention(q, k, v, 2, Zeros({5, 3}));
              }),
              AllOf(HasSubstr("multi_head_attention"), HasSubstr("mask [5,3]")));
  EXPECT_THAT(ErrorMessageOf([&] {
                MultiHeadAttention(Zeros({6, 2, 8}), k, v, 2, Tensor(), {.causal = true});
              }),
              AllOf(HasSubstr("multi_head_attention"), HasSubstr("causal"), HasSubstr("L = 6"),
                    HasSubstr("S = 5")));
  EXPECT_THAT(ErrorMessageOf([&] {
                MultiHeadAttention(q, Zeros({5, 2, 8}, DType::kFloat64), v, 2);
              }),
              AllOf(HasSubstr("multi_head_attention"), HasSubstr("float64")));

  const Tensor qkv = Zeros({3, 2, 12});
  EXPECT_THAT(ErrorMessageOf([&] { MultiHeadSelfAttention(qkv, 3); }),
              AllOf(HasSubstr("multi_head_self_attention"), HasSubstr("qkv [3,2,12]"),
                    HasSubstr("heads = 3")));
  EXPECT_THAT(ErrorMessageOf([&] {
                MultiHeadSelfAttention(Zeros({3, 2, 10}), 1);
              }),
              AllOf(HasSubstr("multi_head_self_attention"), HasSubstr("[3,2,10]")));
  EXPECT_THAT(ErrorMessageOf([&] {
                MultiHeadSelfAttention(Zeros({3, 24}), 2);
              }),
              AllOf(HasSubstr("multi_head_self_attention"), HasSubstr("[3,24]")));
  EXPECT_THAT(ErrorMessageOf([&] {
                MultiHeadSelfAttention(qkv, 2, Zeros({2, 3, 3}));
              }),
              AllOf(HasSubstr("multi_head_self_attention"), HasSubstr("mask [2,3,3]"),
                    HasSubstr("[B * heads, L, S] = [4,3,3]"), HasSubstr("qkv [3,2,12]")));
  // The caller's line, not the library's.
  EXPECT_THAT(ErrorMessageOf([&] { MultiHeadSelfAttention(qkv, 3); }),
              HasSubstr("attention_ops_test.cc"));
}

TEST(MultiHeadAttentionTest, ProfilerCountsBothProducts) {
  const Tensor q = Zeros({3, 2, 8}), k = Zeros({5, 2, 8}), v = Zeros({5, 2, 4});
  const std::vector<Tensor> inputs = {q, k, v};
  const Tensor y = MultiHeadAttention(q, k, v, 2);
  EXPECT_EQ(y.shape(), (Shape{3, 2, 4}));
  // 2 heads of d 4, dv 2: 2 (B h) L S (d + dv).
  EXPECT_DOUBLE_EQ(ops::kMultiHeadAttention.forward_flops(inputs, y),
                   2.0 * (2 * 2) * 3 * 5 * (4 + 2));
  const Tensor qkv = Zeros({3, 2, 12});
  const std::vector<Tensor> packed = {qkv};
  const Tensor z = MultiHeadSelfAttention(qkv, 2);
  EXPECT_EQ(z.shape(), (Shape{3, 2, 4}));
  EXPECT_DOUBLE_EQ(ops::kMultiHeadSelfAttention.forward_flops(packed, z),
                   2.0 * (2 * 2) * 3 * 3 * (2 + 2));
}

}  // namespace
}  // namespace actgrad
