#include "nn/attention.h"

#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "graph/factories.h"
#include "nn/init.h"
#include "nn/layer_config.h"
#include "ops/builtin_ops.h"
#include "ops/functional.h"
#include "ops/layer_ops.h"
#include "ops/sequence_ops.h"

namespace actgrad::nn {

namespace {

std::string Describe(const Tensor& t) { return t.defined() ? t.shape().ToString() : "undefined"; }

// An attention mask in the additive form: a float one as it is; an int64
// one as -inf where it is nonzero and 0 elsewhere, in `dtype`, a constant
// (PyTorch's boolean masks receive no gradient either).
Tensor AdditiveMask(const Tensor& mask, DType dtype) {
  if (mask.dtype() != DType::kInt64) return mask;
  std::vector<double> values(mask.numel());
  const int64_t* hidden = mask.data<int64_t>();
  for (int64_t i = 0; i < mask.numel(); ++i) values[i] = hidden[i] != 0 ? -INFINITY : 0.0;
  return FromValues(values, mask.shape(), dtype);
}

// The options, checked before any member is built from them, so that a bad
// one is reported as the attention layer's, not its out_proj's; kdim and
// vdim of 0 become embed_dim.
MultiheadAttentionOptions Checked(MultiheadAttentionOptions o,
                                  const std::source_location& location) {
  ACTGRAD_REQUIRE(o.embed_dim > 0 && o.num_heads > 0 && o.embed_dim % o.num_heads == 0, location,
                  "multihead_attention: num_heads must be positive and divide embed_dim, got ",
                  o.num_heads, " heads for embed_dim ", o.embed_dim);
  ACTGRAD_REQUIRE(o.kdim >= 0 && o.vdim >= 0, location,
                  "multihead_attention: kdim and vdim must be positive, or 0 for embed_dim, got ",
                  o.kdim, " and ", o.vdim);
  ACTGRAD_REQUIRE(o.dropout >= 0 && o.dropout <= 1, location,
                  "multihead_attention: dropout must be in [0, 1], got ", o.dropout);
  if (o.kdim == 0) o.kdim = o.embed_dim;
  if (o.vdim == 0) o.vdim = o.embed_dim;
  return o;
}

bool SameEmbedDim(const MultiheadAttentionOptions& o) {
  return (o.kdim == 0 || o.kdim == o.embed_dim) && (o.vdim == 0 || o.vdim == o.embed_dim);
}

const TransformerEncoderLayerOptions& Checked(const TransformerEncoderLayerOptions& o,
                                              const std::source_location& location) {
  ACTGRAD_REQUIRE(o.d_model > 0 && o.nhead > 0 && o.d_model % o.nhead == 0, location,
                  "transformer_encoder_layer: nhead must be positive and divide d_model, got ",
                  o.nhead, " heads for d_model ", o.d_model);
  ACTGRAD_REQUIRE(o.dim_feedforward > 0, location,
                  "transformer_encoder_layer: dim_feedforward must be positive, got ",
                  o.dim_feedforward);
  ACTGRAD_REQUIRE(o.activation == "relu" || o.activation == "gelu", location,
                  "transformer_encoder_layer: activation must be \"relu\" or \"gelu\", got \"",
                  o.activation, "\"");
  ACTGRAD_REQUIRE(o.dropout >= 0 && o.dropout <= 1, location,
                  "transformer_encoder_layer: dropout must be in [0, 1], got ", o.dropout);
  return o;
}

// PyTorch's nn.Linear default: U(+-1/sqrt(fan_in)) for the weight and bias.
LinearOptions TorchLinear(int64_t in, int64_t out, DType dtype) {
  const double bound = 1.0 / std::sqrt(double(in));
  return {.in = in,
          .out = out,
          .weight_init = Initializer::HeUniform(1.0 / std::sqrt(3.0)),
          .bias_init = Initializer::Uniform(-bound, bound),
          .dtype = dtype};
}

absl::StatusOr<double> NumberIn(const ModuleConfig& config, absl::string_view key, double fallback,
                                double low, double high, bool open_low) {
  absl::StatusOr<double> v = config.Number(key, fallback);
  if (!v.ok()) return v.status();
  if (!((open_low ? *v > low : *v >= low) && *v <= high)) {
    return absl::InvalidArgumentError(
        absl::StrCat(key, ": ", *v, " is outside ", open_low ? "(" : "[", low, ", ", high, "]"));
  }
  return v;
}

}  // namespace

// ------------------------------------------------------- MultiheadAttention
MultiheadAttention::MultiheadAttention(const MultiheadAttentionOptions& options, Generator& gen,
                                       std::source_location location)
    : options_(Checked(options, location)),
      out_proj_({.in = options.embed_dim,
                 .out = options.embed_dim,
                 .bias = options.bias,
                 .weight_init = Initializer::HeUniform(1.0 / std::sqrt(3.0)),
                 .bias_init = Initializer::Zeros(),
                 .dtype = options.dtype},
                gen, location) {
  const int64_t e = options.embed_dim;
  if (same_embed_dim()) {
    in_proj_weight_ = Zeros({3 * e, e}, options.dtype);
    Initializer::XavierUniform().Fill(in_proj_weight_, gen);
    RegisterParameter("in_proj_weight", &in_proj_weight_, location);
  } else {
    // PyTorch's names and order, each projection drawn on its own.
    const std::pair<const char*, Tensor*> apart[] = {{"q_proj_weight", &q_proj_weight_},
                                                     {"k_proj_weight", &k_proj_weight_},
                                                     {"v_proj_weight", &v_proj_weight_}};
    const int64_t features[] = {e, options_.kdim, options_.vdim};
    for (int part = 0; part < 3; ++part) {
      *apart[part].second = Zeros({e, features[part]}, options.dtype);
      Initializer::XavierUniform().Fill(*apart[part].second, gen);
      RegisterParameter(apart[part].first, apart[part].second, location);
    }
  }
  if (options.bias) {
    in_proj_bias_ = Zeros({3 * e}, options.dtype);
    RegisterParameter("in_proj_bias", &in_proj_bias_, location);
  }
  RegisterModule("out_proj", &out_proj_, location);
  // Drawn last and only with dropout, so that layers without it draw their
  // weights as before.
  if (options.dropout > 0) dropout_seeds_ = Generator(gen.engine()());
  RegisterRandomStream(&dropout_seeds_);
}

bool MultiheadAttention::same_embed_dim() const { return SameEmbedDim(options_); }

Tensor MultiheadAttention::Forward(const Tensor& x) {
  ACTGRAD_REQUIRE(same_embed_dim(), std::source_location::current(), ToString(),
                  ": self-attention needs keys and values of embed_dim features; this layer "
                  "attends across, with Attend(query, key, value)");
  return Attend(x, x, x);
}

Tensor MultiheadAttention::Attend(const Tensor& query, const Tensor& key, const Tensor& value,
                                  const Tensor& attn_mask, bool causal,
                                  std::source_location location) {
  return Attend(query, key, value, AttendOptions{.attn_mask = attn_mask, .causal = causal},
                location)
      .output;
}

AttendResult MultiheadAttention::Attend(const Tensor& query, const Tensor& key, const Tensor& value,
                                        const AttendOptions& options,
                                        std::source_location location) {
  const MultiheadAttentionOptions& o = options_;
  const int64_t e = o.embed_dim, heads = o.num_heads;
  const int batch_axis = o.batch_first ? 0 : 1, time_axis = o.batch_first ? 1 : 0;
  auto fits = [&](const Tensor& t, int64_t features) {
    return t.defined() && t.rank() == 3 && t.dim(2) == features;
  };
  ACTGRAD_REQUIRE(fits(query, e) && fits(key, o.kdim) && fits(value, o.vdim) &&
                      key.dim(batch_axis) == query.dim(batch_axis) &&
                      value.dim(batch_axis) == query.dim(batch_axis) &&
                      value.dim(time_axis) == key.dim(time_axis),
                  location, ToString(), ": query, key and value must be ",
                  o.batch_first ? "[B, L, E], [B, S, kdim], [B, S, vdim]"
                                : "[L, B, E], [S, B, kdim], [S, B, vdim]",
                  " with E = ", e, ", kdim = ", o.kdim, ", vdim = ", o.vdim, ", got ",
                  Describe(query), ", ", Describe(key), ", ", Describe(value));
  const int64_t batch = query.dim(batch_axis);
  const int64_t target = query.dim(time_axis), source = key.dim(time_axis);
  const Shape per_head_shape({batch * heads, target, source});
  auto mask_dtype_ok = [&](const Tensor& m) {
    return m.dtype() == DType::kInt64 || m.dtype() == o.dtype;
  };
  const Tensor& attn_mask = options.attn_mask;
  if (attn_mask.defined()) {
    const bool shared =
        attn_mask.rank() == 2 && attn_mask.dim(0) == target && attn_mask.dim(1) == source;
    const bool per_head = attn_mask.rank() == 3 && attn_mask.dim(0) == batch * heads &&
                          attn_mask.dim(1) == target && attn_mask.dim(2) == source;
    ACTGRAD_REQUIRE(shared || per_head, location, ToString(), ": attn_mask must be [L, S] = [",
                    target, ", ", source, "] or [B * heads, L, S] = [", batch * heads, ", ", target,
                    ", ", source, "], got ", attn_mask.shape().ToString());
    ACTGRAD_REQUIRE(mask_dtype_ok(attn_mask), location, ToString(),
                    ": attn_mask must be int64 (nonzero hides a key) or ", DTypeName(o.dtype),
                    " (added to the scores), got ", DTypeName(attn_mask.dtype()));
  }
  const Tensor& padding = options.key_padding_mask;
  if (padding.defined()) {
    ACTGRAD_REQUIRE(padding.rank() == 2 && padding.dim(0) == batch && padding.dim(1) == source,
                    location, ToString(), ": key_padding_mask must be [B, S] = [", batch, ", ",
                    source, "], got ", padding.shape().ToString());
    ACTGRAD_REQUIRE(mask_dtype_ok(padding), location, ToString(),
                    ": key_padding_mask must be int64 (nonzero hides a key) or ",
                    DTypeName(o.dtype), " (added to the scores), got ", DTypeName(padding.dtype()));
  }
  // Both masks in the additive form the attention rows take: [L, S] alone,
  // or [B * heads, L, S] once a padding mask is in.
  Tensor mask = attn_mask.defined() ? AdditiveMask(attn_mask, o.dtype) : Tensor();
  if (padding.defined()) {
    const Tensor per_key = Reshape(AdditiveMask(padding, o.dtype), {batch, 1, 1, source}, location);
    Tensor per_head = Reshape(BroadcastTo(per_key, Shape({batch, heads, target, source}), location),
                              {batch * heads, target, source}, location);
    if (mask.defined()) {
      per_head = per_head + (mask.rank() == 2 ? BroadcastTo(mask, per_head_shape, location) : mask);
    }
    mask = per_head;
  }
  // The attention rows read sequence-first [L, B, E] in place, each head a
  // strided column block; batch-first inputs are turned once, which costs
  // less than splitting and merging heads.
  auto sequence_first = [&](const Tensor& t) {
    return o.batch_first ? Permute(t, {1, 0, 2}, location) : t;
  };
  AttentionOptions attention{.causal = options.causal};
  if (is_training() && o.dropout > 0) {
    attention.dropout = o.dropout;
    attention.seed = dropout_seeds_.engine()();
  }
  Tensor context, projected_query, projected_key;
  if (query.impl() == key.impl() && key.impl() == value.impl()) {
    // Self-attention: one product for the three projections, read in place.
    const Tensor qkv =
        actgrad::Linear(sequence_first(query), in_proj_weight_, in_proj_bias_, location);
    context = MultiHeadSelfAttention(qkv, heads, mask, attention, location);
    if (options.need_weights) {
      projected_query = Slice(qkv, 2, 0, e, location);
      projected_key = Slice(qkv, 2, e, 2 * e, location);
    }
  } else {
    auto project = [&](const Tensor& x, int64_t part) {
      const Tensor* apart[] = {&q_proj_weight_, &k_proj_weight_, &v_proj_weight_};
      const Tensor w = same_embed_dim()
                           ? Slice(in_proj_weight_, 0, part * e, (part + 1) * e, location)
                           : *apart[part];
      const Tensor b =
          o.bias ? Slice(in_proj_bias_, 0, part * e, (part + 1) * e, location) : Tensor();
      return actgrad::Linear(sequence_first(x), w, b, location);
    };
    projected_query = project(query, 0);
    projected_key = project(key, 1);
    context = MultiHeadAttention(projected_query, projected_key, project(value, 2), heads, mask,
                                 attention, location);
  }
  AttendResult result;
  const Tensor attended = out_proj_(context);
  result.output = o.batch_first ? Permute(attended, {1, 0, 2}, location) : attended;
  if (options.need_weights) {
    // The rows keep the weights to themselves; these are the same scores,
    // from the same projections, through ops of their own.
    const int64_t d = e / heads;
    auto heads_first = [&](const Tensor& t) {  // [T, B, E] -> [B * heads, T, d]
      const int64_t length = t.dim(0);
      return Reshape(
          Permute(Reshape(t, {length, batch, heads, d}, location), {1, 2, 0, 3}, location),
          {batch * heads, length, d}, location);
    };
    Tensor scores = Matmul(heads_first(projected_query),
                           Permute(heads_first(projected_key), {0, 2, 1}, location), location) *
                    (1.0 / std::sqrt(double(d)));
    if (mask.defined()) {
      scores = scores + (mask.rank() == 2 ? BroadcastTo(mask, per_head_shape, location) : mask);
    }
    if (options.causal) {
      std::vector<double> hidden(target * source, 0.0);
      for (int64_t i = 0; i < target; ++i) {
        for (int64_t j = i + 1; j < source; ++j) hidden[i * source + j] = -INFINITY;
      }
      scores = scores + BroadcastTo(FromValues(hidden, Shape({target, source}), o.dtype),
                                    per_head_shape, location);
    }
    const Tensor weights =
        Reshape(Softmax(scores, -1, location), {batch, heads, target, source}, location);
    result.weights = options.average_attn_weights ? Mean(weights, 1, false, location) : weights;
  }
  return result;
}

std::string MultiheadAttention::ToString() const {
  const MultiheadAttentionOptions& o = options_;
  return absl::StrCat("MultiheadAttention(", o.embed_dim, ", ", o.num_heads, " heads",
                      same_embed_dim() ? "" : absl::StrCat(", kdim=", o.kdim, ", vdim=", o.vdim),
                      o.dropout > 0 ? absl::StrCat(", dropout=", o.dropout) : "",
                      o.batch_first ? ", batch_first" : "", o.bias ? "" : ", no bias", ")");
}

ModuleConfig MultiheadAttention::Config() const {
  const MultiheadAttentionOptions& o = options_;
  ModuleConfig config = ModuleConfig().Set("embed_dim", o.embed_dim).Set("num_heads", o.num_heads);
  // Files of layers without them stay as they were.
  if (!same_embed_dim()) config.Set("kdim", o.kdim).Set("vdim", o.vdim);
  return config.Set("dropout", o.dropout)
      .Set("bias", o.bias)
      .Set("batch_first", o.batch_first)
      .Set("dtype", DTypeName(o.dtype));
}

absl::StatusOr<MultiheadAttentionOptions> MultiheadAttention::OptionsFromConfig(
    const ModuleConfig& config) {
  if (absl::Status s = OnlyKeysOf(config, {"embed_dim", "num_heads", "kdim", "vdim", "dropout",
                                           "bias", "batch_first", "dtype"});
      !s.ok()) {
    return s;
  }
  MultiheadAttentionOptions o;
  // in_proj_weight has 3E rows, which must stay within the extent bound.
  ACTGRAD_CONFIG_ASSIGN(o.embed_dim, config.IntInRange("embed_dim", 1, kMaxLayerExtent / 3));
  ACTGRAD_CONFIG_ASSIGN(o.num_heads, config.IntInRange("num_heads", 1, o.embed_dim));
  if (o.embed_dim % o.num_heads != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_heads: ", o.num_heads, " does not divide embed_dim ", o.embed_dim));
  }
  // k_proj_weight and v_proj_weight are [E, kdim] and [E, vdim]: their
  // elements, E times the extent, are bounded by the shapes the file must
  // hold, which the loader checks before it allocates.
  ACTGRAD_CONFIG_ASSIGN(o.kdim, IntInRangeOr(config, "kdim", 1, kMaxLayerExtent, o.embed_dim));
  ACTGRAD_CONFIG_ASSIGN(o.vdim, IntInRangeOr(config, "vdim", 1, kMaxLayerExtent, o.embed_dim));
  ACTGRAD_CONFIG_ASSIGN(o.dropout, NumberIn(config, "dropout", 0, 0, 1, false));
  ACTGRAD_CONFIG_ASSIGN(o.bias, config.Bool("bias", true));
  ACTGRAD_CONFIG_ASSIGN(o.batch_first, config.Bool("batch_first", false));
  ACTGRAD_CONFIG_ASSIGN(o.dtype, FloatDTypeOf(config));
  return o;
}

std::vector<std::pair<std::string, Shape>> MultiheadAttention::ShapesOf(
    const MultiheadAttentionOptions& o) {
  const int64_t e = o.embed_dim;
  std::vector<std::pair<std::string, Shape>> shapes;
  if (SameEmbedDim(o)) {
    shapes.emplace_back("in_proj_weight", Shape{3 * e, e});
  } else {
    shapes.emplace_back("q_proj_weight", Shape{e, e});
    shapes.emplace_back("k_proj_weight", Shape{e, o.kdim == 0 ? e : o.kdim});
    shapes.emplace_back("v_proj_weight", Shape{e, o.vdim == 0 ? e : o.vdim});
  }
  if (o.bias) shapes.emplace_back("in_proj_bias", Shape{3 * e});
  shapes.emplace_back("out_proj.weight", Shape{e, e});
  if (o.bias) shapes.emplace_back("out_proj.bias", Shape{e});
  return shapes;
}

// -------------------------------------------------- TransformerEncoderLayer
TransformerEncoderLayer::TransformerEncoderLayer(const TransformerEncoderLayerOptions& options,
                                                 Generator& gen, std::source_location location)
    : options_(Checked(options, location)),
      self_attn_({.embed_dim = options.d_model,
                  .num_heads = options.nhead,
                  .dropout = options.dropout,
                  .batch_first = options.batch_first,
                  .dtype = options.dtype},
                 gen, location),
      linear1_(TorchLinear(options.d_model, options.dim_feedforward, options.dtype), gen, location),
      dropout_(options.dropout, gen, location),
      linear2_(TorchLinear(options.dim_feedforward, options.d_model, options.dtype), gen, location),
      norm1_({.normalized_shape = {options.d_model},
              .eps = options.layer_norm_eps,
              .dtype = options.dtype},
             location),
      norm2_({.normalized_shape = {options.d_model},
              .eps = options.layer_norm_eps,
              .dtype = options.dtype},
             location),
      dropout1_(options.dropout, gen, location),
      dropout2_(options.dropout, gen, location) {
  // PyTorch's registration order, which is its state_dict's.
  RegisterModule("self_attn", &self_attn_, location);
  RegisterModule("linear1", &linear1_, location);
  RegisterModule("dropout", &dropout_, location);
  RegisterModule("linear2", &linear2_, location);
  RegisterModule("norm1", &norm1_, location);
  RegisterModule("norm2", &norm2_, location);
  RegisterModule("dropout1", &dropout1_, location);
  RegisterModule("dropout2", &dropout2_, location);
}

Tensor TransformerEncoderLayer::FeedForward(const Tensor& x) {
  Tensor h = linear1_(x);
  h = options_.activation == "gelu" ? Apply(ops::kGelu, {h}) : Relu(h);
  return linear2_(dropout_(h));
}

Tensor TransformerEncoderLayer::Forward(const Tensor& x) { return Encode(x); }

Tensor TransformerEncoderLayer::Encode(const Tensor& x, const Tensor& mask, bool causal,
                                       std::source_location location) {
  return Encode(x, AttendOptions{.attn_mask = mask, .causal = causal}, location);
}

Tensor TransformerEncoderLayer::Encode(const Tensor& x, const AttendOptions& options,
                                       std::source_location location) {
  const TransformerEncoderLayerOptions& o = options_;
  ACTGRAD_REQUIRE(x.defined() && x.rank() == 3 && x.dim(2) == o.d_model, location, ToString(),
                  ": the input must be ", o.batch_first ? "[B, L, " : "[L, B, ", o.d_model,
                  "], got ", Describe(x));
  auto attend = [&](const Tensor& t) {
    // Plain self-attention goes through the module call, so that a profile
    // names its ops as the self_attn layer's.
    AttendOptions masks = options;
    masks.need_weights = false;
    const bool plain =
        !masks.attn_mask.defined() && !masks.key_padding_mask.defined() && !masks.causal;
    const Tensor a = plain ? self_attn_(t) : self_attn_.Attend(t, t, t, masks, location).output;
    return dropout1_(a);
  };
  auto feed_forward = [&](const Tensor& t) { return dropout2_(FeedForward(t)); };
  Tensor y = x;
  if (o.norm_first) {
    y = y + attend(norm1_(y));
    y = y + feed_forward(norm2_(y));
  } else {
    y = norm1_(y + attend(y));
    y = norm2_(y + feed_forward(y));
  }
  return y;
}

std::string TransformerEncoderLayer::ToString() const {
  const TransformerEncoderLayerOptions& o = options_;
  return absl::StrCat("TransformerEncoderLayer(", o.d_model, ", ", o.nhead, " heads, feedforward ",
                      o.dim_feedforward, " ", o.activation, ", dropout=", o.dropout,
                      o.norm_first ? ", pre-norm" : ", post-norm",
                      o.batch_first ? ", batch_first" : "", ")");
}

ModuleConfig TransformerEncoderLayer::Config() const {
  const TransformerEncoderLayerOptions& o = options_;
  return ModuleConfig()
      .Set("d_model", o.d_model)
      .Set("nhead", o.nhead)
      .Set("dim_feedforward", o.dim_feedforward)
      .Set("dropout", o.dropout)
      .Set("activation", o.activation)
      .Set("layer_norm_eps", o.layer_norm_eps)
      .Set("batch_first", o.batch_first)
      .Set("norm_first", o.norm_first)
      .Set("dtype", DTypeName(o.dtype));
}

absl::StatusOr<TransformerEncoderLayerOptions> TransformerEncoderLayer::OptionsFromConfig(
    const ModuleConfig& config) {
  if (absl::Status s =
          OnlyKeysOf(config, {"d_model", "nhead", "dim_feedforward", "dropout", "activation",
                              "layer_norm_eps", "batch_first", "norm_first", "dtype"});
      !s.ok()) {
    return s;
  }
  TransformerEncoderLayerOptions o;
  ACTGRAD_CONFIG_ASSIGN(o.d_model, config.IntInRange("d_model", 1, kMaxLayerExtent / 3));
  ACTGRAD_CONFIG_ASSIGN(o.nhead, config.IntInRange("nhead", 1, o.d_model));
  if (o.d_model % o.nhead != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("nhead: ", o.nhead, " does not divide d_model ", o.d_model));
  }
  ACTGRAD_CONFIG_ASSIGN(o.dim_feedforward,
                        IntInRangeOr(config, "dim_feedforward", 1, kMaxLayerExtent, 2048));
  ACTGRAD_CONFIG_ASSIGN(o.dropout, NumberIn(config, "dropout", 0.1, 0, 1, false));
  ACTGRAD_CONFIG_ASSIGN(o.activation, config.String("activation", "relu"));
  if (o.activation != "relu" && o.activation != "gelu") {
    return absl::InvalidArgumentError(
        absl::StrCat("activation: \"", o.activation, "\" is not relu or gelu"));
  }
  ACTGRAD_CONFIG_ASSIGN(o.layer_norm_eps, NumberIn(config, "layer_norm_eps", 1e-5, 0, 1, true));
  ACTGRAD_CONFIG_ASSIGN(o.batch_first, config.Bool("batch_first", false));
  ACTGRAD_CONFIG_ASSIGN(o.norm_first, config.Bool("norm_first", false));
  ACTGRAD_CONFIG_ASSIGN(o.dtype, FloatDTypeOf(config));
  return o;
}

std::vector<std::pair<std::string, Shape>> TransformerEncoderLayer::ShapesOf(
    const TransformerEncoderLayerOptions& o) {
  std::vector<std::pair<std::string, Shape>> shapes;
  for (auto& [name, shape] :
       MultiheadAttention::ShapesOf({.embed_dim = o.d_model, .num_heads = o.nhead})) {
    shapes.emplace_back("self_attn." + name, shape);
  }
  const int64_t e = o.d_model, f = o.dim_feedforward;
  shapes.emplace_back("linear1.weight", Shape{f, e});
  shapes.emplace_back("linear1.bias", Shape{f});
  shapes.emplace_back("linear2.weight", Shape{e, f});
  shapes.emplace_back("linear2.bias", Shape{e});
  for (const char* norm : {"norm1", "norm2"}) {
    shapes.emplace_back(absl::StrCat(norm, ".weight"), Shape{e});
    shapes.emplace_back(absl::StrCat(norm, ".bias"), Shape{e});
  }
  return shapes;
}

}  // namespace actgrad::nn
