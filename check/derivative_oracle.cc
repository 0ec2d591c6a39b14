#include "check/derivative_oracle.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "graph/factories.h"
#include "graph/grad_mode.h"
#include "ops/activation_gain.h"
#include "ops/generic_formula.h"

namespace actgrad {

namespace {

using internal::Evaluate;
using internal::Evaluated;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Problems kept per kind; the rest are counted.
constexpr int kProblemsKept = 3;

bool IsFloat32(DType dtype) { return dtype == DType::kFloat32; }

// The value as a number of `dtype`.
double Round(double v, DType dtype) { return IsFloat32(dtype) ? double(float(v)) : v; }

long double UnitRoundoff(DType dtype) { return IsFloat32(dtype) ? 0x1p-24L : 0x1p-53L; }

long double LargestFinite(DType dtype) {
  return IsFloat32(dtype) ? std::numeric_limits<float>::max() : std::numeric_limits<double>::max();
}

long double SmallestNormal(DType dtype) {
  return IsFloat32(dtype) ? std::numeric_limits<float>::min() : std::numeric_limits<double>::min();
}

double Toward(double v, double direction, DType dtype) {
  return IsFloat32(dtype) ? double(std::nextafter(float(v), float(direction)))
                          : std::nextafter(v, direction);
}

// |v|, or 0 where v is not a number (0 * inf in an allowance).
long double Magnitude(long double v) { return std::isfinite(v) ? std::fabs(v) : 0.0L; }

// Long doubles print with the digits that tell them from the row's value.
std::string Show(long double v) { return absl::StrFormat("%.10Lg", v); }

struct Comparison {
  UlpSummary* summary;
  const UlpSummary* forward;
  std::vector<OracleProblem>* problems;
  int64_t* problem_count;
  std::map<std::string, int>* kept;
  DType dtype;
};

void AddProblem(const Comparison& c, double x, double value, long double reference,
                const char* why) {
  ++*c.problem_count;
  ++c.summary->failed;
  int& kept = (*c.kept)[why];
  if (kept >= kProblemsKept) return;
  ++kept;
  c.problems->push_back({.x = x,
                         .quantity = c.summary->quantity,
                         .value = value,
                         .reference = reference,
                         .why = why});
}

// Folds one value into its summary: the error in ulps of the reference,
// against max_ulps plus `allowance` (absolute).
void Compare(const Comparison& c, double x, double value, long double reference,
             long double allowance, double max_ulps) {
  UlpSummary& s = *c.summary;
  if (std::isnan(x)) {
    // A NaN input must give a NaN output; what a derivative reports there
    // (relu's 0, identity's 1) is not a number of the function's.
    if (&s != c.forward) return;
    ++s.compared;
    if (!std::isnan(value)) AddProblem(c, x, value, reference, "NaN in, not NaN out");
    return;
  }
  if (std::isnan(reference)) {
    ++s.undefined;
    return;
  }
  ++s.compared;
  const long double largest = LargestFinite(c.dtype);
  if (std::fabs(reference) > largest) {
    const bool overflows_too =
        std::fabs(value) >= largest && std::signbit(value) == std::signbit(reference);
    if (!overflows_too) {
      AddProblem(c, x, value, reference, "a number where the true value overflows");
    }
    return;
  }
  if (std::isnan(value)) {
    AddProblem(c, x, value, reference,
               std::isinf(x) ? "NaN at an infinite input whose limit is a number"
                             : "NaN from a finite input");
    return;
  }
  if (std::isinf(value)) {
    AddProblem(c, x, value, reference, "infinity where the true value fits");
    return;
  }
  const long double ulp = Ulp(reference, c.dtype);
  const long double ulps = std::fabs(value - reference) / ulp;
  // Below the normal range a result holds fewer digits, and a formula whose
  // intermediate results are subnormal too multiplies their rounding: half
  // the digits the dtype holds at the reference must be right.
  // In the lower half of the subnormals (by digits) a result may flush to 0.
  const long double smallest = Ulp(0, c.dtype);
  if (std::fabs(reference) < SmallestNormal(c.dtype)) {
    allowance = Magnitude(allowance) + std::sqrt(std::fabs(reference) * smallest);
    if (std::fabs(reference) < smallest * (IsFloat32(c.dtype) ? 0x1p12L : 0x1p26L)) {
      allowance += std::fabs(reference);
    }
  }
  const long double allowed_extra = Magnitude(allowance) / ulp;
  const long double beyond = std::max(0.0L, ulps - allowed_extra);
  s.max_ulps = std::max<double>(s.max_ulps, double(ulps));
  if (beyond > s.max_ulps_beyond_allowance ||
      (beyond == s.max_ulps_beyond_allowance && ulps > s.worst_ulps)) {
    s.max_ulps_beyond_allowance = double(beyond);
    s.worst_x = x;
    s.worst_value = value;
    s.worst_reference = reference;
    s.worst_ulps = double(ulps);
    s.worst_allowed_ulps = double(max_ulps + allowed_extra);
  }
  if (beyond > max_ulps) ++s.failed;
}

std::string Describe(const UlpSummary& s, DType dtype) {
  std::string text = absl::StrFormat(
      "%-17s %7d points  worst %.3g ulps beyond the conditioning allowance (%.3g in all)",
      s.quantity, s.compared, s.max_ulps_beyond_allowance, s.max_ulps);
  if (s.compared > 0) {
    absl::StrAppendFormat(&text, ", at x=%.9g: row %.10g, exact %s (%.3g ulps, %.3g allowed)",
                          s.worst_x, s.worst_value, Show(s.worst_reference), s.worst_ulps,
                          s.worst_allowed_ulps);
  }
  if (s.undefined > 0) absl::StrAppend(&text, "; ", s.undefined, " points with no exact value");
  (void)dtype;
  return text;
}

// The row's second derivative at x: its recorded backward differentiated.
std::vector<double> RowSecondDerivative(const OpDef& op, const Attrs& attrs,
                                        std::span<const double> x, DType dtype) {
  GradModeGuard recording(true);
  const Shape shape{static_cast<int64_t>(x.size())};
  Tensor input = FromValues(x, shape, dtype);
  input.set_requires_grad(true);
  const Tensor y = Apply(op, {input}, attrs);
  const Tensor g = Grad(y, {input}, Ones(shape, dtype), {.create_graph = true})[0];
  // A derivative that does not depend on x (identity, the piecewise-linear
  // rows) is not recorded: its own derivative is 0.
  if (!g.requires_grad()) return std::vector<double>(x.size(), 0.0);
  return Grad(g, {input}, Ones(shape, dtype))[0].ToVector();
}

// The kinks of `op` at `attrs`, as numbers of `dtype`.
std::vector<double> KinksOf(const OpDef& op, const Attrs& attrs, DType dtype) {
  std::vector<double> kinks = op.kinks_at != nullptr
                                  ? op.kinks_at(attrs)
                                  : std::vector<double>(op.kinks.begin(), op.kinks.end());
  for (double& k : kinks) k = Round(k, dtype);
  return kinks;
}

}  // namespace

OracleValues Oracle(const GenericFormula& formula, long double x, const Attrs& attrs) {
  const Dual<HyperDual<long double>> r =
      formula.wide_third(Dual<HyperDual<long double>>::Variable(x), attrs);
  return {.value = r.value.value.value,
          .derivative = r.value.value.tangent,
          .second_derivative = r.value.tangent.tangent,
          .third_derivative = r.tangent.tangent.tangent};
}

long double Ulp(long double r, DType dtype) {
  const int mantissa_bits = IsFloat32(dtype) ? 24 : 53;
  const int min_exponent = IsFloat32(dtype) ? -126 : -1022;
  const long double smallest = std::ldexp(1.0L, min_exponent - mantissa_bits + 1);
  r = std::fabs(r);
  if (!std::isfinite(r) || r < std::ldexp(1.0L, min_exponent)) return smallest;
  int exponent = 0;
  std::frexp(r, &exponent);  // r = m 2^exponent, m in [0.5, 1)
  return std::ldexp(1.0L, exponent - mantissa_bits);
}

std::vector<double> OracleGrid(const OracleOptions& options, std::span<const double> kinks) {
  const DType dtype = options.dtype;
  const bool f32 = IsFloat32(dtype);
  const int lowest = f32 ? -149 : -1074;
  const int highest = f32 ? 127 : 1023;
  const int n = std::max(1, options.points_per_binade);
  Generator gen(options.seed);
  std::vector<double> x;
  auto both_signs = [&](double v) {
    v = Round(v, dtype);
    x.push_back(v);
    x.push_back(-v);
  };
  for (int e = lowest; e <= highest; ++e) {
    for (int j = 0; j < n; ++j) both_signs(std::ldexp(1.0 + double(j) / n, e));
    both_signs(std::ldexp(1.0 + gen.NextUniform(), e));
  }
  for (int i = -4000; i <= 4000; ++i) x.push_back(Round(i / 100.0, dtype));
  for (double k : kinks) {
    x.push_back(k);
    for (double direction : {-kInf, kInf}) {
      double v = k;
      for (int step = 1; step <= 8; ++step) {
        v = Toward(v, direction, dtype);
        if (step == 1 || step == 2 || step == 8) x.push_back(v);
      }
      const double sign = direction > 0 ? 1 : -1;
      x.push_back(Round(k + sign * 1e-9 * std::max(1.0, std::abs(k)), dtype));
      if (k == 0) {
        for (double tiny : {1e-300, 1e-38, 1e-17}) {
          const double v = Round(sign * tiny, dtype);
          if (v != 0) x.push_back(v);
        }
      }
    }
  }
  x.push_back(0.0);
  x.push_back(-0.0);
  x.push_back(kInf);
  x.push_back(-kInf);
  std::sort(x.begin(), x.end(), [](double a, double b) {
    if (a != b) return a < b;
    return std::signbit(a) && !std::signbit(b);  // -0 before 0
  });
  x.erase(std::unique(x.begin(), x.end(),
                      [](double a, double b) {
                        return std::bit_cast<uint64_t>(a) == std::bit_cast<uint64_t>(b);
                      }),
          x.end());
  x.push_back(kNaN);
  return x;
}

OracleReport CheckAgainstOracle(const OpDef& op, const Attrs& given, const OracleOptions& options) {
  OracleReport report;
  report.name = std::string(op.name);
  report.dtype = options.dtype;
  if (op.formulas == nullptr || op.formulas->generic == nullptr) return report;
  report.checked = true;
  const GenericFormula& formula = *op.formulas->generic;
  const Attrs attrs = WithDefaults(op, given);
  const DType dtype = options.dtype;
  const std::vector<double> kinks = KinksOf(op, attrs, dtype);
  const std::vector<double> x = OracleGrid(options, kinks);
  report.points = static_cast<int64_t>(x.size());

  Evaluated row;
  std::vector<double> second;
  try {
    row = Evaluate(op, given, x, dtype);
  } catch (const std::exception& e) {
    report.failures.push_back(
        absl::StrCat("the row threw on the oracle's grid (", DTypeName(dtype), "): ", e.what()));
    return report;
  }
  if (options.second_order) {
    try {
      second = RowSecondDerivative(op, given, x, dtype);
    } catch (const std::exception& e) {
      report.failures.push_back(absl::StrCat("the second derivative threw on the oracle's grid (",
                                             DTypeName(dtype), "): ", e.what()));
    }
  }

  report.forward.quantity = "forward";
  report.derivative.quantity = "derivative";
  if (!second.empty()) {
    report.second_derivative.emplace();
    report.second_derivative->quantity = "second derivative";
  }
  std::map<std::string, int> kept;
  auto comparison = [&](UlpSummary& s) {
    return Comparison{&s, &report.forward, &report.problems, &report.problem_count, &kept, dtype};
  };
  const long double u = UnitRoundoff(dtype);
  const bool forward_allowance = !IsFloat32(dtype) || options.float32_forward_allowance;
  // Rows that keep only their output compute derivatives from y, which the
  // forward's contract lets be forward_max_ulps off.
  const bool from_output = (op.saves & (kSaveInput0 | kSaveAllInputs)) == 0;
  auto is_kink = [&](double v) { return std::find(kinks.begin(), kinks.end(), v) != kinks.end(); };

  std::vector<OracleValues> exact(x.size());
  for (size_t i = 0; i < x.size(); ++i) exact[i] = Oracle(formula, x[i], attrs);

  for (size_t i = 0; i < x.size(); ++i) {
    const OracleValues& o = exact[i];
    const long double xi = x[i];
    const long double input_rounding = std::isfinite(xi) ? std::fabs(xi) * u : 0.0L;
    Compare(comparison(report.forward), x[i], row.y[i], o.value,
            forward_allowance ? options.forward_max_ulps * input_rounding * Magnitude(o.derivative)
                              : 0.0L,
            options.forward_max_ulps);
    if (is_kink(x[i])) continue;
    long double derivative_allowance =
        options.derivative_max_ulps * input_rounding * Magnitude(o.second_derivative);
    const long double output_error = options.forward_max_ulps * Ulp(o.value, dtype);
    if (from_output && o.second_derivative != 0 && o.derivative != 0) {
      derivative_allowance += Magnitude(o.second_derivative / o.derivative) * output_error;
    }
    Compare(comparison(report.derivative), x[i], row.dy[i], o.derivative, derivative_allowance,
            options.derivative_max_ulps);
    if (!second.empty()) {
      long double second_allowance =
          options.second_derivative_max_ulps * input_rounding * Magnitude(o.third_derivative);
      if (from_output && o.third_derivative != 0 && o.derivative != 0) {
        second_allowance += Magnitude(o.third_derivative / o.derivative) * output_error;
      }
      Compare(comparison(*report.second_derivative), x[i], second[i], o.second_derivative,
              second_allowance, options.second_derivative_max_ulps);
    }
  }

  // At each kink the row's choice must lie between the one-sided limits,
  // taken by the oracle at the neighbouring numbers.
  for (double k : kinks) {
    const auto at = std::find(x.begin(), x.end(), k);
    if (at == x.end() || at == x.begin() || at + 1 == x.end()) continue;
    const size_t i = static_cast<size_t>(at - x.begin());
    auto convention = [&](const char* quantity, double chosen, long double left, long double right,
                          double max_ulps) {
      const long double low = std::min(left, right), high = std::max(left, right);
      const long double slack = max_ulps * Ulp(std::max(std::fabs(low), std::fabs(high)), dtype);
      const bool between = chosen >= low - slack && chosen <= high + slack;
      report.kinks.push_back({.kink = k,
                              .quantity = quantity,
                              .chosen = chosen,
                              .left_limit = left,
                              .right_limit = right,
                              .between = between});
      if (!between) {
        report.failures.push_back(absl::StrFormat(
            "%s (%s) at the kink x=%g: the row's %.10g is not between the one-sided limits %s "
            "and %s",
            quantity, DTypeName(dtype), k, chosen, Show(left), Show(right)));
      }
    };
    convention("derivative", row.dy[i], exact[i - 1].derivative, exact[i + 1].derivative,
               options.derivative_max_ulps);
    if (!second.empty()) {
      convention("second derivative", second[i], exact[i - 1].second_derivative,
                 exact[i + 1].second_derivative, options.second_derivative_max_ulps);
    }
  }

  std::vector<const UlpSummary*> summaries = {&report.forward, &report.derivative};
  if (report.second_derivative.has_value()) summaries.push_back(&*report.second_derivative);
  const double limits[] = {options.forward_max_ulps, options.derivative_max_ulps,
                           options.second_derivative_max_ulps};
  for (size_t q = 0; q < summaries.size(); ++q) {
    const UlpSummary& s = *summaries[q];
    if (s.max_ulps_beyond_allowance > limits[q]) {
      report.failures.push_back(absl::StrFormat(
          "%s (%s): %.3g ulps from the exact value beyond the conditioning allowance (at most "
          "%g) at x=%.9g: row %.10g, exact %s; %d of %d points fail",
          s.quantity, DTypeName(dtype), s.max_ulps_beyond_allowance, limits[q], s.worst_x,
          s.worst_value, Show(s.worst_reference), s.failed, s.compared));
    }
  }
  for (const OracleProblem& p : report.problems) {
    report.failures.push_back(absl::StrFormat("%s (%s): %s at x=%g: row %g, exact %s", p.quantity,
                                              DTypeName(dtype), p.why, p.x, p.value,
                                              Show(p.reference)));
  }
  report.passed = report.failures.empty();
  return report;
}

std::string OracleReport::ToString() const {
  if (!checked) return absl::StrCat(name, ": no generic formula, so no exact derivatives\n");
  std::string text = absl::StrFormat(
      "%s in %s against dual numbers in long double, %d points over every "
      "binade\n",
      passed ? "ok" : "FAILED", DTypeName(dtype), points);
  absl::StrAppend(&text, "  ", Describe(forward, dtype), "\n");
  absl::StrAppend(&text, "  ", Describe(derivative, dtype), "\n");
  if (second_derivative.has_value()) {
    absl::StrAppend(&text, "  ", Describe(*second_derivative, dtype), "\n");
  }
  for (const KinkConvention& k : kinks) {
    absl::StrAppendFormat(&text, "  kink x=%g: %s %.6g chosen, one-sided limits %s and %s: %s\n",
                          k.kink, k.quantity, k.chosen, Show(k.left_limit), Show(k.right_limit),
                          k.between ? "a convention" : "OUTSIDE the limits");
  }
  for (const OracleProblem& p : problems) {
    absl::StrAppendFormat(&text, "  %s: %s at x=%g (row %g, exact %s)\n", p.quantity, p.why, p.x,
                          p.value, Show(p.reference));
  }
  if (problem_count > static_cast<int64_t>(problems.size())) {
    absl::StrAppend(&text, "  ", problem_count - static_cast<int64_t>(problems.size()),
                    " more points with such problems\n");
  }
  return text;
}

}  // namespace actgrad
