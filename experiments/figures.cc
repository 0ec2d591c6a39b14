#include "experiments/figures.h"

#include "experiments/stats.h"

namespace actgrad::experiments {

viz::Series MeanBandSeries(std::string label, const std::vector<std::vector<double>>& curves,
                           int color, viz::LineStyle line) {
  Band band = SummarizeCurves(curves);
  viz::Series s{.label = std::move(label),
                .x = Range(band.mean.size(), /*from_one=*/true),
                .y = std::move(band.mean),
                .color = color,
                .line = line};
  if (curves.size() > 1) {
    s.y_low = std::move(band.low);
    s.y_high = std::move(band.high);
  }
  return s;
}

viz::Series LayerSeries(std::string label, std::vector<double> values, int color,
                        viz::LineStyle line) {
  return {.label = std::move(label),
          .x = Range(values.size(), /*from_one=*/true),
          .y = std::move(values),
          .color = color,
          .line = line,
          .markers = true};
}

Figure MakeFigure(std::string name, std::string caption, const viz::Chart& chart) {
  std::string svg = chart.ToSvg(name);
  return {std::move(name), std::move(caption), std::move(svg)};
}

Figure MakeGridFigure(std::string name, std::string caption,
                      const std::vector<const viz::Chart*>& charts, int columns,
                      const std::string& title) {
  std::string svg = viz::RenderGrid(charts, columns, title, name);
  return {std::move(name), std::move(caption), std::move(svg)};
}

}  // namespace actgrad::experiments
