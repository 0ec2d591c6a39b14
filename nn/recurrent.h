// -----------------------------------------------------------------------------
// File: recurrent.h
// -----------------------------------------------------------------------------
//
// Multi-layer, optionally bidirectional LSTM and GRU layers, as torch.nn.LSTM
// and torch.nn.GRU: each layer and direction is one call of the whole-
// sequence row of ops/sequence_ops.h (LstmLayer, GruLayer), so a layer's
// backward pass is one node, not T of them. Layer k reads layer k-1's
// output; a bidirectional layer concatenates its forward and reverse
// outputs on the feature axis. Parameters have PyTorch's names, shapes,
// order and initialization, U(+-1/sqrt(H)):
//
//   weight_ih_l{k}[_reverse]  [G*H, in]   in = input_size for k = 0, else H*directions
//   weight_hh_l{k}[_reverse]  [G*H, H]
//   bias_ih_l{k}[_reverse]    [G*H]       (with bias)
//   bias_hh_l{k}[_reverse]    [G*H]
//
// with G = 4 (gates i, f, g, o) for the LSTM and 3 (r, z, n) for the GRU,
// so state dicts load both ways. Sequences are [T, B, features], or
// [B, T, features] with batch_first; states are [num_layers * directions,
// B, H] in PyTorch's order (layer-major, forward before reverse).
//
// Example:
//
//   actgrad::Generator gen(0);
//   actgrad::nn::Lstm lstm({.input_size = 8, .hidden_size = 64, .num_layers = 2,
//                           .batch_first = true, .bidirectional = true},
//                          gen);
//   actgrad::Tensor y = lstm(x);                     // x [B, T, 8] -> [B, T, 128]
//   actgrad::nn::RecurrentResult r = lstm.ForwardWithState(x, {.h = h0, .c = c0});
//   actgrad::Tensor last = r.h_n;                    // [4, B, 64]

#ifndef ACTGRAD_NN_RECURRENT_H_
#define ACTGRAD_NN_RECURRENT_H_

#include <cstdint>
#include <source_location>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/generator.h"
#include "nn/module.h"

namespace actgrad::nn {

struct RecurrentOptions {
  int64_t input_size = 0;
  int64_t hidden_size = 0;
  int64_t num_layers = 1;
  bool bias = true;
  bool batch_first = false;
  bool bidirectional = false;
  // Dropout on the output of every layer but the last, in training mode
  // only, as PyTorch's `dropout` option.
  double dropout = 0;
  DType dtype = DType::kFloat32;
};

// Initial states, each [num_layers * directions, B, H]; undefined means
// zeros. `c` is the LSTM's cell state; a GRU has none.
struct RecurrentState {
  Tensor h;
  Tensor c;
};

struct RecurrentResult {
  Tensor output;  // [T, B, directions*H], or [B, T, directions*H] with batch_first
  Tensor h_n;     // [num_layers * directions, B, H]: each state after its last step read
  Tensor c_n;     // the same for the LSTM's cell state; undefined for a GRU
};

// The parameters of one layer and direction (biases undefined without bias).
struct RecurrentWeights {
  Tensor weight_ih, weight_hh, bias_ih, bias_hh;
};

// What Lstm and Gru share: options, parameters, config and printing.
class RecurrentLayer : public Module {
 public:
  enum class Form { kLstm, kGru };

  // The output sequence alone.
  Tensor Forward(const Tensor& x) override;
  // The output and the final states, from `initial` (zeros where undefined),
  // as PyTorch's forward(x, h0) / forward(x, (h0, c0)). Throws `Error` naming
  // the layer for an input or a state of another shape, or a cell state
  // given to a GRU.
  RecurrentResult ForwardWithState(const Tensor& x, const RecurrentState& initial = {},
                                   std::source_location location = std::source_location::current());

  std::string ToString() const override;
  std::string Kind() const override { return form_ == Form::kLstm ? "lstm" : "gru"; }
  ModuleConfig Config() const override;

  const RecurrentOptions& options() const { return options_; }
  Form form() const { return form_; }
  int64_t directions() const { return options_.bidirectional ? 2 : 1; }
  // Layer `layer`'s parameters in one direction. Throws for a layer out of
  // range or `reverse` on a unidirectional layer.
  RecurrentWeights& weights(int64_t layer, bool reverse = false,
                            std::source_location location = std::source_location::current());

  // 4 for the LSTM, 3 for the GRU.
  static int64_t Gates(Form form) { return form == Form::kLstm ? 4 : 3; }
  // The options a saved config holds, bounded; kInvalidArgument naming the
  // option otherwise.
  static absl::StatusOr<RecurrentOptions> OptionsFromConfig(const ModuleConfig& config);
  // Parameter shapes by name, in registration order, from the options alone.
  static std::vector<std::pair<std::string, Shape>> ShapesOf(Form form,
                                                             const RecurrentOptions& options);

 protected:
  // Throws `Error` for options that describe no layer.
  RecurrentLayer(Form form, const RecurrentOptions& options, Generator& gen,
                 const std::source_location& location);

 private:
  Form form_;
  RecurrentOptions options_;
  // One entry per layer and direction, in PyTorch's order; sized once in
  // the constructor, so the registered pointers stay valid.
  std::vector<RecurrentWeights> weights_;
  Generator dropout_seeds_{0};
};

class Lstm : public RecurrentLayer {
 public:
  Lstm(const RecurrentOptions& options, Generator& gen,
       std::source_location location = std::source_location::current())
      : RecurrentLayer(Form::kLstm, options, gen, location) {}
};

class Gru : public RecurrentLayer {
 public:
  Gru(const RecurrentOptions& options, Generator& gen,
      std::source_location location = std::source_location::current())
      : RecurrentLayer(Form::kGru, options, gen, location) {}
};

}  // namespace actgrad::nn

#endif  // ACTGRAD_NN_RECURRENT_H_
