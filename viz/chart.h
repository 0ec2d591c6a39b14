// -----------------------------------------------------------------------------
// File: chart.h
// -----------------------------------------------------------------------------
//
// viz/ draws: SVG charts (here), activation plots and report pages.
//
// Charts as SVG: line charts (curves, scatter points, shaded bands such as the
// spread over seeds, class regions of a 2-D classifier, histograms drawn as
// step outlines) and grouped bar charts with error bars. Each chart has axes
// with nice ticks and a grid, labelled axes, a title and a legend; series
// take colours from a colour-blind-safe palette (Okabe & Ito) and can be
// solid, dashed or dotted, so that a figure also reads in grey. Charts can
// be drawn alone or side by side in one document (`RenderGrid`). Output is
// deterministic: the same chart always gives the same bytes.
//
// Example:
//
//   using namespace actgrad::viz;
//   LineChart chart({.title = "tanh", .x = {.label = "x"}, .y = {.label = "y"}});
//   chart.Add({.label = "tanh", .x = xs, .y = ys});
//   chart.Add({.label = "tanh'", .x = xs, .y = dys, .color = 0, .line = LineStyle::kDashed});
//   std::string svg = chart.ToSvg();
//
//   BarChart bars({.title = "epochs to loss 0.1", .y = {.label = "epochs"}},
//                 {"sigmoid", "tanh", "relu"});
//   bars.Add({.label = "digits", .values = {80, 31, 12}, .low = {70, 28, 10}, .high = {95, 35,
//   14}});

#ifndef ACTGRAD_VIZ_CHART_H_
#define ACTGRAD_VIZ_CHART_H_

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "viz/svg.h"

namespace actgrad::viz {

// Okabe & Ito's eight colours, ordered for a white background; indices wrap.
inline constexpr int kPaletteSize = 8;
std::string PaletteColor(int index);

enum class LineStyle { kSolid, kDashed, kDotted, kNone };

struct Series {
  std::string label;  // empty: not in the legend
  std::vector<double> x;
  std::vector<double> y;  // a non-finite value breaks the line there
  // An optional shaded band around the line (e.g. the minimum and maximum
  // over seeds); both empty or both as long as x.
  std::vector<double> y_low;
  std::vector<double> y_high;
  int color = -1;  // palette index; -1: the series' position in the chart
  LineStyle line = LineStyle::kSolid;
  bool markers = false;  // a dot at every point (with kNone: a scatter plot)
  double width = 2;
};

struct Axis {
  std::string label;
  // Fixed ends; unset ends follow the data, widened to nice ticks. Points
  // outside are clipped.
  std::optional<double> min;
  std::optional<double> max;
  bool log = false;  // non-positive values are left out
};

enum class LegendPlace { kRight, kTop, kNone };

// A legend line not tied to a series, such as a key to line styles.
struct LegendEntry {
  std::string label;
  int color = -1;  // -1: dark grey
  LineStyle line = LineStyle::kSolid;
  bool marker = false;
  bool swatch = false;  // a filled square, as for a bar
  bool hatch = false;   // a hatched square, as for a hatched bar
};

struct ChartOptions {
  std::string title;
  Axis x;
  Axis y;
  double width = 640;
  double height = 400;
  LegendPlace legend = LegendPlace::kRight;
  std::vector<LegendEntry> extra_legend;  // after the series' entries
};

// A classifier's decision over a rectangle: cell (i, j) of a columns x rows
// grid, row 0 at y_min, holds the palette index of its class (-1: none).
// Drawn faintly beneath the series.
struct ClassRegions {
  double x_min = 0;
  double x_max = 1;
  double y_min = 0;
  double y_max = 1;
  int columns = 0;
  int rows = 0;
  std::vector<int> classes;  // row-major, rows * columns
  double opacity = 0.22;
};

class Chart {
 public:
  explicit Chart(ChartOptions options) : options_(std::move(options)) {}
  virtual ~Chart() = default;

  // Draws the chart into the box (x, y, width, height) of `svg`. `id` names
  // the chart's clip path and must be unique within the document.
  virtual void Draw(SvgDocument& svg, double x, double y, double width, double height,
                    absl::string_view id) const = 0;

  // The chart alone, options().width x options().height, on white.
  std::string ToSvg(absl::string_view id = "chart") const;

  const ChartOptions& options() const { return options_; }

 protected:
  ChartOptions options_;
};

class LineChart : public Chart {
 public:
  explicit LineChart(ChartOptions options) : Chart(std::move(options)) {}

  LineChart& Add(Series series);
  // A thin grey reference line across the plot, labelled at its end.
  LineChart& AddHorizontalLine(double y, std::string label);
  LineChart& AddVerticalLine(double x, std::string label);
  LineChart& SetRegions(ClassRegions regions);

  void Draw(SvgDocument& svg, double x, double y, double width, double height,
            absl::string_view id) const override;

  const std::vector<Series>& series() const { return series_; }

 private:
  struct Reference {
    bool horizontal;
    double value;
    std::string label;
  };

  std::vector<Series> series_;
  std::vector<Reference> references_;
  std::optional<ClassRegions> regions_;
};

struct BarSeries {
  std::string label;
  std::vector<double> values;  // one per category; non-finite: no bar
  // Optional error bars, both empty or as long as values.
  std::vector<double> low;
  std::vector<double> high;
  // Optional, as long as values: bars drawn hatched instead of filled, for
  // a value that is a bound rather than a measurement (a run that never
  // reached its target, counted as the last epoch + 1). The chart's
  // `extra_legend` should say what hatching means (a `hatch` entry).
  std::vector<bool> hatched;
  int color = -1;
};

// Categories along x; in each, one bar per series.
class BarChart : public Chart {
 public:
  BarChart(ChartOptions options, std::vector<std::string> categories)
      : Chart(std::move(options)), categories_(std::move(categories)) {}

  BarChart& Add(BarSeries series);

  void Draw(SvgDocument& svg, double x, double y, double width, double height,
            absl::string_view id) const override;

 private:
  std::vector<std::string> categories_;
  std::vector<BarSeries> series_;
};

// A histogram of `values` over [lo, hi] in `bins` equal bins, as a step
// outline whose height is the share of all finite values in each bin; values
// outside the range are not drawn but still count in the total.
Series HistogramSeries(std::string label, std::span<const double> values, double lo, double hi,
                       int bins);

// Charts side by side, `columns` to a row, each in a cell as large as the
// largest chart, under an optional title; one self-contained document. `id`
// prefixes the charts' clip paths.
std::string RenderGrid(std::span<const Chart* const> charts, int columns, absl::string_view title,
                       absl::string_view id = "grid");

}  // namespace actgrad::viz

#endif  // ACTGRAD_VIZ_CHART_H_
