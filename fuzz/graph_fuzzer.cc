// libFuzzer target for the graph: the bytes are decoded into a short random
// program of registered ops (taken from OpRegistry::Global().All()) on small
// random shapes, which is run forward and backward.
//
// The contract checked:
//   * No crash, sanitizer report, leak or exception other than
//     actgrad::Error, whatever the ops, shapes, attributes and values.
//     Misuse (a wrong shape, axis, arity or dtype) may throw Error; a
//     program keeps only the steps that did not throw.
//   * A small program (at most 4 steps, at most 4 inputs of at most 6
//     elements) built only from operands that keep it smooth passes
//     GradCheck in float64: its verdict must not be "mismatch". Smooth means
//     no op of the program sits on a kink or outside its domain: ops with
//     declared kinks (relu, abs, hardtanh, ...) only on leaves, whose kinks
//     go into GradCheckOptions::kinks; log, sqrt, fractional powers and
//     divisors only on values that stay positive; max, clamp and prelu never;
//     and no value beyond +-100, where rounding noise swamps any finite
//     difference.
//
// Most steps choose operands whose shapes fit the op, so that programs get
// deep; one in eight (a "chaos" step) passes arbitrary operands and wild
// attributes to any op, to probe the error paths.
//
// Built by fuzz/CMakeLists.txt as `graph_fuzzer` (clang, libFuzzer) and as
// `fuzz_replay_graph` (any compiler, replays a corpus). Set
// ACTGRAD_FUZZ_VERBOSE=1 to print each decoded program.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "check/gradcheck.h"
#include "fuzz/fuzz_check.h"
#include "graph/error.h"
#include "graph/factories.h"
#include "graph/op_def.h"
#include "graph/tensor.h"
#include "ops/functional.h"
#include "ops/registry.h"

namespace actgrad {
namespace {

// Programs whose values exceed this in magnitude are not gradient-checked
// (see the comment at its use).
constexpr double kMaxCheckedMagnitude = 100;

// Reads the fuzz bytes as a stream of small decisions; zeros once exhausted,
// so every input decodes to some program.
class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  // Uniform-ish in [0, n); n >= 1.
  int Below(int n) { return n <= 1 ? 0 : Byte() % n; }
  bool OneIn(int n) { return Below(n) == 0; }
  bool Exhausted() const { return pos_ >= size_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// What a value of the program is known to satisfy.
struct Facts {
  bool positive = false;  // every element >= ~1e-3 (safe for log, sqrt, 1/x)
  bool unit = false;      // every element in (0, 1), away from both ends
  bool leaf = false;
};

struct Leaf {
  Tensor tensor;  // its values; requires_grad is set per run
  std::string description;
};

// One entry of a program: a leaf (an input) or an op applied to earlier
// entries.
struct Entry {
  int leaf = -1;  // index into the leaves, or -1 for a step
  const OpDef* op = nullptr;
  std::vector<int> operands;
  Attrs attrs;
};

struct Program {
  std::vector<Leaf> leaves;
  std::vector<Entry> entries;
  int steps = 0;
  int output = -1;               // the entry of the last step
  bool checkable = true;         // smooth, in-domain, as described above
  std::vector<double> kinks;     // of the kinked ops applied to leaves
  std::vector<std::string> log;  // one line per entry, for reports

  std::string ToString() const { return absl::StrJoin(log, "\n"); }
};

// Values of the entries of `program` given its inputs (in the order of
// program.leaves).
std::vector<Tensor> Run(const Program& program, std::span<const Tensor> inputs) {
  std::vector<Tensor> values;
  values.reserve(program.entries.size());
  for (const Entry& e : program.entries) {
    if (e.leaf >= 0) {
      values.push_back(inputs[e.leaf]);
      continue;
    }
    std::vector<Tensor> operands;
    for (int i : e.operands) operands.push_back(values[i]);
    values.push_back(Apply(*e.op, operands, e.attrs));
  }
  return values;
}

std::string Describe(const Shape& shape) { return shape.ToString(); }

bool Verbose() {
  static const bool verbose = [] {
    const char* v = std::getenv("ACTGRAD_FUZZ_VERBOSE");
    return v != nullptr && v[0] != '\0' && v[0] != '0';
  }();
  return verbose;
}

// Builds a program step by step, running each step as it is chosen so that
// later choices can see the shapes (a step that throws Error is dropped).
class Builder {
 public:
  explicit Builder(ByteReader& in) : in_(in) {
    dtype_ = in_.OneIn(4) ? DType::kFloat32 : DType::kFloat64;
    for (const OpDef* op : OpRegistry::Global().All()) ops_.push_back(op);
  }

  Program Build() {
    const int max_steps = 1 + in_.Below(8);
    while (program_.steps < max_steps && !in_.Exhausted()) Step();
    return std::move(program_);
  }

  const std::vector<Tensor>& values() const { return values_; }

 private:
  // --- Leaves -------------------------------------------------------------

  enum class Range { kAwayFromZero, kPositive, kUnit, kWild };

  double Value(Range range) {
    const uint8_t b = in_.Byte();
    switch (range) {
      case Range::kAwayFromZero: {  // +-[0.2, 2]
        const double magnitude = 0.2 + (b & 0x7f) * (1.8 / 127);
        return (b & 0x80) ? -magnitude : magnitude;
      }
      case Range::kPositive:
        return 0.5 + b * (1.5 / 255);
      case Range::kUnit:
        return 0.1 + b * (0.8 / 255);
      case Range::kWild: {
        constexpr double kSpecial[] = {0.0,
                                       -0.0,
                                       1e-310,
                                       -1e-310,
                                       1e300,
                                       -1e300,
                                       88.0,
                                       -88.0,
                                       710.0,
                                       -710.0,
                                       std::numeric_limits<double>::infinity(),
                                       -std::numeric_limits<double>::infinity(),
                                       std::numeric_limits<double>::quiet_NaN()};
        if (b < std::size(kSpecial)) return kSpecial[b];
        return (b - 128) * 0.25;
      }
    }
    return 0;
  }

  int NewLeaf(const Shape& shape, Range range) {
    const int64_t n = shape.NumElements();
    std::vector<double> v(static_cast<size_t>(n));
    for (double& x : v) x = Value(range);
    Leaf leaf{FromValues(std::span<const double>(v), shape, dtype_),
              absl::StrCat("leaf ", Describe(shape), " = [", absl::StrJoin(v, ", "), "]")};
    if (range == Range::kWild || n == 0) program_.checkable = false;
    return AddLeaf(std::move(leaf), {.positive = range == Range::kPositive || range == Range::kUnit,
                                     .unit = range == Range::kUnit,
                                     .leaf = true});
  }

  int NewLabels(int64_t batch, int64_t classes, bool wild) {
    std::vector<int64_t> v(static_cast<size_t>(batch));
    for (int64_t& x : v) {
      x = wild ? static_cast<int64_t>(in_.Byte()) - 2 : in_.Below(static_cast<int>(classes));
    }
    Leaf leaf{Labels(std::span<const int64_t>(v)),
              absl::StrCat("labels [", absl::StrJoin(v, ", "), "]")};
    return AddLeaf(std::move(leaf), {.leaf = true});
  }

  int AddLeaf(Leaf leaf, Facts facts) {
    Log(absl::StrCat("v", values_.size(), " = ", leaf.description));
    Tensor t = leaf.tensor;
    if (t.dtype() != DType::kInt64) t = t.Clone().set_requires_grad(true);
    values_.push_back(t);
    facts_.push_back(facts);
    program_.entries.push_back({.leaf = static_cast<int>(program_.leaves.size())});
    program_.leaves.push_back(std::move(leaf));
    return static_cast<int>(values_.size()) - 1;
  }

  // A small random shape: rank 0-3, extents 1-3 (rarely 0).
  Shape RandomShape(int min_rank = 0, int max_rank = 3) {
    const int rank = min_rank + in_.Below(max_rank - min_rank + 1);
    Shape s;
    for (int i = 0; i < rank; ++i) s.PushBack(in_.OneIn(32) ? 0 : 1 + in_.Below(3));
    return s;
  }

  // A shape that broadcasts with `s`: the same, a suffix of it, or it with
  // some extents set to 1.
  Shape BroadcastPartner(const Shape& s) {
    Shape out;
    const int drop = in_.Below(s.rank() + 1);
    for (int i = drop; i < s.rank(); ++i) out.PushBack(in_.OneIn(3) ? 1 : s[i]);
    return out;
  }

  // --- Operand choice -----------------------------------------------------

  // Index of an existing floating value satisfying `ok`, or -1.
  template <typename Pred>
  int Pick(Pred ok) {
    std::vector<int> candidates;
    for (size_t i = 0; i < values_.size(); ++i) {
      if (values_[i].dtype() != DType::kInt64 && ok(static_cast<int>(i))) {
        candidates.push_back(static_cast<int>(i));
      }
    }
    if (candidates.empty() || in_.OneIn(5)) return -1;
    // Prefer the newest value, so that programs chain.
    if (in_.OneIn(2)) return candidates.back();
    return candidates[in_.Below(static_cast<int>(candidates.size()))];
  }

  int AnyValue(Range range = Range::kAwayFromZero, int min_rank = 0) {
    const int i = Pick([&](int v) {
      return values_[v].rank() >= min_rank && (range != Range::kPositive || facts_[v].positive) &&
             (range != Range::kUnit || facts_[v].unit);
    });
    return i >= 0 ? i : NewLeaf(RandomShape(min_rank), range);
  }

  // --- Steps --------------------------------------------------------------

  void Step() {
    const OpDef* op = ops_[in_.Below(static_cast<int>(ops_.size()))];
    if (in_.OneIn(8)) {
      ChaosStep(*op);
      return;
    }
    Attrs attrs;
    std::vector<int> operands;
    bool smooth = true;  // this step keeps the program checkable
    const absl::string_view name = op->name;
    const bool kinked = !op->kinks.empty();

    if (name == "log" || name == "sqrt") {
      operands = {AnyValue(Range::kPositive)};
      smooth = facts_[operands[0]].positive;
    } else if (name == "pow") {
      constexpr double kExponents[] = {2, 3, 1, 0.5, -1, 1.5, -0.5, 0};
      attrs.exponent = kExponents[in_.Below(std::size(kExponents))];
      const bool integral = attrs.exponent >= 0 && attrs.exponent == std::trunc(attrs.exponent);
      operands = {AnyValue(integral ? Range::kAwayFromZero : Range::kPositive)};
      smooth = integral || facts_[operands[0]].positive;
    } else if (name == "clamp") {
      attrs.min = -1.0 + in_.Below(3) * 0.5;
      attrs.max = attrs.min + 0.5 + in_.Below(4) * 0.5;
      operands = {AnyValue()};
      smooth = false;
    } else if (name == "prelu") {
      const int x = AnyValue(Range::kAwayFromZero, in_.OneIn(3) ? 0 : 2);
      const int64_t channels = values_[x].rank() >= 2 && !in_.OneIn(3) ? values_[x].dim(1) : 1;
      operands = {x, NewLeaf(Shape{channels}, Range::kUnit)};
      smooth = false;
    } else if (op->kind == OpKind::kActivation ||
               (op->kind == OpKind::kElementwise && op->min_inputs == 1 && op->max_inputs == 1)) {
      // Attributes may move a kink (hardtanh's min_val), so kinked rows keep
      // their defaults here; chaos steps vary them.
      if (!kinked) FuzzRealAttrs(*op, attrs);
      operands = {AnyValue()};
      if (kinked) {
        // Exact on a leaf: GradCheck keeps its stencils off the kinks.
        smooth = facts_[operands[0]].leaf;
        if (smooth) program_.kinks.insert(program_.kinks.end(), op->kinks.begin(), op->kinks.end());
      }
    } else if (op->kind == OpKind::kElementwise && op->min_inputs == 2) {
      const int a = AnyValue();
      const Shape partner = BroadcastPartner(values_[a].shape());
      const bool divisor = name == "div";
      int b = Pick([&](int v) {
        return BroadcastShapes(values_[a].shape(), values_[v].shape()).has_value() &&
               (!divisor || facts_[v].positive);
      });
      if (b < 0) b = NewLeaf(partner, divisor ? Range::kPositive : Range::kAwayFromZero);
      operands = in_.OneIn(2) || divisor ? std::vector<int>{a, b} : std::vector<int>{b, a};
      smooth = !divisor || facts_[operands[1]].positive;
    } else if (op->kind == OpKind::kNormalize) {
      operands = {AnyValue(Range::kAwayFromZero, 1)};
      const int rank = values_[operands[0]].rank();
      attrs.axis = static_cast<int64_t>(in_.Below(2 * rank)) - rank;
    } else if (name == "sum" || name == "mean" || name == "max") {
      operands = {AnyValue()};
      const int rank = values_[operands[0]].rank();
      attrs.axis = in_.OneIn(3) || rank == 0 ? Attrs::kAllAxes
                                             : static_cast<int64_t>(in_.Below(2 * rank)) - rank;
      attrs.keepdim = in_.OneIn(2);
      smooth = name != "max";
    } else if (name == "sum_to") {
      operands = {AnyValue()};
      attrs.shape = BroadcastPartner(values_[operands[0]].shape());
    } else if (name == "broadcast_to") {
      operands = {AnyValue()};
      const Shape& s = values_[operands[0]].shape();
      Shape to;
      if (s.rank() < 3 && in_.OneIn(2)) to.PushBack(1 + in_.Below(3));
      for (int i = 0; i < s.rank(); ++i) to.PushBack(s[i] == 1 ? 1 + in_.Below(3) : s[i]);
      attrs.shape = to;
    } else if (name == "reshape") {
      operands = {AnyValue()};
      attrs.shape = Refactor(values_[operands[0]].numel());
    } else if (name == "transpose") {
      operands = {AnyValue(Range::kAwayFromZero, 2)};
    } else if (name == "concatenate") {
      const int x = AnyValue(Range::kAwayFromZero, 1);
      const Shape s = values_[x].shape();
      attrs.axis = static_cast<int64_t>(in_.Below(2 * s.rank())) - s.rank();
      const int axis = static_cast<int>(attrs.axis < 0 ? attrs.axis + s.rank() : attrs.axis);
      operands = {x};
      for (int parts = in_.Below(3); parts > 0; --parts) {
        Shape other = s;
        other[axis] = 1 + in_.Below(2);
        operands.push_back(in_.OneIn(3) ? x : NewLeaf(other, Range::kAwayFromZero));
      }
    } else if (name == "slice") {
      operands = {AnyValue(Range::kAwayFromZero, 1)};
      const Shape& s = values_[operands[0]].shape();
      attrs.axis = in_.Below(s.rank());
      const int64_t extent = s[static_cast<int>(attrs.axis)];
      attrs.start = in_.Below(static_cast<int>(extent) + 1);
      attrs.stop = attrs.start + in_.Below(static_cast<int>(extent - attrs.start) + 1);
      if (attrs.stop == attrs.start) smooth = false;  // an empty result proves nothing
    } else if (name == "matmul") {
      const int a = AnyValue(Range::kAwayFromZero, 2);
      const Shape& s = values_[a].shape();
      Shape bs;
      if (s.rank() == 3 && in_.OneIn(2)) bs.PushBack(s[0]);
      bs.PushBack(s[s.rank() - 1]);
      bs.PushBack(1 + in_.Below(3));
      operands = {a, NewLeaf(bs, Range::kAwayFromZero)};
    } else if (name == "linear") {
      const int x = AnyValue(Range::kAwayFromZero, 1);
      const int64_t in = values_[x].dim(values_[x].rank() - 1);
      const int64_t out = 1 + in_.Below(3);
      operands = {x, NewLeaf(Shape{out, in}, Range::kAwayFromZero)};
      if (in_.OneIn(2)) operands.push_back(NewLeaf(Shape{out}, Range::kAwayFromZero));
    } else if (name == "mse_loss" || name == "binary_cross_entropy_with_logits") {
      const int p = AnyValue();
      operands = {p, NewLeaf(values_[p].shape(), Range::kUnit)};
    } else if (name == "binary_cross_entropy") {
      const int p = AnyValue(Range::kUnit);
      operands = {p, NewLeaf(values_[p].shape(), Range::kUnit)};
      smooth = facts_[p].unit;
    } else if (name == "cross_entropy") {
      int logits = Pick([&](int v) { return values_[v].rank() == 2; });
      if (logits < 0)
        logits = NewLeaf(Shape{1 + in_.Below(3), 1 + in_.Below(3)}, Range::kAwayFromZero);
      const Shape& s = values_[logits].shape();
      operands = {logits, NewLabels(s[0], s[1], /*wild=*/false)};
    } else {
      // An op this builder does not know (a plugin's): operands of any shape.
      ChaosStep(*op);
      return;
    }
    Append(*op, std::move(operands), attrs, smooth, ResultFacts(*op, operands));
  }

  // Facts about the result of `op` on `operands`.
  Facts ResultFacts(const OpDef& op, const std::vector<int>& operands) {
    const absl::string_view name = op.name;
    auto all = [&](bool Facts::*f) {
      return std::all_of(operands.begin(), operands.end(), [&](int v) { return facts_[v].*f; });
    };
    Facts f;
    if (name == "exp" || name == "softplus" || name == "softmax") f.positive = true;
    if (name == "sigmoid" || name == "softmax") f.positive = f.unit = true;
    if ((name == "add" || name == "mul" || name == "div" || name == "sqrt" || name == "mean" ||
         name == "sum" || name == "reshape" || name == "transpose" || name == "slice" ||
         name == "broadcast_to" || name == "concatenate" || name == "sum_to" ||
         name == "identity") &&
        all(&Facts::positive)) {
      f.positive = true;
    }
    if ((name == "mul" || name == "reshape" || name == "transpose" || name == "slice" ||
         name == "broadcast_to" || name == "concatenate" || name == "identity") &&
        all(&Facts::unit)) {
      f.unit = true;
    }
    return f;
  }

  // A shape with `n` elements: n itself, split into two or three factors.
  Shape Refactor(int64_t n) {
    Shape s;
    if (n == 0) {
      s.PushBack(0);
      return s;
    }
    const int rank = in_.Below(4);
    if (rank == 0 && n == 1) return s;
    int64_t left = n;
    for (int i = 0; i + 1 < std::max(rank, 1); ++i) {
      std::vector<int64_t> divisors;
      for (int64_t d = 1; d <= left; ++d) {
        if (left % d == 0) divisors.push_back(d);
      }
      const int64_t d = divisors[in_.Below(static_cast<int>(divisors.size()))];
      s.PushBack(d);
      left /= d;
    }
    s.PushBack(left);
    return s;
  }

  // Real-valued attributes (alpha, beta, ...): usually the default, else a
  // moderate value; exotic values are left to chaos steps.
  void FuzzRealAttrs(const OpDef& op, Attrs& attrs) {
    for (const AttrSpec& spec : op.attrs) {
      double* slot = RealSlot(spec, attrs);
      if (slot == nullptr || !in_.OneIn(3)) continue;
      *slot = 0.05 + in_.Below(20) * 0.1;
    }
  }

  // Arbitrary operands (possibly labels, possibly the wrong number) and wild
  // attributes: the op must throw Error or produce something.
  void ChaosStep(const OpDef& op) {
    std::vector<int> operands;
    const int n = in_.Below(4);
    for (int i = 0; i < n; ++i) {
      if (values_.empty() || in_.OneIn(4)) {
        if (in_.OneIn(4)) {
          operands.push_back(NewLabels(1 + in_.Below(3), 3, /*wild=*/true));
        } else {
          // Separate statements: the order in which bytes are read must not
          // depend on the compiler's order of evaluating arguments.
          const Range range = in_.OneIn(3) ? Range::kWild : Range::kAwayFromZero;
          const Shape shape = RandomShape();
          operands.push_back(NewLeaf(shape, range));
        }
      } else {
        operands.push_back(in_.Below(static_cast<int>(values_.size())));
      }
    }
    Attrs attrs;
    attrs.axis = static_cast<int64_t>(in_.Below(11)) - 5;
    if (in_.OneIn(8)) attrs.axis = Attrs::kAllAxes;
    attrs.keepdim = in_.OneIn(2);
    attrs.start = static_cast<int64_t>(in_.Below(7)) - 2;
    attrs.stop = static_cast<int64_t>(in_.Below(7)) - 2;
    attrs.exponent = Value(Range::kWild);
    attrs.alpha = Value(Range::kWild);
    attrs.grad_at_zero = Value(Range::kWild);
    attrs.min = Value(Range::kWild);
    attrs.max = Value(Range::kWild);
    for (double& p : attrs.params) p = in_.OneIn(2) ? Value(Range::kWild) : p;
    if (in_.OneIn(2)) {
      const int rank = in_.Below(10);  // up to one past Shape::kMaxRank
      std::vector<int64_t> dims;
      for (int i = 0; i < rank; ++i) dims.push_back(static_cast<int64_t>(in_.Below(6)) - 1);
      try {
        attrs.shape = Shape(std::span<const int64_t>(dims));
      } catch (const Error&) {
      }
    }
    Append(op, std::move(operands), attrs, /*smooth=*/false, Facts{});
  }

  void Append(const OpDef& op, std::vector<int> operands, const Attrs& attrs, bool smooth,
              Facts facts) {
    std::vector<Tensor> inputs;
    std::vector<std::string> described;
    for (int i : operands) {
      inputs.push_back(values_[i]);
      described.push_back(absl::StrCat("v", i, Describe(values_[i].shape())));
    }
    const std::string line =
        absl::StrCat(op.name, "(", absl::StrJoin(described, ", "), ") axis=", attrs.axis,
                     " keepdim=", attrs.keepdim, " shape=", Describe(attrs.shape),
                     " start=", attrs.start, " stop=", attrs.stop, " exponent=", attrs.exponent);
    if (Verbose()) std::fprintf(stderr, "   running %s\n", line.c_str());
    Tensor y;
    try {
      y = Apply(op, inputs, attrs);
    } catch (const Error& e) {
      Log(absl::StrCat("   ", line, " -> Error: ", e.message()));
      return;
    }
    FUZZ_CHECK(y.defined());
    Log(absl::StrCat("v", values_.size(), " = ", line, " -> ", Describe(y.shape()),
                     smooth ? "" : " (not smooth)"));
    program_.checkable &= smooth;
    values_.push_back(y);
    facts_.push_back(facts);
    program_.output = static_cast<int>(program_.entries.size());
    program_.entries.push_back({.op = &op, .operands = std::move(operands), .attrs = attrs});
    ++program_.steps;
  }

  // Keeps `line` for the report; prints it at once under ACTGRAD_FUZZ_VERBOSE,
  // so that a program that crashes is seen up to the crash.
  void Log(std::string line) {
    if (Verbose()) std::fprintf(stderr, "%s\n", line.c_str());
    program_.log.push_back(std::move(line));
  }

  ByteReader& in_;
  DType dtype_;
  std::vector<const OpDef*> ops_;
  Program program_;
  std::vector<Tensor> values_;
  std::vector<Facts> facts_;
};

// Backward from the program's output; with `twice`, a recorded first pass
// (create_graph) differentiated again, which runs every op's backward_graph.
void RunBackward(const Program& program, const std::vector<Tensor>& values, bool twice) {
  const Tensor& y = values[program.output];
  if (y.dtype() == DType::kInt64 || !y.requires_grad()) return;
  try {
    if (!twice) {
      y.Backward(Ones(y.shape(), y.dtype()));
      return;
    }
    std::vector<Tensor> leaves;
    for (size_t i = 0; i < program.entries.size(); ++i) {
      if (program.entries[i].leaf >= 0 && values[i].requires_grad()) leaves.push_back(values[i]);
    }
    const std::vector<Tensor> g = Grad(Sum(y), leaves, Tensor(), {.create_graph = true});
    FUZZ_CHECK(g.size() == leaves.size());
    Tensor second;
    for (size_t i = 0; i < g.size(); ++i) {
      FUZZ_CHECK(g[i].shape() == leaves[i].shape());
      if (!g[i].requires_grad()) continue;  // a constant gradient (a linear path)
      const Tensor s = Sum(g[i] * g[i]);
      second = second.defined() ? second + s : s;
    }
    if (second.defined()) second.Backward();
  } catch (const Error&) {
    // Backward misuse (e.g. an op without a second derivative) may throw.
  }
}

}  // namespace
}  // namespace actgrad

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace actgrad;
  ByteReader in(data, size);
  const bool twice = in.OneIn(4);
  Builder builder(in);
  const Program program = builder.Build();
  if (program.steps == 0) return 0;
  RunBackward(program, builder.values(), twice);

  // The gradient check of small, smooth programs.
  if (!program.checkable || program.steps > 4 || program.leaves.size() > 4) return 0;
  std::vector<Tensor> inputs;
  for (const Leaf& leaf : program.leaves) {
    if (leaf.tensor.numel() > 6) return 0;
    inputs.push_back(leaf.tensor);
  }
  if (builder.values()[program.output].dtype() == DType::kInt64) return 0;
  // Central differences of L = sum(w * f) carry a rounding noise of about
  // eps * |L| / h in every element, so a value in the thousands (exp(exp(x)))
  // buries the smaller partial derivatives in noise; such programs are
  // ill-conditioned for any finite-difference check, not wrong.
  for (const Tensor& v : builder.values()) {
    if (v.dtype() == DType::kInt64) continue;
    for (double x : v.ToVector()) {
      if (!(std::fabs(x) <= kMaxCheckedMagnitude)) return 0;
    }
  }
  GradCheckOptions options;
  options.kinks = program.kinks;
  GradCheckReport report;
  try {
    report = GradCheck([&](std::span<const Tensor> x) { return Run(program, x)[program.output]; },
                       inputs, options);
  } catch (const Error& e) {
    // The float64 rerun may refuse what float32 accepted; not a gradient bug.
    if (Verbose()) std::fprintf(stderr, "GradCheck threw: %s\n", e.what());
    return 0;
  }
  if (Verbose()) std::fprintf(stderr, "%s\n", report.ToString().c_str());
  if (report.verdict == "mismatch") {
    std::fprintf(stderr, "gradient check failed on this program:\n%s\n%s\n",
                 program.ToString().c_str(), report.ToString().c_str());
    FUZZ_CHECK(report.verdict != "mismatch");
  }
  return 0;
}
