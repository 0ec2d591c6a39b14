// -----------------------------------------------------------------------------
// File: functional.h
// -----------------------------------------------------------------------------
//
// ops/ is the op table: one row per op (forward, backward, what it saves,
// kinks, initializer gain), the kernels behind them, the runtime registry and
// plugins. It stands on graph/ only.
//
// The functions users call to apply the built-in ops. Each is one line over
// `Apply()` with its row; misuse throws `actgrad::Error` naming the op, the
// shapes and the caller's line (captured by the defaulted `location`; the
// arithmetic operators capture it through `At`).
//
// Example:
//
//   using namespace actgrad;
//   Tensor h = Relu(Matmul(x, w1) + b1);
//   Tensor logits = Matmul(h, w2) + b2;
//   Tensor loss = CrossEntropy(logits, labels);
//   loss.Backward();

#ifndef ACTGRAD_OPS_FUNCTIONAL_H_
#define ACTGRAD_OPS_FUNCTIONAL_H_

#include <source_location>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "graph/op_def.h"
#include "graph/tensor.h"

namespace actgrad {

using Location = std::source_location;

// --- Activations (claims C1-C5) ---------------------------------------------
Tensor Sigmoid(const Tensor& x, Location location = Location::current());
Tensor Tanh(const Tensor& x, Location location = Location::current());
// `grad_at_zero` is the derivative used at exactly x = 0 (claim C3).
Tensor Relu(const Tensor& x, double grad_at_zero = 0.0, Location location = Location::current());
Tensor LeakyRelu(const Tensor& x, double alpha = 0.01, Location location = Location::current());
Tensor Identity(const Tensor& x, Location location = Location::current());
Tensor Softmax(const Tensor& x, int64_t axis = -1, Location location = Location::current());
Tensor LogSoftmax(const Tensor& x, int64_t axis = -1, Location location = Location::current());

// Applies the registered op named `name` (an activation from a plugin, say).
// Throws when no such op is registered.
Tensor ApplyByName(absl::string_view name, std::span<const Tensor> inputs, const Attrs& attrs = {},
                   Location location = Location::current());

// --- Arithmetic (binary ops broadcast like NumPy) ----------------------------
Tensor Add(const Tensor& a, const Tensor& b, Location location = Location::current());
Tensor Sub(const Tensor& a, const Tensor& b, Location location = Location::current());
Tensor Mul(const Tensor& a, const Tensor& b, Location location = Location::current());
Tensor Div(const Tensor& a, const Tensor& b, Location location = Location::current());
Tensor Neg(const Tensor& x, Location location = Location::current());
Tensor Exp(const Tensor& x, Location location = Location::current());
Tensor Log(const Tensor& x, Location location = Location::current());
Tensor Sqrt(const Tensor& x, Location location = Location::current());
Tensor Square(const Tensor& x, Location location = Location::current());
Tensor Pow(const Tensor& x, double exponent, Location location = Location::current());
Tensor Abs(const Tensor& x, Location location = Location::current());
Tensor Clamp(const Tensor& x, double min, double max, Location location = Location::current());

// --- Linear algebra and shapes -----------------------------------------------
// [m,k] x [k,n]; batched [b,m,k] x [b,k,n]; a 2-D side is shared by all batches.
Tensor Matmul(const Tensor& a, const Tensor& b, Location location = Location::current());
// y = x W^T + b with the weight stored [out, in] (PyTorch's layout); `bias`
// may be undefined.
Tensor Linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              Location location = Location::current());
// y = activation(x W^T + b) as one op node: the product with the bias folded
// in and the activation in one forward kernel; the activation's derivative
// and the bias gradient in one backward pass before the two products. For
// the activations whose derivative their output determines: identity,
// sigmoid, tanh, relu (grad_at_zero 0) and leaky_relu (alpha > 0), as
// CanFuseWithLinear says; others throw. nn::Sequential uses it for a Linear
// layer followed by such an Activation.
Tensor LinearActivation(const Tensor& x, const Tensor& weight, const Tensor& bias,
                        const OpDef& activation, const Attrs& attrs = {},
                        Location location = Location::current());
bool CanFuseWithLinear(const OpDef& activation, const Attrs& attrs = {});
// Swaps the last two dimensions.
Tensor Transpose(const Tensor& x, Location location = Location::current());
// One extent may be -1, inferred from the others.
Tensor Reshape(const Tensor& x, std::vector<int64_t> dims, Location location = Location::current());
Tensor Concatenate(std::span<const Tensor> parts, int64_t axis = 0,
                   Location location = Location::current());
Tensor Concatenate(std::initializer_list<Tensor> parts, int64_t axis = 0,
                   Location location = Location::current());
// Indices [start, stop) along `axis`.
Tensor Slice(const Tensor& x, int64_t axis, int64_t start, int64_t stop,
             Location location = Location::current());

// Sums `x` down to `shape` (undoing a broadcast) / repeats it up to `shape`.
// Each returns `x` itself when the shapes already agree.
Tensor SumTo(const Tensor& x, const Shape& shape, Location location = Location::current());
Tensor BroadcastTo(const Tensor& x, const Shape& shape, Location location = Location::current());

// --- Reductions --------------------------------------------------------------
Tensor Sum(const Tensor& x, Location location = Location::current());
Tensor Sum(const Tensor& x, int64_t axis, bool keepdim = false,
           Location location = Location::current());
Tensor Mean(const Tensor& x, Location location = Location::current());
Tensor Mean(const Tensor& x, int64_t axis, bool keepdim = false,
            Location location = Location::current());
Tensor Max(const Tensor& x, int64_t axis, bool keepdim = false,
           Location location = Location::current());

// --- Losses (means) ----------------------------------------------------------
Tensor MseLoss(const Tensor& prediction, const Tensor& target,
               Location location = Location::current());
// On probabilities; log is clamped at -100, so p of exactly 0 or 1 stays finite.
Tensor BinaryCrossEntropy(const Tensor& probability, const Tensor& target,
                          Location location = Location::current());
// On logits: stable for logits of any magnitude (claim C8's output layer).
Tensor BinaryCrossEntropyWithLogits(const Tensor& logits, const Tensor& target,
                                    Location location = Location::current());
// Softmax cross-entropy of logits [batch, classes] against int64 labels [batch].
Tensor CrossEntropy(const Tensor& logits, const Tensor& labels,
                    Location location = Location::current());

// --- Operators ---------------------------------------------------------------
// `At` converts implicitly from a Tensor and records where the conversion
// happened: the line of the expression that uses the operator.
struct At {
  At(const Tensor& tensor, Location location = Location::current())
      : tensor(tensor), location(location) {}
  const Tensor& tensor;
  Location location;
};

Tensor operator+(At a, const Tensor& b);
Tensor operator-(At a, const Tensor& b);
Tensor operator*(At a, const Tensor& b);
Tensor operator/(At a, const Tensor& b);
Tensor operator-(At x);
// With a scalar, which takes the tensor's dtype.
Tensor operator+(At a, double b);
Tensor operator-(At a, double b);
Tensor operator*(At a, double b);
Tensor operator/(At a, double b);
Tensor operator+(double a, At b);
Tensor operator-(double a, At b);
Tensor operator*(double a, At b);
Tensor operator/(double a, At b);

}  // namespace actgrad

#endif  // ACTGRAD_OPS_FUNCTIONAL_H_
