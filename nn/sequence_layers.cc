#include "nn/sequence_layers.h"

#include "absl/strings/str_cat.h"
#include "graph/factories.h"
#include "nn/init.h"
#include "nn/layer_config.h"
#include "ops/functional.h"

namespace actgrad::nn {

namespace {

void RequireSequence(const Tensor& x, const std::string& layer,
                     const std::source_location& location) {
  ACTGRAD_REQUIRE(x.defined() && x.rank() == 3 && x.dim(1) > 0, location, layer,
                  ": the input must be a batch-first sequence [B, T, F] with T >= 1, got ",
                  x.defined() ? x.shape().ToString() : "undefined");
}

}  // namespace

Tensor LastStep::Forward(const Tensor& x) {
  RequireSequence(x, ToString(), std::source_location::current());
  const int64_t steps = x.dim(1);
  return Reshape(Slice(x, 1, steps - 1, steps), {x.dim(0), x.dim(2)});
}

Tensor MeanOverTime::Forward(const Tensor& x) {
  RequireSequence(x, ToString(), std::source_location::current());
  return Mean(x, 1);
}

PositionalEmbedding::PositionalEmbedding(const PositionalEmbeddingOptions& options, Generator& gen,
                                         std::source_location location)
    : options_(options) {
  ACTGRAD_REQUIRE(options.max_length > 0 && options.embedding_dim > 0, location,
                  "positional_embedding: sizes must be positive, got ", options.max_length, " x ",
                  options.embedding_dim);
  weight_ = Zeros({options.max_length, options.embedding_dim}, options.dtype);
  Initializer::Normal(0, 0.02).Fill(weight_, gen);
  RegisterParameter("weight", &weight_, location);
}

Tensor PositionalEmbedding::Forward(const Tensor& x) {
  const std::source_location here = std::source_location::current();
  ACTGRAD_REQUIRE(x.defined() && x.rank() == 3 && x.dim(1) >= 1 &&
                      x.dim(1) <= options_.max_length && x.dim(2) == options_.embedding_dim,
                  here, ToString(), ": the input must be [B, T, ", options_.embedding_dim,
                  "] with 1 <= T <= ", options_.max_length, ", got ",
                  x.defined() ? x.shape().ToString() : "undefined");
  const int64_t steps = x.dim(1);
  return x + (steps == options_.max_length ? weight_ : Slice(weight_, 0, 0, steps));
}

std::string PositionalEmbedding::ToString() const {
  return absl::StrCat("PositionalEmbedding(", options_.max_length, " positions, ",
                      options_.embedding_dim, ", init normal(0, 0.02))");
}

ModuleConfig PositionalEmbedding::Config() const {
  return ModuleConfig()
      .Set("max_length", options_.max_length)
      .Set("embedding_dim", options_.embedding_dim)
      .Set("dtype", DTypeName(options_.dtype));
}

absl::StatusOr<PositionalEmbeddingOptions> PositionalEmbedding::OptionsFromConfig(
    const ModuleConfig& config) {
  if (absl::Status s = OnlyKeysOf(config, {"max_length", "embedding_dim", "dtype"}); !s.ok()) {
    return s;
  }
  PositionalEmbeddingOptions o;
  ACTGRAD_CONFIG_ASSIGN(o.max_length, config.IntInRange("max_length", 1, kMaxLayerExtent));
  ACTGRAD_CONFIG_ASSIGN(o.embedding_dim, config.IntInRange("embedding_dim", 1, kMaxLayerExtent));
  ACTGRAD_CONFIG_ASSIGN(o.dtype, FloatDTypeOf(config));
  return o;
}

std::vector<std::pair<std::string, Shape>> PositionalEmbedding::ShapesOf(
    const PositionalEmbeddingOptions& o) {
  return {{"weight", Shape{o.max_length, o.embedding_dim}}};
}

}  // namespace actgrad::nn
