// -----------------------------------------------------------------------------
// File: activation_gain.h
// -----------------------------------------------------------------------------
//
// What an activation does to inputs drawn from N(0, 1), measured by running
// its own row: the variance-preserving initializer gain of activations that
// name none (user and plugin activations), and the evaluation helpers that
// the conformance report (check/conformance.h) shares with it. Monte Carlo
// with a fixed seed and antithetic pairs, so every call agrees.
//
// Example:
//
//   double gain = actgrad::EstimatedGain(*my_activation);  // 1/sqrt(E[f(z)^2])

#ifndef ACTGRAD_OPS_ACTIVATION_GAIN_H_
#define ACTGRAD_OPS_ACTIVATION_GAIN_H_

#include <cstdint>
#include <span>
#include <vector>

#include "graph/op_def.h"

namespace actgrad {

// Samples behind EstimatedGain and the report's Monte Carlo figures.
inline constexpr int64_t kMonteCarloSamples = 200000;

// The variance-preserving gain of an activation, 1 / sqrt(E[f(z)^2]) for
// z ~ N(0, 1), over kMonteCarloSamples. Used by nn::GainOf for user
// activations without a gain of their own.
double EstimatedGain(const OpDef& activation, const Attrs& attrs = {});

// True for activations defined at run time from formulas (DefineActivation,
// MakeActivation, plugins) that name no gain: nn::GainOf gives them
// EstimatedGain. Built-in rows without a gain keep PyTorch's 1.
bool UsesEstimatedGain(const OpDef& activation);

namespace internal {

// f and f' of an activation at `x`, computed in `dtype` by the row's own
// forward and backward, as training runs them.
struct Evaluated {
  std::vector<double> y;
  std::vector<double> dy;
};
Evaluated Evaluate(const OpDef& op, const Attrs& attrs, std::span<const double> x, DType dtype,
                   bool derivative = true);

// z ~ N(0, 1) in antithetic pairs (the first half, then its negation), n in
// all; cached per n.
const std::vector<double>& NormalSamples(int64_t n);

// The mean of y^2.
double MeanSquare(std::span<const double> y);

}  // namespace internal
}  // namespace actgrad

#endif  // ACTGRAD_OPS_ACTIVATION_GAIN_H_
