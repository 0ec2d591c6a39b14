// -----------------------------------------------------------------------------
// File: op_def.h
// -----------------------------------------------------------------------------
//
// The schema of one row of the op table. Everything about an op sits in its
// row: name, formula, forward, backward (a vector-Jacobian product), which
// values it saves for backward, attributes, kinks, and for activations the
// scalar formulas and the initializer gain. Tests, benchmarks, the gradient
// checker and the CLI iterate over the registry (ops/registry.h) and read
// these rows; none of them lists ops itself.
//
// Gradient vocabulary: `x` is an input, `y` the output, `dy` the gradient
// arriving at the output, `dx` the gradient produced for an input.
//
// Example (the shape of a row; built-in rows live in ops/*.cc):
//
//   const OpDef kSoftsign{
//       .name = "softsign",
//       .formula = "y = x / (1 + |x|);  dy/dx = 1 / (1 + |x|)^2",
//       .kind = OpKind::kActivation,
//       .saves = kSaveInput0,
//       .forward = &SoftsignForward,
//       .backward = &SoftsignBackward,
//   };
//   actgrad::Tensor y = actgrad::Apply(kSoftsign, {x});

#ifndef ACTGRAD_GRAPH_OP_DEF_H_
#define ACTGRAD_GRAPH_OP_DEF_H_

#include <array>
#include <cstdint>
#include <limits>
#include <memory>
#include <source_location>
#include <span>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "graph/generator.h"
#include "graph/tensor.h"

namespace actgrad {

namespace internal {
struct BackwardAccess;
class Graph;
}  // namespace internal

struct OpDef;

// The attributes of convolution, pooling, normalization, dropout, layout,
// recurrent, attention and embedding rows, per spatial axis as [height,
// width] where they have two; the 1-D rows use the width entries. Padding
// may differ on the two sides of an axis (padding "same" with an even kernel
// needs that). Their real-valued attributes (eps, momentum, dropout's p,
// pad's value, attention's scale and dropout) are row parameters
// (Attrs::params), so the checker and the command line can sweep them.
struct LayerAttrs {
  std::array<int64_t, 2> window = {1, 1};  // pooling kernel; adaptive pooling: output size
  std::array<int64_t, 2> stride = {1, 1};
  std::array<int64_t, 2> pad_begin = {0, 0};  // top, left
  std::array<int64_t, 2> pad_end = {0, 0};    // bottom, right
  std::array<int64_t, 2> dilation = {1, 1};
  std::array<int64_t, 2> output_padding = {0, 0};  // conv_transpose2d: added to the far side
  int64_t groups = 1;      // convolution: channel groups; group_norm: groups; attention: heads
  bool ceil_mode = false;  // pooling: round the output size up
  bool count_include_pad = true;  // avg_pool: padding counts in the divisor
  bool training = true;           // batch_norm: batch statistics (and update) or running ones
  uint64_t seed = 0;              // dropout, attention's dropout: the mask's stream
  std::vector<int64_t> axes;      // permute: the new order of the dimensions
  std::vector<int64_t> pads;      // pad: (before, after) per dimension, last dimension first
  bool reverse = false;           // lstm, gru: run from the last step to the first
  bool causal = false;            // attention: query i sees keys 0..i only
  int64_t padding_index = -1;     // embedding: the row that gets no gradient; -1: none
  int64_t rows = 0;               // embedding_backward: rows of the table
};

// Per-call attributes. One struct for every op keeps nodes uniform; an op
// reads only the fields its row declares in `OpDef::attrs`.
struct Attrs {
  static constexpr int64_t kAllAxes = std::numeric_limits<int64_t>::min();

  double alpha = 0.01;        // leaky_relu: slope for x < 0 (claim C4).
  double grad_at_zero = 0.0;  // relu, leaky_relu, abs: dy/dx at exactly x == 0 (claim C3).
  double exponent = 2.0;      // pow.
  double min = -std::numeric_limits<double>::infinity();  // clamp.
  double max = std::numeric_limits<double>::infinity();   // clamp.
  int64_t axis = -1;     // softmax, log_softmax, concatenate, slice; kAllAxes reduces all.
  bool keepdim = false;  // sum, mean, max over an axis.
  int64_t start = 0;     // slice: [start, stop) along `axis`.
  int64_t stop = 0;
  Shape shape;  // reshape, sum_to, broadcast_to: the target shape.
  const OpDef* target =
      nullptr;  // activation_derivative: whose derivative; adjoint rows: whose adjoint

  // What convolution, pooling, normalization, dropout and layout rows read
  // (graph/op_def.h, LayerAttrs); null for every other op, so that a
  // recorded node of an elementwise op carries one pointer for them.
  std::shared_ptr<const LayerAttrs> layer;
  // The layer attributes, or their defaults when none were given.
  const LayerAttrs& Layer() const;
  // The layer attributes to change, copied first when shared with another
  // Attrs (or made from the defaults when absent).
  LayerAttrs& MutableLayer();

  // Parameters of activations defined from formulas (ops/scalar_activation.h)
  // by index, as their rows name them; NaN means the row's default.
  static constexpr int kMaxParams = 4;
  std::array<double, kMaxParams> params = {
      std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::quiet_NaN(),
      std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::quiet_NaN()};
};

// A named attribute, so the CLI and reports can print and set it. It lives in
// the field `real` or `integer` points at, or in Attrs::params[param].
struct AttrSpec {
  absl::string_view name;
  absl::string_view meaning;
  double Attrs::*real = nullptr;
  int64_t Attrs::*integer = nullptr;
  int param = -1;
  double default_value = 0.0;  // for a param left unset (NaN)
  // The values the attribute is meant for, [low, high]; the checker tests
  // the ends and points between them as well as the default. NaN: no
  // declared range (only the default is checked).
  double low = std::numeric_limits<double>::quiet_NaN();
  double high = std::numeric_limits<double>::quiet_NaN();
};

// The real-valued slot `spec` names in `attrs`; nullptr for an integer one.
inline double* RealSlot(const AttrSpec& spec, Attrs& attrs) {
  if (spec.real != nullptr) return &(attrs.*spec.real);
  if (spec.param >= 0) return &attrs.params[spec.param];
  return nullptr;
}

enum class OpKind : uint8_t {
  kActivation,   // elementwise, one input, usable as a layer's nonlinearity
  kElementwise,  // elementwise arithmetic, broadcasting where binary
  kNormalize,    // softmax and log_softmax along an axis
  kReduction,
  kLinalg,
  kShape,  // reshape, transpose, concatenate, slice
  kLoss,
  kLayer,  // batch, layer and group normalization: statistics over several axes
};

// Which values Apply() keeps for backward, as a bit mask.
enum SaveFlags : uint8_t {
  kSaveNothing = 0,
  kSaveInput0 = 1 << 0,
  kSaveInput1 = 1 << 1,
  kSaveInput2 = 1 << 2,
  kSaveOutput = 1 << 3,
  // Every input, for rows with more than three (the recurrent layers).
  kSaveAllInputs = 1 << 4,
};

struct GenericFormula;  // ops/generic_formula.h

// The scalar, double-precision formulas of an elementwise activation: the
// reference that known-value tests, plots and user ops are built from.
struct ActivationFormulas {
  double (*forward)(double x, const Attrs& attrs);
  // dy/dx, given the input and the output (closed forms reuse y).
  double (*derivative)(double x, double y, const Attrs& attrs);
  // d2y/dx2, when the row knows it.
  double (*second_derivative)(double x, double y, const Attrs& attrs) = nullptr;
  // The forward once more, written for any number type: the derivative
  // oracle (check/derivative_oracle.h) evaluates it on dual numbers and in
  // wider precision. Rows defined by it alone take their derivatives from it.
  const GenericFormula* generic = nullptr;
};

// The article's advice for a layer that feeds an activation (claims C18-C20):
// which initializer family suits it, and which range to scale inputs to.
enum class InitFamily : uint8_t { kXavier, kHe };
enum class InputRange : uint8_t { kUnit, kSymmetric };  // [0, 1] or [-1, 1]

class ForwardContext;
class BackwardContext;
class JvpContext;

// Inputs on which the registry-wide gradient check runs an op.
struct GradCheckCase {
  std::vector<Tensor> inputs;  // float64; int64 inputs are held fixed.
  Attrs attrs;
  std::string description;    // e.g. "[3,4] + [4] (broadcast)"
  std::vector<double> kinks;  // input values where the op is not differentiable
};

struct OpDef {
  absl::string_view name;     // snake_case, as PyTorch spells it
  absl::string_view formula;  // one line, for reports and --help
  OpKind kind = OpKind::kElementwise;
  int min_inputs = 1;
  int max_inputs = 1;  // kVariadic: any number >= min_inputs
  uint8_t saves = kSaveNothing;
  // Inputs that never receive a gradient (bit i: input i), such as labels.
  uint32_t non_differentiable = 0;

  // Computes the output from ctx.inputs(); validates shapes and dtypes and
  // throws `Error` naming the op on misuse. Runs with recording off.
  Tensor (*forward)(ForwardContext& ctx) = nullptr;
  // Sets ctx.dx(i) for every input with ctx.needs_grad(i).
  void (*backward)(BackwardContext& ctx) = nullptr;
  // The same written with ops, so that it is recorded under
  // BackwardOptions::create_graph (ctx.dy() and the saved values are then in
  // the graph). Rows without it cannot be differentiated twice.
  void (*backward_graph)(BackwardContext& ctx) = nullptr;
  // Forward mode: the output's tangent from the inputs' tangents (a
  // Jacobian-vector product), written with ops so that it is recorded and
  // can be differentiated again. Rows without it get theirs by transposing
  // `backward_graph` (graph/forward_mode.h), which costs a reverse pass.
  Tensor (*jvp)(JvpContext& ctx) = nullptr;

  std::span<const AttrSpec> attrs = {};
  // Input values where the derivative is undefined; finite differences must
  // not straddle them.
  std::span<const double> kinks = {};
  // Kinks that move with the attributes (hardtanh's bounds): those at
  // `attrs`, defaults filled in. Rows whose kinks stay put leave it unset.
  std::vector<double> (*kinks_at)(const Attrs& attrs) = nullptr;
  // Activations: the recommended initializer gain (nullptr means 1).
  double (*gain)(const Attrs& attrs) = nullptr;
  // Activations: the scalar reference formulas.
  const ActivationFormulas* formulas = nullptr;
  // Activations: the initializer family and input range the article
  // recommends in front of this nonlinearity.
  InitFamily recommended_init = InitFamily::kXavier;
  InputRange recommended_input_range = InputRange::kUnit;
  // Sample inputs for the registry-wide gradient check.
  std::vector<GradCheckCase> (*check_cases)(Generator& gen) = nullptr;
  // The forward pass's floating-point operations, for the profiler; nullptr
  // counts one per output element. Backward is estimated at forward's count
  // for each matrix input that needs a gradient.
  double (*forward_flops)(std::span<const Tensor> inputs, const Tensor& output) = nullptr;

  static constexpr int kVariadic = -1;
};

inline constexpr int kMaxSaved = 10;  // every input, the output and two extras
inline constexpr int kMaxSavedInputs = 7;

// `attrs` with every unset (NaN) param of `op` replaced by its default.
Attrs WithDefaults(const OpDef& op, const Attrs& attrs);

// What an op's forward sees.
class ForwardContext {
 public:
  ForwardContext(const OpDef& op, std::span<const Tensor> inputs, const Attrs& attrs,
                 const std::source_location& location)
      : op_(op), inputs_(inputs), attrs_(attrs), location_(location) {}

  const OpDef& op() const { return op_; }
  std::span<const Tensor> inputs() const { return inputs_; }
  const Tensor& input(int i) const { return inputs_[i]; }
  const Attrs& attrs() const { return attrs_; }
  const std::source_location& location() const { return location_; }

  // Keeps `value` for backward, after the values named by OpDef::saves.
  // Only kept when the call is recorded.
  void SaveExtra(Tensor value);
  std::span<Tensor> extras() { return {extras_.data(), size_t(num_extras_)}; }

 private:
  const OpDef& op_;
  std::span<const Tensor> inputs_;
  const Attrs& attrs_;
  const std::source_location& location_;
  std::array<Tensor, 2> extras_;
  int num_extras_ = 0;
};

// What an op's backward sees. Saved values come back as tensors; with
// recording off (the default for Backward()) every op used in here runs
// without building graph.
class BackwardContext {
 public:
  const Tensor& dy() const { return *dy_; }
  const Attrs& attrs() const { return *attrs_; }
  // Saved values, as OpDef::saves and ForwardContext::SaveExtra() chose them.
  // Throws when the row did not save the value asked for.
  const Tensor& saved_input(int i) const;
  const Tensor& saved_output() const;
  const Tensor& extra(int k) const;

  int num_inputs() const { return static_cast<int>(dx_.size()); }
  bool needs_grad(int i) const { return needs_grad_[i]; }
  const Shape& input_shape(int i) const { return input_shapes_[i]; }
  DType input_dtype(int i) const { return input_dtypes_[i]; }
  const OpDef& op() const { return *op_; }
  const std::source_location& location() const { return *location_; }

  // Sets the gradient for input i; must match that input's shape and dtype.
  void set_dx(int i, Tensor dx) { dx_[i] = std::move(dx); }
  Tensor& dx(int i) { return dx_[i]; }

  // Where input i's gradient may be added in place instead of being returned
  // through set_dx, or nullptr: the gradient already held by the leaf tensor
  // that input i is, when nothing but that leaf can see it (no gradient hook,
  // no other holder, and a backward that is neither recorded, captured by
  // Grad() nor checked for anomalies). A product that writes its weight
  // gradient there (a GEMM with beta = 1) saves a temporary and a pass over
  // it. After adding, call set_dx_added(i) and set no dx(i). So a parameter's
  // gradient can change before the pass reaches the parameter: hooks on
  // other tensors that read it mid-pass see a partial sum.
  const Tensor* gradient_to_add_into(int i) const;
  void set_dx_added(int i) { added_[i] = true; }

  // Takes dy, for a backward that writes input i's gradient over it element
  // by element (the gradient has dy's shape and dtype): that saves a new
  // buffer and a pass over fresh memory. Undefined unless nothing but the
  // sweep holds dy or its buffer and the sweep allows it (as for
  // gradient_to_add_into); once taken, dy() is undefined.
  Tensor TakeDyForDx(int i) const;

 private:
  friend struct internal::BackwardAccess;

  const OpDef* op_ = nullptr;
  const Tensor* dy_ = nullptr;
  const Attrs* attrs_ = nullptr;
  const std::source_location* location_ = nullptr;
  std::array<Tensor, kMaxSaved> saved_;
  int saved_input_slot_[kMaxSavedInputs] = {-1, -1, -1, -1, -1, -1, -1};
  int saved_output_slot_ = -1;
  int first_extra_slot_ = -1;
  int num_saved_ = 0;
  std::span<Tensor> dx_;
  std::span<const bool> needs_grad_;
  std::span<const Shape> input_shapes_;
  std::span<const DType> input_dtypes_;
  // Set by the engine where backwards may add into leaves' gradients.
  const internal::Graph* leaf_graph_ = nullptr;
  std::span<const uint32_t> input_ids_;
  std::span<Tensor> leaf_grads_;  // found on request, released after the call
  std::span<bool> added_;
  Tensor* takeable_dy_ = nullptr;  // the sweep's own dy, where it may be taken
};

// What an op's Jacobian-vector product sees: the inputs and the output of
// the forward it differentiates, and a tangent per input. An input without a
// tangent (a constant, or an integer input) has an undefined one and
// contributes nothing.
class JvpContext {
 public:
  JvpContext(const OpDef& op, std::span<const Tensor> inputs, const Tensor& output,
             std::span<const Tensor> tangents, const Attrs& attrs,
             const std::source_location& location)
      : op_(op),
        inputs_(inputs),
        output_(output),
        tangents_(tangents),
        attrs_(attrs),
        location_(location) {}

  const OpDef& op() const { return op_; }
  std::span<const Tensor> inputs() const { return inputs_; }
  const Tensor& input(int i) const { return inputs_[i]; }
  const Tensor& output() const { return output_; }
  int num_inputs() const { return static_cast<int>(inputs_.size()); }
  bool has_tangent(int i) const { return tangents_[i].defined(); }
  const Tensor& tangent(int i) const { return tangents_[i]; }
  std::span<const Tensor> tangents() const { return tangents_; }
  const Attrs& attrs() const { return attrs_; }
  const std::source_location& location() const { return location_; }

 private:
  const OpDef& op_;
  std::span<const Tensor> inputs_;
  const Tensor& output_;
  std::span<const Tensor> tangents_;
  const Attrs& attrs_;
  const std::source_location& location_;
};

namespace internal {
// "[3,4] and [5,2]", for messages that name an op's inputs.
std::string DescribeShapes(std::span<const Tensor> tensors);
}  // namespace internal

// Runs `op` on `inputs`, recording a graph node when gradients are enabled
// and an input requires one. The entry point of every op, built-in or not.
Tensor Apply(const OpDef& op, std::span<const Tensor> inputs, const Attrs& attrs = {},
             std::source_location location = std::source_location::current());
inline Tensor Apply(const OpDef& op, std::initializer_list<Tensor> inputs, const Attrs& attrs = {},
                    std::source_location location = std::source_location::current()) {
  return Apply(op, std::span<const Tensor>(inputs.begin(), inputs.size()), attrs, location);
}

}  // namespace actgrad

#endif  // ACTGRAD_GRAPH_OP_DEF_H_
