// -----------------------------------------------------------------------------
// File: derivative_oracle.h
// -----------------------------------------------------------------------------
//
// The derivative oracle: an activation's forward, derivative and second
// derivative, as its row computes them in float32 or float64, against exact
// references derived from its generic formula (ops/generic_formula.h) on
// dual numbers in long double: no step size, exact to rounding. Where finite
// differences blur (near kinks, at saturation, in float32) this is the check
// that still sees.
//
// The grid spans every binade of the dtype's range on both sides of zero,
// the subnormals, +-0, +-inf and NaN, a fine uniform grid over [-40, 40],
// and both sides of every declared kink at tiny offsets (+-1e-300 and
// +-1e-17 around a kink at zero, the neighbouring floats around any kink),
// so a one-sided formula wrong only in a sliver next to a kink is seen.
//
// A value passes when it is within `max_ulps` ulps of the reference plus
// what rounding costs where the function itself is ill-conditioned:
//   * moving the input by max_ulps ulps moves f by max_ulps |x f'(x)| u and
//     f' by max_ulps |x f''(x)| u (u the dtype's unit roundoff), which an
//     implementation that rounds its intermediate results cannot avoid
//     where these are large (gelu's tail, a derivative near its zero);
//     float64 values and every derivative get this allowance, float32
//     forwards must be within max_ulps of the correctly rounded value
//     outright;
//   * a derivative computed from the output y, by a row that does not keep
//     its input (sigmoid, tanh), moves by |f''(x) / f'(x)| times the error
//     the forward is allowed (max_ulps ulps of y), and the second
//     derivative by |f'''(x) / f'(x)| times the same.
//   * below the normal range, where results hold fewer digits and
//     subnormal intermediates multiply their rounding, half the digits the
//     dtype holds at the reference must be right, and in the lower half of
//     the subnormals (below 2^(p/2) smallest subnormals, p the precision)
//     a result may flush to zero; an early flush anywhere above fails.
// Each report names the worst point: x, the row's value, the reference and
// the error in ulps. At a kink itself the row's derivative is a convention:
// it must lie between the one-sided limits, and the report shows it as one.
// Infinity from a finite input where the true value fits the dtype, and NaN
// from a non-NaN input where the reference is a number, fail.
//
// Example:
//
//   const actgrad::OpDef& op = **actgrad::OpRegistry::Global().Find("sigmoid");
//   actgrad::OracleReport r =
//       actgrad::CheckAgainstOracle(op, {}, {.dtype = actgrad::DType::kFloat32});
//   std::cout << r.ToString();  // worst ulps of forward and derivative

#ifndef ACTGRAD_CHECK_DERIVATIVE_ORACLE_H_
#define ACTGRAD_CHECK_DERIVATIVE_ORACLE_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "graph/op_def.h"

namespace actgrad {

struct OracleOptions {
  DType dtype = DType::kFloat64;
  // Points in each binade [2^e, 2^(e+1)) on each side of zero.
  int points_per_binade = 8;
  double forward_max_ulps = 4;
  double derivative_max_ulps = 4;
  double second_derivative_max_ulps = 16;
  // Also the second derivative, through the row's recorded backward.
  bool second_order = true;
  // float32 forwards get the input-rounding allowance too (float64 ones
  // always do).
  bool float32_forward_allowance = false;
  // Seeds the mantissas drawn in each binade besides the evenly spaced ones.
  uint64_t seed = 1;
};

// f, f', f'' and f''' at one point, in long double.
struct OracleValues {
  long double value = 0;
  long double derivative = 0;
  long double second_derivative = 0;
  long double third_derivative = 0;
};

// The references of `formula` at x; `attrs` with defaults filled in.
OracleValues Oracle(const GenericFormula& formula, long double x, const Attrs& attrs);

// The spacing of `dtype`'s numbers at |r|; the smallest subnormal below the
// normal range.
long double Ulp(long double r, DType dtype);

// One quantity (forward, derivative, second derivative) over the grid.
struct UlpSummary {
  std::string quantity;
  int64_t compared = 0;
  int64_t failed = 0;
  // Points where the reference is not a number (inf - inf inside the
  // formula, even in long double): not compared.
  int64_t undefined = 0;
  // The largest error in ulps anywhere, and the largest beyond the
  // conditioning allowance (what decides).
  double max_ulps = 0;
  double max_ulps_beyond_allowance = 0;
  // The point of the largest error beyond the allowance.
  double worst_x = 0;
  double worst_value = 0;
  long double worst_reference = 0;
  double worst_ulps = 0;
  double worst_allowed_ulps = 0;
};

// The row's choice at a kink, against the one-sided limits.
struct KinkConvention {
  double kink = 0;
  std::string quantity;  // "derivative" or "second derivative"
  double chosen = 0;
  long double left_limit = 0;
  long double right_limit = 0;
  bool between = true;
};

// A value of the wrong kind: "NaN from a finite input", "NaN in, not NaN
// out", "infinity where the true value fits", "a number where the true
// value overflows".
struct OracleProblem {
  double x = 0;
  std::string quantity;
  double value = 0;
  long double reference = 0;
  std::string why;
};

struct OracleReport {
  std::string name;
  DType dtype = DType::kFloat64;
  bool checked = false;  // false: the row has no generic formula
  bool passed = false;
  std::vector<std::string> failures;
  int64_t points = 0;
  UlpSummary forward;
  UlpSummary derivative;
  std::optional<UlpSummary> second_derivative;
  std::vector<KinkConvention> kinks;
  std::vector<OracleProblem> problems;  // the first few of each kind
  int64_t problem_count = 0;

  // A few lines: verdict, worst point per quantity, conventions, problems.
  std::string ToString() const;
};

// The points checked, in increasing order (NaN last), as numbers of `dtype`.
std::vector<double> OracleGrid(const OracleOptions& options, std::span<const double> kinks);

// Checks `op` at `attrs` (unset params take the row's defaults). Never
// throws for a misbehaving row: an exception becomes a failure.
OracleReport CheckAgainstOracle(const OpDef& op, const Attrs& attrs,
                                const OracleOptions& options = {});

}  // namespace actgrad

#endif  // ACTGRAD_CHECK_DERIVATIVE_ORACLE_H_
