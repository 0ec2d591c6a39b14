// -----------------------------------------------------------------------------
// File: sequence_layers.h
// -----------------------------------------------------------------------------
//
// Small layers that sequence models need around the recurrent and attention
// layers, all over batch-first sequences [B, T, F]: LastStep and
// MeanOverTime reduce a sequence to one vector per sample (before a
// classifier head), PositionalEmbedding adds a learned vector per position
// (what a transformer over rows needs to know their order; "weight"
// [max_length, D], drawn from N(0, 0.02^2) as GPT-2 draws its own).
//
// Example:
//
//   actgrad::nn::PositionalEmbedding positions({.max_length = 8, .embedding_dim = 64}, gen);
//   actgrad::nn::LastStep last;
//   actgrad::Tensor h = positions(x);  // x [B, 8, 64] + weight
//   actgrad::Tensor v = last(lstm(h)); // [B, H]

#ifndef ACTGRAD_NN_SEQUENCE_LAYERS_H_
#define ACTGRAD_NN_SEQUENCE_LAYERS_H_

#include <cstdint>
#include <source_location>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/generator.h"
#include "nn/module.h"

namespace actgrad::nn {

// [B, T, F] -> [B, F]: step T-1 of every sample.
class LastStep : public Module {
 public:
  // Throws `Error` for an input that is not [B, T, F] with T >= 1.
  Tensor Forward(const Tensor& x) override;
  std::string ToString() const override { return "LastStep([B, T, F] -> [B, F])"; }
  std::string Kind() const override { return "last_step"; }
};

// [B, T, F] -> [B, F]: the mean over the steps.
class MeanOverTime : public Module {
 public:
  Tensor Forward(const Tensor& x) override;
  std::string ToString() const override { return "MeanOverTime([B, T, F] -> [B, F])"; }
  std::string Kind() const override { return "mean_over_time"; }
};

struct PositionalEmbeddingOptions {
  int64_t max_length = 0;  // the longest sequence it takes
  int64_t embedding_dim = 0;
  DType dtype = DType::kFloat32;
};

// x [B, T, D] + weight[0:T] for any T <= max_length.
class PositionalEmbedding : public Module {
 public:
  // Throws `Error` for non-positive sizes.
  PositionalEmbedding(const PositionalEmbeddingOptions& options, Generator& gen,
                      std::source_location location = std::source_location::current());
  // Throws `Error` naming the layer for another D or a sequence longer than
  // max_length.
  Tensor Forward(const Tensor& x) override;
  std::string ToString() const override;
  std::string Kind() const override { return "positional_embedding"; }
  ModuleConfig Config() const override;

  Tensor& weight() { return weight_; }
  const PositionalEmbeddingOptions& options() const { return options_; }

  static absl::StatusOr<PositionalEmbeddingOptions> OptionsFromConfig(const ModuleConfig& config);
  static std::vector<std::pair<std::string, Shape>> ShapesOf(
      const PositionalEmbeddingOptions& options);

 private:
  PositionalEmbeddingOptions options_;
  Tensor weight_;
};

}  // namespace actgrad::nn

#endif  // ACTGRAD_NN_SEQUENCE_LAYERS_H_
