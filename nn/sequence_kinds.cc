#include "nn/sequence_kinds.h"

#include "nn/attention.h"
#include "nn/embedding.h"
#include "nn/layer_config.h"
#include "nn/recurrent.h"
#include "nn/sequence_layers.h"

namespace actgrad::nn {

namespace {

using Shapes = std::vector<std::pair<std::string, Shape>>;

// A kind whose options `read` parses and bounds, `make` builds from, and
// `shapes` sizes.
template <typename Options, typename Read, typename Make, typename ShapesFn>
ModuleKind LayerKind(std::string name, Read read, Make make, ShapesFn shapes) {
  return {
      .name = std::move(name),
      .build = [read, make](const ModuleConfig& config,
                            std::vector<NamedModule>&) -> absl::StatusOr<std::unique_ptr<Module>> {
        absl::StatusOr<Options> options = read(config);
        if (!options.ok()) return options.status();
        // The weights drawn here are replaced by the file's.
        Generator unused(0);
        return make(*options, unused);
      },
      .own_shapes = [read, shapes](const ModuleConfig& config) -> absl::StatusOr<Shapes> {
        absl::StatusOr<Options> options = read(config);
        if (!options.ok()) return options.status();
        return shapes(*options);
      }};
}

template <typename Layer, typename Options>
std::unique_ptr<Module> Make(const Options& options, Generator& gen) {
  return std::make_unique<Layer>(options, gen);
}

ModuleKind RecurrentKind(RecurrentLayer::Form form, std::string name) {
  return LayerKind<RecurrentOptions>(
      std::move(name), &RecurrentLayer::OptionsFromConfig,
      [form](const RecurrentOptions& o, Generator& gen) -> std::unique_ptr<Module> {
        if (form == RecurrentLayer::Form::kLstm) return std::make_unique<Lstm>(o, gen);
        return std::make_unique<Gru>(o, gen);
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
  kinds.push_back(LayerKind<EmbeddingOptions>("embedding", &Embedding::OptionsFromConfig,
                                              &Make<Embedding, EmbeddingOptions>,
                                              &Embedding::ShapesOf));
  kinds.push_back(RecurrentKind(RecurrentLayer::Form::kLstm, "lstm"));
  kinds.push_back(RecurrentKind(RecurrentLayer::Form::kGru, "gru"));
  kinds.push_back(LayerKind<MultiheadAttentionOptions>(
      "multihead_attention", &MultiheadAttention::OptionsFromConfig,
      &Make<MultiheadAttention, MultiheadAttentionOptions>, &MultiheadAttention::ShapesOf));
  kinds.push_back(LayerKind<TransformerEncoderLayerOptions>(
      "transformer_encoder_layer", &TransformerEncoderLayer::OptionsFromConfig,
      &Make<TransformerEncoderLayer, TransformerEncoderLayerOptions>,
      &TransformerEncoderLayer::ShapesOf));
  kinds.push_back(LayerKind<PositionalEmbeddingOptions>(
      "positional_embedding", &PositionalEmbedding::OptionsFromConfig,
      &Make<PositionalEmbedding, PositionalEmbeddingOptions>, &PositionalEmbedding::ShapesOf));
  kinds.push_back(StatelessKind<LastStep>("last_step"));
  kinds.push_back(StatelessKind<MeanOverTime>("mean_over_time"));
  return kinds;
}

}  // namespace actgrad::nn
