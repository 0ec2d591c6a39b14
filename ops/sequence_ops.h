// -----------------------------------------------------------------------------
// File: sequence_ops.h
// -----------------------------------------------------------------------------
//
// The functions behind sequence and attention models: embeddings, whole-
// sequence LSTM and GRU layers, and scaled dot-product attention. Each is
// one call of `Apply()` with its row (ops/embedding.cc, recurrent.cc,
// attention.cc), so each is gradient-checked to first and second order and
// profiled like any other op. Layouts are PyTorch's: sequences are
// [T, B, features] (time first), gates are stacked in PyTorch's order
// (LSTM i, f, g, o; GRU r, z, n), and the weights of one layer and direction
// are PyTorch's weight_ih [gates*H, I], weight_hh [gates*H, H], bias_ih and
// bias_hh [gates*H].
//
// Example:
//
//   using namespace actgrad;
//   Tensor tokens_embedded = Embedding(tokens, table);          // [T, B, D]
//   LstmSequence lstm = LstmLayer(tokens_embedded, h0, c0, w_ih, w_hh, b_ih, b_hh);
//   Tensor last = lstm.h_n;                                     // [B, H]
//   Tensor context = ScaledDotProductAttention(q, k, v, Tensor(), {.causal = true});

#ifndef ACTGRAD_OPS_SEQUENCE_OPS_H_
#define ACTGRAD_OPS_SEQUENCE_OPS_H_

#include <cstdint>
#include <source_location>

#include "graph/tensor.h"

namespace actgrad {

// --- Embedding ---------------------------------------------------------------
// Row i of the output is row indices[i] of `weight` [V, D]: indices (int64,
// any shape, each in [0, V)) of shape S give an output of shape S + [D].
// The gradient is dense ([V, D]). Row `padding_index` receives none (-1:
// every row does), as in torch.nn.functional.embedding; positions holding it
// read zeros, so that the forward is the function whose derivative that is
// (PyTorch reads the row, which its nn.Embedding keeps at zero).
Tensor Embedding(const Tensor& indices, const Tensor& weight, int64_t padding_index = -1,
                 std::source_location location = std::source_location::current());

// --- Recurrent layers --------------------------------------------------------
// One layer and one direction of an LSTM over a whole sequence, from the
// state (h0, c0), both [B, H]:
//   z_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh,  split into i, f, g, o;
//   c_t = sigmoid(f) c_{t-1} + sigmoid(i) tanh(g);  h_t = sigmoid(o) tanh(c_t).
// With `reverse`, the steps run from t = T-1 down to 0 (the backward half of
// a bidirectional layer); output t is still the state after reading x_t.
// The biases may both be undefined (no bias).
struct LstmSequence {
  Tensor output;  // [T, B, H]: h_t for every step
  Tensor h_n;     // [B, H]: the state after the last step read
  Tensor c_n;     // [B, H]
};
LstmSequence LstmLayer(const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& w_ih,
                       const Tensor& w_hh, const Tensor& b_ih = Tensor(),
                       const Tensor& b_hh = Tensor(), bool reverse = false,
                       std::source_location location = std::source_location::current());

// One layer and one direction of a GRU over a whole sequence, from h0 [B, H],
// with the reset gate applied after the hidden product, as PyTorch:
//   r = sigmoid(W_ir x + b_ir + W_hr h + b_hr),  z = sigmoid(W_iz x + b_iz + W_hz h + b_hz),
//   n = tanh(W_in x + b_in + r (W_hn h + b_hn)),  h' = (1 - z) n + z h.
// Returns the output [T, B, H]; the final state is its last step read (step
// 0 when `reverse`).
Tensor GruLayer(const Tensor& x, const Tensor& h0, const Tensor& w_ih, const Tensor& w_hh,
                const Tensor& b_ih = Tensor(), const Tensor& b_hh = Tensor(), bool reverse = false,
                std::source_location location = std::source_location::current());

// --- Attention ---------------------------------------------------------------
struct AttentionOptions {
  // Query i attends to keys 0..i only (then L must not exceed S).
  bool causal = false;
  // The factor on the scores; 0 means 1/sqrt(d).
  double scale = 0;
  // Dropout on the attention weights, for training only (pass 0 to
  // evaluate): A V becomes dropout(A) V, as in PyTorch's attention, the
  // mask of weight (entry, i, j) a hash of `seed` and its index in
  // [entries, L, S], so backward replays it without storing it.
  double dropout = 0;
  uint64_t seed = 0;
};
// softmax(scale * Q K^T + mask) V over the keys, per batch entry: q is
// [B, L, d], k [B, S, d], v [B, S, dv]; the output is [B, L, dv]. `mask`, when
// defined, is added to the scores ([L, S] shared, or [B, L, S]); -inf hides a
// key. It receives a gradient like any input (a learned bias). A query row
// whose keys are all hidden gets zeros, not NaN.
Tensor ScaledDotProductAttention(const Tensor& q, const Tensor& k, const Tensor& v,
                                 const Tensor& mask = Tensor(),
                                 const AttentionOptions& options = {},
                                 std::source_location location = std::source_location::current());

// Attention over `heads` heads, read and written in the sequence-first
// multi-head layout where they lie: q [L, B, heads d], k [S, B, heads d] and
// v [S, B, heads dv] give [L, B, heads dv]. Head j of batch entry b reads
// columns j d..(j+1) d of the rows (l, b). The result equals splitting the
// heads ([L, B, heads d] -> [B heads, L, d]), ScaledDotProductAttention, and
// merging them back, without the copies those take. `mask` is [L, S] shared
// or [B heads, L, S] (entry-major, PyTorch's 3-D attn_mask); the scale's
// default is 1/sqrt(d) of one head.
Tensor MultiHeadAttention(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads,
                          const Tensor& mask = Tensor(), const AttentionOptions& options = {},
                          std::source_location location = std::source_location::current());
// Self-attention on PyTorch's packed in-projection output qkv [L, B, 3 E]
// (columns 0..E-1 are q, E..2E-1 k, 2E..3E-1 v): MultiHeadAttention of the
// three parts, [L, B, E], with its gradient written straight into one
// [L, B, 3 E] tensor (no slices to add back together).
//
//   Tensor context = MultiHeadSelfAttention(Linear(x, in_proj_weight, in_proj_bias), heads);
Tensor MultiHeadSelfAttention(const Tensor& qkv, int64_t heads, const Tensor& mask = Tensor(),
                              const AttentionOptions& options = {},
                              std::source_location location = std::source_location::current());

}  // namespace actgrad

#endif  // ACTGRAD_OPS_SEQUENCE_OPS_H_
