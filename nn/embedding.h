// -----------------------------------------------------------------------------
// File: embedding.h
// -----------------------------------------------------------------------------
//
// A lookup table of learned vectors, as torch.nn.Embedding: index i selects
// row i of the parameter "weight" [num_embeddings, embedding_dim], drawn
// from N(0, 1) with the padding row (if any) zeroed, and that row receives
// no gradient. Indices are int64 of any shape; floating indices holding
// whole numbers are taken too, because data rows (CSV files, the CLI) reach
// a network as floats.
//
// Example:
//
//   actgrad::Generator gen(0);
//   actgrad::nn::Embedding embed({.num_embeddings = 1000, .embedding_dim = 64,
//                                 .padding_index = 0},
//                                gen);
//   actgrad::Tensor vectors = embed(tokens);  // tokens [B, T] -> [B, T, 64]

#ifndef ACTGRAD_NN_EMBEDDING_H_
#define ACTGRAD_NN_EMBEDDING_H_

#include <cstdint>
#include <source_location>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/generator.h"
#include "nn/module.h"

namespace actgrad::nn {

struct EmbeddingOptions {
  int64_t num_embeddings = 0;
  int64_t embedding_dim = 0;
  // The row that stays zero and is never trained (-1: none).
  int64_t padding_index = -1;
  DType dtype = DType::kFloat32;
};

class Embedding : public Module {
 public:
  // Throws `Error` for non-positive sizes or a padding index outside
  // [-1, num_embeddings).
  Embedding(const EmbeddingOptions& options, Generator& gen,
            std::source_location location = std::source_location::current());

  // indices of shape S -> S + [embedding_dim]. Throws `Error` naming the
  // layer for an index outside [0, num_embeddings) or a floating index that
  // is not a whole number.
  Tensor Forward(const Tensor& indices) override;
  std::string ToString() const override;
  std::string Kind() const override { return "embedding"; }
  ModuleConfig Config() const override;

  Tensor& weight() { return weight_; }
  const EmbeddingOptions& options() const { return options_; }

  static absl::StatusOr<EmbeddingOptions> OptionsFromConfig(const ModuleConfig& config);
  static std::vector<std::pair<std::string, Shape>> ShapesOf(const EmbeddingOptions& options);

 private:
  EmbeddingOptions options_;
  Tensor weight_;
};

}  // namespace actgrad::nn

#endif  // ACTGRAD_NN_EMBEDDING_H_
