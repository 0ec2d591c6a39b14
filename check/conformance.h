// -----------------------------------------------------------------------------
// File: conformance.h
// -----------------------------------------------------------------------------
//
// The conformance report of one op row, built-in, user-defined or from a
// plugin: what `actgrad gradcheck` prints. It answers "is my gradient right,
// and how does my activation behave?" in one place:
//
//   * the first derivative against float64 central differences on the row's
//     random check cases and, for activations, on a fixed grid reaching
//     +-100 (points within a step of a declared kink are skipped and
//     counted), naming the worst element: input, analytic, numeric, error;
//   * the Taylor-remainder order (2 for a right gradient, 1 for a wrong one),
//     the lowest over the checks;
//   * on request, the second derivative (GradCheckSecondOrder);
//   * float32 forward and derivative against float64 on the same inputs;
//   * activations with a generic formula: forward and derivatives against
//     exact references from dual numbers over every binade, in float64 and
//     float32 (check/derivative_oracle.h), with the row's choice at each
//     kink shown as a convention;
//   * activations only: finiteness (outputs and derivatives finite, or the
//     infinity the function heads for, at +-1e4 and +-1e30; never NaN from a
//     finite input; a NaN input gives a NaN output; +-inf warns unless
//     strict), and the figures a designer wants (range, monotonicity, f'(0),
//     mean output and saturation under N(0, 1) inputs, the variance-
//     preserving gain).
//
// The gain estimated here is g = 1 / sqrt(E[f(z)^2]) for z ~ N(0, 1): the
// gain that keeps the second moment of pre-activations at 1 from layer to
// layer when weights have variance g^2 / fan_in (He et al.'s derivation). It
// reproduces ReLU's sqrt(2), leaky ReLU's sqrt(2 / (1 + alpha^2)) and
// identity's 1 exactly; for tanh it gives 1.593, not PyTorch's 5/3, which is
// an empirical choice rather than the result of this (or any one) rule.
//
// Example:
//
//   const actgrad::OpDef& tanh = **actgrad::OpRegistry::Global().Find("tanh");
//   actgrad::ConformanceReport report = actgrad::CheckConformance(tanh);
//   std::cout << report.ToString();  // the full block; Summary() is one line
//   double gain = actgrad::EstimatedGain(tanh, {});  // 1.593

#ifndef ACTGRAD_CHECK_CONFORMANCE_H_
#define ACTGRAD_CHECK_CONFORMANCE_H_

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "check/derivative_oracle.h"
#include "check/forward_mode_check.h"
#include "check/gradcheck.h"
#include "check/op_check.h"
#include "graph/op_def.h"
#include "ops/activation_gain.h"

namespace actgrad {

struct ConformanceOptions {
  // Tolerances of the derivative checks, and the seed of their output
  // weighting and Taylor direction.
  GradCheckOptions gradcheck;
  // Seeds the row's random check cases (OpDef::check_cases).
  uint64_t seed = 1;
  // Activations: the attributes of the grid, float32, finiteness and figure
  // checks; the check cases carry their own, and take from here the params
  // they leave unset (op_check.h, DrawCheckCases). Unset params take the
  // row's defaults.
  Attrs attrs;
  // Also check second derivatives with GradCheckSecondOrder, at tolerances
  // this many times the first derivative's (finite differences of a
  // derivative lose a few more digits).
  bool second_order = false;
  double second_order_tolerance_factor = 10;
  // float32 values (forward and derivative) whose error relative to float64
  // exceeds this fail. Errors are taken relative to max(|float64 value|,
  // 1e-3 x the largest |float64 value| of the same tensor), so values near a
  // zero of the function do not count as relative noise.
  double float32_rtol = 1e-2;
  // NaN, or an infinity of the wrong sign, at an input of +-inf fails instead
  // of being reported as a warning. (x sigmoid(x) at -inf is -inf * 0 = NaN
  // in IEEE arithmetic although its limit is 0; PyTorch gives NaN there too.)
  bool strict_infinity = false;
  // Activations with a generic formula: forward, derivative and second
  // derivative against the derivative oracle (check/derivative_oracle.h)
  // in float64 and float32, at these ulp bounds.
  bool exact_derivatives = true;
  OracleOptions float64_oracle = {.dtype = DType::kFloat64,
                                  .forward_max_ulps = 4,
                                  .derivative_max_ulps = 16,
                                  .second_derivative_max_ulps = 64};
  OracleOptions float32_oracle = {.dtype = DType::kFloat32};
  // Samples of z ~ N(0, 1) behind the mean, saturation and gain figures.
  int64_t monte_carlo_samples = kMonteCarloSamples;
};

// float32 against float64 on the same (float32-representable) inputs.
struct Float32Check {
  double forward_max_rel_error = 0;
  double derivative_max_rel_error = 0;
  // Where each worst error is: "x=9.51" for an activation's grid, otherwise
  // the case and element, e.g. "case [3,4] output [1,2]".
  std::string forward_worst;
  std::string derivative_worst;
  int64_t compared = 0;  // values compared, forward and derivative together
  std::string error;     // an exception the float32 run threw, if any
};

// A value that is not what an extreme or special input calls for.
struct FinitenessProblem {
  double x = 0;          // the input
  std::string dtype;     // "float64" or "float32"
  std::string quantity;  // "output" or "derivative"
  double value = 0;
  // "NaN from a finite input", "NaN in, not NaN out", "NaN at an infinite
  // input", "infinity of the wrong sign", "infinity where the function does
  // not grow".
  std::string why;
  bool fatal = true;    // false: a warning that does not fail the op
  int64_t similar = 0;  // further grid inputs with the same problem
  // At a finite input, what its neighbours say the value should be: the
  // mean of f(x - h) and f(x + h) for the output, central differences for
  // the derivative (float64); NaN where they say nothing finite.
  double expected = std::numeric_limits<double>::quiet_NaN();
};

enum class Monotonicity { kConstant, kNonDecreasing, kNonIncreasing, kNeither };
const char* MonotonicityName(Monotonicity m);

// What an activation's designer wants to know (claims C9, C15, C18-C20).
struct ActivationFigures {
  // Over the fixed grid (to +-100) and 2001 points in [-10, 10].
  double range_min = 0;
  double range_max = 0;
  Monotonicity monotonicity = Monotonicity::kNeither;
  double derivative_at_zero = 0;  // the row's backward at exactly 0
  bool zero_is_kink = false;      // then f'(0) is the row's convention
  // Under z ~ N(0, 1), by Monte Carlo with antithetic pairs (z, -z), so that
  // odd functions come out exactly zero-centred.
  double normal_mean = 0;
  double normal_mean_stderr = 0;
  double normal_rms = 0;  // sqrt(E[f(z)^2])
  // |E f(z)| <= 5% of sqrt(E[f(z)^2]) (claim C9: tanh yes, sigmoid no).
  bool zero_centred = false;
  double saturated_fraction = 0;   // P(|f'(z)| < 0.01) (claim C15)
  double estimated_gain = 0;       // 1 / sqrt(E[f(z)^2])
  std::optional<double> row_gain;  // OpDef::gain, when the row has one
};

struct ConformanceReport {
  std::string name;
  std::string formula;
  OpKind kind = OpKind::kElementwise;
  bool passed = false;
  // Why it failed, one line each; empty when it passed.
  std::vector<std::string> failures;

  // First derivative on the row's random check cases.
  OpCheckResult cases;
  // Activations: first derivative on the fixed grid 0, +-1e-3, +-0.5, +-1,
  // +-2, +-5, +-20, +-100.
  std::optional<GradCheckReport> grid;
  // The lowest Taylor-remainder order measured, and where; NaN when every
  // remainder stayed at rounding level (linear functions). Advisory: a wrong
  // gradient gives 1 and a right one 2, but where the remainder's h^2 and h^3
  // terms nearly cancel a right one can read as low as 1.2, so the verdict
  // rests on the element-wise comparison.
  double taylor_order = 0;
  std::string taylor_case;
  // The worst element of every first-derivative check, and where it was.
  // Its analytic and numeric values are entries of the vector-Jacobian
  // product with the check's random output weighting.
  std::optional<ElementCheck> worst;
  std::string worst_case;
  // Activations: f'(x) itself at the worst element's x, by the row's
  // backward and by finite differences (the weighting divided out).
  std::optional<double> worst_derivative;
  std::optional<double> worst_numeric_derivative;

  // With ConformanceOptions::second_order: per case (and "grid").
  bool second_order_checked = false;
  std::vector<OpCaseResult> second_order;
  // The worst element of the second-order checks, and where it was; for
  // activations f''(x) itself at its x, by the row (double backward) and by
  // finite differences of the row's f'.
  std::optional<ElementCheck> second_order_worst;
  std::string second_order_worst_case;
  std::optional<double> second_order_worst_derivative;
  std::optional<double> second_order_worst_numeric_derivative;

  Float32Check float32;

  // Forward mode against reverse mode on the row's cases (every row).
  std::optional<ForwardReverseCheck> forward_mode;

  // Activations with a generic formula: the oracle's reports, float64 then
  // float32.
  std::vector<OracleReport> exact;

  // Activations only.
  bool finiteness_checked = false;
  std::vector<FinitenessProblem> finiteness;
  std::optional<ActivationFigures> figures;

  // One line: verdict, name, counts, largest errors, Taylor order.
  std::string Summary() const;
  // The full, readable block.
  std::string ToString() const;
};

// The fixed grid of activation checks, in increasing order.
std::vector<double> ConformanceGrid();

// Computes the report of `op`. Never throws for a misbehaving row: an
// exception from one of its checks becomes a failure in the report.
ConformanceReport CheckConformance(const OpDef& op, const ConformanceOptions& options = {});

}  // namespace actgrad

#endif  // ACTGRAD_CHECK_CONFORMANCE_H_
