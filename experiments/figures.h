// -----------------------------------------------------------------------------
// File: figures.h
// -----------------------------------------------------------------------------
//
// The figure pieces several experiments share: a training curve averaged
// over seeds with its min-max band, a per-layer profile, and a `Figure`
// named and captioned for the report. Chart layout itself is viz/'s job.
//
// Example:
//
//   viz::LineChart chart({.title = "digits", .x = {.label = "epoch"},
//                         .y = {.label = "training loss", .log = true}});
//   chart.Add(MeanBandSeries("tanh", tanh_curves, 1));
//   result.figures.push_back(MakeFigure("tanh-vs-sigmoid-loss", "Training loss ...", chart));

#ifndef ACTGRAD_EXPERIMENTS_FIGURES_H_
#define ACTGRAD_EXPERIMENTS_FIGURES_H_

#include <string>
#include <vector>

#include "experiments/experiment.h"
#include "viz/chart.h"

namespace actgrad::experiments {

// Epochs 1..n against the mean of `curves`, shaded between their minimum
// and maximum.
viz::Series MeanBandSeries(std::string label, const std::vector<std::vector<double>>& curves,
                           int color, viz::LineStyle line = viz::LineStyle::kSolid);

// Layers 1..n against `values`, with a dot per layer.
viz::Series LayerSeries(std::string label, std::vector<double> values, int color,
                        viz::LineStyle line = viz::LineStyle::kSolid);

// A figure of one chart; `name` is its file stem and clip-path prefix.
Figure MakeFigure(std::string name, std::string caption, const viz::Chart& chart);

// A figure of several charts side by side.
Figure MakeGridFigure(std::string name, std::string caption,
                      const std::vector<const viz::Chart*>& charts, int columns,
                      const std::string& title = "");

}  // namespace actgrad::experiments

#endif  // ACTGRAD_EXPERIMENTS_FIGURES_H_
