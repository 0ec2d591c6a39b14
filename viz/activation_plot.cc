#include "viz/activation_plot.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "graph/error.h"
#include "graph/factories.h"
#include "graph/grad_mode.h"
#include "viz/chart.h"

namespace actgrad::viz {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string CurveLabel(const OpDef& op, const Attrs& attrs) {
  Attrs defaults = WithDefaults(op, Attrs{});
  Attrs given = WithDefaults(op, attrs);
  std::vector<std::string> changed;
  for (const AttrSpec& spec : op.attrs) {
    const double* value = RealSlot(spec, given);
    const double* standard = RealSlot(spec, defaults);
    if (value != nullptr && *value != *standard) {
      changed.push_back(absl::StrFormat("%s=%g", spec.name, *value));
    }
  }
  if (changed.empty()) return std::string(op.name);
  return absl::StrCat(op.name, " (", absl::StrJoin(changed, ", "), ")");
}

// Forward values and derivatives through the op itself, as training sees
// them: one float64 tensor, one backward pass with a seed of ones (the op is
// elementwise, so the vector-Jacobian product is the derivative).
absl::Status EvaluateWithBackward(const OpDef& op, const Attrs& attrs, const std::vector<double>& x,
                                  std::vector<double>* y, std::vector<double>* dy) {
  try {
    GradModeGuard recording(true);
    const Shape shape{static_cast<int64_t>(x.size())};
    Tensor input = FromValues(x, shape, DType::kFloat64).set_requires_grad(true);
    const Tensor output = Apply(op, {input}, attrs);
    if (output.shape() != input.shape()) {
      return absl::InvalidArgumentError(absl::StrCat(op.name, " is not elementwise: an input of ",
                                                     x.size(), " values gave ", output.numel(),
                                                     " outputs"));
    }
    *y = output.ToVector();
    if (output.requires_grad()) {
      output.Backward(Ones(shape, DType::kFloat64));
      *dy = input.grad().ToVector();
    } else {
      dy->assign(x.size(), 0.0);  // the op declared no gradient path
    }
    return absl::OkStatus();
  } catch (const Error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(op.name, " failed on float64 inputs: ", e.message()));
  }
}

}  // namespace

absl::StatusOr<ActivationCurve> SampleActivation(const OpDef& op, const Attrs& attrs, double lo,
                                                 double hi, int points) {
  if (op.kind != OpKind::kActivation || op.min_inputs != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        op.name, " is not an elementwise activation; only those can be drawn as y = f(x)"));
  }
  if (!std::isfinite(lo) || !std::isfinite(hi) || !(lo < hi)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the range [", lo, ", ", hi, "] is empty or not finite"));
  }
  points = std::max(points, 8);

  // Pieces between kinks, each sampled to its ends; a kink's own point is
  // approached from both sides so the derivative shows its two limits.
  std::vector<double> bounds = {lo};
  for (double k : op.kinks) {
    if (k > lo && k < hi) bounds.push_back(k);
  }
  bounds.push_back(hi);
  std::sort(bounds.begin(), bounds.end());
  std::vector<double> xs;
  std::vector<bool> is_break;  // a kink between two pieces
  for (size_t piece = 0; piece + 1 < bounds.size(); ++piece) {
    double a = bounds[piece];
    double b = bounds[piece + 1];
    const int n = std::max(2, static_cast<int>(std::lround(points * (b - a) / (hi - lo))));
    if (piece > 0) {
      xs.push_back(a);
      is_break.push_back(true);
      a += 1e-9 * std::max(1.0, std::abs(a));
    }
    if (piece + 2 < bounds.size()) b -= 1e-9 * std::max(1.0, std::abs(b));
    for (int i = 0; i < n; ++i) {
      xs.push_back(i == n - 1 ? b : a + (b - a) * i / (n - 1));
      is_break.push_back(false);
    }
  }

  ActivationCurve curve;
  curve.label = CurveLabel(op, attrs);
  curve.x = xs;
  if (op.formulas != nullptr) {
    const Attrs resolved = WithDefaults(op, attrs);
    for (double x : xs) {
      const double y = op.formulas->forward(x, resolved);
      curve.y.push_back(y);
      curve.dy.push_back(op.formulas->derivative(x, y, resolved));
    }
  } else {
    curve.from_formulas = false;
    if (absl::Status s = EvaluateWithBackward(op, attrs, xs, &curve.y, &curve.dy); !s.ok()) {
      return s;
    }
  }
  for (size_t i = 0; i < xs.size(); ++i) {
    if (is_break[i]) curve.dy[i] = kNaN;
  }
  return curve;
}

std::string PlotActivations(std::span<const ActivationCurve> curves,
                            const ActivationPlotOptions& options) {
  double lo = 0;
  double hi = 1;
  if (!curves.empty() && !curves[0].x.empty()) {
    lo = curves[0].x.front();
    hi = curves[0].x.back();
  }
  const std::vector<LegendEntry> key = {{.label = "function", .line = LineStyle::kSolid},
                                        {.label = "derivative", .line = LineStyle::kDashed}};
  auto add = [](LineChart& chart, const ActivationCurve& c, int color) {
    chart.Add({.label = c.label, .x = c.x, .y = c.y, .color = color});
    chart.Add({.x = c.x, .y = c.dy, .color = color, .line = LineStyle::kDashed, .width = 1.8});
  };
  if (static_cast<int>(curves.size()) <= options.max_in_one_chart) {
    LineChart chart(
        {.title = options.title,
         .x = {.label = "x", .min = lo, .max = hi},
         .y = {.label = "f(x) and f\u2032(x)", .min = options.y_min, .max = options.y_max},
         .width = options.width,
         .height = options.height,
         .extra_legend = key});
    for (size_t i = 0; i < curves.size(); ++i) add(chart, curves[i], static_cast<int>(i));
    return chart.ToSvg("activations");
  }
  std::vector<LineChart> panels;
  panels.reserve(curves.size());
  for (size_t i = 0; i < curves.size(); ++i) {
    panels.emplace_back(ChartOptions{.title = curves[i].label,
                                     .x = {.min = lo, .max = hi},
                                     .y = {.min = options.y_min, .max = options.y_max},
                                     .width = 250,
                                     .height = 210,
                                     .legend = LegendPlace::kNone});
    add(panels.back(), curves[i], static_cast<int>(i % 6));
  }
  std::vector<const Chart*> charts;
  for (const LineChart& p : panels) charts.push_back(&p);
  const int columns = options.columns > 0  ? options.columns
                      : charts.size() <= 5 ? static_cast<int>(charts.size())
                                           : 4;
  return RenderGrid(charts, columns, options.title, "activations");
}

}  // namespace actgrad::viz
