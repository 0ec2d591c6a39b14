#include "check/conformance.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <map>
#include <mutex>
#include <numbers>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "graph/factories.h"
#include "graph/grad_mode.h"
#include "ops/activation_gain.h"
#include "ops/scalar_activation.h"

namespace actgrad {

namespace {

using internal::Evaluate;
using internal::Evaluated;
using internal::MeanSquare;
using internal::NormalSamples;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// |f'| below this counts as saturated (claim C15).
constexpr double kSaturated = 0.01;
// A mean under this share of the RMS output counts as zero-centred.
constexpr double kZeroCentredShare = 0.05;
// float32 errors are relative to max(|value|, this x the tensor's largest).
constexpr double kFloat32Floor = 1e-3;

bool IsActivation(const OpDef& op) { return op.kind == OpKind::kActivation; }

// 2001 points in [-10, 10], exact multiples of 0.01 (0 itself included).
std::vector<double> FineGrid() {
  std::vector<double> x;
  for (int i = -1000; i <= 1000; ++i) x.push_back(i / 100.0);
  return x;
}

// Central differences of the forward at steps h, h/2, ..., refined by
// Richardson extrapolation; the best-agreeing neighbours win (as GradCheck).
double NumericDerivative(const OpDef& op, const Attrs& attrs, double x, double step) {
  return internal::RichardsonDerivative(
      [&](double hk) {
        const double points[] = {x + hk, x - hk};
        const std::vector<double> y = Evaluate(op, attrs, points, DType::kFloat64, false).y;
        return (y[0] - y[1]) / (2 * hk);
      },
      step * std::max(1.0, std::abs(x)));
}

std::string What(const std::exception& e) { return e.what(); }

// ------------------------------------------------------------------ float32

// Folds the errors of `low` (float32) against `reference` (float64, the same
// inputs) into the running worst; `where(i)` names element i.
template <typename Where>
void CompareValues(const std::vector<double>& low, const std::vector<double>& reference,
                   Where where, double& max_error, std::string& worst, int64_t& compared) {
  double scale = 0;
  for (double v : reference) {
    if (std::isfinite(v)) scale = std::max(scale, std::abs(v));
  }
  const double floor = std::max(kFloat32Floor * scale, std::numeric_limits<double>::min());
  for (size_t i = 0; i < reference.size(); ++i) {
    const double a = low[i], b = reference[i];
    if (std::isnan(b)) continue;  // the finiteness check reports it
    double error;
    if (a == b) {
      error = 0;
    } else if (!std::isfinite(a) || !std::isfinite(b)) {
      error = kInf;
    } else {
      error = std::abs(a - b) / std::max(std::abs(b), floor);
    }
    ++compared;
    if (error > max_error) {
      max_error = error;
      worst = where(i);
    }
  }
}

// Runs `op` on `inputs` (float64; int64 held fixed) rounded to float32, in
// float32 and in float64, and compares outputs and vector-Jacobian products.
// Activations use unit weights, so the derivative compared is f' itself.
void CompareFloat32(const OpDef& op, const std::vector<Tensor>& inputs, const Attrs& attrs,
                    const std::string& label, Generator& gen, Float32Check& out) {
  GradModeGuard recording(true);
  std::vector<Tensor> in32, in64, wrt32, wrt64;
  std::vector<int> wrt_index;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& t = inputs[k];
    if (!t.defined() || !IsFloating(t.dtype())) {
      in32.push_back(t);
      in64.push_back(t);
      continue;
    }
    Tensor low = ToDType(t, DType::kFloat32);
    Tensor high = ToDType(low, DType::kFloat64);
    low.set_requires_grad(true);
    high.set_requires_grad(true);
    in32.push_back(low);
    in64.push_back(high);
    wrt32.push_back(low);
    wrt64.push_back(high);
    wrt_index.push_back(static_cast<int>(k));
  }
  const Tensor y32 = Apply(op, in32, attrs);
  const Tensor y64 = Apply(op, in64, attrs);
  const bool elementwise = IsActivation(op);
  const std::vector<double> x = elementwise ? in64[0].ToVector() : std::vector<double>();
  auto at = [&](const Shape& shape, const std::string& what) {
    return [&, what, shape](size_t i) {
      if (elementwise) return absl::StrFormat("x=%.6g", x[i]);
      return absl::StrCat(label, " ", what, " ",
                          internal::IndexString(shape, static_cast<int64_t>(i)));
    };
  };
  CompareValues(y32.ToVector(), y64.ToVector(), at(y64.shape(), "output"),
                out.forward_max_rel_error, out.forward_worst, out.compared);
  if (wrt64.empty() || !y64.requires_grad()) return;
  const Tensor w64 =
      elementwise ? Ones(y64.shape(), DType::kFloat64)
                  : ToDType(Normal(y64.shape(), 0.0, 1.0, gen, DType::kFloat32), DType::kFloat64);
  const std::vector<Tensor> g32 = Grad(y32, wrt32, ToDType(w64, DType::kFloat32));
  const std::vector<Tensor> g64 = Grad(y64, wrt64, w64);
  for (size_t k = 0; k < g64.size(); ++k) {
    CompareValues(g32[k].ToVector(), g64[k].ToVector(),
                  at(g64[k].shape(), absl::StrCat("input ", wrt_index[k], " gradient")),
                  out.derivative_max_rel_error, out.derivative_worst, out.compared);
  }
}

// ---------------------------------------------------------------- finiteness

// %g, with NaN spelled one way whatever its sign bit.
std::string Value(double v) { return std::isnan(v) ? "nan" : absl::StrFormat("%g", v); }

// Problem i with every later one of the same verdict, reason and quantity
// folded in ("output at x=inf, -inf: nan (float64, float32)"); "" when an
// earlier problem already took it.
std::string FinitenessLine(const std::vector<FinitenessProblem>& problems, size_t i) {
  auto same = [&](const FinitenessProblem& a, const FinitenessProblem& b) {
    return a.fatal == b.fatal && a.why == b.why && a.quantity == b.quantity;
  };
  for (size_t k = 0; k < i; ++k) {
    if (same(problems[k], problems[i])) return "";
  }
  std::vector<std::string> xs, values, dtypes;
  int64_t similar = 0;
  auto add = [](std::vector<std::string>& list, const std::string& s) {
    if (std::find(list.begin(), list.end(), s) == list.end()) list.push_back(s);
  };
  for (size_t k = i; k < problems.size(); ++k) {
    if (!same(problems[k], problems[i])) continue;
    add(xs, Value(problems[k].x));
    add(values, Value(problems[k].value));
    add(dtypes, problems[k].dtype);
    similar = std::max(similar, problems[k].similar);
  }
  std::string out =
      absl::StrCat(problems[i].why, ": ", problems[i].quantity, " at x=", absl::StrJoin(xs, ", "),
                   " is ", absl::StrJoin(values, ", "), " (", absl::StrJoin(dtypes, ", "), ")");
  if (similar > 0) absl::StrAppendFormat(&out, ", and at %d more grid inputs", similar);
  return out;
}

// Whether an infinite value v, following `previous` and `before` further
// in, is the infinity the function heads for: same sign, growing.
const char* WrongInfinity(double v, double previous, double before) {
  if (std::isnan(previous)) return nullptr;  // reported on its own
  if (std::isinf(previous)) return previous == v ? nullptr : "infinity of the wrong sign";
  if (previous == 0 || std::signbit(previous) != std::signbit(v)) {
    return "infinity of the wrong sign";
  }
  if (!(std::abs(previous) > std::abs(before))) return "infinity where the function does not grow";
  return nullptr;
}

void CheckFiniteness(const OpDef& op, const ConformanceOptions& options,
                     ConformanceReport& report) {
  const Attrs& attrs = options.attrs;
  report.finiteness_checked = true;
  // Outward ladders: 20, 100 come from the grid and give the trend.
  const double magnitudes[] = {20, 100, 1e4, 1e30, kInf};
  std::vector<double> x;
  for (double sign : {1.0, -1.0}) {
    for (double m : magnitudes) x.push_back(sign * m);
  }
  const size_t nan_at = x.size();
  x.push_back(kNaN);
  const size_t grid_from = x.size();
  for (double g : ConformanceGrid()) x.push_back(g);
  for (double g : FineGrid()) x.push_back(g);

  for (DType dtype : {DType::kFloat64, DType::kFloat32}) {
    const char* dtype_name = dtype == DType::kFloat64 ? "float64" : "float32";
    std::vector<double> xs = x;
    if (dtype == DType::kFloat32) {
      for (double& v : xs) v = static_cast<float>(v);
    }
    Evaluated e;
    try {
      e = Evaluate(op, attrs, xs, dtype);
    } catch (const std::exception& ex) {
      report.failures.push_back(
          absl::StrCat("extreme inputs (", dtype_name, "): the op threw: ", What(ex)));
      continue;
    }
    auto add = [&](double at, const char* quantity, double value, const char* why, bool fatal) {
      report.finiteness.push_back({.x = at,
                                   .dtype = dtype_name,
                                   .quantity = quantity,
                                   .value = value,
                                   .why = why,
                                   .fatal = fatal});
    };
    for (const char* quantity : {"output", "derivative"}) {
      const std::vector<double>& v = quantity[0] == 'o' ? e.y : e.dy;
      for (size_t side = 0; side < 2; ++side) {
        const size_t base = side * std::size(magnitudes);
        for (size_t k = 2; k < std::size(magnitudes); ++k) {
          const size_t i = base + k;
          const bool infinite_input = std::isinf(xs[i]);
          const bool fatal = !infinite_input || options.strict_infinity;
          if (std::isnan(v[i])) {
            add(xs[i], quantity, v[i],
                infinite_input ? "NaN at an infinite input" : "NaN from a finite input", fatal);
          } else if (std::isinf(v[i])) {
            if (const char* why = WrongInfinity(v[i], v[i - 1], v[i - 2])) {
              add(xs[i], quantity, v[i], why, fatal);
            }
          }
        }
      }
      // Every other finite input: no NaN. One problem per kind, at the input
      // nearest zero, with the count of the others.
      size_t first = 0;
      int64_t count = 0;
      for (size_t i = grid_from; i < xs.size(); ++i) {
        if (!std::isnan(v[i])) continue;
        if (count == 0 || std::abs(xs[i]) < std::abs(xs[first])) first = i;
        ++count;
      }
      if (count > 0) {
        add(xs[first], quantity, v[first], "NaN from a finite input", true);
        report.finiteness.back().similar = count - 1;
      }
    }
    if (!std::isnan(e.y[nan_at])) add(kNaN, "output", e.y[nan_at], "NaN in, not NaN out", true);
  }
  // What the neighbours of a finite input say the value should have been.
  for (FinitenessProblem& p : report.finiteness) {
    if (!std::isfinite(p.x)) continue;
    try {
      if (p.quantity == "derivative") {
        p.expected = NumericDerivative(op, attrs, p.x, options.gradcheck.step);
      } else {
        const double h = 1e-6 * std::max(1.0, std::abs(p.x));
        const double around[] = {p.x - h, p.x + h};
        const std::vector<double> y = Evaluate(op, attrs, around, DType::kFloat64, false).y;
        p.expected = (y[0] + y[1]) / 2;
      }
      if (!std::isfinite(p.expected)) p.expected = kNaN;
    } catch (const std::exception&) {
      // The problem stands as found.
    }
  }
  for (size_t i = 0; i < report.finiteness.size(); ++i) {
    if (!report.finiteness[i].fatal) continue;
    const std::string text = FinitenessLine(report.finiteness, i);
    if (!text.empty()) report.failures.push_back(absl::StrCat("extreme inputs: ", text));
  }
}

// ------------------------------------------------------------------ figures

ActivationFigures Figures(const OpDef& op, const Attrs& attrs, const ConformanceOptions& options) {
  ActivationFigures f;
  std::vector<double> x = ConformanceGrid();
  for (double v : FineGrid()) x.push_back(v);
  std::sort(x.begin(), x.end());
  x.erase(std::unique(x.begin(), x.end()), x.end());
  const Evaluated grid = Evaluate(op, attrs, x, DType::kFloat64, /*derivative=*/false);
  f.range_min = kInf;
  f.range_max = -kInf;
  double scale = 1;
  for (double y : grid.y) {
    if (std::isnan(y)) continue;
    f.range_min = std::min(f.range_min, y);
    f.range_max = std::max(f.range_max, y);
    if (std::isfinite(y)) scale = std::max(scale, std::abs(y));
  }
  // Steps below rounding level count as flat.
  const double flat = 1e-12 * scale;
  bool rises = false, falls = false;
  double previous = kNaN;
  for (double y : grid.y) {
    if (std::isnan(y)) continue;
    if (!std::isnan(previous)) {
      rises |= y - previous > flat;
      falls |= previous - y > flat;
    }
    previous = y;
  }
  f.monotonicity = rises && falls ? Monotonicity::kNeither
                   : rises        ? Monotonicity::kNonDecreasing
                   : falls        ? Monotonicity::kNonIncreasing
                                  : Monotonicity::kConstant;

  const double zero[] = {0.0};
  f.derivative_at_zero = Evaluate(op, attrs, zero, DType::kFloat64).dy[0];
  f.zero_is_kink = std::find(op.kinks.begin(), op.kinks.end(), 0.0) != op.kinks.end();

  const std::vector<double>& z = NormalSamples(options.monte_carlo_samples);
  const Evaluated mc = Evaluate(op, attrs, z, DType::kFloat64);
  const size_t half = z.size() / 2;
  double sum = 0, sum_pairs_sq = 0, saturated = 0;
  for (size_t i = 0; i < half; ++i) {
    const double pair = (mc.y[i] + mc.y[half + i]) / 2;
    sum += pair;
    sum_pairs_sq += pair * pair;
  }
  for (double d : mc.dy) saturated += std::abs(d) < kSaturated ? 1 : 0;
  const double pairs = static_cast<double>(half);
  f.normal_mean = sum / pairs;
  f.normal_mean_stderr =
      std::sqrt(std::max(0.0, sum_pairs_sq / pairs - f.normal_mean * f.normal_mean) / pairs);
  f.normal_rms = std::sqrt(MeanSquare(mc.y));
  f.zero_centred = std::abs(f.normal_mean) <= kZeroCentredShare * f.normal_rms;
  f.saturated_fraction = saturated / static_cast<double>(mc.dy.size());
  f.estimated_gain = 1 / f.normal_rms;
  if (op.gain != nullptr) f.row_gain = op.gain(WithDefaults(op, attrs));
  return f;
}

// ------------------------------------------------------------------ helpers

std::string ElementLine(const ElementCheck& e) {
  return absl::StrFormat("input %d %s  x=%.6g  analytic=%.10g  numeric=%.10g  abs=%.3g  rel=%.3g",
                         e.input, e.index, e.x, e.analytic, e.numeric, e.abs_error, e.rel_error);
}

std::string CaseFailure(const std::string& what, const GradCheckReport& r) {
  if (r.verdict == "mismatch") {
    return absl::StrFormat("%s: %d of %d elements outside tolerance", what, r.failed, r.checked);
  }
  return absl::StrCat(what, ": ", r.verdict,
                      r.non_finite_output.empty() ? "" : ": " + r.non_finite_output);
}

// Second-order checks that prove nothing but are not wrong: a piecewise-
// linear op's second derivative is zero on both sides.
bool SecondOrderAcceptable(const GradCheckReport& r) {
  return r.passed || r.verdict == "all gradients are zero" ||
         r.verdict == "every element sits on a kink";
}

std::string Number(double v) { return absl::StrFormat("%.4g", v); }

// f''(x) by the row: its backward differentiated once more.
double RowSecondDerivative(const OpDef& op, const Attrs& attrs, double x) {
  GradModeGuard recording(true);
  Tensor at = FromValues({x}, DType::kFloat64);
  at.set_requires_grad(true);
  const Tensor ones = Ones(at.shape(), DType::kFloat64);
  const Tensor dy = Grad(Apply(op, {at}, attrs), {at}, ones, {.create_graph = true})[0];
  return Grad(dy, {at}, ones)[0].ToVector()[0];
}

// ------------------------------------------------------------------ stages

// Against the derivative oracle, in both dtypes; the second derivative only
// where the second-order check was asked for.
void CheckExactDerivatives(const OpDef& op, const ConformanceOptions& options,
                           ConformanceReport& report) {
  if (op.formulas == nullptr || op.formulas->generic == nullptr) return;
  for (OracleOptions oracle : {options.float64_oracle, options.float32_oracle}) {
    oracle.second_order = options.second_order;
    OracleReport exact = CheckAgainstOracle(op, options.attrs, oracle);
    for (const std::string& why : exact.failures) {
      report.failures.push_back(absl::StrCat("exact derivatives: ", why));
    }
    report.exact.push_back(std::move(exact));
  }
}

void CheckFirstDerivative(const OpDef& op, const std::vector<GradCheckCase>& cases,
                          const std::optional<GradCheckCase>& grid,
                          const ConformanceOptions& options, ConformanceReport& report) {
  double worst_badness = -1;
  Attrs worst_attrs;
  auto fold = [&](const GradCheckReport& r, const std::string& where, const Attrs& attrs) {
    if (!std::isnan(r.taylor_order) &&
        (std::isnan(report.taylor_order) || r.taylor_order < report.taylor_order)) {
      report.taylor_order = r.taylor_order;
      report.taylor_case = where;
    }
    if (r.worst.empty()) return;
    const double b = internal::Badness(r.worst.front(), options.gradcheck);
    if (b > worst_badness) {
      worst_badness = b;
      report.worst = r.worst.front();
      report.worst_case = where;
      worst_attrs = attrs;
    }
  };
  try {
    report.cases = CheckOp(op, options.seed, options.gradcheck, options.attrs);
    if (report.cases.cases.empty()) {
      report.failures.push_back("first derivative: no sample inputs (the row has no check_cases)");
    }
    for (size_t i = 0; i < report.cases.cases.size(); ++i) {
      const OpCaseResult& c = report.cases.cases[i];
      const std::string where = absl::StrCat("case ", c.description);
      if (!c.report.passed && !c.uninformative) {
        report.failures.push_back(CaseFailure("first derivative, " + where, c.report));
      }
      fold(c.report, where, i < cases.size() ? cases[i].attrs : Attrs());
    }
    if (!report.cases.cases.empty() &&
        report.cases.uninformative == static_cast<int64_t>(report.cases.cases.size())) {
      report.failures.push_back(absl::StrFormat(
          "first derivative: no case was informative: both gradients are zero throughout "
          "every case (random ones drawn again up to %d times)",
          kFlatRedraws));
    }
  } catch (const std::exception& e) {
    report.failures.push_back(absl::StrCat("first derivative: the op threw: ", What(e)));
  }
  if (grid.has_value()) {
    try {
      report.grid = CheckOpCase(op, *grid, options.gradcheck);
      if (!report.grid->passed) {
        report.failures.push_back(CaseFailure("first derivative on the fixed grid", *report.grid));
      }
      fold(*report.grid, "fixed grid", grid->attrs);
    } catch (const std::exception& e) {
      report.failures.push_back(
          absl::StrCat("first derivative on the fixed grid: the op threw: ", What(e)));
    }
  }
  // The checked values carry the check's random output weight; for an
  // activation, f'(x) itself reads better.
  if (IsActivation(op) && report.worst.has_value()) {
    try {
      const double x[] = {report.worst->x};
      report.worst_derivative = Evaluate(op, worst_attrs, x, DType::kFloat64).dy[0];
      report.worst_numeric_derivative =
          NumericDerivative(op, worst_attrs, x[0], options.gradcheck.step);
    } catch (const std::exception&) {
      // Already reported by the check that found the element.
    }
  }
}

void CheckSecondDerivative(const OpDef& op, const std::vector<GradCheckCase>& cases,
                           const std::optional<GradCheckCase>& grid,
                           const ConformanceOptions& options, ConformanceReport& report) {
  report.second_order_checked = true;
  std::vector<const GradCheckCase*> all;
  for (const GradCheckCase& c : cases) all.push_back(&c);
  if (grid.has_value()) all.push_back(&*grid);
  for (const GradCheckCase* c : all) {
    GradCheckOptions o = options.gradcheck;
    o.atol *= options.second_order_tolerance_factor;
    o.rtol *= options.second_order_tolerance_factor;
    o.kinks.insert(o.kinks.end(), op.kinks.begin(), op.kinks.end());
    o.kinks.insert(o.kinks.end(), c->kinks.begin(), c->kinks.end());
    const Attrs attrs = c->attrs;
    const std::string where = absl::StrCat("second derivative, case ", c->description);
    try {
      GradCheckReport r = GradCheckSecondOrder(
          [&op, attrs](std::span<const Tensor> in) { return Apply(op, in, attrs); }, c->inputs, o);
      if (!SecondOrderAcceptable(r)) report.failures.push_back(CaseFailure(where, r));
      report.second_order.push_back({c->description, std::move(r)});
    } catch (const std::exception& e) {
      report.failures.push_back(absl::StrCat(where, ": ", What(e)));
      GradCheckReport failed;
      failed.verdict = What(e);
      report.second_order.push_back({c->description, std::move(failed)});
    }
  }
  // The worst element, and for an activation f''(x) itself there.
  const WorstElement worst = FindWorstElement(report.second_order, options.gradcheck);
  if (worst.element == nullptr) return;
  report.second_order_worst = *worst.element;
  report.second_order_worst_case = absl::StrCat("case ", worst.in->description);
  if (!IsActivation(op)) return;
  const Attrs& attrs = all[worst.in - report.second_order.data()]->attrs;
  try {
    report.second_order_worst_derivative = RowSecondDerivative(op, attrs, worst.element->x);
    report.second_order_worst_numeric_derivative = internal::RichardsonDerivative(
        [&](double hk) {
          const double points[] = {worst.element->x + hk, worst.element->x - hk};
          const std::vector<double> dy = Evaluate(op, attrs, points, DType::kFloat64).dy;
          return (dy[0] - dy[1]) / (2 * hk);
        },
        options.gradcheck.step * std::max(1.0, std::abs(worst.element->x)));
  } catch (const std::exception&) {
    // Already reported by the check that found the element.
  }
}

void CheckFloat32(const OpDef& op, const std::vector<GradCheckCase>& cases,
                  const ConformanceOptions& options, ConformanceReport& report) {
  Float32Check& f = report.float32;
  try {
    Generator gen(options.seed ^ 0xf32);
    for (const GradCheckCase& c : cases) {
      CompareFloat32(op, c.inputs, c.attrs, absl::StrCat("case ", c.description), gen, f);
    }
    if (IsActivation(op)) {
      const std::vector<double> x = FineGrid();
      CompareFloat32(op, {FromValues(x, Shape{static_cast<int64_t>(x.size())}, DType::kFloat64)},
                     options.attrs, "grid", gen, f);
    }
  } catch (const std::exception& e) {
    f.error = What(e);
    report.failures.push_back(absl::StrCat("float32: the op threw: ", What(e)));
    return;
  }
  if (f.forward_max_rel_error > options.float32_rtol) {
    report.failures.push_back(
        absl::StrFormat("float32 forward: relative error %.3g against float64 at %s (tolerance %g)",
                        f.forward_max_rel_error, f.forward_worst, options.float32_rtol));
  }
  if (f.derivative_max_rel_error > options.float32_rtol) {
    report.failures.push_back(absl::StrFormat(
        "float32 derivative: relative error %.3g against float64 at %s (tolerance %g)",
        f.derivative_max_rel_error, f.derivative_worst, options.float32_rtol));
  }
}

}  // namespace

const char* MonotonicityName(Monotonicity m) {
  switch (m) {
    case Monotonicity::kConstant:
      return "constant";
    case Monotonicity::kNonDecreasing:
      return "non-decreasing";
    case Monotonicity::kNonIncreasing:
      return "non-increasing";
    case Monotonicity::kNeither:
      return "neither non-decreasing nor non-increasing";
  }
  return "?";
}

std::vector<double> ConformanceGrid() {
  return {-100, -20, -5, -2, -1, -0.5, -1e-3, 0, 1e-3, 0.5, 1, 2, 5, 20, 100};
}

ConformanceReport CheckConformance(const OpDef& op, const ConformanceOptions& options) {
  ConformanceReport report;
  report.name = std::string(op.name);
  report.formula = std::string(op.formula);
  report.kind = op.kind;
  report.taylor_order = kNaN;

  // The row's cases, drawn as CheckOp draws them, and for activations the
  // fixed grid as one more case.
  std::vector<GradCheckCase> cases;
  try {
    if (op.check_cases != nullptr) {
      Generator gen(options.seed);
      cases = DrawCheckCases(op, gen, options.attrs);
    }
  } catch (const std::exception& e) {
    report.failures.push_back(
        absl::StrCat("sample inputs: the row's check_cases threw: ", What(e)));
  }
  std::optional<GradCheckCase> grid;
  if (IsActivation(op)) {
    const std::vector<double> x = ConformanceGrid();
    grid =
        GradCheckCase{{FromValues(x, Shape{static_cast<int64_t>(x.size())}, DType::kFloat64)},
                      options.attrs,
                      "fixed grid",
                      op.kinks_at != nullptr ? op.kinks_at(options.attrs) : std::vector<double>{}};
  }

  CheckFirstDerivative(op, cases, grid, options, report);
  if (options.second_order) CheckSecondDerivative(op, cases, grid, options, report);
  CheckFloat32(op, cases, options, report);
  if (op.check_cases != nullptr) {
    report.forward_mode = CheckForwardAgainstReverse(op, options.seed, options.attrs);
    if (!report.forward_mode->passed) {
      report.failures.push_back(report.forward_mode->ToString());
    }
  }
  if (IsActivation(op) && options.exact_derivatives) CheckExactDerivatives(op, options, report);
  if (IsActivation(op)) {
    CheckFiniteness(op, options, report);
    try {
      report.figures = Figures(op, options.attrs, options);
    } catch (const std::exception& e) {
      report.failures.push_back(absl::StrCat("activation figures: the op threw: ", What(e)));
    }
  }
  report.passed = report.failures.empty();
  return report;
}

// ------------------------------------------------------------------ printing

namespace {

// %.10g, with NaN spelled one way whatever its sign bit.
std::string Precise(double v) { return std::isnan(v) ? "nan" : absl::StrFormat("%.10g", v); }

std::string SecondOrderWorstLine(const ConformanceReport& r) {
  const ElementCheck& e = *r.second_order_worst;
  if (r.second_order_worst_derivative && r.second_order_worst_numeric_derivative) {
    return absl::StrFormat(
        "second derivative, %s, x=%.6g: f''(x) = %s by the row, %s by finite differences of f'",
        r.second_order_worst_case, e.x, Precise(*r.second_order_worst_derivative),
        Precise(*r.second_order_worst_numeric_derivative));
  }
  return absl::StrCat("second derivative, ", r.second_order_worst_case, ": ", ElementLine(e));
}

// "; 1 uninformative (...)" for the first-derivative line, or "".
std::string Uninformative(const OpCheckResult& r) {
  if (r.uninformative == 0) return "";
  return absl::StrFormat(
      "; %d uninformative (both gradients zero throughout, random ones drawn again up to %d "
      "times)",
      r.uninformative, kFlatRedraws);
}

}  // namespace

std::string ConformanceReport::Summary() const {
  std::string out = absl::StrFormat(
      "%-4s  %-22s %2d cases %4d elements  max abs %-9.2g max rel %-9.2g", passed ? "PASS" : "FAIL",
      name, cases.cases.size(), cases.checked, cases.max_abs_error, cases.max_rel_error);
  if (grid.has_value()) absl::StrAppend(&out, "grid ", grid->passed ? "ok  " : "FAIL", "  ");
  absl::StrAppend(
      &out, "taylor ",
      std::isnan(taylor_order) ? std::string("-") : absl::StrFormat("%.2f", taylor_order));
  if (cases.uninformative > 0) absl::StrAppend(&out, "  ", cases.uninformative, " uninformative");
  return out;
}

std::string ConformanceReport::ToString() const {
  constexpr const char* kIndent = "                      ";
  std::string out = absl::StrFormat("%s  %s  (%s)\n", passed ? "PASS" : "FAIL", name,
                                    kind == OpKind::kActivation ? "activation" : "op");
  if (!formula.empty()) absl::StrAppend(&out, "      ", formula, "\n");
  auto line = [&](const char* label, const std::string& text) {
    absl::StrAppendFormat(&out, "  %-19s %s\n", label, text);
  };
  for (size_t i = 0; i < failures.size(); ++i) {
    if (i == 0) {
      line("failed", failures[i]);
    } else {
      absl::StrAppend(&out, kIndent, failures[i], "\n");
    }
  }
  if (worst.has_value() && !worst->passed) {
    if (worst_derivative.has_value() && worst_numeric_derivative.has_value()) {
      line("worst element",
           absl::StrFormat("%s, x=%.6g: f'(x) = %s by the row, %s by finite differences",
                           worst_case, worst->x, Precise(*worst_derivative),
                           Precise(*worst_numeric_derivative)));
      absl::StrAppend(&out, kIndent,
                      "(as checked, times a random output weight: ", ElementLine(*worst), ")\n");
    } else {
      line("worst element", absl::StrCat(worst_case, ": ", ElementLine(*worst)));
    }
  }

  line("first derivative",
       absl::StrFormat("%s on %d random cases, %d elements: max abs error %.2g, max rel error %.2g",
                       cases.passed ? "ok" : "FAILED", cases.cases.size(), cases.checked,
                       cases.max_abs_error, cases.max_rel_error) +
           Uninformative(cases));
  if (grid.has_value()) {
    absl::StrAppend(&out, kIndent,
                    absl::StrFormat("%s on the fixed grid: %d points checked, %d skipped near "
                                    "kinks: max abs error %.2g\n",
                                    grid->passed ? "ok" : "FAILED", grid->checked, grid->skipped,
                                    grid->max_abs_error));
  }
  line("Taylor order",
       std::isnan(taylor_order)
           ? std::string("not measured (the remainder is at rounding level: a linear function)")
           : absl::StrFormat("%.2f, the lowest of the checks (%s); 2 for a right gradient, 1 for "
                             "a wrong one",
                             taylor_order, taylor_case));
  if (!second_order_checked) {
    line("second derivative", "not checked (--second-order)");
  } else {
    int64_t checked = 0, zero = 0, bad = 0;
    double max_rel = 0;
    for (const OpCaseResult& c : second_order) {
      checked += c.report.checked;
      max_rel = std::max(max_rel, c.report.max_rel_error);
      zero += c.report.verdict == "all gradients are zero" ? 1 : 0;
      bad += SecondOrderAcceptable(c.report) ? 0 : 1;
    }
    std::string text =
        absl::StrFormat("%s: %d cases, %d elements, max rel error %.2g", bad == 0 ? "ok" : "FAILED",
                        second_order.size(), checked, max_rel);
    if (zero > 0) absl::StrAppendFormat(&text, "; zero in %d cases (piecewise linear)", zero);
    line("second derivative", text);
    if (bad > 0 && second_order_worst.has_value()) {
      absl::StrAppend(&out, kIndent, "worst element: ", SecondOrderWorstLine(*this), "\n");
    }
  }
  if (!float32.error.empty()) {
    line("float32", absl::StrCat("the op threw: ", float32.error));
  } else {
    auto worst_at = [](double error, const std::string& where) {
      return error == 0 ? std::string("0, exact") : absl::StrFormat("%.2g at %s", error, where);
    };
    line("float32",
         absl::StrFormat("max rel error against float64: forward %s; derivative %s",
                         worst_at(float32.forward_max_rel_error, float32.forward_worst),
                         worst_at(float32.derivative_max_rel_error, float32.derivative_worst)));
  }
  if (forward_mode.has_value()) {
    const std::string text = forward_mode->ToString();
    line("forward mode", text.substr(absl::string_view("forward mode ").size()));
  }
  for (const OracleReport& e : exact) {
    const std::string text = e.ToString();
    const size_t end_of_first = text.find('\n');
    line("exact derivatives", text.substr(0, end_of_first));
    for (absl::string_view rest :
         absl::StrSplit(text.substr(end_of_first + 1), '\n', absl::SkipEmpty())) {
      absl::StrAppend(&out, kIndent, absl::StripLeadingAsciiWhitespace(rest), "\n");
    }
  }
  if (finiteness_checked) {
    if (finiteness.empty()) {
      line("extreme inputs", "ok at +-1e4, +-1e30, +-inf (float64 and float32); NaN in, NaN out");
    }
    bool first = true;
    for (size_t i = 0; i < finiteness.size(); ++i) {
      const std::string folded = FinitenessLine(finiteness, i);
      if (folded.empty()) continue;
      const std::string text = absl::StrCat(finiteness[i].fatal ? "FAIL: " : "warning: ", folded);
      if (first) {
        line("extreme inputs", text);
      } else {
        absl::StrAppend(&out, kIndent, text, "\n");
      }
      first = false;
    }
  }
  if (figures.has_value()) {
    const ActivationFigures& f = *figures;
    line("range",
         absl::StrFormat("[%s, %s] on [-100, 100]", Number(f.range_min), Number(f.range_max)));
    line("monotonic", MonotonicityName(f.monotonicity));
    line("f'(0)", absl::StrCat(Number(f.derivative_at_zero),
                               f.zero_is_kink ? " (a kink: the row's convention)" : ""));
    line("mean f(z)", absl::StrFormat("%s +- %.1g for z ~ N(0, 1): %s (claim C9)",
                                      Number(f.normal_mean), f.normal_mean_stderr,
                                      f.zero_centred ? "zero-centred" : "not zero-centred"));
    line("saturation", absl::StrFormat("%.3g%% of N(0, 1) inputs have |f'| < %g (claim C15)",
                                       100 * f.saturated_fraction, kSaturated));
    line("gain", absl::StrFormat("%s by Monte Carlo, 1/sqrt(E[f(z)^2]); the row's: %s",
                                 Number(f.estimated_gain),
                                 f.row_gain ? Number(*f.row_gain) : std::string("none")));
  }
  return out;
}

}  // namespace actgrad
