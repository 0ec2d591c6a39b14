// -----------------------------------------------------------------------------
// File: dual.h
// -----------------------------------------------------------------------------
//
// Dual numbers: a value and the derivative carried along with it, so that a
// formula written once for any number type yields its exact derivative
// (exact to rounding, with no step size) when evaluated on `Dual<T>`, and
// its second derivative on the hyper-dual `Dual<Dual<T>>`. They are what the
// derivative oracle (check/derivative_oracle.h) and activations defined by
// their forward alone (ops/generic_formula.h) run on.
//
// Every elementary function's derivative is written in a form that does not
// cancel where the function saturates: tanh' is 1 / cosh^2 rather than
// 1 - tanh^2, so a formula's derivative stays accurate to its last digit at
// x = 20 where tanh rounds to 1. Comparisons look at the value alone, so a
// formula's branches choose as they would on plain numbers.
//
// A generic formula calls the elementary functions unqualified after
// `using std::exp;` (and so on): plain numbers then take the standard
// library's, dual numbers these, found by argument-dependent lookup.
//
// Example:
//
//   auto f = [](auto x) { using std::exp; return x * exp(-x); };
//   actgrad::Dual<double> d = f(actgrad::Dual<double>(2.0, 1.0));
//   // d.value = 2 e^-2, d.tangent = -e^-2
//   actgrad::HyperDual<double> h = f(actgrad::HyperDual<double>::Variable(2.0));
//   // SecondDerivative(h) = 0: (x e^-x)'' = (x - 2) e^-x

#ifndef ACTGRAD_OPS_DUAL_H_
#define ACTGRAD_OPS_DUAL_H_

#include <cmath>
#include <numbers>
#include <type_traits>
#include <utility>

// Every function here is forced inline: on packets of lanes (ops/packet.h)
// an out-of-line call passes its operands through memory, and GCC leaves
// the larger ones out of line even under [[gnu::flatten]].
#define ACTGRAD_DUAL_INLINE [[gnu::always_inline]] inline

namespace actgrad {

template <typename T>
struct Dual {
  T value{};
  T tangent{};  // d value / dx

  constexpr Dual() = default;
  // A constant: its derivative is 0. Implicit, so that formulas may mix
  // dual numbers and literals (x > 0 ? x : 0.0).
  template <typename S>
  requires std::is_arithmetic_v<S>
  constexpr Dual(S constant) : value(constant), tangent(0) {}
  constexpr Dual(T value_in, T tangent_in) : value(value_in), tangent(tangent_in) {}

  // The independent variable at x: dx/dx = 1, and for a hyper-dual number
  // the second direction too, so that the last tangent is d2/dx2.
  template <typename S>
  requires std::is_arithmetic_v<S>
  static constexpr Dual Variable(S x) {
    if constexpr (std::is_arithmetic_v<T>) {
      return Dual(T(x), T(1));
    } else {
      return Dual(T::Variable(x), T(1));
    }
  }

  constexpr Dual& operator+=(const Dual& o) { return *this = *this + o; }
  constexpr Dual& operator-=(const Dual& o) { return *this = *this - o; }
  constexpr Dual& operator*=(const Dual& o) { return *this = *this * o; }
  constexpr Dual& operator/=(const Dual& o) { return *this = *this / o; }
};

template <typename T>
using HyperDual = Dual<Dual<T>>;

template <typename T>
inline constexpr bool kIsDual = false;
template <typename T>
inline constexpr bool kIsDual<Dual<T>> = true;

// The plain number at the bottom of a (nested) dual number.
template <typename S>
requires std::is_arithmetic_v<S>
constexpr S Primal(S x) { return x; }
template <typename T>
constexpr auto Primal(const Dual<T>& x) {
  return Primal(x.value);
}

// The plain number type under T (double for Dual<Dual<double>>): formulas
// take their constants in it, so that long double evaluations get long
// double constants. Number types that are not arithmetic and not dual
// (packets of lanes, ops/packet.h) specialize ScalarOf to name theirs.
template <typename T>
struct ScalarOf {
  using type = T;
};
template <typename T>
struct ScalarOf<Dual<T>> {
  using type = typename ScalarOf<T>::type;
};
template <typename T>
using PrimalOf = typename ScalarOf<T>::type;

// f, f' and f'' of a hyper-dual result seeded with Variable().
template <typename T>
constexpr T FirstDerivative(const HyperDual<T>& h) {
  return h.value.tangent;
}
template <typename T>
constexpr T SecondDerivative(const HyperDual<T>& h) {
  return h.tangent.tangent;
}

// ------------------------------------------------------------- arithmetic

template <typename T>
ACTGRAD_DUAL_INLINE constexpr Dual<T> operator+(const Dual<T>& a) {
  return a;
}
template <typename T>
ACTGRAD_DUAL_INLINE constexpr Dual<T> operator-(const Dual<T>& a) {
  return {-a.value, -a.tangent};
}
template <typename T>
ACTGRAD_DUAL_INLINE constexpr Dual<T> operator+(const Dual<T>& a, const Dual<T>& b) {
  return {a.value + b.value, a.tangent + b.tangent};
}
template <typename T>
ACTGRAD_DUAL_INLINE constexpr Dual<T> operator-(const Dual<T>& a, const Dual<T>& b) {
  return {a.value - b.value, a.tangent - b.tangent};
}
template <typename T>
ACTGRAD_DUAL_INLINE constexpr Dual<T> operator*(const Dual<T>& a, const Dual<T>& b) {
  return {a.value * b.value, a.tangent * b.value + a.value * b.tangent};
}
// (a / b)' = (a' - q b') / b with q = a / b: no b^2 to overflow.
template <typename T>
ACTGRAD_DUAL_INLINE constexpr Dual<T> operator/(const Dual<T>& a, const Dual<T>& b) {
  const T q = a.value / b.value;
  return {q, (a.tangent - q * b.tangent) / b.value};
}

// Mixed with plain numbers, which are constants.
#define ACTGRAD_DUAL_MIXED_OPERATOR(op)                                               \
  template <typename T, typename S>                                                   \
  requires std::is_arithmetic_v<S> ACTGRAD_DUAL_INLINE constexpr Dual<T> operator op( \
      const Dual<T>& a, S b) {                                                        \
    return a op Dual<T>(b);                                                           \
  }                                                                                   \
  template <typename T, typename S>                                                   \
  requires std::is_arithmetic_v<S> ACTGRAD_DUAL_INLINE constexpr Dual<T> operator op( \
      S a, const Dual<T>& b) {                                                        \
    return Dual<T>(a) op b;                                                           \
  }
ACTGRAD_DUAL_MIXED_OPERATOR(+)
ACTGRAD_DUAL_MIXED_OPERATOR(-)
ACTGRAD_DUAL_MIXED_OPERATOR(*)
ACTGRAD_DUAL_MIXED_OPERATOR(/)
#undef ACTGRAD_DUAL_MIXED_OPERATOR

// Comparisons see values only (NaN compares false, as for plain numbers).
#define ACTGRAD_DUAL_COMPARISON(op)                                                    \
  template <typename T>                                                                \
  ACTGRAD_DUAL_INLINE constexpr bool operator op(const Dual<T>& a, const Dual<T>& b) { \
    return Primal(a) op Primal(b);                                                     \
  }                                                                                    \
  template <typename T, typename S>                                                    \
  requires std::is_arithmetic_v<S> ACTGRAD_DUAL_INLINE constexpr bool operator op(     \
      const Dual<T>& a, S b) {                                                         \
    return Primal(a) op b;                                                             \
  }                                                                                    \
  template <typename T, typename S>                                                    \
  requires std::is_arithmetic_v<S> ACTGRAD_DUAL_INLINE constexpr bool operator op(     \
      S a, const Dual<T>& b) {                                                         \
    return a op Primal(b);                                                             \
  }
ACTGRAD_DUAL_COMPARISON(==)
ACTGRAD_DUAL_COMPARISON(!=)
ACTGRAD_DUAL_COMPARISON(<)
ACTGRAD_DUAL_COMPARISON(<=)
ACTGRAD_DUAL_COMPARISON(>)
ACTGRAD_DUAL_COMPARISON(>=)
#undef ACTGRAD_DUAL_COMPARISON

template <typename T>
ACTGRAD_DUAL_INLINE bool isnan(const Dual<T>& x) {
  using std::isnan;
  return isnan(Primal(x));
}
template <typename T>
ACTGRAD_DUAL_INLINE bool isinf(const Dual<T>& x) {
  using std::isinf;
  return isinf(Primal(x));
}
template <typename T>
ACTGRAD_DUAL_INLINE bool isfinite(const Dual<T>& x) {
  using std::isfinite;
  return isfinite(Primal(x));
}
template <typename T>
ACTGRAD_DUAL_INLINE bool signbit(const Dual<T>& x) {
  using std::signbit;
  return signbit(Primal(x));
}

// ------------------------------------------------------ elementary functions
// Each is f(x) = {f(v), f'(v) v'}, with f' evaluated in T so that nesting
// gives higher derivatives.

template <typename T>
ACTGRAD_DUAL_INLINE Dual<T> exp(const Dual<T>& x) {
  using std::exp;
  const T e = exp(x.value);
  return {e, e * x.tangent};
}
template <typename T>
ACTGRAD_DUAL_INLINE Dual<T> exp2(const Dual<T>& x) {
  using std::exp2;
  const T e = exp2(x.value);
  return {e, e * std::numbers::ln2_v<PrimalOf<T>> * x.tangent};
}
template <typename T>
ACTGRAD_DUAL_INLINE Dual<T> expm1(const Dual<T>& x) {
  using std::exp;
  using std::expm1;
  return {expm1(x.value), exp(x.value) * x.tangent};
}
template <typename T>
ACTGRAD_DUAL_INLINE Dual<T> log(const Dual<T>& x) {
  using std::log;
  return {log(x.value), x.tangent / x.value};
}
template <typename T>
ACTGRAD_DUAL_INLINE Dual<T> log2(const Dual<T>& x) {
  using std::log2;
  return {log2(x.value), x.tangent / (x.value * std::numbers::ln2_v<PrimalOf<T>>)};
}
template <typename T>
ACTGRAD_DUAL_INLINE Dual<T> log10(const Dual<T>& x) {
  using std::log10;
  return {log10(x.value), x.tangent / (x.value * std::numbers::ln10_v<PrimalOf<T>>)};
}
template <typename T>
ACTGRAD_DUAL_INLINE Dual<T> log1p(const Dual<T>& x) {
  using std::log1p;
  return {log1p(x.value), x.tangent / (1 + x.value)};
}
template <typename T>
ACTGRAD_DUAL_INLINE Dual<T> sqrt(const Dual<T>& x) {
  using std::sqrt;
  const T s = sqrt(x.value);
  return {s, x.tangent / (2 * s)};
}
template <typename T>
ACTGRAD_DUAL_INLINE Dual<T> cbrt(const Dual<T>& x) {
  using std::cbrt;
  const T c = cbrt(x.value);
  return {c, x.tangent / (3 * c * c)};
}
// x^p for a constant p.
template <typename T, typename S>
requires std::is_arithmetic_v<S> ACTGRAD_DUAL_INLINE Dual<T> pow(const Dual<T>& x, S p) {
  using std::pow;
  return {pow(x.value, p), p * pow(x.value, p - 1) * x.tangent};
}
// b^x for a constant b.
template <typename T, typename S>
requires std::is_arithmetic_v<S> ACTGRAD_DUAL_INLINE Dual<T> pow(S b, const Dual<T>& x) {
  using std::log;
  using std::pow;
  const T r = pow(PrimalOf<T>(b), x.value);
  return {r, r * log(PrimalOf<T>(b)) * x.tangent};
}
// x^y = exp(y log x), for x > 0.
template <typename T>
ACTGRAD_DUAL_INLINE Dual<T> pow(const Dual<T>& x, const Dual<T>& y) {
  return exp(y * log(x));
}
template <typename T>
ACTGRAD_DUAL_INLINE Dual<T> sin(const Dual<T>& x) {
  using std::cos;
  using std::sin;
  return {sin(x.value), cos(x.value) * x.tangent};
}
template <typename T>
ACTGRAD_DUAL_INLINE Dual<T> cos(const Dual<T>& x) {
  using std::cos;
  using std::sin;
  return {cos(x.value), -sin(x.value) * x.tangent};
}
template <typename T>
ACTGRAD_DUAL_INLINE Dual<T> tan(const Dual<T>& x) {
  using std::cos;
  using std::tan;
  const T c = cos(x.value);
  return {tan(x.value), x.tangent / (c * c)};
}
template <typename T>
ACTGRAD_DUAL_INLINE Dual<T> asin(const Dual<T>& x) {
  using std::asin;
  using std::sqrt;
  return {asin(x.value), x.tangent / sqrt(1 - x.value * x.value)};
}
template <typename T>
ACTGRAD_DUAL_INLINE Dual<T> acos(const Dual<T>& x) {
  using std::acos;
  using std::sqrt;
  return {acos(x.value), -x.tangent / sqrt(1 - x.value * x.value)};
}
template <typename T>
ACTGRAD_DUAL_INLINE Dual<T> atan(const Dual<T>& x) {
  using std::atan;
  return {atan(x.value), x.tangent / (1 + x.value * x.value)};
}
template <typename T>
ACTGRAD_DUAL_INLINE Dual<T> sinh(const Dual<T>& x) {
  using std::cosh;
  using std::sinh;
  return {sinh(x.value), cosh(x.value) * x.tangent};
}
template <typename T>
ACTGRAD_DUAL_INLINE Dual<T> cosh(const Dual<T>& x) {
  using std::cosh;
  using std::sinh;
  return {cosh(x.value), sinh(x.value) * x.tangent};
}
// tanh' = 1 / cosh^2: exact where tanh itself has rounded to +-1.
template <typename T>
ACTGRAD_DUAL_INLINE Dual<T> tanh(const Dual<T>& x) {
  using std::cosh;
  using std::tanh;
  const T c = cosh(x.value);
  return {tanh(x.value), x.tangent / c / c};
}
template <typename T>
ACTGRAD_DUAL_INLINE Dual<T> asinh(const Dual<T>& x) {
  using std::asinh;
  using std::sqrt;
  return {asinh(x.value), x.tangent / sqrt(1 + x.value * x.value)};
}
template <typename T>
ACTGRAD_DUAL_INLINE Dual<T> atanh(const Dual<T>& x) {
  using std::atanh;
  return {atanh(x.value), x.tangent / ((1 - x.value) * (1 + x.value))};
}
template <typename T>
ACTGRAD_DUAL_INLINE Dual<T> erf(const Dual<T>& x) {
  using std::erf;
  using std::exp;
  using P = PrimalOf<T>;
  return {erf(x.value), P(2) * std::numbers::inv_sqrtpi_v<P> * exp(-x.value * x.value) * x.tangent};
}
template <typename T>
ACTGRAD_DUAL_INLINE Dual<T> erfc(const Dual<T>& x) {
  using std::erfc;
  using std::exp;
  using P = PrimalOf<T>;
  return {erfc(x.value),
          P(-2) * std::numbers::inv_sqrtpi_v<P> * exp(-x.value * x.value) * x.tangent};
}
// |x|: the derivative at exactly 0 is taken as 0, between the one-sided
// limits -1 and 1.
template <typename T>
ACTGRAD_DUAL_INLINE Dual<T> abs(const Dual<T>& x) {
  if (x > 0) return x;
  if (x < 0) return -x;
  return {x.value * 0, x.tangent * 0};
}
template <typename T>
ACTGRAD_DUAL_INLINE Dual<T> fabs(const Dual<T>& x) {
  return abs(x);
}
// The larger (smaller) operand, derivative included; NaN loses, as in
// std::fmax.
template <typename T>
ACTGRAD_DUAL_INLINE Dual<T> fmax(const Dual<T>& a, const Dual<T>& b) {
  if (isnan(a)) return b;
  return a < b ? b : a;
}
template <typename T>
ACTGRAD_DUAL_INLINE Dual<T> fmin(const Dual<T>& a, const Dual<T>& b) {
  if (isnan(a)) return b;
  return b < a ? b : a;
}
template <typename T, typename S>
requires std::is_arithmetic_v<S> ACTGRAD_DUAL_INLINE Dual<T> fmax(const Dual<T>& a, S b) {
  return fmax(a, Dual<T>(b));
}
template <typename T, typename S>
requires std::is_arithmetic_v<S> ACTGRAD_DUAL_INLINE Dual<T> fmax(S a, const Dual<T>& b) {
  return fmax(Dual<T>(a), b);
}
template <typename T, typename S>
requires std::is_arithmetic_v<S> ACTGRAD_DUAL_INLINE Dual<T> fmin(const Dual<T>& a, S b) {
  return fmin(a, Dual<T>(b));
}
template <typename T, typename S>
requires std::is_arithmetic_v<S> ACTGRAD_DUAL_INLINE Dual<T> fmin(S a, const Dual<T>& b) {
  return fmin(Dual<T>(a), b);
}

}  // namespace actgrad

#endif  // ACTGRAD_OPS_DUAL_H_
