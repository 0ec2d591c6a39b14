#include "ops/functional.h"

#include "absl/strings/str_join.h"
#include "graph/factories.h"
#include "ops/builtin_ops.h"
#include "ops/registry.h"

namespace actgrad {

namespace {

// One input as a span over the caller's tensor: an initializer list would
// copy it, which costs two atomic reference-count updates per op.
std::span<const Tensor> One(const Tensor& x) { return {&x, 1}; }

// The attributes of ops called without any, built once rather than per call.
const Attrs& NoAttrs() {
  static const Attrs kNoAttrs;
  return kNoAttrs;
}

Attrs WithAxis(int64_t axis, bool keepdim = false) {
  Attrs a;
  a.axis = axis;
  a.keepdim = keepdim;
  return a;
}

}  // namespace

Tensor Sigmoid(const Tensor& x, Location location) {
  return Apply(ops::kSigmoid, One(x), NoAttrs(), location);
}
Tensor Tanh(const Tensor& x, Location location) {
  return Apply(ops::kTanh, One(x), NoAttrs(), location);
}
Tensor Relu(const Tensor& x, double grad_at_zero, Location location) {
  Attrs a;
  a.grad_at_zero = grad_at_zero;
  return Apply(ops::kRelu, One(x), a, location);
}
Tensor LeakyRelu(const Tensor& x, double alpha, Location location) {
  Attrs a;
  a.alpha = alpha;
  return Apply(ops::kLeakyRelu, One(x), a, location);
}
Tensor Identity(const Tensor& x, Location location) {
  return Apply(ops::kIdentity, One(x), NoAttrs(), location);
}
Tensor Softmax(const Tensor& x, int64_t axis, Location location) {
  return Apply(ops::kSoftmax, One(x), WithAxis(axis), location);
}
Tensor LogSoftmax(const Tensor& x, int64_t axis, Location location) {
  return Apply(ops::kLogSoftmax, One(x), WithAxis(axis), location);
}

Tensor ApplyByName(absl::string_view name, std::span<const Tensor> inputs, const Attrs& attrs,
                   Location location) {
  absl::StatusOr<const OpDef*> op = OpRegistry::Global().Find(name);
  ACTGRAD_REQUIRE(op.ok(), location, op.status().message());
  return Apply(**op, inputs, attrs, location);
}

Tensor Add(const Tensor& a, const Tensor& b, Location location) {
  return Apply(ops::kAdd, {a, b}, NoAttrs(), location);
}
Tensor Sub(const Tensor& a, const Tensor& b, Location location) {
  return Apply(ops::kSub, {a, b}, NoAttrs(), location);
}
Tensor Mul(const Tensor& a, const Tensor& b, Location location) {
  return Apply(ops::kMul, {a, b}, NoAttrs(), location);
}
Tensor Div(const Tensor& a, const Tensor& b, Location location) {
  return Apply(ops::kDiv, {a, b}, NoAttrs(), location);
}
Tensor Neg(const Tensor& x, Location location) {
  return Apply(ops::kNeg, One(x), NoAttrs(), location);
}
Tensor Exp(const Tensor& x, Location location) {
  return Apply(ops::kExp, One(x), NoAttrs(), location);
}
Tensor Log(const Tensor& x, Location location) {
  return Apply(ops::kLog, One(x), NoAttrs(), location);
}
Tensor Sqrt(const Tensor& x, Location location) {
  return Apply(ops::kSqrt, One(x), NoAttrs(), location);
}
Tensor Square(const Tensor& x, Location location) {
  return Apply(ops::kSquare, One(x), NoAttrs(), location);
}
Tensor Pow(const Tensor& x, double exponent, Location location) {
  Attrs a;
  a.exponent = exponent;
  return Apply(ops::kPow, One(x), a, location);
}
Tensor Abs(const Tensor& x, Location location) {
  return Apply(ops::kAbs, One(x), NoAttrs(), location);
}
Tensor Clamp(const Tensor& x, double min, double max, Location location) {
  Attrs a;
  a.min = min;
  a.max = max;
  return Apply(ops::kClamp, One(x), a, location);
}

Tensor Matmul(const Tensor& a, const Tensor& b, Location location) {
  return Apply(ops::kMatmul, {a, b}, NoAttrs(), location);
}
Tensor Linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Location location) {
  if (!bias.defined()) return Apply(ops::kLinear, {x, weight}, NoAttrs(), location);
  return Apply(ops::kLinear, {x, weight, bias}, NoAttrs(), location);
}
Tensor Transpose(const Tensor& x, Location location) {
  return Apply(ops::kTranspose, One(x), NoAttrs(), location);
}

Tensor Reshape(const Tensor& x, std::vector<int64_t> dims, Location location) {
  ACTGRAD_REQUIRE(x.defined(), location, "reshape: input 0 is undefined");
  int inferred = -1;
  int64_t known = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == -1) {
      ACTGRAD_REQUIRE(inferred < 0, location, "reshape: only one extent may be -1, got [",
                      absl::StrJoin(dims, ","), "]");
      inferred = static_cast<int>(i);
    } else {
      known *= dims[i];
    }
  }
  if (inferred >= 0) {
    ACTGRAD_REQUIRE(known > 0 && x.numel() % known == 0, location, "reshape: cannot view ",
                    x.shape().ToString(), " as [", absl::StrJoin(dims, ","), "]");
    dims[inferred] = x.numel() / known;
  }
  Attrs a;
  a.shape = Shape(std::span<const int64_t>(dims), location);
  return Apply(ops::kReshape, One(x), a, location);
}

Tensor Concatenate(std::span<const Tensor> parts, int64_t axis, Location location) {
  return Apply(ops::kConcatenate, parts, WithAxis(axis), location);
}
Tensor Concatenate(std::initializer_list<Tensor> parts, int64_t axis, Location location) {
  return Concatenate(std::span<const Tensor>(parts.begin(), parts.size()), axis, location);
}
Tensor Slice(const Tensor& x, int64_t axis, int64_t start, int64_t stop, Location location) {
  Attrs a = WithAxis(axis);
  a.start = start;
  a.stop = stop;
  return Apply(ops::kSlice, One(x), a, location);
}

Tensor SumTo(const Tensor& x, const Shape& shape, Location location) {
  if (x.defined() && x.shape() == shape) return x;
  Attrs a;
  a.shape = shape;
  return Apply(ops::kSumTo, One(x), a, location);
}
Tensor BroadcastTo(const Tensor& x, const Shape& shape, Location location) {
  if (x.defined() && x.shape() == shape) return x;
  Attrs a;
  a.shape = shape;
  return Apply(ops::kBroadcastTo, One(x), a, location);
}

Tensor Sum(const Tensor& x, Location location) {
  return Apply(ops::kSum, One(x), WithAxis(Attrs::kAllAxes), location);
}
Tensor Sum(const Tensor& x, int64_t axis, bool keepdim, Location location) {
  return Apply(ops::kSum, One(x), WithAxis(axis, keepdim), location);
}
Tensor Mean(const Tensor& x, Location location) {
  return Apply(ops::kMean, One(x), WithAxis(Attrs::kAllAxes), location);
}
Tensor Mean(const Tensor& x, int64_t axis, bool keepdim, Location location) {
  return Apply(ops::kMean, One(x), WithAxis(axis, keepdim), location);
}
Tensor Max(const Tensor& x, int64_t axis, bool keepdim, Location location) {
  return Apply(ops::kMax, One(x), WithAxis(axis, keepdim), location);
}

Tensor MseLoss(const Tensor& prediction, const Tensor& target, Location location) {
  return Apply(ops::kMseLoss, {prediction, target}, NoAttrs(), location);
}
Tensor BinaryCrossEntropy(const Tensor& probability, const Tensor& target, Location location) {
  return Apply(ops::kBinaryCrossEntropy, {probability, target}, NoAttrs(), location);
}
Tensor BinaryCrossEntropyWithLogits(const Tensor& logits, const Tensor& target, Location location) {
  return Apply(ops::kBinaryCrossEntropyWithLogits, {logits, target}, NoAttrs(), location);
}
Tensor CrossEntropy(const Tensor& logits, const Tensor& labels, Location location) {
  return Apply(ops::kCrossEntropy, {logits, labels}, NoAttrs(), location);
}

namespace {

// A scalar operand as a rank-0 tensor of the other side's dtype.
Tensor ScalarLike(double value, const Tensor& like, const Location& location) {
  ACTGRAD_REQUIRE(like.defined(), location, "operator: the tensor is undefined");
  return Scalar(value, like.dtype());
}

}  // namespace

Tensor operator+(At a, const Tensor& b) { return Add(a.tensor, b, a.location); }
Tensor operator-(At a, const Tensor& b) { return Sub(a.tensor, b, a.location); }
Tensor operator*(At a, const Tensor& b) { return Mul(a.tensor, b, a.location); }
Tensor operator/(At a, const Tensor& b) { return Div(a.tensor, b, a.location); }
Tensor operator-(At x) { return Neg(x.tensor, x.location); }
Tensor operator+(At a, double b) {
  return Add(a.tensor, ScalarLike(b, a.tensor, a.location), a.location);
}
Tensor operator-(At a, double b) {
  return Sub(a.tensor, ScalarLike(b, a.tensor, a.location), a.location);
}
Tensor operator*(At a, double b) {
  return Mul(a.tensor, ScalarLike(b, a.tensor, a.location), a.location);
}
Tensor operator/(At a, double b) {
  return Div(a.tensor, ScalarLike(b, a.tensor, a.location), a.location);
}
Tensor operator+(double a, At b) {
  return Add(ScalarLike(a, b.tensor, b.location), b.tensor, b.location);
}
Tensor operator-(double a, At b) {
  return Sub(ScalarLike(a, b.tensor, b.location), b.tensor, b.location);
}
Tensor operator*(double a, At b) {
  return Mul(ScalarLike(a, b.tensor, b.location), b.tensor, b.location);
}
Tensor operator/(double a, At b) {
  return Div(ScalarLike(a, b.tensor, b.location), b.tensor, b.location);
}

}  // namespace actgrad
