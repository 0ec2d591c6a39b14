// -----------------------------------------------------------------------------
// File: forward_mode.h
// -----------------------------------------------------------------------------
//
// Forward-mode differentiation. Inside a `ForwardAdScope`, a tensor may carry
// a tangent (a direction in its space); every op applied to tensors that
// carry one computes the output's tangent as it runs, a Jacobian-vector
// product, so one forward pass gives the directional derivative of
// everything it computes. Reverse mode run inside the scope with
// `create_graph` propagates tangents through the backward pass too: the
// gradient's tangent is then a Hessian-vector product (forward over
// reverse).
//
// Each row's tangent comes from, in this order: its own `OpDef::jvp`; for an
// elementwise row of one input, its backward applied to the tangent (the
// Jacobian is diagonal, so it is its own transpose); otherwise the row's
// recorded backward, transposed: the tangent is the derivative of
// <backward(u), tangent> with respect to u, exact because backward is linear
// in u, at the price of a reverse pass. `JvpSource` says which a row uses.
//
// The functional forms (Jvp, Jacobian, Hessian, ...) are in ops/autodiff.h.
//
// Example:
//
//   actgrad::ForwardAdScope scope;
//   actgrad::Tensor x = actgrad::MakeDual(input, direction);
//   actgrad::Tensor y = actgrad::Tanh(actgrad::Matmul(x, w));
//   actgrad::Tensor dy = actgrad::TangentOf(y);  // J_y(input) · direction

#ifndef ACTGRAD_GRAPH_FORWARD_MODE_H_
#define ACTGRAD_GRAPH_FORWARD_MODE_H_

#include <source_location>
#include <span>

#include "graph/op_def.h"
#include "graph/tensor.h"

namespace actgrad {

namespace internal {
class TangentTable;
inline thread_local TangentTable* forward_ad = nullptr;
}  // namespace internal

// Opens forward mode on this thread for its lifetime. Scopes do not nest (a
// second one throws); tangents live as long as the scope.
class ForwardAdScope {
 public:
  explicit ForwardAdScope(std::source_location location = std::source_location::current());
  ~ForwardAdScope();
  ForwardAdScope(const ForwardAdScope&) = delete;
  ForwardAdScope& operator=(const ForwardAdScope&) = delete;

  // Records the tangents' own computations for reverse mode, so that a
  // tangent can be differentiated again (reverse over forward). Off by
  // default: the tangents are then plain values, which is cheaper.
  void set_record_tangents(bool record);

 private:
  internal::TangentTable* table_;
};

// Gives `primal` the tangent `tangent` (same shape, floating dtype) in the
// open scope and returns `primal`. Throws outside a scope, on a mismatch,
// and when `primal` already carries a tangent.
Tensor MakeDual(const Tensor& primal, const Tensor& tangent,
                std::source_location location = std::source_location::current());

// The tangent `t` carries in the open scope; undefined when it carries none
// (its derivative in the scope's direction is then zero) or outside a scope.
Tensor TangentOf(const Tensor& t);

// Where a row's Jacobian-vector product comes from (see above).
enum class JvpSource { kRow, kDiagonal, kTransposedBackward };
JvpSource JvpSourceOf(const OpDef& op);
const char* JvpSourceName(JvpSource source);

namespace internal {

// The tangent of `output = op(inputs)` given the inputs' tangents (undefined
// where an input has none) and the extras the forward saved; recorded for
// reverse mode when `record` (and gradients are enabled). Called by Apply()
// with the scope suspended.
Tensor ComputeTangent(const OpDef& op, std::span<const Tensor> inputs, const Tensor& output,
                      std::span<const Tensor> extras, std::span<const Tensor> tangents,
                      const Attrs& attrs, bool record, const std::source_location& location);

// The tangents of `inputs` in `table`, for Apply(); false when none has one.
bool LookUpTangents(const TangentTable& table, const OpDef& op, std::span<const Tensor> inputs,
                    std::span<Tensor> tangents);

// Files `tangent` as the tangent of `output`, checking its shape and dtype.
void SetTangent(TangentTable& table, const OpDef& op, const Tensor& output, Tensor tangent,
                const std::source_location& location);

// Suspends the open scope for its lifetime: what runs inside computes
// values and tangents' parts, never tangents of its own.
class SuspendForwardAd {
 public:
  SuspendForwardAd() : table_(forward_ad) { forward_ad = nullptr; }
  ~SuspendForwardAd() { forward_ad = table_; }
  SuspendForwardAd(const SuspendForwardAd&) = delete;
  SuspendForwardAd& operator=(const SuspendForwardAd&) = delete;
  TangentTable* table() const { return table_; }

 private:
  TangentTable* table_;
};

bool RecordsTangents(const TangentTable& table);

// For its lifetime every row on this thread takes its tangent from its
// transposed recorded backward, even a row with its own rule: the checker
// compares the two (check/forward_mode_check.h).
inline thread_local bool transposed_jvp_only = false;
class TransposedJvpOnly {
 public:
  TransposedJvpOnly() : previous_(transposed_jvp_only) { transposed_jvp_only = true; }
  ~TransposedJvpOnly() { transposed_jvp_only = previous_; }
  TransposedJvpOnly(const TransposedJvpOnly&) = delete;
  TransposedJvpOnly& operator=(const TransposedJvpOnly&) = delete;

 private:
  bool previous_;
};

}  // namespace internal

}  // namespace actgrad

#endif  // ACTGRAD_GRAPH_FORWARD_MODE_H_
