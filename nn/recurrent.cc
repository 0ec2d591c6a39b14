#include "nn/recurrent.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "graph/factories.h"
#include "nn/init.h"
#include "nn/layer_config.h"
#include "ops/functional.h"
#include "ops/layer_ops.h"
#include "ops/sequence_ops.h"

namespace actgrad::nn {

namespace {

// Deeper stacks than this are surely a mistake (or a hostile file).
constexpr int64_t kMaxRecurrentLayers = 1024;

std::string Suffix(int64_t layer, bool reverse) {
  return absl::StrCat("_l", layer, reverse ? "_reverse" : "");
}

std::string Describe(const Tensor& t) { return t.defined() ? t.shape().ToString() : "undefined"; }

// Entry `index` of a [layers * directions, B, H] state, as [B, H].
Tensor StateAt(const Tensor& state, int64_t index) {
  return Reshape(Slice(state, 0, index, index + 1), {state.dim(1), state.dim(2)});
}

// [B, H] states stacked to [count, B, H].
Tensor Stack(const std::vector<Tensor>& states) {
  const Tensor joined = Concatenate(std::span<const Tensor>(states), 0);
  return Reshape(joined, {int64_t(states.size()), states[0].dim(0), states[0].dim(1)});
}

}  // namespace

std::vector<std::pair<std::string, Shape>> RecurrentLayer::ShapesOf(Form form,
                                                                    const RecurrentOptions& o) {
  std::vector<std::pair<std::string, Shape>> shapes;
  const int64_t gates = Gates(form) * o.hidden_size;
  const int64_t directions = o.bidirectional ? 2 : 1;
  for (int64_t layer = 0; layer < o.num_layers; ++layer) {
    const int64_t in = layer == 0 ? o.input_size : o.hidden_size * directions;
    for (int64_t d = 0; d < directions; ++d) {
      const std::string suffix = Suffix(layer, d == 1);
      shapes.emplace_back("weight_ih" + suffix, Shape{gates, in});
      shapes.emplace_back("weight_hh" + suffix, Shape{gates, o.hidden_size});
      if (o.bias) {
        shapes.emplace_back("bias_ih" + suffix, Shape{gates});
        shapes.emplace_back("bias_hh" + suffix, Shape{gates});
      }
    }
  }
  return shapes;
}

RecurrentLayer::RecurrentLayer(Form form, const RecurrentOptions& options, Generator& gen,
                               const std::source_location& location)
    : form_(form), options_(options) {
  const std::string kind = Kind();
  const RecurrentOptions& o = options;
  ACTGRAD_REQUIRE(o.input_size > 0 && o.hidden_size > 0, location, kind,
                  ": sizes must be positive, got input_size ", o.input_size, ", hidden_size ",
                  o.hidden_size);
  ACTGRAD_REQUIRE(o.num_layers >= 1 && o.num_layers <= kMaxRecurrentLayers, location, kind,
                  ": num_layers must be in [1, ", kMaxRecurrentLayers, "], got ", o.num_layers);
  ACTGRAD_REQUIRE(o.dropout >= 0 && o.dropout <= 1, location, kind,
                  ": dropout must be in [0, 1], got ", o.dropout);
  const std::vector<std::pair<std::string, Shape>> shapes = ShapesOf(form, o);
  weights_.resize(size_t(o.num_layers * directions()));
  // PyTorch draws every parameter, biases included, from U(+-1/sqrt(H)).
  const double bound = 1.0 / std::sqrt(double(o.hidden_size));
  const Initializer init = Initializer::Uniform(-bound, bound);
  const size_t per_direction = o.bias ? 4 : 2;
  for (size_t i = 0; i < shapes.size(); ++i) {
    RecurrentWeights& w = weights_[i / per_direction];
    Tensor* slots[] = {&w.weight_ih, &w.weight_hh, &w.bias_ih, &w.bias_hh};
    Tensor* t = slots[i % per_direction];
    *t = Zeros(shapes[i].second, o.dtype);
    init.Fill(*t, gen);
    RegisterParameter(shapes[i].first, t, location);
  }
  if (o.dropout > 0) dropout_seeds_ = Generator(gen.engine()());
  RegisterRandomStream(&dropout_seeds_);
}

RecurrentWeights& RecurrentLayer::weights(int64_t layer, bool reverse,
                                          std::source_location location) {
  ACTGRAD_REQUIRE(layer >= 0 && layer < options_.num_layers && (!reverse || options_.bidirectional),
                  location, Kind(), ": there is no layer ", layer, reverse ? " in reverse" : "",
                  " (", options_.num_layers, " layers, ",
                  options_.bidirectional ? "bidirectional" : "one direction", ")");
  return weights_[size_t(layer * directions() + (reverse ? 1 : 0))];
}

Tensor RecurrentLayer::Forward(const Tensor& x) { return ForwardWithState(x).output; }

RecurrentResult RecurrentLayer::ForwardWithState(const Tensor& x, const RecurrentState& initial,
                                                 std::source_location location) {
  const RecurrentOptions& o = options_;
  const int64_t hidden = o.hidden_size;
  ACTGRAD_REQUIRE(
      x.defined() && x.rank() == 3 && x.dim(2) == o.input_size && x.dim(0) > 0 && x.dim(1) > 0,
      location, ToString(), ": the input must be ", o.batch_first ? "[B, T, " : "[T, B, ",
      o.input_size, "] with at least one step, got ", Describe(x));
  Tensor sequence = o.batch_first ? Permute(x, {1, 0, 2}) : x;
  const int64_t steps = sequence.dim(0), batch = sequence.dim(1);
  const Shape state_shape{o.num_layers * directions(), batch, hidden};
  for (const auto& [name, state] : {std::pair{"h0", &initial.h}, std::pair{"c0", &initial.c}}) {
    ACTGRAD_REQUIRE(!state->defined() || state->shape() == state_shape, location, ToString(), ": ",
                    name, " must be [layers*directions, B, H] = ", state_shape.ToString(), ", got ",
                    state->shape().ToString());
  }
  ACTGRAD_REQUIRE(form_ == Form::kLstm || !initial.c.defined(), location, ToString(),
                  ": a GRU has no cell state, but c0 was given");
  const Tensor zeros = Zeros({batch, hidden}, x.dtype());
  std::vector<Tensor> h_n, c_n;
  for (int64_t layer = 0; layer < o.num_layers; ++layer) {
    std::vector<Tensor> outputs;
    for (int64_t d = 0; d < directions(); ++d) {
      const int64_t index = layer * directions() + d;
      const RecurrentWeights& w = weights_[size_t(index)];
      const Tensor h0 = initial.h.defined() ? StateAt(initial.h, index) : zeros;
      if (form_ == Form::kLstm) {
        const Tensor c0 = initial.c.defined() ? StateAt(initial.c, index) : zeros;
        LstmSequence run = LstmLayer(sequence, h0, c0, w.weight_ih, w.weight_hh, w.bias_ih,
                                     w.bias_hh, d == 1, location);
        outputs.push_back(std::move(run.output));
        h_n.push_back(std::move(run.h_n));
        c_n.push_back(std::move(run.c_n));
      } else {
        Tensor out = GruLayer(sequence, h0, w.weight_ih, w.weight_hh, w.bias_ih, w.bias_hh, d == 1,
                              location);
        // The state after the last step read: step T-1 forward, 0 in reverse.
        const int64_t last = d == 1 ? 0 : steps - 1;
        h_n.push_back(Reshape(Slice(out, 0, last, last + 1), {batch, hidden}));
        outputs.push_back(std::move(out));
      }
    }
    sequence = outputs.size() == 2 ? Concatenate({outputs[0], outputs[1]}, 2) : outputs[0];
    if (layer + 1 < o.num_layers && o.dropout > 0 && is_training()) {
      sequence = Dropout(sequence, o.dropout, dropout_seeds_.engine()());
    }
  }
  RecurrentResult result;
  result.output = o.batch_first ? Permute(sequence, {1, 0, 2}) : sequence;
  result.h_n = Stack(h_n);
  if (form_ == Form::kLstm) result.c_n = Stack(c_n);
  return result;
}

std::string RecurrentLayer::ToString() const {
  const RecurrentOptions& o = options_;
  return absl::StrCat(form_ == Form::kLstm ? "Lstm(" : "Gru(", o.input_size, " -> ", o.hidden_size,
                      o.num_layers > 1 ? absl::StrCat(", ", o.num_layers, " layers") : "",
                      o.bidirectional ? ", bidirectional" : "",
                      o.batch_first ? ", batch_first" : "",
                      o.dropout > 0 ? absl::StrCat(", dropout=", o.dropout) : "",
                      o.bias ? "" : ", no bias", ", init uniform(+-1/sqrt(", o.hidden_size, ")))");
}

ModuleConfig RecurrentLayer::Config() const {
  const RecurrentOptions& o = options_;
  return ModuleConfig()
      .Set("input_size", o.input_size)
      .Set("hidden_size", o.hidden_size)
      .Set("num_layers", o.num_layers)
      .Set("bias", o.bias)
      .Set("batch_first", o.batch_first)
      .Set("bidirectional", o.bidirectional)
      .Set("dropout", o.dropout)
      .Set("dtype", DTypeName(o.dtype));
}

absl::StatusOr<RecurrentOptions> RecurrentLayer::OptionsFromConfig(const ModuleConfig& config) {
  if (absl::Status s = OnlyKeysOf(config, {"input_size", "hidden_size", "num_layers", "bias",
                                           "batch_first", "bidirectional", "dropout", "dtype"});
      !s.ok()) {
    return s;
  }
  RecurrentOptions o;
  ACTGRAD_CONFIG_ASSIGN(o.input_size, config.IntInRange("input_size", 1, kMaxLayerExtent));
  // The gate rows, 4H, must stay within the extent bound too.
  ACTGRAD_CONFIG_ASSIGN(o.hidden_size, config.IntInRange("hidden_size", 1, kMaxLayerExtent / 4));
  ACTGRAD_CONFIG_ASSIGN(o.num_layers,
                        IntInRangeOr(config, "num_layers", 1, kMaxRecurrentLayers, 1));
  ACTGRAD_CONFIG_ASSIGN(o.bias, config.Bool("bias", true));
  ACTGRAD_CONFIG_ASSIGN(o.batch_first, config.Bool("batch_first", false));
  ACTGRAD_CONFIG_ASSIGN(o.bidirectional, config.Bool("bidirectional", false));
  ACTGRAD_CONFIG_ASSIGN(o.dropout, config.Number("dropout", 0.0));
  if (!(o.dropout >= 0 && o.dropout <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("dropout: ", o.dropout, " is outside [0, 1]"));
  }
  ACTGRAD_CONFIG_ASSIGN(o.dtype, FloatDTypeOf(config));
  return o;
}

}  // namespace actgrad::nn
