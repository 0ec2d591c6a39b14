// -----------------------------------------------------------------------------
// File: lstm.h
// -----------------------------------------------------------------------------
//
// An LSTM cell composed from registered ops, so its gradient is checked like
// any other composition: sigmoid for the input, forget and output gates,
// tanh for the candidate and the cell output (claim C12). Parameters carry
// PyTorch's nn.LSTMCell names and shapes (weight_ih [4H, in], weight_hh
// [4H, H], bias_ih, bias_hh; gate order i, f, g, o) and its default
// initialization, U(-1/sqrt(H), 1/sqrt(H)).
//
// Example:
//
//   actgrad::nn::LstmCell cell({.input = 8, .hidden = 16}, gen);
//   actgrad::nn::LstmState state = cell.InitialState(batch);
//   for (const actgrad::Tensor& x_t : sequence) state = cell.Step(x_t, state);
//   actgrad::Tensor last = state.h;

#ifndef ACTGRAD_NN_LSTM_H_
#define ACTGRAD_NN_LSTM_H_

#include <source_location>

#include "graph/generator.h"
#include "nn/module.h"

namespace actgrad::nn {

struct LstmCellOptions {
  int64_t input = 0;
  int64_t hidden = 0;
  bool bias = true;
  DType dtype = DType::kFloat32;
};

struct LstmState {
  Tensor h;  // [batch, hidden]
  Tensor c;  // [batch, hidden]
};

class LstmCell : public Module {
 public:
  LstmCell(const LstmCellOptions& options, Generator& gen,
           std::source_location location = std::source_location::current());

  // Zeros of [batch, hidden].
  LstmState InitialState(int64_t batch) const;
  // One time step.
  LstmState Step(const Tensor& x, const LstmState& state);
  // One step from the zero state; returns h.
  Tensor Forward(const Tensor& x) override;

  std::string ToString() const override;
  std::string Kind() const override { return "lstm_cell"; }
  // input, hidden, bias, dtype.
  ModuleConfig Config() const override;

 private:
  LstmCellOptions options_;
  Tensor weight_ih_, weight_hh_, bias_ih_, bias_hh_;
};

}  // namespace actgrad::nn

#endif  // ACTGRAD_NN_LSTM_H_
