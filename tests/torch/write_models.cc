// Writes the models the PyTorch round trip checks, one per layer kind the
// library has, and a CSV of inputs for them:
//
//   write_models DIR
//
// DIR/inputs.csv, DIR/residual.safetensors (a user kind), DIR/lstm.safetensors,
// DIR/float64.safetensors and DIR/activation_<op>.safetensors for every
// registered activation; DIR/images.csv (rows of 2x6x6 images) and, reading
// it, DIR/cnn.safetensors and DIR/sequence.safetensors with every
// convolutional layer kind, with running statistics that differ from the
// batch's, so that evaluation mode matters; reading the same rows as 12 steps
// of 6 features, DIR/recurrent.safetensors (a 2-layer bidirectional LSTM and
// a GRU) and DIR/transformer.safetensors (positional embedding, post- and
// pre-norm encoder layers, self-attention); DIR/tokens.csv (rows of 10
// integer tokens, left-padded with 0) and DIR/tokens.safetensors (embedding,
// LSTM, last step).

#include <algorithm>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "actgrad.h"
#include "nn/attention.h"
#include "nn/embedding.h"
#include "nn/nn.h"
#include "nn/recurrent.h"
#include "nn/sequence_layers.h"
#include "tests/residual_net.h"

ACTGRAD_REGISTER_MODULE_KIND(actgrad::test_nets::ResidualNet, "residual_net");

using namespace actgrad;

namespace {

constexpr int64_t kFeatures = 4;
// Image rows: 2 channels of 6x6, or 3 channels of 24 for the sequence model,
// or 12 steps of 6 features for the recurrent and transformer models.
constexpr int64_t kPixels = 72;
constexpr int64_t kSteps = 12;
constexpr int64_t kStepFeatures = 6;
// Token rows: kTokenSteps tokens in [0, kVocabulary), 0 the padding.
constexpr int64_t kTokenSteps = 10;
constexpr int64_t kVocabulary = 20;

bool Check(const absl::Status& status) {
  if (!status.ok()) std::cerr << status.message() << "\n";
  return status.ok();
}

void WriteCsv(const std::string& path, const std::vector<std::string>& header, const Tensor& rows) {
  std::ofstream csv(path);
  const int64_t columns = int64_t(header.size());
  for (int64_t c = 0; c < columns; ++c) csv << header[c] << (c + 1 < columns ? "," : "\n");
  const std::vector<double> v = rows.ToVector();
  for (int64_t r = 0; r < rows.dim(0); ++r) {
    for (int64_t c = 0; c < columns; ++c) {
      csv << absl::StrFormat("%.9g", v[r * columns + c]) << (c + 1 < columns ? "," : "\n");
    }
  }
}

// Settings off their defaults wherever PyTorch could read them differently:
// an even "same" kernel, grouped, dilated and strided convolutions, output
// padding, ceil mode with a last window that starts in the padding,
// uncounted padding, adaptive windows that overlap.
std::unique_ptr<nn::Sequential> Cnn(Generator& gen) {
  auto net = std::make_unique<nn::Sequential>();
  net->Add(std::make_unique<nn::Unflatten>(1, std::vector<int64_t>{2, 6, 6}));
  net->Add(std::make_unique<nn::Conv2d>(
      nn::ConvOptions{.in_channels = 2, .out_channels = 4, .kernel = {3, 2}, .same = true}, gen));
  net->Add(std::make_unique<nn::BatchNorm2d>(
      nn::BatchNormOptions{.num_features = 4, .eps = 1e-3, .momentum = 0.5}));
  net->Add(std::make_unique<nn::Activation>(ops::kRelu));
  net->Add(std::make_unique<nn::GroupNorm>(nn::GroupNormOptions{.groups = 2, .channels = 4}));
  net->Add(std::make_unique<nn::ConvTranspose2d>(  // 6x6 -> 12x12
      nn::ConvOptions{.in_channels = 4,
                      .out_channels = 4,
                      .kernel = {3, 3},
                      .stride = {2, 2},
                      .padding = {1, 1},
                      .output_padding = {1, 1},
                      .groups = 2},
      gen));
  net->Add(std::make_unique<nn::MaxPool2d>(  // 12x12 -> 7x7
      nn::PoolOptions{.window = {3, 3}, .stride = {2, 2}, .padding = {1, 1}, .ceil_mode = true}));
  net->Add(std::make_unique<nn::Conv2d>(nn::ConvOptions{.in_channels = 4,
                                                        .out_channels = 6,
                                                        .kernel = {3, 3},
                                                        .padding = {2, 2},
                                                        .dilation = {2, 2},
                                                        .groups = 2},
                                        gen));
  // 7x7 -> 4x4: ceil mode's fifth window would start in the padding.
  net->Add(std::make_unique<nn::AvgPool2d>(nn::PoolOptions{.window = {2, 2},
                                                           .stride = {2, 2},
                                                           .padding = {1, 1},
                                                           .ceil_mode = true,
                                                           .count_include_pad = false}));
  auto body = std::make_unique<nn::Sequential>();
  body->Add(std::make_unique<nn::Conv2d>(
      nn::ConvOptions{.in_channels = 6, .out_channels = 6, .kernel = {3, 3}, .padding = {1, 1}},
      gen));
  body->Add(std::make_unique<nn::BatchNorm2d>(nn::BatchNormOptions{.num_features = 6}));
  body->Add(std::make_unique<nn::Activation>(ops::kTanh));
  net->Add(std::make_unique<nn::Residual>(std::move(body)));
  net->Add(std::make_unique<nn::Residual>(
      std::make_unique<nn::Conv2d>(
          nn::ConvOptions{.in_channels = 6, .out_channels = 3, .kernel = {1, 1}}, gen),
      std::make_unique<nn::Conv2d>(
          nn::ConvOptions{.in_channels = 6, .out_channels = 3, .kernel = {1, 1}, .bias = false},
          gen)));
  net->Add(std::make_unique<nn::AdaptiveAvgPool2d>(nn::PoolOptions{.window = {3, 2}}));
  net->Add(std::make_unique<nn::LayerNorm>(
      nn::LayerNormOptions{.normalized_shape = {3, 2}, .eps = 1e-4}));
  net->Add(std::make_unique<nn::Dropout>(0.3, gen));
  net->Add(std::make_unique<nn::Flatten>());
  net->Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 18, .out = 3}, gen));
  return net;
}

// The 1-D layers, in float64, over rows read as 3 channels of 24.
std::unique_ptr<nn::Sequential> SequenceNet(Generator& gen) {
  const DType f64 = DType::kFloat64;
  auto net = std::make_unique<nn::Sequential>();
  net->Add(std::make_unique<nn::Unflatten>(-1, std::vector<int64_t>{3, 24}));
  net->Add(std::make_unique<nn::Conv1d>(  // 24 -> 12
      nn::ConvOptions{.in_channels = 3,
                      .out_channels = 4,
                      .kernel = {1, 3},
                      .stride = {1, 2},
                      .padding = {0, 1},
                      .dtype = f64},
      gen));
  net->Add(std::make_unique<nn::BatchNorm1d>(
      nn::BatchNormOptions{.num_features = 4, .momentum = 0.3, .dtype = f64}));
  net->Add(std::make_unique<nn::Activation>(ops::kRelu));
  net->Add(std::make_unique<nn::MaxPool1d>(  // 12 -> 5
      nn::PoolOptions{.window = {1, 3}, .stride = {1, 2}, .padding = {0, 1}, .dilation = {1, 2}}));
  net->Add(std::make_unique<nn::Conv1d>(nn::ConvOptions{.in_channels = 4,
                                                        .out_channels = 4,
                                                        .kernel = {1, 2},
                                                        .same = true,
                                                        .groups = 2,
                                                        .dtype = f64},
                                        gen));
  net->Add(std::make_unique<nn::AvgPool1d>(  // 5 -> 6
      nn::PoolOptions{.window = {1, 2}, .stride = {1, 1}, .padding = {0, 1}}));
  net->Add(std::make_unique<nn::AvgPool1d>(  // 6 -> 4: ceil mode adds a window over one element
      nn::PoolOptions{.window = {1, 3},
                      .stride = {1, 2},
                      .padding = {0, 1},
                      .ceil_mode = true,
                      .count_include_pad = false}));
  net->Add(std::make_unique<nn::Flatten>(1, 2));
  net->Add(std::make_unique<nn::BatchNorm1d>(
      nn::BatchNormOptions{.num_features = 16, .momentum = 0.5, .affine = false, .dtype = f64}));
  net->Add(std::make_unique<nn::Dropout>(0.5, gen));
  net->Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 16, .out = 2, .dtype = f64}, gen));
  return net;
}

// Rows as a batch-first sequence [B, kSteps, kStepFeatures].
std::unique_ptr<nn::Unflatten> AsSteps() {
  return std::make_unique<nn::Unflatten>(1, std::vector<int64_t>{kSteps, kStepFeatures});
}

// A 2-layer bidirectional LSTM (dropout between its layers in training) into
// a GRU without biases, the last step into a linear head.
std::unique_ptr<nn::Sequential> RecurrentNet(Generator& gen) {
  auto net = std::make_unique<nn::Sequential>();
  net->Add(AsSteps());
  net->Add(std::make_unique<nn::Lstm>(nn::RecurrentOptions{.input_size = kStepFeatures,
                                                           .hidden_size = 8,
                                                           .num_layers = 2,
                                                           .batch_first = true,
                                                           .bidirectional = true,
                                                           .dropout = 0.2},
                                      gen));
  net->Add(std::make_unique<nn::Gru>(
      nn::RecurrentOptions{.input_size = 16, .hidden_size = 6, .bias = false, .batch_first = true},
      gen));
  net->Add(std::make_unique<nn::LastStep>());
  net->Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 6, .out = 3}, gen));
  return net;
}

// A projection, learned positions, a post-norm gelu encoder layer, a
// pre-norm relu one with another eps, self-attention with a residual, the
// mean over time into a linear head.
std::unique_ptr<nn::Sequential> TransformerNet(Generator& gen) {
  constexpr int64_t d = 8;
  auto net = std::make_unique<nn::Sequential>();
  net->Add(AsSteps());
  net->Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = kStepFeatures, .out = d}, gen));
  net->Add(std::make_unique<nn::PositionalEmbedding>(
      nn::PositionalEmbeddingOptions{.max_length = kSteps, .embedding_dim = d}, gen));
  net->Add(std::make_unique<nn::TransformerEncoderLayer>(
      nn::TransformerEncoderLayerOptions{.d_model = d,
                                         .nhead = 2,
                                         .dim_feedforward = 16,
                                         .dropout = 0.1,
                                         .activation = "gelu",
                                         .batch_first = true},
      gen));
  net->Add(std::make_unique<nn::TransformerEncoderLayer>(
      nn::TransformerEncoderLayerOptions{.d_model = d,
                                         .nhead = 4,
                                         .dim_feedforward = 12,
                                         .dropout = 0.2,
                                         .activation = "relu",
                                         .layer_norm_eps = 1e-4,
                                         .batch_first = true,
                                         .norm_first = true},
      gen));
  net->Add(std::make_unique<nn::Residual>(std::make_unique<nn::MultiheadAttention>(
      nn::MultiheadAttentionOptions{.embed_dim = d, .num_heads = 2, .batch_first = true}, gen)));
  net->Add(std::make_unique<nn::MeanOverTime>());
  net->Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = d, .out = 2}, gen));
  return net;
}

// Integer tokens through an embedding with a padding row, an LSTM, the last
// step, a one-logit head.
std::unique_ptr<nn::Sequential> TokenNet(Generator& gen) {
  auto net = std::make_unique<nn::Sequential>();
  net->Add(std::make_unique<nn::Embedding>(
      nn::EmbeddingOptions{.num_embeddings = kVocabulary, .embedding_dim = 6, .padding_index = 0},
      gen));
  net->Add(std::make_unique<nn::Lstm>(
      nn::RecurrentOptions{.input_size = 6, .hidden_size = 7, .batch_first = true}, gen));
  net->Add(std::make_unique<nn::LastStep>());
  net->Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 7, .out = 1}, gen));
  return net;
}

// Rows of kTokenSteps tokens in [1, kVocabulary), each row's sequence of
// 3 to 10 tokens left-padded with 0, so that the last step is a token.
Tensor Tokens(int64_t rows, Generator& gen) {
  std::vector<double> v;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t length = 3 + r % (kTokenSteps - 2);
    for (int64_t t = 0; t < kTokenSteps; ++t) {
      v.push_back(t < kTokenSteps - length ? 0.0 : double(1 + gen.engine()() % (kVocabulary - 1)));
    }
  }
  return FromValues(v, {rows, kTokenSteps});
}

template <typename T>
void AddTo(Tensor& values, const Tensor& noise) {
  T* v = values.data<T>();
  const T* n = noise.data<T>();
  for (int64_t i = 0; i < values.numel(); ++i) v[i] += n[i];
}

// Batch norms' running statistics moved by training-mode passes over batches
// off the data's center, and every parameter moved off its initial value (the
// norms' ones and zeros too), so that evaluation mode and each affine
// parameter show in the outputs.
void Settle(nn::Sequential& net, DType dtype, Generator& gen, bool passes = true) {
  if (passes) {
    NoGradGuard no_grad;
    for (int pass = 0; pass < 3; ++pass) net(Normal({16, kPixels}, 1.5, 3, gen, dtype));
  }
  for (Tensor& p : net.Parameters()) {
    const Tensor noise = Normal(p.shape(), 0, 0.3, gen, dtype);
    if (dtype == DType::kFloat64) {
      AddTo<double>(p, noise);
    } else {
      AddTo<float>(p, noise);
    }
  }
  net.Eval();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: write_models DIR\n";
    return 2;
  }
  const std::string dir = argv[1];
  Generator gen(7);
  // Raw rows with columns of different ranges, so that the scaler matters.
  const Tensor raw = Normal({64, kFeatures}, 0, 3, gen);
  {
    std::ofstream csv(dir + "/inputs.csv");
    csv << "f0,f1,f2,f3\n";
    const std::vector<double> v = raw.ToVector();
    for (int64_t r = 0; r < 64; ++r) {
      for (int64_t c = 0; c < kFeatures; ++c) {
        csv << absl::StrFormat("%.9g", v[r * kFeatures + c] * (c + 1))
            << (c + 1 < kFeatures ? "," : "\n");
      }
    }
  }
  const nn::Scaler scaler = nn::Scaler::Fit(nn::Scaling::kStandard, raw);
  const std::vector<std::string> features = {"f0", "f1", "f2", "f3"};
  bool ok = true;

  test_nets::ResidualNet residual(kFeatures, 8, 3, gen);
  ok &= Check(nn::Save(dir + "/residual.safetensors", residual,
                       {.task = nn::Task::kMulticlass,
                        .output = nn::ModelOutput::kLogits,
                        .scaler = scaler,
                        .feature_names = features,
                        .labels = {"low", "mid", "high"}}));

  nn::Sequential lstm;
  lstm.Add(
      std::make_unique<nn::LstmCell>(nn::LstmCellOptions{.input = kFeatures, .hidden = 5}, gen));
  lstm.Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 5, .out = 1}, gen));
  ok &= Check(nn::Save(dir + "/lstm.safetensors", lstm,
                       {.task = nn::Task::kBinary,
                        .output = nn::ModelOutput::kLogits,
                        .scaler = scaler,
                        .feature_names = features}));

  auto wide =
      nn::Mlp({.inputs = kFeatures, .hidden = {6}, .outputs = 2, .dtype = DType::kFloat64}, gen);
  ok &= Check(nn::Save(dir + "/float64.safetensors", *wide,
                       {.task = nn::Task::kRegression, .feature_names = features}));

  for (const OpDef* op : OpRegistry::Global().All()) {
    if (!nn::IsActivationLike(*op)) continue;
    nn::Sequential model;
    model.Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = kFeatures, .out = 6}, gen));
    // Attributes away from their defaults where the op has any.
    Attrs attrs = WithDefaults(*op, Attrs{});
    for (const AttrSpec& spec : op->attrs) {
      if (double* slot = RealSlot(spec, attrs); slot != nullptr && spec.name != "grad_at_zero") {
        *slot = spec.name == "min_val" ? -0.75 : (spec.name == "max_val" ? 1.25 : 0.7);
      }
    }
    model.Add(std::make_unique<nn::Activation>(*op, attrs));
    model.Add(std::make_unique<nn::Linear>(nn::LinearOptions{.in = 6, .out = 3}, gen));
    ok &= Check(
        nn::Save(dir + "/activation_" + std::string(op->name) + ".safetensors", model,
                 {.task = nn::Task::kRegression, .scaler = scaler, .feature_names = features}));
  }

  std::vector<std::string> pixels;
  for (int64_t i = 0; i < kPixels; ++i) pixels.push_back(absl::StrCat("p", i));
  const Tensor images = Normal({64, kPixels}, 0.5, 2, gen);
  WriteCsv(dir + "/images.csv", pixels, images);
  const nn::Scaler image_scaler = nn::Scaler::Fit(nn::Scaling::kStandard, images);

  std::unique_ptr<nn::Sequential> cnn = Cnn(gen);
  Settle(*cnn, DType::kFloat32, gen);
  ok &= Check(nn::Save(dir + "/cnn.safetensors", *cnn,
                       {.task = nn::Task::kMulticlass,
                        .output = nn::ModelOutput::kLogits,
                        .scaler = image_scaler,
                        .feature_names = pixels,
                        .labels = {"a", "b", "c"}}));

  std::unique_ptr<nn::Sequential> sequence = SequenceNet(gen);
  Settle(*sequence, DType::kFloat64, gen);
  ok &= Check(
      nn::Save(dir + "/sequence.safetensors", *sequence,
               {.task = nn::Task::kRegression, .scaler = image_scaler, .feature_names = pixels}));

  std::unique_ptr<nn::Sequential> recurrent = RecurrentNet(gen);
  Settle(*recurrent, DType::kFloat32, gen, /*passes=*/false);
  ok &= Check(nn::Save(dir + "/recurrent.safetensors", *recurrent,
                       {.task = nn::Task::kMulticlass,
                        .output = nn::ModelOutput::kLogits,
                        .scaler = image_scaler,
                        .feature_names = pixels,
                        .labels = {"a", "b", "c"}}));

  std::unique_ptr<nn::Sequential> transformer = TransformerNet(gen);
  Settle(*transformer, DType::kFloat32, gen, /*passes=*/false);
  ok &= Check(
      nn::Save(dir + "/transformer.safetensors", *transformer,
               {.task = nn::Task::kRegression, .scaler = image_scaler, .feature_names = pixels}));

  std::vector<std::string> token_columns;
  for (int64_t i = 0; i < kTokenSteps; ++i) token_columns.push_back(absl::StrCat("t", i));
  WriteCsv(dir + "/tokens.csv", token_columns, Tokens(64, gen));
  std::unique_ptr<nn::Sequential> tokens = TokenNet(gen);
  Settle(*tokens, DType::kFloat32, gen, /*passes=*/false);
  {
    // The padding row stays zero, as training leaves it: actgrad reads zeros
    // there and PyTorch the row.
    auto& embedding = dynamic_cast<nn::Embedding&>(*tokens->NamedChildren().front().second);
    float* row = embedding.weight().data<float>();
    std::fill_n(row, embedding.options().embedding_dim, 0.0f);
  }
  ok &= Check(nn::Save(dir + "/tokens.safetensors", *tokens,
                       {.task = nn::Task::kBinary,
                        .output = nn::ModelOutput::kLogits,
                        .feature_names = token_columns}));
  return ok ? 0 : 1;
}
