// -----------------------------------------------------------------------------
// File: float_evaluation.h
// -----------------------------------------------------------------------------
//
// Whether a generic formula's values and first derivative (ops/generic_formula.h)
// may be evaluated in float itself on float32 tensors, decided by
// measurement. Evaluated in float (FloatPacket, ops/packet.h), a formula
// runs about twice as fast as in double, but its roundings compound, and a
// formula that cancels (x + sqrt(x^2 + 4) for large negative x) loses every
// digit. So the first time a formula is run at given attributes, its float
// evaluation is compared with its exact values (long double dual numbers)
// over every binade of float's range (32 points in each for values, 128 for
// derivatives), both signs, and judged as the built-in float32 kernels are
// (tests/float32_accuracy_test.cc), with an ulp to spare for the points
// between the grid's: within 3 ulps, beyond the input-rounding allowance
// 4 |x| 2^-24 |f''(x)| for a derivative; special inputs as the double
// evaluation gives them. A formula that passes runs in float from then on;
// one that fails, or throws on the grid, keeps the double evaluation.
//
// Derivatives in float are dual numbers with values in float and tangents
// in double (ops/mixed_dual.h): entirely in float, their sums of products
// multiply their roundings where the terms cancel (mish's derivative was
// 4.5 ulps off near x = -2.3, where mish'' = 0 and the allowance vanishes).
// Second derivatives always run in double.
//
// Example:
//
//   const GenericFormula* g = Generic(kMish);
//   const auto map = internal::EvaluatesInFloat(*g, 0, attrs) ? g->map_float_in_float
//                                                             : g->map_float;
//   map(0, x, nullptr, y, n, attrs);

#ifndef ACTGRAD_OPS_FLOAT_EVALUATION_H_
#define ACTGRAD_OPS_FLOAT_EVALUATION_H_

#include <string>

#include "graph/op_def.h"
#include "ops/generic_formula.h"

namespace actgrad::internal {

// How `g`'s values evaluated in float compare with its exact values over
// the grid.
struct FloatEvaluationReport {
  int points = 0;
  // The largest error in ulps beyond the allowance (for subnormal results),
  // and where; infinity
  // where a special input or a non-finite result differs from the double
  // evaluation's.
  double max_ulps_beyond_allowance = 0;
  double worst_x = 0;
  // The formula threw on some of the grid's inputs.
  bool threw = false;
  bool accurate() const { return max_ulps_beyond_allowance <= kMaxUlps; }
  std::string ToString() const;

  // The built-in kernels' 4 ulps, less one for the points between the
  // grid's.
  static constexpr double kMaxUlps = 3.0;
  // The derivative oracle's input-rounding allowance, in ulps of x.
  static constexpr double kDerivativeAllowance = 4.0;
};
FloatEvaluationReport MeasureFloatEvaluation(const GenericFormula& g, int order,
                                             const Attrs& attrs);

// MeasureFloatEvaluation(g, order, attrs).accurate() for values (order 0)
// and first derivatives (order 1), measured once per formula, order and
// attributes (the first 4096 of them; past those, false without
// measuring). False for second derivatives and where the formula has no
// float evaluation.
bool EvaluatesInFloat(const GenericFormula& g, int order, const Attrs& attrs);

}  // namespace actgrad::internal

#endif  // ACTGRAD_OPS_FLOAT_EVALUATION_H_
