#include "nn/sequence_kinds.h"

#include "nn/attention.h"
#include "nn/embedding.h"
#include "nn/layer_config.h"
#include "nn/layer_kinds.h"
#include "nn/recurrent.h"
#include "nn/sequence_layers.h"

namespace actgrad::nn {

namespace {

using Shapes = std::vector<std::pair<std::string, Shape>>;

// Built from the options alone: the weights the constructor draws are
// replaced by the file's.
template <typename Layer, typename Options>
std::unique_ptr<Module> Make(const Options& options) {
  Generator unused(0);
  return std::make_unique<Layer>(options, unused);
}

ModuleKind RecurrentKind(RecurrentLayer::Form form, std::string name) {
  return internal::OptionsKind<RecurrentOptions>(
      std::move(name), &RecurrentLayer::OptionsFromConfig,
      [form](const RecurrentOptions& o) -> std::unique_ptr<Module> {
        if (form == RecurrentLayer::Form::kLstm) return Make<Lstm>(o);
        return Make<Gru>(o);
      },
      [form](const RecurrentOptions& o) { return RecurrentLayer::ShapesOf(form, o); });
}

// A layer without options or tensors.
template <typename Layer>
ModuleKind StatelessKind(std::string name) {
  return {.name = std::move(name),
          .build = [](const ModuleConfig& config,
                      std::vector<NamedModule>&) -> absl::StatusOr<std::unique_ptr<Module>> {
            if (absl::Status s = config.OnlyKeys({}); !s.ok()) return s;
            return std::unique_ptr<Module>(std::make_unique<Layer>());
          },
          .own_shapes = [](const ModuleConfig&) -> absl::StatusOr<Shapes> { return Shapes{}; }};
}

}  // namespace

std::vector<ModuleKind> SequenceLayerKinds() {
  std::vector<ModuleKind> kinds;
  kinds.push_back(internal::OptionsKind<EmbeddingOptions>(
      "embedding", &Embedding::OptionsFromConfig, &Make<Embedding, EmbeddingOptions>,
      &Embedding::ShapesOf));
  kinds.push_back(RecurrentKind(RecurrentLayer::Form::kLstm, "lstm"));
  kinds.push_back(RecurrentKind(RecurrentLayer::Form::kGru, "gru"));
  kinds.push_back(internal::OptionsKind<MultiheadAttentionOptions>(
      "multihead_attention", &MultiheadAttention::OptionsFromConfig,
      &Make<MultiheadAttention, MultiheadAttentionOptions>, &MultiheadAttention::ShapesOf));
  kinds.push_back(internal::OptionsKind<TransformerEncoderLayerOptions>(
      "transformer_encoder_layer", &TransformerEncoderLayer::OptionsFromConfig,
      &Make<TransformerEncoderLayer, TransformerEncoderLayerOptions>,
      &TransformerEncoderLayer::ShapesOf));
  kinds.push_back(internal::OptionsKind<PositionalEmbeddingOptions>(
      "positional_embedding", &PositionalEmbedding::OptionsFromConfig,
      &Make<PositionalEmbedding, PositionalEmbeddingOptions>, &PositionalEmbedding::ShapesOf));
  kinds.push_back(StatelessKind<LastStep>("last_step"));
  kinds.push_back(StatelessKind<MeanOverTime>("mean_over_time"));
  return kinds;
}

}  // namespace actgrad::nn
