// -----------------------------------------------------------------------------
// File: gradcheck.h
// -----------------------------------------------------------------------------
//
// check/ is the home of the second use: checking a gradient you wrote, in
// float64, with a report that names the worst element — GradCheck for any
// function of tensors (here), the per-op check (check/op_check.h) and the
// activation conformance report (check/conformance.h).
//
// `GradCheck` compares the gradient that Backward() computes for a function
// of tensors with finite differences, in float64. It is a library feature:
// use it on your own ops and composite functions, not only in tests.
//
// How it decides:
//   * The function's output is reduced with a fixed random weighting w
//     (L = sum(w * f(x))), so one backward pass gives the whole vector-
//     Jacobian product J^T w, compared element by element.
//   * Each numeric derivative comes from central differences at a ladder of
//     steps starting at max(1, |x|) * step and halving, refined by Richardson
//     extrapolation (error O(h^4)); the step where neighbouring estimates
//     agree best is taken, so both smooth and sharply curved functions are
//     measured near their best step.
//   * An element whose stencil would straddle a declared kink is skipped and
//     counted, never compared.
//   * An element passes when |analytic - numeric| <= atol + rtol * max(|a|,|n|).
//   * A check in which both gradients are zero everywhere fails: it would
//     pass for any derivative, so it proves nothing.
//   * A step-free second opinion: along a random direction v, the Taylor
//     remainder |L(x + h v) - L(x) - h g.v| must shrink like h^2; a wrong
//     gradient leaves a remainder of order h. Its fitted order is reported.
//
// Example:
//
//   actgrad::Tensor x = actgrad::FromValues({0.3, -1.2, 2.0}, actgrad::DType::kFloat64);
//   actgrad::GradCheckReport report = actgrad::GradCheck(
//       [](std::span<const actgrad::Tensor> in) { return actgrad::Tanh(in[0]); }, {x});
//   if (!report.passed) std::cerr << report.ToString();

#ifndef ACTGRAD_CHECK_GRADCHECK_H_
#define ACTGRAD_CHECK_GRADCHECK_H_

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

#include "graph/tensor.h"

namespace actgrad {

struct GradCheckOptions {
  double atol = 1e-7;
  double rtol = 1e-5;
  // Relative step of the central differences (scaled by max(1, |x|)).
  double step = 1e-3;
  // Input values where the function is not differentiable.
  std::vector<double> kinks;
  // How many of the worst elements the report lists.
  int max_reported = 5;
  // Seeds the output weighting and the Taylor direction.
  uint64_t seed = 0x5eed;
};

// One compared element.
struct ElementCheck {
  int input = 0;           // which input tensor
  int64_t flat_index = 0;  // row-major position in it
  std::string index;       // "[1,2]"
  double x = 0;            // its value
  double analytic = 0;
  double numeric = 0;
  double abs_error = 0;
  double rel_error = 0;  // abs_error / max(|analytic|, |numeric|)
  bool passed = true;
};

struct GradCheckReport {
  bool passed = false;
  // "ok", or why it failed: "mismatch", "all gradients are zero", "non-finite
  // values", "no input requires a gradient", "every element sits on a kink".
  std::string verdict;
  double max_abs_error = 0;
  double max_rel_error = 0;
  int64_t checked = 0;  // elements compared
  int64_t skipped = 0;  // elements too close to a kink
  int64_t failed = 0;   // elements outside tolerance
  // Fitted exponent of the Taylor remainder (2 for a right gradient); NaN
  // when the remainder is at rounding level throughout.
  double taylor_order = 0;
  // Worst first; an element with a non-finite value counts as the worst.
  std::vector<ElementCheck> worst;
  // With the verdict "non-finite values" because the function's own value
  // is not finite: its first such element, e.g. "output [3] = nan", and the
  // input there when the output has the first input's shape ("output [3] =
  // nan at input 0 [3], x=0"). Empty otherwise.
  std::string non_finite_output;

  // A multi-line, human-readable account naming the worst elements.
  std::string ToString() const;
};

using TensorFunction = std::function<Tensor(std::span<const Tensor> inputs)>;

// Checks d f / d inputs. Floating inputs are copied to float64 and
// differentiated; int64 inputs (labels) are passed through unchanged.
GradCheckReport GradCheck(const TensorFunction& f, std::span<const Tensor> inputs,
                          const GradCheckOptions& options = {});
inline GradCheckReport GradCheck(const TensorFunction& f, std::initializer_list<Tensor> inputs,
                                 const GradCheckOptions& options = {}) {
  return GradCheck(f, std::span<const Tensor>(inputs.begin(), inputs.size()), options);
}

// Checks second derivatives: the first derivative of f (the vector-Jacobian
// product with a fixed random weighting, as Grad() computes it) is itself
// gradient-checked, so double backward (BackwardOptions::create_graph) is
// compared with finite differences of the first derivative. A function whose
// second derivative is zero everywhere (piecewise-linear ops) gets the
// verdict "all gradients are zero".
GradCheckReport GradCheckSecondOrder(const TensorFunction& f, std::span<const Tensor> inputs,
                                     const GradCheckOptions& options = {});
inline GradCheckReport GradCheckSecondOrder(const TensorFunction& f,
                                            std::initializer_list<Tensor> inputs,
                                            const GradCheckOptions& options = {}) {
  return GradCheckSecondOrder(f, std::span<const Tensor>(inputs.begin(), inputs.size()), options);
}

namespace internal {

// The derivative from central differences `central(step)` at steps h, h/2,
// ..., refined by Richardson extrapolation: the pair of neighbouring
// estimates that agree best marks where truncation error has died down and
// rounding has not yet taken over. Used by GradCheck and by the conformance
// report of ops/conformance.h.
double RichardsonDerivative(const std::function<double(double step)>& central, double h);

// How far an element is outside its tolerance (above 1: failed); infinite
// when its values are not finite, so that such an element sorts first.
double Badness(const ElementCheck& e, const GradCheckOptions& options);

// "[1,2]" for flat index 5 of a [2,3] tensor.
std::string IndexString(const Shape& shape, int64_t flat);

}  // namespace internal
}  // namespace actgrad

#endif  // ACTGRAD_CHECK_GRADCHECK_H_
