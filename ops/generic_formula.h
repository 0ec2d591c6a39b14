// -----------------------------------------------------------------------------
// File: generic_formula.h
// -----------------------------------------------------------------------------
//
// An activation's forward written once, for any number type, and the
// instantiations the library runs it in: double for values, packets of
// doubles (ops/generic_packet.h) for float32 tensors, dual numbers (ops/
// dual.h) for exact first and second derivatives, and long double
// (64-bit mantissa, exponents to 1e4932) for the derivative oracle's
// reference values and for telling a formula that overflows from a function
// that does. An activation defined by its generic forward alone needs no
// hand-written derivative: training and the recorded backward take them
// from the dual numbers (ops/scalar_activation.h); a hand-written one is
// checked against them (check/derivative_oracle.h).
//
// The formula is a captureless generic lambda (or a struct with a template
// call operator) taking the number and the attributes, with parameters
// already defaulted. It calls elementary functions unqualified after
// `using std::...;` (softplus and sigmoid after `using actgrad::softplus;`
// and `using actgrad::sigmoid;`, ops/softplus.h) and compares with plain
// literals; both branches of a conditional must have the number's type
// (write `T(0)`, not `0.0`). The number may be a packet of lanes, so the
// formula reads it through those operations only (no std::-qualified calls
// on it, no casts to double).
//
// Example:
//
//   constexpr auto kMish = [](auto x, const actgrad::Attrs&) {
//     using std::exp, std::log1p, std::tanh;
//     return x * tanh(log1p(exp(x)));
//   };
//   const actgrad::GenericFormula* mish = actgrad::Generic(kMish);
//   double d = mish->derivative(1.0, 0.0, actgrad::Attrs{});  // 1.0490...

#ifndef ACTGRAD_OPS_GENERIC_FORMULA_H_
#define ACTGRAD_OPS_GENERIC_FORMULA_H_

#include <cmath>

#include "graph/op_def.h"
#include "ops/dual.h"
#include "ops/generic_packet.h"
#include "ops/softplus.h"

namespace actgrad {

struct GenericFormula {
  double (*forward)(double x, const Attrs& attrs);
  long double (*wide_forward)(long double x, const Attrs& attrs);
  // f' and f'' in double, in ActivationFormulas' signatures (y unused).
  // Where double overflows inside the formula (exp(800) on the way to a
  // finite derivative), they are evaluated again in long double.
  double (*derivative)(double x, double y, const Attrs& attrs);
  double (*second_derivative)(double x, double y, const Attrs& attrs);
  // f, f' and f'' in long double in one evaluation: the oracle's reference.
  HyperDual<long double> (*wide_hyper_dual)(HyperDual<long double> x, const Attrs& attrs);
  // f''' as well, from which the oracle sizes what rounding of the input
  // costs a second derivative.
  Dual<HyperDual<long double>> (*wide_third)(Dual<HyperDual<long double>> x, const Attrs& attrs);
  // out[i] = f(x[i]), f'(x[i]) or f''(x[i]) (order 0, 1, 2), times dy[i]
  // where dy is not null: the row's kernels. Float32 runs on packets
  // (ops/generic_packet.h), within an ulp of the scalar functions above.
  void (*map_float)(int order, const float* x, const float* dy, float* out, int64_t n,
                    const Attrs& attrs);
  void (*map_double)(int order, const double* x, const double* dy, double* out, int64_t n,
                     const Attrs& attrs);
  // map_float with the formula's values (order 0) evaluated in float itself
  // (ops/generic_packet.h): faster, and a few ulps off instead of one, or
  // more where the formula cancels. The row's kernels run it only where
  // ops/float_evaluation.h has measured it as accurate as the built-in
  // kernels; other orders are map_float's.
  void (*map_float_in_float)(int order, const float* x, const float* dy, float* out, int64_t n,
                             const Attrs& attrs);
};

namespace internal {

template <typename F, typename T>
T EvaluateGeneric(T x, const Attrs& attrs) {
  return static_cast<T>(F{}(x, attrs));
}

template <typename F>
double GenericDerivative(double x, double, const Attrs& attrs) {
  const double d = EvaluateGeneric<F>(Dual<double>::Variable(x), attrs).tangent;
  if (std::isfinite(d) || !std::isfinite(x)) return d;
  return static_cast<double>(
      EvaluateGeneric<F>(Dual<long double>::Variable(static_cast<long double>(x)), attrs).tangent);
}

template <typename F>
double GenericSecondDerivative(double x, double, const Attrs& attrs) {
  const double d2 = SecondDerivative(EvaluateGeneric<F>(HyperDual<double>::Variable(x), attrs));
  if (std::isfinite(d2) || !std::isfinite(x)) return d2;
  return static_cast<double>(SecondDerivative(
      EvaluateGeneric<F>(HyperDual<long double>::Variable(static_cast<long double>(x)), attrs)));
}

template <typename F>
double EvaluateScalar(int order, double x, const Attrs& attrs) {
  if (order == 0) return EvaluateGeneric<F, double>(x, attrs);
  if (order == 1) return GenericDerivative<F>(x, 0.0, attrs);
  return GenericSecondDerivative<F>(x, 0.0, attrs);
}

}  // namespace internal

template <typename F>
inline constexpr GenericFormula kGenericFormula = {
    .forward = &internal::EvaluateGeneric<F, double>,
    .wide_forward = &internal::EvaluateGeneric<F, long double>,
    .derivative = &internal::GenericDerivative<F>,
    .second_derivative = &internal::GenericSecondDerivative<F>,
    .wide_hyper_dual = &internal::EvaluateGeneric<F, HyperDual<long double>>,
    .wide_third = &internal::EvaluateGeneric<F, Dual<HyperDual<long double>>>,
    .map_float = &internal::GenericMap<F, float>,
    .map_double = &internal::GenericMap<F, double>,
    .map_float_in_float = &internal::GenericMapInFloat<F>,
};

// The instantiations of `formula`, a captureless generic lambda or a
// default-constructible struct with a template call operator. The result
// lives as long as the program (or the plugin that defines it).
template <typename F>
constexpr const GenericFormula* Generic(F) {
  return &kGenericFormula<F>;
}

}  // namespace actgrad

#endif  // ACTGRAD_OPS_GENERIC_FORMULA_H_
