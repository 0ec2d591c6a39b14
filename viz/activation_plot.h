// -----------------------------------------------------------------------------
// File: activation_plot.h
// -----------------------------------------------------------------------------
//
// Pictures of registered activations (claims C1-C5): each function and its
// first derivative sampled over a range, drawn in one colour, the derivative
// dashed. Values come from the op row's scalar formulas (`OpDef::formulas`)
// when it has them; an op without formulas (a plugin's, say) is run through
// `Apply` on a float64 grid and its derivative taken with `Backward`, so what
// is drawn is what training computes. At a declared kink the derivative's
// line is broken rather than joined by a vertical stroke it does not have.
//
// Example:
//
//   std::vector<actgrad::viz::ActivationCurve> curves;
//   for (const actgrad::OpDef* op : actgrad::OpRegistry::Global().Activations()) {
//     absl::StatusOr<actgrad::viz::ActivationCurve> c =
//         actgrad::viz::SampleActivation(*op, {}, -5, 5);
//     if (c.ok()) curves.push_back(*std::move(c));
//   }
//   std::string svg = actgrad::viz::PlotActivations(curves, {});

#ifndef ACTGRAD_VIZ_ACTIVATION_PLOT_H_
#define ACTGRAD_VIZ_ACTIVATION_PLOT_H_

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/op_def.h"

namespace actgrad::viz {

struct ActivationCurve {
  // The op's name, with its attributes when they differ from the defaults:
  // "leaky_relu (alpha=0.2)".
  std::string label;
  std::vector<double> x;
  std::vector<double> y;
  std::vector<double> dy;     // NaN at a kink, where the line breaks
  bool from_formulas = true;  // false: evaluated with Apply and Backward
};

// Samples `op` and its derivative at about `points` points of [lo, hi].
// kInvalidArgument when the op is not an elementwise activation, when the
// range is empty or not finite, or when the op fails on float64 inputs.
absl::StatusOr<ActivationCurve> SampleActivation(const OpDef& op, const Attrs& attrs, double lo,
                                                 double hi, int points = 401);

struct ActivationPlotOptions {
  std::string title = "Activation functions (solid) and their derivatives (dashed)";
  // Fixed ends of the y axis; by default it spans every curve.
  std::optional<double> y_min;
  std::optional<double> y_max;
  double width = 760;
  double height = 460;
  // More curves than this (the palette's size) would share colours; they
  // are drawn one function per panel instead (0: always), `columns` panels
  // to a row (0: all of up to five in one row, otherwise four).
  int max_in_one_chart = 8;
  int columns = 0;
};

// Every curve and its derivative, as a standalone SVG document: one chart,
// or one small chart per function when there are many.
std::string PlotActivations(std::span<const ActivationCurve> curves,
                            const ActivationPlotOptions& options);

}  // namespace actgrad::viz

#endif  // ACTGRAD_VIZ_ACTIVATION_PLOT_H_
