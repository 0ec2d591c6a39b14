// -----------------------------------------------------------------------------
// File: attention.h
// -----------------------------------------------------------------------------
//
// Multi-head attention and the transformer encoder layer, as
// torch.nn.MultiheadAttention and torch.nn.TransformerEncoderLayer, over the
// multi-head attention rows of ops/sequence_ops.h. Names, shapes and
// initial values are PyTorch's, so state dicts load both ways:
//
//   MultiheadAttention       in_proj_weight [3E, E] (Xavier uniform), in_proj_bias [3E]
//                            (zeros), out_proj.weight [E, E], out_proj.bias [E] (zeros);
//                            with kdim or vdim apart from E, q_proj_weight [E, E],
//                            k_proj_weight [E, kdim], v_proj_weight [E, vdim] (each
//                            Xavier uniform) instead of in_proj_weight
//   TransformerEncoderLayer  self_attn.*, linear1 [F, E], linear2 [E, F], norm1, norm2
//
// Sequences are [L, B, E], or [B, L, E] with batch_first. The E features
// split into num_heads heads of E / num_heads each, which attend
// independently: the rows read each head as a strided column block of the
// sequence-first projections (self-attention straight from the packed
// in_proj output), so heads are never copied apart or back together; a
// batch-first input is turned to sequence-first once. A 3-D attention mask
// is [B * heads, L, S], batch entry first, as PyTorch's.
//
// Dropout, in training mode, acts where PyTorch's does: on the attention
// weights (MultiheadAttention's `dropout`, which a TransformerEncoderLayer
// passes its own), after attention, inside the feed-forward block and after
// it.
//
// Example:
//
//   actgrad::Generator gen(0);
//   actgrad::nn::TransformerEncoderLayer encoder(
//       {.d_model = 256, .nhead = 4, .dim_feedforward = 1024, .dropout = 0,
//        .activation = "gelu", .batch_first = true},
//       gen);
//   actgrad::Tensor y = encoder(x);                          // x [B, L, 256]
//   actgrad::Tensor causal = encoder.Encode(x, {}, /*causal=*/true);
//   // Padded batches: int64 [B, L], nonzero where a position is padding.
//   actgrad::Tensor padded = encoder.Encode(x, {.key_padding_mask = padding});
//   actgrad::nn::AttendResult r =
//       encoder.self_attn().Attend(x, x, x, {.need_weights = true});  // r.weights [B, L, L]

#ifndef ACTGRAD_NN_ATTENTION_H_
#define ACTGRAD_NN_ATTENTION_H_

#include <cstdint>
#include <source_location>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/generator.h"
#include "nn/dropout.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "nn/normalization.h"

namespace actgrad::nn {

struct MultiheadAttentionOptions {
  int64_t embed_dim = 0;
  int64_t num_heads = 1;  // must divide embed_dim
  // Features of the keys and values, as PyTorch's kdim and vdim; 0 means
  // embed_dim. When either differs from embed_dim the three projections are
  // apart, as PyTorch's: q_proj_weight [E, E], k_proj_weight [E, kdim],
  // v_proj_weight [E, vdim] in place of in_proj_weight, and the layer
  // attends across (it has no self-attention Forward).
  int64_t kdim = 0;
  int64_t vdim = 0;
  // Dropout on the attention weights, in training mode only, as PyTorch's
  // `dropout`; the masks' seeds come from the constructor's generator.
  double dropout = 0;
  bool bias = true;
  bool batch_first = false;
  DType dtype = DType::kFloat32;
};

// What an attention call takes besides its query, key and value, as
// torch.nn.MultiheadAttention's forward does.
struct AttendOptions {
  // [L, S] for every batch entry and head, or [B * num_heads, L, S]
  // (PyTorch's 3-D form). A float mask (the layer's dtype) is added to the
  // scores, -inf hiding a key, and receives a gradient; an int64 one hides
  // the keys where it is nonzero, as PyTorch's boolean masks do.
  Tensor attn_mask;
  // [B, S]: the keys of each batch entry to hide from every query (int64,
  // nonzero hides: padding), or a float mask added to every query's scores
  // for that key.
  Tensor key_padding_mask;
  // Query i sees keys 0..i only.
  bool causal = false;
  // Also return the attention weights softmax(Q K^T / sqrt(d) + masks):
  // averaged over the heads, [B, L, S], or per head, [B, num_heads, L, S].
  // They are taken before dropout (PyTorch's, in training mode with
  // dropout, are after it), and a query whose keys are all hidden has NaN
  // weights, as in PyTorch.
  bool need_weights = false;
  bool average_attn_weights = true;
};

struct AttendResult {
  Tensor output;   // as the query's layout, [L, B, E] or [B, L, E]
  Tensor weights;  // defined with need_weights
};

class MultiheadAttention : public Module {
 public:
  // Throws `Error` for non-positive sizes or heads that do not divide
  // embed_dim.
  MultiheadAttention(const MultiheadAttentionOptions& options, Generator& gen,
                     std::source_location location = std::source_location::current());

  // Self-attention: Attend(x, x, x). Throws `Error` for a layer whose keys
  // or values have other than embed_dim features.
  Tensor Forward(const Tensor& x) override;
  // Each query [L, B, E] attends to the keys [S, B, kdim] and values
  // [S, B, vdim] ([B, L, E], [B, S, kdim] and [B, S, vdim] with
  // batch_first). `attn_mask`, when defined,
  // is added to the scores: [L, S] for every batch entry and head, or
  // [B * num_heads, L, S] (PyTorch's 3-D form); -inf hides a key. With
  // `causal`, query i sees keys 0..i only. Throws `Error` naming the layer
  // for inputs of another shape.
  Tensor Attend(const Tensor& query, const Tensor& key, const Tensor& value,
                const Tensor& attn_mask = Tensor(), bool causal = false,
                std::source_location location = std::source_location::current());
  // The same with every option of AttendOptions: masks as int64 or float, a
  // key padding mask, the attention weights. Throws `Error` naming the layer
  // for masks of another shape or dtype.
  AttendResult Attend(const Tensor& query, const Tensor& key, const Tensor& value,
                      const AttendOptions& options,
                      std::source_location location = std::source_location::current());

  std::string ToString() const override;
  std::string Kind() const override { return "multihead_attention"; }
  ModuleConfig Config() const override;

  // Undefined when the projections are apart (kdim or vdim not embed_dim).
  Tensor& in_proj_weight() { return in_proj_weight_; }
  // The projections apart: defined only when kdim or vdim is not embed_dim.
  Tensor& q_proj_weight() { return q_proj_weight_; }
  Tensor& k_proj_weight() { return k_proj_weight_; }
  Tensor& v_proj_weight() { return v_proj_weight_; }
  // Whether queries, keys and values share embed_dim features, and with it
  // the packed in_proj_weight.
  bool same_embed_dim() const;
  Tensor& in_proj_bias() { return in_proj_bias_; }
  Linear& out_proj() { return out_proj_; }
  const MultiheadAttentionOptions& options() const { return options_; }

  static absl::StatusOr<MultiheadAttentionOptions> OptionsFromConfig(const ModuleConfig& config);
  // Every tensor's shape by local name, out_proj's included.
  static std::vector<std::pair<std::string, Shape>> ShapesOf(
      const MultiheadAttentionOptions& options);

 private:
  MultiheadAttentionOptions options_;
  Tensor in_proj_weight_, in_proj_bias_;
  Tensor q_proj_weight_, k_proj_weight_, v_proj_weight_;
  Linear out_proj_;
  Generator dropout_seeds_{0};
};

struct TransformerEncoderLayerOptions {
  int64_t d_model = 0;
  int64_t nhead = 1;  // must divide d_model
  int64_t dim_feedforward = 2048;
  double dropout = 0.1;
  std::string activation = "relu";  // "relu" or "gelu" (the exact, erf form)
  double layer_norm_eps = 1e-5;
  bool batch_first = false;
  // Pre-norm (x + f(norm(x))) instead of PyTorch's default post-norm
  // (norm(x + f(x))).
  bool norm_first = false;
  DType dtype = DType::kFloat32;
};

// Post-norm: x = norm1(x + dropout1(sa(x))); x = norm2(x + dropout2(ff(x))).
// Pre-norm:  x = x + dropout1(sa(norm1(x))); x = x + dropout2(ff(norm2(x))).
// ff(x) = linear2(dropout(activation(linear1(x)))). Dropout acts in
// training mode only, with masks drawn from seeds the layer's dropouts take
// from the constructor's generator.
class TransformerEncoderLayer : public Module {
 public:
  // Throws `Error` for options that describe no layer.
  TransformerEncoderLayer(const TransformerEncoderLayerOptions& options, Generator& gen,
                          std::source_location location = std::source_location::current());

  Tensor Forward(const Tensor& x) override;
  // With an attention mask and/or causal attention, as Attend takes them.
  Tensor Encode(const Tensor& x, const Tensor& mask = Tensor(), bool causal = false,
                std::source_location location = std::source_location::current());
  // With the masks of AttendOptions (attn_mask as PyTorch's src_mask,
  // key_padding_mask as its src_key_padding_mask) and causal; need_weights
  // is not used.
  Tensor Encode(const Tensor& x, const AttendOptions& options,
                std::source_location location = std::source_location::current());

  std::string ToString() const override;
  std::string Kind() const override { return "transformer_encoder_layer"; }
  ModuleConfig Config() const override;

  MultiheadAttention& self_attn() { return self_attn_; }
  Linear& linear1() { return linear1_; }
  Linear& linear2() { return linear2_; }
  LayerNorm& norm1() { return norm1_; }
  LayerNorm& norm2() { return norm2_; }
  const TransformerEncoderLayerOptions& options() const { return options_; }

  static absl::StatusOr<TransformerEncoderLayerOptions> OptionsFromConfig(
      const ModuleConfig& config);
  // Every tensor's shape by dotted local name ("self_attn.in_proj_weight").
  static std::vector<std::pair<std::string, Shape>> ShapesOf(
      const TransformerEncoderLayerOptions& options);

 private:
  Tensor FeedForward(const Tensor& x);

  TransformerEncoderLayerOptions options_;
  MultiheadAttention self_attn_;
  Linear linear1_;
  Dropout dropout_;
  Linear linear2_;
  LayerNorm norm1_, norm2_;
  Dropout dropout1_, dropout2_;
};

}  // namespace actgrad::nn

#endif  // ACTGRAD_NN_ATTENTION_H_
