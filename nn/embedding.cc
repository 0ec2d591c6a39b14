#include "nn/embedding.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "graph/factories.h"
#include "nn/init.h"
#include "nn/layer_config.h"
#include "ops/sequence_ops.h"

namespace actgrad::nn {

namespace {

// The int64 indices floating `x` holds; throws naming `layer` for a value
// that is not a whole number in [0, rows).
template <typename T>
Tensor WholeIndices(const Tensor& x, int64_t rows, const std::string& layer,
                    const std::source_location& location) {
  Tensor indices = Zeros(x.shape(), DType::kInt64);
  const T* in = x.data<T>();
  int64_t* out = indices.data<int64_t>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    const T v = in[i];
    ACTGRAD_REQUIRE(v >= 0 && v < T(rows) && v == std::floor(v), location, layer, ": index ", i,
                    " of the input ", x.shape().ToString(), " is ", double(v),
                    ", not a whole number in [0, ", rows, ")");
    out[i] = static_cast<int64_t>(v);
  }
  return indices;
}

}  // namespace

Embedding::Embedding(const EmbeddingOptions& options, Generator& gen, std::source_location location)
    : options_(options) {
  const EmbeddingOptions& o = options;
  ACTGRAD_REQUIRE(o.num_embeddings > 0 && o.embedding_dim > 0, location,
                  "embedding: sizes must be positive, got ", o.num_embeddings, " x ",
                  o.embedding_dim);
  ACTGRAD_REQUIRE(o.padding_index >= -1 && o.padding_index < o.num_embeddings, location,
                  "embedding: padding_index must be -1 (none) or in [0, ", o.num_embeddings,
                  "), got ", o.padding_index);
  weight_ = Zeros({o.num_embeddings, o.embedding_dim}, o.dtype);
  Initializer::Normal(0, 1).Fill(weight_, gen);
  if (o.padding_index >= 0) {
    // PyTorch zeroes the padding row so that padding contributes nothing.
    const int64_t start = o.padding_index * o.embedding_dim;
    if (o.dtype == DType::kFloat64) {
      std::fill_n(weight_.data<double>() + start, o.embedding_dim, 0.0);
    } else {
      std::fill_n(weight_.data<float>() + start, o.embedding_dim, 0.0f);
    }
  }
  RegisterParameter("weight", &weight_, location);
}

Tensor Embedding::Forward(const Tensor& indices) {
  const std::source_location here = std::source_location::current();
  ACTGRAD_REQUIRE(indices.defined(), here, ToString(), ": the input is undefined");
  if (indices.dtype() == DType::kInt64) {
    return actgrad::Embedding(indices, weight_, options_.padding_index);
  }
  const Tensor whole =
      indices.dtype() == DType::kFloat64
          ? WholeIndices<double>(indices, options_.num_embeddings, ToString(), here)
          : WholeIndices<float>(indices, options_.num_embeddings, ToString(), here);
  return actgrad::Embedding(whole, weight_, options_.padding_index);
}

std::string Embedding::ToString() const {
  return absl::StrCat(
      "Embedding(", options_.num_embeddings, ", ", options_.embedding_dim,
      options_.padding_index >= 0 ? absl::StrCat(", padding_index=", options_.padding_index) : "",
      ")");
}

ModuleConfig Embedding::Config() const {
  return ModuleConfig()
      .Set("num_embeddings", options_.num_embeddings)
      .Set("embedding_dim", options_.embedding_dim)
      .Set("padding_index", options_.padding_index)
      .Set("dtype", DTypeName(options_.dtype));
}

absl::StatusOr<EmbeddingOptions> Embedding::OptionsFromConfig(const ModuleConfig& config) {
  if (absl::Status s =
          OnlyKeysOf(config, {"num_embeddings", "embedding_dim", "padding_index", "dtype"});
      !s.ok()) {
    return s;
  }
  EmbeddingOptions o;
  ACTGRAD_CONFIG_ASSIGN(o.num_embeddings, config.IntInRange("num_embeddings", 1, kMaxLayerExtent));
  ACTGRAD_CONFIG_ASSIGN(o.embedding_dim, config.IntInRange("embedding_dim", 1, kMaxLayerExtent));
  ACTGRAD_CONFIG_ASSIGN(o.padding_index,
                        IntInRangeOr(config, "padding_index", -1, o.num_embeddings - 1, -1));
  ACTGRAD_CONFIG_ASSIGN(o.dtype, FloatDTypeOf(config));
  return o;
}

std::vector<std::pair<std::string, Shape>> Embedding::ShapesOf(const EmbeddingOptions& o) {
  return {{"weight", Shape{o.num_embeddings, o.embedding_dim}}};
}

}  // namespace actgrad::nn
