// The sequence layers as modules: PyTorch's parameter names, shapes and
// initial values; LSTM and GRU layers (stacked, bidirectional, with initial
// states) and attention layers against hand-written compositions of basic
// ops, outputs and gradients; errors that name the layer; the layer-spec
// builder; and saving, loading and refusing hostile model files.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "actgrad.h"
#include "io/safetensors.h"
#include "nn/attention.h"
#include "nn/embedding.h"
#include "nn/nn.h"
#include "nn/recurrent.h"
#include "nn/sequence_layers.h"
#include "ops/builtin_ops.h"
#include "ops/layer_ops.h"
#include "tests/test_util.h"

namespace actgrad {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;

constexpr DType kF64 = DType::kFloat64;

std::vector<std::pair<std::string, std::string>> NamesAndShapes(nn::Module& module) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const nn::NamedTensor& t : module.NamedParameters()) {
    out.emplace_back(t.name, t.tensor->shape().ToString());
  }
  return out;
}

// Every parameter's gradient, by name, then cleared for the next pass.
std::vector<std::vector<double>> TakeGradients(nn::Module& module) {
  std::vector<std::vector<double>> grads;
  for (const nn::NamedTensor& t : module.NamedParameters()) {
    grads.push_back(t.tensor->grad().defined() ? t.tensor->grad().ToVector()
                                               : std::vector<double>());
    t.tensor->ClearGrad();
  }
  return grads;
}

void ExpectNear(const std::vector<std::vector<double>>& got,
                const std::vector<std::vector<double>>& expected, double tolerance) {
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_FALSE(expected[i].empty()) << "parameter " << i << " got no reference gradient";
    EXPECT_THAT(got[i], testing::ElementsAreNear(expected[i], tolerance)) << "parameter " << i;
  }
}

// Step t of a [T, B, F] sequence, as [B, F].
Tensor StepOf(const Tensor& sequence, int64_t t) {
  return Reshape(Slice(sequence, 0, t, t + 1), {sequence.dim(1), sequence.dim(2)});
}

// [B, H] steps stacked to [T, B, H].
Tensor Stack(const std::vector<Tensor>& steps) {
  std::vector<Tensor> parts;
  for (const Tensor& s : steps) parts.push_back(Reshape(s, {1, s.dim(0), s.dim(1)}));
  return Concatenate(std::span<const Tensor>(parts), 0);
}

Tensor Gate(const Tensor& z, int64_t k, int64_t h) { return Slice(z, 1, k * h, (k + 1) * h); }

// --- Hand-unrolled reference cells -----------------------------------------

struct Direction {
  Tensor output, h, c;
};

Direction LstmByCells(const Tensor& x, Tensor h, Tensor c, const nn::RecurrentWeights& w,
                      bool reverse) {
  const int64_t steps = x.dim(0), hidden = h.dim(1);
  std::vector<Tensor> outputs(static_cast<size_t>(steps));
  for (int64_t i = 0; i < steps; ++i) {
    const int64_t t = reverse ? steps - 1 - i : i;
    const Tensor z =
        Linear(StepOf(x, t), w.weight_ih, w.bias_ih) + Linear(h, w.weight_hh, w.bias_hh);
    const Tensor input = Sigmoid(Gate(z, 0, hidden)), forget = Sigmoid(Gate(z, 1, hidden));
    const Tensor candidate = Tanh(Gate(z, 2, hidden)), output = Sigmoid(Gate(z, 3, hidden));
    c = forget * c + input * candidate;
    h = output * Tanh(c);
    outputs[size_t(t)] = h;
  }
  return {Stack(outputs), h, c};
}

Direction GruByCells(const Tensor& x, Tensor h, const nn::RecurrentWeights& w, bool reverse) {
  const int64_t steps = x.dim(0), hidden = h.dim(1);
  std::vector<Tensor> outputs(static_cast<size_t>(steps));
  for (int64_t i = 0; i < steps; ++i) {
    const int64_t t = reverse ? steps - 1 - i : i;
    const Tensor gi = Linear(StepOf(x, t), w.weight_ih, w.bias_ih);
    const Tensor gh = Linear(h, w.weight_hh, w.bias_hh);
    const Tensor r = Sigmoid(Gate(gi, 0, hidden) + Gate(gh, 0, hidden));
    const Tensor z = Sigmoid(Gate(gi, 1, hidden) + Gate(gh, 1, hidden));
    const Tensor n = Tanh(Gate(gi, 2, hidden) + r * Gate(gh, 2, hidden));
    h = (1.0 - z) * n + z * h;
    outputs[size_t(t)] = h;
  }
  return {Stack(outputs), h, Tensor()};
}

// A whole stacked, bidirectional layer from the cells above, on time-first
// input, from the states h0 and c0 [layers * directions, B, H].
nn::RecurrentResult ByCells(nn::RecurrentLayer& layer, const Tensor& x, const Tensor& h0,
                            const Tensor& c0) {
  const bool lstm = layer.form() == nn::RecurrentLayer::Form::kLstm;
  const int64_t directions = layer.directions();
  Tensor sequence = x;
  std::vector<Tensor> h_n, c_n;
  for (int64_t k = 0; k < layer.options().num_layers; ++k) {
    std::vector<Tensor> outputs;
    for (int64_t d = 0; d < directions; ++d) {
      const int64_t index = k * directions + d;
      const Tensor h = StepOf(h0, index);
      const Direction run =
          lstm ? LstmByCells(sequence, h, StepOf(c0, index), layer.weights(k, d == 1), d == 1)
               : GruByCells(sequence, h, layer.weights(k, d == 1), d == 1);
      outputs.push_back(run.output);
      h_n.push_back(run.h);
      c_n.push_back(run.c);
    }
    sequence = Concatenate(std::span<const Tensor>(outputs), 2);
  }
  return {sequence, Stack(h_n), lstm ? Stack(c_n) : Tensor()};
}

// Sum of every result against fixed probes: a loss that reaches each output.
Tensor Probe(const nn::RecurrentResult& r) {
  Generator probes(99);
  Tensor loss = Sum(r.output * Normal(r.output.shape(), 0, 1, probes, kF64)) +
                Sum(r.h_n * Normal(r.h_n.shape(), 0, 1, probes, kF64));
  if (r.c_n.defined()) loss = loss + Sum(r.c_n * Normal(r.c_n.shape(), 0, 1, probes, kF64));
  return loss;
}

// --- Names, shapes, initial values -----------------------------------------

TEST(RecurrentModuleTest, ParameterNamesAndShapesArePyTorchs) {
  Generator gen(0);
  nn::Lstm lstm({.input_size = 3, .hidden_size = 4, .num_layers = 2, .bidirectional = true}, gen);
  EXPECT_THAT(
      NamesAndShapes(lstm),
      ElementsAre(Pair("weight_ih_l0", "[16,3]"), Pair("weight_hh_l0", "[16,4]"),
                  Pair("bias_ih_l0", "[16]"), Pair("bias_hh_l0", "[16]"),
                  Pair("weight_ih_l0_reverse", "[16,3]"), Pair("weight_hh_l0_reverse", "[16,4]"),
                  Pair("bias_ih_l0_reverse", "[16]"), Pair("bias_hh_l0_reverse", "[16]"),
                  Pair("weight_ih_l1", "[16,8]"), Pair("weight_hh_l1", "[16,4]"),
                  Pair("bias_ih_l1", "[16]"), Pair("bias_hh_l1", "[16]"),
                  Pair("weight_ih_l1_reverse", "[16,8]"), Pair("weight_hh_l1_reverse", "[16,4]"),
                  Pair("bias_ih_l1_reverse", "[16]"), Pair("bias_hh_l1_reverse", "[16]")));
  // PyTorch's U(+-1/sqrt(H)) for every parameter, biases included.
  for (const Tensor& p : lstm.Parameters()) {
    for (double v : p.ToVector()) EXPECT_LE(std::abs(v), 0.5);
  }
  nn::Gru gru({.input_size = 3, .hidden_size = 5, .bias = false}, gen);
  EXPECT_THAT(NamesAndShapes(gru),
              ElementsAre(Pair("weight_ih_l0", "[15,3]"), Pair("weight_hh_l0", "[15,5]")));
  EXPECT_THAT(gru.ToString(), HasSubstr("Gru(3 -> 5, no bias"));
}

TEST(AttentionModuleTest, ParameterNamesShapesAndInitialValuesArePyTorchs) {
  Generator gen(1);
  nn::MultiheadAttention attention({.embed_dim = 8, .num_heads = 2}, gen);
  EXPECT_THAT(NamesAndShapes(attention),
              ElementsAre(Pair("in_proj_weight", "[24,8]"), Pair("in_proj_bias", "[24]"),
                          Pair("out_proj.weight", "[8,8]"), Pair("out_proj.bias", "[8]")));
  for (double v : attention.in_proj_bias().ToVector()) EXPECT_EQ(v, 0);
  for (double v : attention.out_proj().bias().ToVector()) EXPECT_EQ(v, 0);
  // Xavier uniform over [24, 8]: a = sqrt(6 / 32).
  for (double v : attention.in_proj_weight().ToVector())
    EXPECT_LE(std::abs(v), std::sqrt(6.0 / 32));
  nn::TransformerEncoderLayer encoder({.d_model = 8, .nhead = 2, .dim_feedforward = 16}, gen);
  EXPECT_THAT(NamesAndShapes(encoder),
              ElementsAre(Pair("self_attn.in_proj_weight", "[24,8]"),
                          Pair("self_attn.in_proj_bias", "[24]"),
                          Pair("self_attn.out_proj.weight", "[8,8]"),
                          Pair("self_attn.out_proj.bias", "[8]"), Pair("linear1.weight", "[16,8]"),
                          Pair("linear1.bias", "[16]"), Pair("linear2.weight", "[8,16]"),
                          Pair("linear2.bias", "[8]"), Pair("norm1.weight", "[8]"),
                          Pair("norm1.bias", "[8]"), Pair("norm2.weight", "[8]"),
                          Pair("norm2.bias", "[8]")));
  EXPECT_EQ(encoder.StateDict().size(), 12u);
}

TEST(EmbeddingModuleTest, ZeroesAndFreezesThePaddingRowAndTakesWholeFloats) {
  Generator gen(2);
  nn::Embedding embed({.num_embeddings = 6, .embedding_dim = 3, .padding_index = 2, .dtype = kF64},
                      gen);
  EXPECT_THAT(NamesAndShapes(embed), ElementsAre(Pair("weight", "[6,3]")));
  const std::vector<double> table = embed.weight().ToVector();
  EXPECT_THAT(std::vector<double>(table.begin() + 6, table.begin() + 9), ElementsAre(0, 0, 0));
  Tensor indices = Zeros({2, 2}, DType::kInt64);
  int64_t* p = indices.data<int64_t>();
  p[0] = 1, p[1] = 2, p[2] = 5, p[3] = 1;
  const Tensor y = embed(indices);
  EXPECT_EQ(y.shape(), (Shape{2, 2, 3}));
  EXPECT_EQ(embed(FromValues({1, 2, 5, 1}, {2, 2})).ToVector(), y.ToVector());
  Sum(y).Backward();
  const std::vector<double> grad = embed.weight().grad().ToVector();
  EXPECT_THAT(std::vector<double>(grad.begin() + 3, grad.begin() + 12),
              ElementsAre(2, 2, 2, 0, 0, 0, 0, 0, 0));  // row 1 twice, row 2 (padding) none
}

TEST(SequenceLayerTest, LastStepMeanAndPositions) {
  const Tensor x = FromValues({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {2, 3, 2});
  EXPECT_EQ(nn::LastStep()(x).ToVector(), (std::vector<double>{5, 6, 11, 12}));
  EXPECT_EQ(nn::MeanOverTime()(x).ToVector(), (std::vector<double>{3, 4, 9, 10}));
  Generator gen(3);
  nn::PositionalEmbedding positions({.max_length = 4, .embedding_dim = 2}, gen);
  EXPECT_THAT(NamesAndShapes(positions), ElementsAre(Pair("weight", "[4,2]")));
  const std::vector<double> w = positions.weight().ToVector();
  for (double v : w) EXPECT_LT(std::abs(v), 0.02 * 6);
  const std::vector<double> y = positions(x).ToVector();
  for (int i = 0; i < 12; ++i) EXPECT_FLOAT_EQ(y[i], x.ToVector()[i] + w[i % 6]);
}

// --- Recurrent layers against hand-unrolled cells --------------------------

TEST(RecurrentModuleTest, StackedBidirectionalShapesAndStateLayout) {
  Generator gen(4);
  for (bool lstm : {true, false}) {
    SCOPED_TRACE(lstm ? "lstm" : "gru");
    const nn::RecurrentOptions o{
        .input_size = 2, .hidden_size = 4, .num_layers = 2, .bidirectional = true};
    std::unique_ptr<nn::RecurrentLayer> layer;
    if (lstm) {
      layer = std::make_unique<nn::Lstm>(o, gen);
    } else {
      layer = std::make_unique<nn::Gru>(o, gen);
    }
    const nn::RecurrentResult r = layer->ForwardWithState(Normal({5, 3, 2}, 0, 1, gen));
    EXPECT_EQ(r.output.shape(), (Shape{5, 3, 8}));
    EXPECT_EQ(r.h_n.shape(), (Shape{4, 3, 4}));
    EXPECT_EQ(r.c_n.defined(), lstm);
    if (lstm) {
      EXPECT_EQ(r.c_n.shape(), (Shape{4, 3, 4}));
    }
    // h_n[2] is the last layer's forward state after step T-1; h_n[3] its
    // reverse state after step 0: both are in the output.
    const Tensor top_forward = Slice(Slice(r.output, 0, 4, 5), 2, 0, 4);
    const Tensor top_reverse = Slice(Slice(r.output, 0, 0, 1), 2, 4, 8);
    EXPECT_EQ(Slice(r.h_n, 0, 2, 3).ToVector(), top_forward.ToVector());
    EXPECT_EQ(Slice(r.h_n, 0, 3, 4).ToVector(), top_reverse.ToVector());
  }
  // batch_first takes and gives [B, T, F].
  nn::Gru gru({.input_size = 2, .hidden_size = 4, .batch_first = true}, gen);
  EXPECT_EQ(gru(Ones({3, 5, 2})).shape(), (Shape{3, 5, 4}));
}

class RecurrentByCellsTest : public ::testing::TestWithParam<bool> {};

TEST_P(RecurrentByCellsTest, OutputsAndGradientsEqualAHandUnrolledComposition) {
  const bool lstm = GetParam();
  Generator gen(5);
  const nn::RecurrentOptions o{
      .input_size = 3, .hidden_size = 4, .num_layers = 2, .bidirectional = true, .dtype = kF64};
  std::unique_ptr<nn::RecurrentLayer> layer;
  if (lstm) {
    layer = std::make_unique<nn::Lstm>(o, gen);
  } else {
    layer = std::make_unique<nn::Gru>(o, gen);
  }
  Tensor x = Normal({5, 2, 3}, 0, 1, gen, kF64).set_requires_grad(true);
  Tensor h0 = Normal({4, 2, 4}, 0, 0.5, gen, kF64).set_requires_grad(true);
  Tensor c0 = Normal({4, 2, 4}, 0, 0.5, gen, kF64).set_requires_grad(true);

  const nn::RecurrentResult got = layer->ForwardWithState(x, {.h = h0, .c = lstm ? c0 : Tensor()});
  Probe(got).Backward();
  const std::vector<std::vector<double>> got_grads = TakeGradients(*layer);
  const std::vector<double> got_dx = x.grad().ToVector(), got_dh0 = h0.grad().ToVector();
  const std::vector<double> got_dc0 = lstm ? c0.grad().ToVector() : std::vector<double>();
  x.ClearGrad(), h0.ClearGrad(), c0.ClearGrad();

  const nn::RecurrentResult expected = ByCells(*layer, x, h0, c0);
  Probe(expected).Backward();
  constexpr double kTolerance = 1e-12;
  EXPECT_THAT(got.output.ToVector(),
              testing::ElementsAreNear(expected.output.ToVector(), kTolerance));
  EXPECT_THAT(got.h_n.ToVector(), testing::ElementsAreNear(expected.h_n.ToVector(), kTolerance));
  if (lstm) {
    EXPECT_THAT(got.c_n.ToVector(), testing::ElementsAreNear(expected.c_n.ToVector(), kTolerance));
    EXPECT_THAT(got_dc0, testing::ElementsAreNear(c0.grad().ToVector(), kTolerance));
  }
  ExpectNear(got_grads, TakeGradients(*layer), kTolerance);
  EXPECT_THAT(got_dx, testing::ElementsAreNear(x.grad().ToVector(), kTolerance));
  EXPECT_THAT(got_dh0, testing::ElementsAreNear(h0.grad().ToVector(), kTolerance));
}

INSTANTIATE_TEST_SUITE_P(LstmAndGru, RecurrentByCellsTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Lstm" : "Gru"; });

TEST(RecurrentModuleTest, BatchFirstAndDropoutBetweenLayers) {
  Generator gen(6);
  nn::Lstm time_first({.input_size = 2, .hidden_size = 3, .num_layers = 2, .dtype = kF64}, gen);
  Generator same(6);
  nn::Lstm batch_first(
      {.input_size = 2, .hidden_size = 3, .num_layers = 2, .batch_first = true, .dtype = kF64},
      same);
  const Tensor x = Normal({4, 2, 2}, 0, 1, gen, kF64);  // [T, B, F]
  EXPECT_THAT(batch_first(Permute(x, {1, 0, 2})).ToVector(),
              testing::ElementsAreNear(Permute(time_first(x), {1, 0, 2}).ToVector(), 1e-15));
  // Dropout acts between layers in training only.
  nn::Lstm dropped(
      {.input_size = 2, .hidden_size = 3, .num_layers = 2, .dropout = 0.5, .dtype = kF64}, gen);
  const std::vector<double> first = dropped(x).ToVector(), second = dropped(x).ToVector();
  EXPECT_NE(first, second);
  dropped.Eval();
  EXPECT_EQ(dropped(x).ToVector(), dropped(x).ToVector());
}

// --- Attention against a hand-written composition --------------------------

// softmax(q k^T / sqrt(d) + mask) v per batch entry and head, from the
// module's parameters, on time-first [L, B, E] inputs.
Tensor AttentionByHand(nn::MultiheadAttention& m, const Tensor& query, const Tensor& key,
                       const Tensor& value, const Tensor& mask) {
  const int64_t e = m.options().embed_dim, heads = m.options().num_heads, d = e / heads;
  const Tensor& b = m.in_proj_bias();
  auto project = [&](const Tensor& x, int64_t part) {
    const Tensor* apart[] = {&m.q_proj_weight(), &m.k_proj_weight(), &m.v_proj_weight()};
    const Tensor w =
        m.same_embed_dim() ? Slice(m.in_proj_weight(), 0, part * e, (part + 1) * e) : *apart[part];
    return Linear(x, w, Slice(b, 0, part * e, (part + 1) * e));
  };
  const Tensor q = project(query, 0), k = project(key, 1), v = project(value, 2);
  std::vector<Tensor> rows;  // per batch entry, [L, E]
  for (int64_t n = 0; n < query.dim(1); ++n) {
    auto entry = [&](const Tensor& t) { return Reshape(Slice(t, 1, n, n + 1), {t.dim(0), e}); };
    std::vector<Tensor> per_head;
    for (int64_t h = 0; h < heads; ++h) {
      const Tensor qh = Slice(entry(q), 1, h * d, (h + 1) * d);
      const Tensor kh = Slice(entry(k), 1, h * d, (h + 1) * d);
      const Tensor vh = Slice(entry(v), 1, h * d, (h + 1) * d);
      Tensor scores = Matmul(qh, Transpose(kh)) * (1.0 / std::sqrt(double(d)));
      if (mask.defined() && mask.rank() == 2) scores = scores + mask;
      if (mask.defined() && mask.rank() == 3) {  // [B * heads, L, S], batch entry first
        const int64_t at = n * heads + h;
        scores = scores + Reshape(Slice(mask, 0, at, at + 1), {mask.dim(1), mask.dim(2)});
      }
      per_head.push_back(Matmul(Softmax(scores, -1), vh));
    }
    const Tensor joined = Concatenate(std::span<const Tensor>(per_head), 1);
    rows.push_back(Reshape(joined, {joined.dim(0), 1, e}));
  }
  const Tensor context = Concatenate(std::span<const Tensor>(rows), 1);  // [L, B, E]
  return Linear(context, m.out_proj().weight(), m.out_proj().bias());
}

// The module's Attend against AttentionByHand: the output, and the
// gradients a probe of it sends to the inputs and to every parameter.
void ExpectAttendEqualsTheComposition(nn::MultiheadAttention& m, Tensor& query, Tensor& key,
                                      Tensor& value, const Tensor& mask, const Tensor& probe) {
  const Tensor got = m.Attend(query, key, value, mask);
  Sum(got * probe).Backward();
  const std::vector<std::vector<double>> got_grads = TakeGradients(m);
  std::vector<std::vector<double>> got_inputs;
  for (Tensor* t : {&query, &key, &value}) got_inputs.push_back(t->grad().ToVector());
  for (Tensor* t : {&query, &key, &value}) t->ClearGrad();

  const Tensor expected = AttentionByHand(m, query, key, value, mask);
  Sum(expected * probe).Backward();
  EXPECT_THAT(got.ToVector(), testing::ElementsAreNear(expected.ToVector(), 1e-12));
  ExpectNear(got_grads, TakeGradients(m), 1e-12);
  std::vector<std::vector<double>> expected_inputs;
  for (Tensor* t : {&query, &key, &value}) expected_inputs.push_back(t->grad().ToVector());
  ExpectNear(got_inputs, expected_inputs, 1e-12);
}

TEST(AttentionModuleTest, CrossAttentionWithAMaskEqualsAHandWrittenComposition) {
  Generator gen(7);
  nn::MultiheadAttention m({.embed_dim = 6, .num_heads = 3, .dtype = kF64}, gen);
  // Non-zero biases, so that their gradients are tested too.
  for (Tensor* t : {&m.in_proj_bias(), &m.out_proj().bias()}) {
    const Tensor drawn = Normal(t->shape(), 0, 0.3, gen, kF64);
    std::copy_n(drawn.data<double>(), t->numel(), t->data<double>());
  }
  Tensor query = Normal({4, 2, 6}, 0, 1, gen, kF64).set_requires_grad(true);
  Tensor key = Normal({5, 2, 6}, 0, 1, gen, kF64).set_requires_grad(true);
  Tensor value = Normal({5, 2, 6}, 0, 1, gen, kF64).set_requires_grad(true);
  const Tensor mask = Normal({4, 5}, 0, 1, gen, kF64);
  const Tensor probe = Normal({4, 2, 6}, 0, 1, gen, kF64);
  ExpectAttendEqualsTheComposition(m, query, key, value, mask, probe);
}

// Keys and values with widths of their own (PyTorch's kdim and vdim): the
// projections apart under PyTorch's names, and the same attention.
TEST(AttentionModuleTest, KeysAndValuesOfTheirOwnWidthsEqualAHandWrittenComposition) {
  Generator gen(17);
  nn::MultiheadAttention m({.embed_dim = 6, .num_heads = 3, .kdim = 4, .vdim = 5, .dtype = kF64},
                           gen);
  EXPECT_FALSE(m.same_embed_dim());
  EXPECT_FALSE(m.in_proj_weight().defined());
  EXPECT_THAT(NamesAndShapes(m),
              ElementsAre(Pair("q_proj_weight", "[6,6]"), Pair("k_proj_weight", "[6,4]"),
                          Pair("v_proj_weight", "[6,5]"), Pair("in_proj_bias", "[18]"),
                          Pair("out_proj.weight", "[6,6]"), Pair("out_proj.bias", "[6]")));
  // Xavier uniform over each: a = sqrt(6 / (fan_in + fan_out)).
  for (double v : m.k_proj_weight().ToVector()) EXPECT_LE(std::abs(v), std::sqrt(6.0 / 10));
  EXPECT_THAT(m.ToString(), HasSubstr("kdim=4, vdim=5"));
  for (Tensor* t : {&m.in_proj_bias(), &m.out_proj().bias()}) {
    const Tensor drawn = Normal(t->shape(), 0, 0.3, gen, kF64);
    std::copy_n(drawn.data<double>(), t->numel(), t->data<double>());
  }
  Tensor query = Normal({4, 2, 6}, 0, 1, gen, kF64).set_requires_grad(true);
  Tensor key = Normal({5, 2, 4}, 0, 1, gen, kF64).set_requires_grad(true);
  Tensor value = Normal({5, 2, 5}, 0, 1, gen, kF64).set_requires_grad(true);
  const Tensor mask = Normal({4, 5}, 0, 1, gen, kF64);
  const Tensor probe = Normal({4, 2, 6}, 0, 1, gen, kF64);
  ExpectAttendEqualsTheComposition(m, query, key, value, mask, probe);

  // Widths given equal to embed_dim are the packed layer.
  Generator again(17);
  nn::MultiheadAttention packed({.embed_dim = 6, .num_heads = 3, .kdim = 6, .vdim = 6}, again);
  EXPECT_TRUE(packed.same_embed_dim());
  EXPECT_EQ(packed.in_proj_weight().shape().ToString(), "[18,6]");
}

TEST(AttentionModuleTest, KeysAndValuesOfTheWrongWidthAreRefused) {
  Generator gen(18);
  nn::MultiheadAttention m({.embed_dim = 6, .num_heads = 3, .kdim = 4, .vdim = 5}, gen);
  const Tensor query = Normal({4, 2, 6}, 0, 1, gen);
  const Tensor key = Normal({5, 2, 4}, 0, 1, gen), value = Normal({5, 2, 5}, 0, 1, gen);
  using testing::ErrorMessageOf;
  EXPECT_THAT(ErrorMessageOf([&] { m.Attend(query, value, value); }),
              HasSubstr("kdim = 4, vdim = 5, got [4,2,6], [5,2,5], [5,2,5]"));
  EXPECT_THAT(ErrorMessageOf([&] { m(query); }),
              HasSubstr("self-attention needs keys and values of embed_dim features"));
  EXPECT_THAT(
      ErrorMessageOf([&] { nn::MultiheadAttention bad({.embed_dim = 6, .kdim = -1}, gen); }),
      HasSubstr("kdim and vdim must be positive"));
  EXPECT_EQ(m.Attend(query, key, value).shape().ToString(), "[4,2,6]");
}

TEST(AttentionModuleTest, SelfCausalAndBatchFirstAttentionAgree) {
  Generator gen(8);
  nn::MultiheadAttention m({.embed_dim = 4, .num_heads = 2, .dtype = kF64}, gen);
  const Tensor x = Normal({3, 2, 4}, 0, 1, gen, kF64);
  EXPECT_THAT(m(x).ToVector(),
              testing::ElementsAreNear(AttentionByHand(m, x, x, x, Tensor()).ToVector(), 1e-12));
  Tensor causal = Zeros({3, 3}, kF64);
  for (int i = 0; i < 3; ++i) {
    for (int j = i + 1; j < 3; ++j) causal.data<double>()[i * 3 + j] = -INFINITY;
  }
  EXPECT_THAT(m.Attend(x, x, x, Tensor(), /*causal=*/true).ToVector(),
              testing::ElementsAreNear(AttentionByHand(m, x, x, x, causal).ToVector(), 1e-12));
  Generator same(8);
  nn::MultiheadAttention first({.embed_dim = 4, .num_heads = 2, .batch_first = true, .dtype = kF64},
                               same);
  EXPECT_THAT(first(Permute(x, {1, 0, 2})).ToVector(),
              testing::ElementsAreNear(Permute(m(x), {1, 0, 2}).ToVector(), 1e-12));
}

// The encoder layer from the hand-written attention and basic ops.
Tensor EncoderByHand(nn::TransformerEncoderLayer& layer, const Tensor& x,
                     const Tensor& mask = Tensor()) {
  const nn::TransformerEncoderLayerOptions& o = layer.options();
  auto norm = [&](nn::LayerNorm& n, const Tensor& t) {
    const std::vector<nn::NamedParameter> p = n.NamedParameters();
    return LayerNorm(t, {o.d_model}, *p[0].tensor, *p[1].tensor, o.layer_norm_eps);
  };
  auto attend = [&](const Tensor& t) { return AttentionByHand(layer.self_attn(), t, t, t, mask); };
  auto feed_forward = [&](const Tensor& t) {
    Tensor h = Linear(t, layer.linear1().weight(), layer.linear1().bias());
    h = o.activation == "gelu" ? Apply(ops::kGelu, {h}) : Relu(h);
    return Linear(h, layer.linear2().weight(), layer.linear2().bias());
  };
  if (o.norm_first) {
    const Tensor y = x + attend(norm(layer.norm1(), x));
    return y + feed_forward(norm(layer.norm2(), y));
  }
  const Tensor y = norm(layer.norm1(), x + attend(x));
  return norm(layer.norm2(), y + feed_forward(y));
}

TEST(TransformerEncoderLayerTest, PostAndPreNormEqualHandWrittenCompositions) {
  for (bool pre : {false, true}) {
    SCOPED_TRACE(pre ? "pre-norm, gelu" : "post-norm, relu");
    Generator gen(9);
    nn::TransformerEncoderLayer layer({.d_model = 6,
                                       .nhead = 2,
                                       .dim_feedforward = 10,
                                       .dropout = 0,
                                       .activation = pre ? "gelu" : "relu",
                                       .norm_first = pre,
                                       .dtype = kF64},
                                      gen);
    // Norm parameters and biases away from their initial 1 and 0.
    for (const nn::NamedParameter& p : layer.NamedParameters()) {
      if (p.name.rfind("norm", 0) != 0 && p.name.find("bias") == std::string::npos) continue;
      const Tensor drawn = Normal(p.tensor->shape(), 0.5, 0.3, gen, kF64);
      std::copy_n(drawn.data<double>(), p.tensor->numel(), p.tensor->data<double>());
    }
    Tensor x = Normal({4, 3, 6}, 0, 1, gen, kF64).set_requires_grad(true);
    const Tensor probe = Normal({4, 3, 6}, 0, 1, gen, kF64);
    const Tensor got = layer(x);
    Sum(got * probe).Backward();
    const std::vector<std::vector<double>> got_grads = TakeGradients(layer);
    const std::vector<double> got_dx = x.grad().ToVector();
    x.ClearGrad();
    const Tensor expected = EncoderByHand(layer, x);
    Sum(expected * probe).Backward();
    EXPECT_THAT(got.ToVector(), testing::ElementsAreNear(expected.ToVector(), 1e-12));
    ExpectNear(got_grads, TakeGradients(layer), 1e-12);
    EXPECT_THAT(got_dx, testing::ElementsAreNear(x.grad().ToVector(), 1e-12));
  }
}

TEST(TransformerEncoderLayerTest, MasksPerEntryAndHeadAndCausalEqualTheComposition) {
  Generator gen(10);
  nn::TransformerEncoderLayer layer(
      {.d_model = 6, .nhead = 2, .dim_feedforward = 8, .dropout = 0, .dtype = kF64}, gen);
  Tensor x = Normal({4, 3, 6}, 0, 1, gen, kF64).set_requires_grad(true);
  // One mask per batch entry and head, which gets a gradient of its own.
  Tensor mask = Normal({3 * 2, 4, 4}, 0, 1, gen, kF64).set_requires_grad(true);
  const Tensor probe = Normal({4, 3, 6}, 0, 1, gen, kF64);
  const Tensor got = layer.Encode(x, mask);
  Sum(got * probe).Backward();
  const std::vector<double> got_dx = x.grad().ToVector(), got_dmask = mask.grad().ToVector();
  x.ClearGrad();
  mask.ClearGrad();
  const Tensor expected = EncoderByHand(layer, x, mask);
  Sum(expected * probe).Backward();
  EXPECT_THAT(got.ToVector(), testing::ElementsAreNear(expected.ToVector(), 1e-12));
  EXPECT_THAT(got_dx, testing::ElementsAreNear(x.grad().ToVector(), 1e-12));
  EXPECT_THAT(got_dmask, testing::ElementsAreNear(mask.grad().ToVector(), 1e-12));

  Tensor causal = Zeros({4, 4}, kF64);
  for (int i = 0; i < 4; ++i) {
    for (int j = i + 1; j < 4; ++j) causal.data<double>()[i * 4 + j] = -INFINITY;
  }
  EXPECT_THAT(layer.Encode(x, Tensor(), /*causal=*/true).ToVector(),
              testing::ElementsAreNear(EncoderByHand(layer, x, causal).ToVector(), 1e-12));
}

// int64 masks hide where they are nonzero, as PyTorch's boolean masks; a
// key padding mask [B, S] hides a key from every query and head of its
// batch entry, added to an attn_mask where both are given; both equal the
// one [B * heads, L, S] float mask they stand for, values and gradients.
TEST(AttentionModuleTest, Int64AndKeyPaddingMasksEqualTheFloatMaskTheyStandFor) {
  Generator gen(15);
  nn::MultiheadAttention m({.embed_dim = 6, .num_heads = 3, .dtype = kF64}, gen);
  const int64_t batch = 2, target = 3, source = 4, heads = 3;
  Tensor query = Normal({target, batch, 6}, 0, 1, gen, kF64).set_requires_grad(true);
  Tensor key = Normal({source, batch, 6}, 0, 1, gen, kF64).set_requires_grad(true);
  Tensor value = Normal({source, batch, 6}, 0, 1, gen, kF64).set_requires_grad(true);
  const Tensor probe = Normal({target, batch, 6}, 0, 1, gen, kF64);
  // Batch entry 0 pads its last key, entry 1 its last two.
  const Tensor padding = FromValues({0, 0, 0, 1, 0, 0, 1, 1}, {batch, source}, DType::kInt64);
  const Tensor shared = Normal({target, source}, 0, 1, gen, kF64);
  // attn_mask hides key 0 from query 2.
  const Tensor hide =
      FromValues({0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}, {target, source}, DType::kInt64);
  Tensor full = Zeros({batch * heads, target, source}, kF64);
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t h = 0; h < heads; ++h) {
      for (int64_t i = 0; i < target; ++i) {
        for (int64_t j = 0; j < source; ++j) {
          double v = shared.data<double>()[i * source + j];
          if (padding.data<int64_t>()[n * source + j] != 0) v = -INFINITY;
          full.data<double>()[((n * heads + h) * target + i) * source + j] = v;
        }
      }
    }
  }
  auto run = [&](const nn::AttendOptions& options) {
    for (Tensor* t : {&query, &key, &value}) t->ClearGrad();
    m.ZeroGrad();
    const Tensor y = m.Attend(query, key, value, options).output;
    Sum(y * probe).Backward();
    std::vector<std::vector<double>> all = TakeGradients(m);
    for (Tensor* t : {&query, &key, &value}) all.push_back(t->grad().ToVector());
    all.push_back(y.ToVector());
    return all;
  };
  const auto expected = run({.attn_mask = full});
  ExpectNear(run({.attn_mask = shared, .key_padding_mask = padding}), expected, 1e-12);
  // The float form of the padding mask, added.
  Tensor padding_float = Zeros({batch, source}, kF64);
  for (int64_t i = 0; i < batch * source; ++i) {
    if (padding.data<int64_t>()[i] != 0) padding_float.data<double>()[i] = -INFINITY;
  }
  ExpectNear(run({.attn_mask = shared, .key_padding_mask = padding_float}), expected, 1e-12);
  // An int64 attn_mask: -inf where it is nonzero.
  Tensor hide_float = Zeros({target, source}, kF64);
  hide_float.data<double>()[8] = -INFINITY;
  ExpectNear(run({.attn_mask = hide}), run({.attn_mask = hide_float}), 1e-12);
}

// need_weights: softmax(Q K^T / sqrt(d) + mask) of each head, as a
// composition of basic ops computes it, averaged over the heads or not, with
// the gradient of anything computed from them.
TEST(AttentionModuleTest, NeedWeightsGivesEachHeadsSoftmaxOfTheScores) {
  Generator gen(16);
  nn::MultiheadAttention m({.embed_dim = 6, .num_heads = 2, .dtype = kF64}, gen);
  const int64_t batch = 2, target = 3, source = 4, heads = 2, d = 3;
  Tensor query = Normal({target, batch, 6}, 0, 1, gen, kF64).set_requires_grad(true);
  const Tensor key = Normal({source, batch, 6}, 0, 1, gen, kF64);
  const Tensor mask = Normal({target, source}, 0, 1, gen, kF64);
  const Tensor padding = FromValues({0, 0, 0, 1, 0, 0, 0, 0}, {batch, source}, DType::kInt64);
  const Tensor probe = Normal({batch, heads, target, source}, 0, 1, gen, kF64);

  const nn::AttendResult got = m.Attend(query, key, key,
                                        {.attn_mask = mask,
                                         .key_padding_mask = padding,
                                         .need_weights = true,
                                         .average_attn_weights = false});
  ASSERT_EQ(got.weights.shape(), Shape({batch, heads, target, source}));
  Sum(got.weights * probe).Backward();
  const std::vector<double> got_dquery = query.grad().ToVector();
  const std::vector<std::vector<double>> got_dparams = TakeGradients(m);
  query.ClearGrad();
  m.ZeroGrad();

  const Tensor& w = m.in_proj_weight();
  const Tensor& b = m.in_proj_bias();
  const Tensor q = Linear(query, Slice(w, 0, 0, 6), Slice(b, 0, 0, 6));
  const Tensor k = Linear(key, Slice(w, 0, 6, 12), Slice(b, 0, 6, 12));
  std::vector<Tensor> per_entry;
  for (int64_t n = 0; n < batch; ++n) {
    auto entry = [&](const Tensor& t) { return Reshape(Slice(t, 1, n, n + 1), {t.dim(0), 6}); };
    Tensor padded = Zeros({target, source}, kF64);
    for (int64_t i = 0; i < target; ++i) {
      for (int64_t j = 0; j < source; ++j) {
        if (padding.data<int64_t>()[n * source + j] != 0) {
          padded.data<double>()[i * source + j] = -INFINITY;
        }
      }
    }
    for (int64_t h = 0; h < heads; ++h) {
      const Tensor qh = Slice(entry(q), 1, h * d, (h + 1) * d);
      const Tensor kh = Slice(entry(k), 1, h * d, (h + 1) * d);
      const Tensor scores =
          Matmul(qh, Transpose(kh)) * (1.0 / std::sqrt(double(d))) + mask + padded;
      per_entry.push_back(Reshape(Softmax(scores, -1), {1, target, source}));
    }
  }
  const Tensor expected =
      Reshape(Concatenate(std::span<const Tensor>(per_entry), 0), {batch, heads, target, source});
  Sum(expected * probe).Backward();
  EXPECT_THAT(got.weights.ToVector(), testing::ElementsAreNear(expected.ToVector(), 1e-12));
  EXPECT_THAT(got_dquery, testing::ElementsAreNear(query.grad().ToVector(), 1e-12));
  // The weights depend on the query and key projections alone: in_proj's
  // weight and bias get gradients, out_proj none.
  const std::vector<std::vector<double>> expected_dparams = TakeGradients(m);
  ASSERT_EQ(got_dparams.size(), 4u);
  ExpectNear({got_dparams[0], got_dparams[1]}, {expected_dparams[0], expected_dparams[1]}, 1e-12);
  EXPECT_TRUE(got_dparams[2].empty() && got_dparams[3].empty());
  // The padded key gets no weight; every row sums to 1.
  const std::vector<double> weights = got.weights.ToVector();
  for (int64_t row = 0; row < batch * heads * target; ++row) {
    double total = 0;
    for (int64_t j = 0; j < source; ++j) total += weights[row * source + j];
    EXPECT_NEAR(total, 1.0, 1e-12) << row;
    if (row < heads * target) {
      EXPECT_EQ(weights[row * source + 3], 0.0) << row;
    }
  }

  // Averaged over the heads, and causal, in self-attention.
  const Tensor x = Normal({target, batch, 6}, 0, 1, gen, kF64);
  const nn::AttendResult each =
      m.Attend(x, x, x, {.causal = true, .need_weights = true, .average_attn_weights = false});
  const nn::AttendResult mean = m.Attend(x, x, x, {.causal = true, .need_weights = true});
  ASSERT_EQ(mean.weights.shape(), Shape({batch, target, target}));
  EXPECT_THAT(mean.weights.ToVector(),
              testing::ElementsAreNear(Mean(each.weights, 1).ToVector(), 1e-12));
  EXPECT_EQ(mean.weights.ToVector()[1], 0.0);  // query 0 does not see key 1
  EXPECT_THAT(mean.output.ToVector(),
              testing::ElementsAreNear(m.Attend(x, x, x, Tensor(), true).ToVector(), 1e-12));
}

TEST(AttentionModuleTest, MasksOfAnotherShapeOrDtypeAreRefusedByName) {
  Generator gen(17);
  nn::MultiheadAttention m({.embed_dim = 4, .num_heads = 2}, gen);
  const Tensor x = Normal({3, 2, 4}, 0, 1, gen);
  EXPECT_THAT(testing::ErrorMessageOf([&] {
                m.Attend(x, x, x, {.key_padding_mask = Zeros({3, 3}, DType::kInt64)});
              }),
              HasSubstr("key_padding_mask must be [B, S] = [2, 3], got [3,3]"));
  EXPECT_THAT(testing::ErrorMessageOf([&] {
                m.Attend(x, x, x, {.key_padding_mask = Zeros({2, 3}, kF64)});
              }),
              HasSubstr("key_padding_mask must be int64 (nonzero hides a key) or float32"));
  EXPECT_THAT(testing::ErrorMessageOf([&] {
                m.Attend(x, x, x, {.attn_mask = Zeros({3, 3}, kF64)});
              }),
              HasSubstr("MultiheadAttention(4, 2 heads): attn_mask must be int64"));
}

// The encoder layer passes a key padding mask to its attention: PyTorch's
// src_key_padding_mask.
TEST(TransformerEncoderLayerTest, KeyPaddingMaskEqualsTheFloatMaskItStandsFor) {
  Generator gen(18);
  nn::TransformerEncoderLayer layer({.d_model = 4,
                                     .nhead = 2,
                                     .dim_feedforward = 8,
                                     .dropout = 0,
                                     .batch_first = true,
                                     .dtype = kF64},
                                    gen);
  const Tensor x = Normal({2, 3, 4}, 0, 1, gen, kF64);
  const Tensor padding = FromValues({0, 0, 1, 0, 0, 0}, {2, 3}, DType::kInt64);
  Tensor full = Zeros({2 * 2, 3, 3}, kF64);
  for (int64_t head = 0; head < 2; ++head) {
    for (int64_t i = 0; i < 3; ++i) full.data<double>()[(head * 3 + i) * 3 + 2] = -INFINITY;
  }
  EXPECT_THAT(layer.Encode(x, {.key_padding_mask = padding}).ToVector(),
              testing::ElementsAreNear(layer.Encode(x, full).ToVector(), 1e-12));
}

// Dropout on the attention weights, as PyTorch's: in training only, with
// masks from the constructor's generator; a transformer layer passes its
// dropout to its attention.
TEST(AttentionModuleTest, DropsAttentionWeightsInTrainingOnly) {
  Generator gen(14), same(14);
  nn::MultiheadAttention m({.embed_dim = 4, .num_heads = 2, .dropout = 0.5, .dtype = kF64}, gen);
  nn::MultiheadAttention twin({.embed_dim = 4, .num_heads = 2, .dropout = 0.5, .dtype = kF64},
                              same);
  const Tensor x = Normal({5, 3, 4}, 0, 1, gen, kF64);
  m.Eval();
  const std::vector<double> evaluated = m(x).ToVector();
  EXPECT_THAT(evaluated,
              testing::ElementsAreNear(AttentionByHand(m, x, x, x, Tensor()).ToVector(), 1e-12));
  m.Train();
  const std::vector<double> trained = m(x).ToVector();
  EXPECT_THAT(trained, Not(testing::ElementsAreNear(evaluated, 1e-6)));
  EXPECT_EQ(twin(x).ToVector(), trained);  // the same seeds, the same masks
  EXPECT_NE(m(x).ToVector(), trained);     // a new mask each call

  Generator layer_gen(15);
  nn::TransformerEncoderLayer layer(
      {.d_model = 4, .nhead = 2, .dim_feedforward = 8, .dropout = 0.2, .dtype = kF64}, layer_gen);
  EXPECT_EQ(layer.self_attn().options().dropout, 0.2);
  EXPECT_THAT(layer.self_attn().ToString(),
              HasSubstr("MultiheadAttention(4, 2 heads, dropout=0.2"));
}

TEST(TransformerEncoderLayerTest, DropoutActsInTrainingOnlyWithSeededMasks) {
  const nn::TransformerEncoderLayerOptions o{
      .d_model = 4, .nhead = 2, .dim_feedforward = 8, .dropout = 0.5, .dtype = kF64};
  Generator gen(10), same(10);
  nn::TransformerEncoderLayer layer(o, gen), twin(o, same);
  const Tensor x = Normal({3, 2, 4}, 0, 1, gen, kF64);
  const std::vector<double> first = layer(x).ToVector();
  EXPECT_EQ(twin(x).ToVector(), first);
  EXPECT_NE(layer(x).ToVector(), first);
  layer.Eval();
  EXPECT_THAT(layer(x).ToVector(),
              testing::ElementsAreNear(EncoderByHand(layer, x).ToVector(), 1e-12));
}

// --- Errors name the layer -------------------------------------------------

TEST(SequenceModuleErrorsTest, BadShapesAndOptionsNameTheLayer) {
  Generator gen(11);
  using testing::ErrorMessageOf;
  nn::Lstm lstm({.input_size = 2, .hidden_size = 3, .num_layers = 2}, gen);
  EXPECT_THAT(ErrorMessageOf([&] {
                lstm(Ones({5, 4, 7}));
              }),
              HasSubstr("Lstm(2 -> 3, 2 layers, init uniform(+-1/sqrt(3))): the input must be "
                        "[T, B, 2] with at least one step, got [5,4,7]"));
  EXPECT_THAT(ErrorMessageOf([&] {
                lstm.ForwardWithState(Ones({5, 4, 2}), {.h = Ones({1, 4, 3})});
              }),
              HasSubstr("h0 must be [layers*directions, B, H] = [2,4,3], got [1,4,3]"));
  nn::Gru gru({.input_size = 2, .hidden_size = 3, .batch_first = true}, gen);
  EXPECT_THAT(ErrorMessageOf([&] { gru(Ones({5, 2})); }), HasSubstr("the input must be [B, T, 2]"));
  EXPECT_THAT(
      ErrorMessageOf([&] {
        gru.ForwardWithState(Ones({4, 5, 2}), {.h = Zeros({1, 4, 3}), .c = Zeros({1, 4, 3})});
      }),
      HasSubstr("a GRU has no cell state, but c0 was given"));
  EXPECT_THAT(ErrorMessageOf([&] { nn::Lstm({.input_size = 2, .hidden_size = 0}, gen); }),
              HasSubstr("lstm: sizes must be positive"));
  EXPECT_THAT(
      ErrorMessageOf([&] { nn::MultiheadAttention({.embed_dim = 8, .num_heads = 3}, gen); }),
      HasSubstr("multihead_attention: num_heads must be positive and divide embed_dim, got "
                "3 heads for embed_dim 8"));
  nn::MultiheadAttention attention({.embed_dim = 4, .num_heads = 2}, gen);
  EXPECT_THAT(ErrorMessageOf([&] {
                attention(Ones({3, 2, 5}));
              }),
              HasSubstr("MultiheadAttention(4, 2 heads): query, key and value must be [L, B, E], "
                        "[S, B, kdim], [S, B, vdim] with E = 4, kdim = 4, vdim = 4, got "
                        "[3,2,5]"));
  EXPECT_THAT(ErrorMessageOf([&] {
                attention.Attend(Ones({3, 2, 4}), Ones({5, 2, 4}), Ones({5, 2, 4}), Zeros({3, 3}));
              }),
              HasSubstr("attn_mask must be [L, S] = [3, 5] or [B * heads, L, S] = [4, 3, 5], got "
                        "[3,3]"));
  EXPECT_THAT(ErrorMessageOf([&] {
                nn::TransformerEncoderLayer({.d_model = 4, .nhead = 2, .activation = "tanh"}, gen);
              }),
              HasSubstr("transformer_encoder_layer: activation must be \"relu\" or \"gelu\""));
  nn::TransformerEncoderLayer encoder({.d_model = 4, .nhead = 2, .dim_feedforward = 8}, gen);
  EXPECT_THAT(ErrorMessageOf([&] {
                encoder(Ones({3, 4}));
              }),
              HasSubstr("TransformerEncoderLayer(4, 2 heads, feedforward 8 relu, dropout=0.1, "
                        "post-norm): the input must be [L, B, 4], got [3,4]"));
  nn::Embedding embed({.num_embeddings = 5, .embedding_dim = 2}, gen);
  EXPECT_THAT(ErrorMessageOf([&] {
                embed(FromValues({1, 2.5, 3}));
              }),
              HasSubstr("Embedding(5, 2): index 1 of the input [3] is 2.5, not a whole number in "
                        "[0, 5)"));
  EXPECT_THAT(ErrorMessageOf([&] { embed(FromValues({5})); }),
              HasSubstr("is 5, not a whole number in [0, 5)"));
  EXPECT_THAT(ErrorMessageOf([&] {
                nn::LastStep()(Ones({3, 4}));
              }),
              HasSubstr("LastStep([B, T, F] -> [B, F]): the input must be a batch-first sequence"));
  nn::PositionalEmbedding positions({.max_length = 4, .embedding_dim = 2}, gen);
  EXPECT_THAT(ErrorMessageOf([&] {
                positions(Ones({1, 5, 2}));
              }),
              HasSubstr("the input must be [B, T, 2] with 1 <= T <= 4, got [1,5,2]"));
}

// --- The layer-spec builder ------------------------------------------------

TEST(SequenceLayerSpecTest, BuildsRecurrentAndAttentionNetworksTrackingTheShape) {
  Generator gen(12);
  const nn::LayerSpecOptions rows{.input_shape = {8, 8}, .outputs = 10};
  absl::StatusOr<nn::BuiltNetwork> built =
      nn::BuildFromLayerSpec("lstm:16:layers=2:bidirectional=1:dropout=0.1,last", rows, gen);
  ASSERT_TRUE(built.ok()) << built.status();
  std::string text = built->network->ToString();
  EXPECT_THAT(text, HasSubstr("Unflatten(1 into 8x8)"));
  EXPECT_THAT(text, HasSubstr("Lstm(8 -> 16, 2 layers, bidirectional, batch_first, dropout=0.1"));
  EXPECT_THAT(text, HasSubstr("Linear(32 -> 10"));
  EXPECT_EQ((*built->network)(Ones({3, 64})).shape(), (Shape{3, 10}));

  built = nn::BuildFromLayerSpec("gru:12,mean,relu", rows, gen);
  ASSERT_TRUE(built.ok()) << built.status();
  EXPECT_THAT(built->network->ToString(), HasSubstr("Linear(12 -> 10"));

  // Layer norm on a sequence normalizes each step over its features, as
  // torch.nn.LayerNorm(F) does; after a convolution, the whole sample.
  built = nn::BuildFromLayerSpec("gru:12,layernorm,last", rows, gen);
  ASSERT_TRUE(built.ok()) << built.status();
  EXPECT_THAT(built->network->ToString(), HasSubstr("LayerNorm([12], eps=1e-05)"));
  built = nn::BuildFromLayerSpec("conv1d:4:3,layernorm,flatten", rows, gen);
  ASSERT_TRUE(built.ok()) << built.status();
  EXPECT_THAT(built->network->ToString(), HasSubstr("LayerNorm([4, 6], eps=1e-05)"));

  built = nn::BuildFromLayerSpec(
      "linear:16,posembed,transformer:4:32:gelu:prenorm:dropout=0,attention:2,gru:6", rows, gen);
  ASSERT_TRUE(built.ok()) << built.status();
  text = built->network->ToString();
  for (const char* layer : {"Linear(8 -> 16", "PositionalEmbedding(8 positions, 16",
                            "TransformerEncoderLayer(16, 4 heads, feedforward 32 gelu, dropout=0, "
                            "pre-norm, batch_first)",
                            "MultiheadAttention(16, 2 heads, batch_first)", "Gru(16 -> 6",
                            "Flatten", "Linear(48 -> 10"}) {
    EXPECT_THAT(text, HasSubstr(layer));
  }
  EXPECT_EQ((*built->network)(Ones({2, 64})).shape(), (Shape{2, 10}));

  built = nn::BuildFromLayerSpec("embedding:20:8:padding=0,lstm:4,last",
                                 {.input_shape = {6}, .outputs = 3}, gen);
  ASSERT_TRUE(built.ok()) << built.status();
  EXPECT_TRUE(built->takes_indices);
  EXPECT_THAT(built->network->ToString(), HasSubstr("Embedding(20, 8, padding_index=0)"));
  EXPECT_EQ((*built->network)(FromValues({1, 2, 3, 4, 5, 19}, {1, 6})).shape(), (Shape{1, 3}));
}

TEST(SequenceLayerSpecTest, RefusesSequenceLayersThatDoNotFit) {
  Generator gen(13);
  auto message = [&](const std::string& spec, std::vector<int64_t> shape) {
    absl::StatusOr<nn::BuiltNetwork> built =
        nn::BuildFromLayerSpec(spec, {.input_shape = shape, .outputs = 2}, gen);
    return built.ok() ? std::string() : std::string(built.status().message());
  };
  EXPECT_THAT(message("lstm:16", {64}),
              HasSubstr("layer 1 (\"lstm:16\"): reads [T, F] sequences, and the shape that reaches "
                        "it is [64] (give --input-shape T,F)"));
  EXPECT_THAT(message("lstm", {8, 8}), HasSubstr("needs its hidden size, lstm:H"));
  EXPECT_THAT(message("gru:4:layers=0", {8, 8}), HasSubstr("layers \"0\" is not a whole number"));
  EXPECT_THAT(message("lstm:4:bidirectional=2", {8, 8}),
              HasSubstr("bidirectional=2 is not 0 or 1"));
  EXPECT_THAT(message("transformer:3:16", {8, 8}),
              HasSubstr("3 heads must divide the width 8 of the [T, F] = [8,8] samples"));
  EXPECT_THAT(message("transformer:2:16:swish", {8, 8}),
              HasSubstr("\"swish\" is not gelu, relu, prenorm or postnorm"));
  EXPECT_THAT(message("lstm:4,last,last", {8, 8}),
              HasSubstr("layer 3 (\"last\"): reduces [T, F] sequences"));
  EXPECT_THAT(message("embedding:10:4", {8, 8}), HasSubstr("looks up [T] token indices"));
  EXPECT_THAT(message("embedding:10:4:padding=10", {8}),
              HasSubstr("padding \"10\" is not a whole number in [0, 9]"));
  EXPECT_THAT(message("linear:4", {1, 8, 8}), HasSubstr("put flatten before it"));
  // A convolution's [C, L] output is channels by positions, not steps.
  EXPECT_THAT(message("conv1d:8:3,linear:16", {1, 64}),
              HasSubstr("layer 2 (\"linear:16\"): takes flat samples or [T, F] sequences; the "
                        "shape that reaches it is [8,62] channels by positions"));
  EXPECT_THAT(message("conv1d:8:3,lstm:4", {1, 64}),
              HasSubstr("layer 2 (\"lstm:4\"): reads [T, F] sequences, and the shape that "
                        "reaches it is [8,62], channels by positions from a convolution"));
  EXPECT_TRUE(message("conv1d:8:3,flatten,linear:16", {1, 64}).empty());
  // The rows reach an embedding unscaled: it must come first.
  EXPECT_THAT(message("linear:8,embedding:17:4,gru:4,last", {8}),
              HasSubstr("layer 2 (\"embedding:17:4\"): looks up [T] token indices"));
}

// --- Model files ---------------------------------------------------------------

using testing::TempPath;

// Every new kind in one network over rows of 6 token indices.
std::unique_ptr<nn::Sequential> EveryKind(Generator& gen, bool last) {
  auto net = std::make_unique<nn::Sequential>();
  net->Add(std::make_unique<nn::Embedding>(
      nn::EmbeddingOptions{.num_embeddings = 10, .embedding_dim = 8, .padding_index = 0}, gen));
  net->Add(std::make_unique<nn::PositionalEmbedding>(
      nn::PositionalEmbeddingOptions{.max_length = 6, .embedding_dim = 8}, gen));
  net->Add(std::make_unique<nn::TransformerEncoderLayer>(
      nn::TransformerEncoderLayerOptions{.d_model = 8,
                                         .nhead = 2,
                                         .dim_feedforward = 16,
                                         .activation = "gelu",
                                         .batch_first = true,
                                         .norm_first = true},
      gen));
  net->Add(std::make_unique<nn::MultiheadAttention>(
      nn::MultiheadAttentionOptions{.embed_dim = 8, .num_heads = 4, .batch_first = true}, gen));
  net->Add(std::make_unique<nn::Lstm>(nn::RecurrentOptions{.input_size = 8,
                                                           .hidden_size = 4,
                                                           .num_layers = 2,
                                                           .batch_first = true,
                                                           .bidirectional = true,
                                                           .dropout = 0.2},
                                      gen));
  net->Add(std::make_unique<nn::Gru>(
      nn::RecurrentOptions{.input_size = 8, .hidden_size = 3, .bias = false, .batch_first = true},
      gen));
  if (last) {
    net->Add(std::make_unique<nn::LastStep>());
  } else {
    net->Add(std::make_unique<nn::MeanOverTime>());
  }
  net->Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 3, .out = 2}, gen));
  return net;
}

TEST(SequenceModelFileTest, EveryKindSavesAndLoadsWithBitwiseEqualOutputs) {
  for (bool last : {true, false}) {
    Generator gen(14);
    std::unique_ptr<nn::Sequential> net = EveryKind(gen, last);
    net->Eval();
    const Tensor x = FromValues({0, 1, 2, 3, 4, 5, 9, 8, 7, 0, 0, 3}, {2, 6});
    const std::vector<double> expected = (*net)(x).ToVector();
    const std::string path = TempPath("every_sequence_kind.safetensors");
    ASSERT_TRUE(nn::Save(path, *net).ok());
    absl::StatusOr<nn::SavedModel> loaded = nn::Load(path);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ(loaded->module->ToString(), net->ToString());
    EXPECT_EQ(loaded->Outputs(x).ToVector(), expected);
    std::filesystem::remove(path);
  }
}

// A file with `tensors` and a one-module description, as a hostile or
// broken writer could make it; the load's error, or "".
std::string LoadError(const std::string& kind, const std::string& options,
                      const nn::NamedTensors& tensors, const std::string& children = "[]") {
  const std::string path = TempPath("hostile_" + kind + ".safetensors");
  const std::string json = R"({"format": "actgrad.model.v1", "architecture": {"kind": ")" + kind +
                           R"(", "options": )" + options + R"(, "children": )" + children + "}}";
  EXPECT_TRUE(io::SaveSafetensors(path, tensors, {{"actgrad", json}}).ok());
  absl::StatusOr<nn::SavedModel> model = nn::Load(path);
  std::filesystem::remove(path);
  return model.ok() ? "" : std::string(model.status().message());
}

TEST(SequenceModelFileTest, HostileDescriptionsAreRefusedBeforeAnythingIsBuilt) {
  const nn::NamedTensors gru = {{"weight_ih_l0", Zeros({6, 3})}, {"weight_hh_l0", Zeros({6, 2})}};
  EXPECT_EQ(LoadError("gru", R"({"input_size": 3, "hidden_size": 2, "bias": false})", gru), "");
  // Sizes within the bounds but not in the file: compared before allocation.
  EXPECT_THAT(
      LoadError("gru", R"({"input_size": 3, "hidden_size": 500000000, "bias": false})", gru),
      HasSubstr("its options need tensor \"weight_ih_l0\" to be [1500000000,3]; the file holds "
                "[6,3]"));
  EXPECT_THAT(LoadError("lstm", R"({"input_size": 3, "hidden_size": 1073741824})", gru),
              HasSubstr("hidden_size: 1073741824 is outside [1, 536870912]"));
  EXPECT_THAT(LoadError("gru", R"({"input_size": 3, "hidden_size": 2, "num_layers": 100000})", gru),
              HasSubstr("num_layers: 100000 is outside [1, 1024]"));
  EXPECT_THAT(LoadError("gru", R"({"input_size": 3, "hidden_size": 2, "dropout": 2})", gru),
              HasSubstr("dropout: 2 is outside [0, 1]"));
  EXPECT_THAT(LoadError("gru", R"({"input_size": 3, "hidden_size": 2, "cells": 2})", gru),
              HasSubstr("cells: not an option of this kind"));
  EXPECT_THAT(
      LoadError("gru",
                R"({"input_size": 3, "hidden_size": 2, "bias": false, "bidirectional": true})",
                gru),
      HasSubstr("its options need tensor \"weight_ih_l0_reverse\" [6,3], which the file does not "
                "hold"));

  const nn::NamedTensors attention = {{"in_proj_weight", Zeros({12, 4})},
                                      {"in_proj_bias", Zeros({12})},
                                      {"out_proj.weight", Zeros({4, 4})},
                                      {"out_proj.bias", Zeros({4})}};
  const std::string out_proj =
      R"([{"name": "out_proj", "module": {"kind": "linear", "options": {"in": 4, "out": 4}}}])";
  EXPECT_EQ(
      LoadError("multihead_attention", R"({"embed_dim": 4, "num_heads": 2})", attention, out_proj),
      "");
  EXPECT_THAT(
      LoadError("multihead_attention", R"({"embed_dim": 4, "num_heads": 3})", attention, out_proj),
      HasSubstr("num_heads: 3 does not divide embed_dim 4"));
  EXPECT_THAT(
      LoadError("multihead_attention", R"({"embed_dim": 4, "num_heads": 8})", attention, out_proj),
      HasSubstr("num_heads: 8 is outside [1, 4]"));
  EXPECT_THAT(LoadError("multihead_attention", R"({"embed_dim": 2000000000, "num_heads": 1})",
                        attention, out_proj),
              HasSubstr("embed_dim: 2000000000 is outside [1, 715827882]"));
  // The parent's options decide its children's sizes: a huge layer with
  // small children is refused by the parent's own shapes.
  EXPECT_THAT(LoadError("multihead_attention", R"({"embed_dim": 400000000, "num_heads": 1})",
                        attention, out_proj),
              HasSubstr("its options need tensor \"in_proj_weight\" to be [1200000000,400000000]"));
  const nn::NamedTensors apart = {
      {"q_proj_weight", Zeros({4, 4})},   {"k_proj_weight", Zeros({4, 3})},
      {"v_proj_weight", Zeros({4, 5})},   {"in_proj_bias", Zeros({12})},
      {"out_proj.weight", Zeros({4, 4})}, {"out_proj.bias", Zeros({4})}};
  EXPECT_EQ(LoadError("multihead_attention", R"({"embed_dim": 4, "num_heads": 2, "kdim": 3,
                      "vdim": 5})",
                      apart, out_proj),
            "");
  EXPECT_THAT(
      LoadError("multihead_attention", R"({"embed_dim": 4, "num_heads": 2, "kdim": 3, "vdim": 6})",
                apart, out_proj),
      HasSubstr("its options need tensor \"v_proj_weight\" to be [4,6]; the file holds "
                "[4,5]"));
  EXPECT_THAT(
      LoadError("multihead_attention", R"({"embed_dim": 4, "num_heads": 2, "kdim": 0, "vdim": 5})",
                apart, out_proj),
      HasSubstr("kdim: 0 is outside [1, 2147483648]"));
  EXPECT_THAT(LoadError("multihead_attention", R"({"embed_dim": 4, "num_heads": 2, "kdim": 3})",
                        attention, out_proj),
              HasSubstr("its options need tensor \"q_proj_weight\" [4,4], which the file does "
                        "not hold"));
  Generator gen(15);
  nn::TransformerEncoderLayer encoder({.d_model = 4, .nhead = 2, .dim_feedforward = 8}, gen);
  EXPECT_THAT(LoadError("transformer_encoder_layer",
                        R"({"d_model": 4, "nhead": 2, "dim_feedforward": 2000000000})",
                        encoder.StateDict()),
              HasSubstr("its options need tensor \"linear1.weight\" to be [2000000000,4]; the "
                        "file holds [8,4]"));
  EXPECT_THAT(LoadError("transformer_encoder_layer", R"({"d_model": 4, "nhead": 2})", {}),
              HasSubstr("its options need tensor \"self_attn.in_proj_weight\" [12,4], which the "
                        "file does not hold"));
  EXPECT_THAT(LoadError("transformer_encoder_layer",
                        R"({"d_model": 4, "nhead": 2, "activation": "swish"})", {}),
              HasSubstr("activation: \"swish\" is not relu or gelu"));
  EXPECT_THAT(LoadError("transformer_encoder_layer",
                        R"({"d_model": 4, "nhead": 2, "layer_norm_eps": 0})", {}),
              HasSubstr("layer_norm_eps: 0 is outside (0, 1]"));
  const nn::NamedTensors table = {{"weight", Zeros({5, 2})}};
  EXPECT_EQ(LoadError("embedding", R"({"num_embeddings": 5, "embedding_dim": 2})", table), "");
  EXPECT_THAT(LoadError("embedding",
                        R"({"num_embeddings": 5, "embedding_dim": 2, "padding_index": 5})", table),
              HasSubstr("padding_index: 5 is outside [-1, 4]"));
  EXPECT_THAT(
      LoadError("positional_embedding", R"({"max_length": 3000000000, "embedding_dim": 2})", table),
      HasSubstr("max_length: 3000000000 is outside"));
  EXPECT_THAT(LoadError("last_step", R"({"steps": 1})", {}),
              HasSubstr("steps: not an option of this kind"));
}

}  // namespace
}  // namespace actgrad
