#include "nn/metrics.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "graph/error.h"
#include "nn/train_loop.h"

namespace actgrad::nn {

TensorData TensorData::Rows(std::span<const int64_t> rows) const {
  return {.inputs = GatherRows(inputs, rows),
          .targets = targets.defined() ? GatherRows(targets, rows) : Tensor()};
}

Metric AccuracyMetric(double threshold) {
  Metric metric{.name = "accuracy", .higher_is_better = true};
  metric.sum = [threshold](const Tensor& output, const TensorData& batch) {
    const int64_t rows = batch.rows();
    if (rows == 0) return 0.0;
    const std::vector<double> out = output.ToVector();
    const std::vector<double> labels = batch.targets.ToVector();
    const size_t width = out.size() / static_cast<size_t>(rows);
    double correct = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const auto row = out.begin() + r * width;
      const double predicted = width == 1 ? (row[0] >= threshold ? 1.0 : 0.0)
                                          : double(std::max_element(row, row + width) - row);
      correct += predicted == labels[r];
    }
    return correct;
  };
  return metric;
}

namespace {

// The sum over rows of f(output - target) summed over each row's elements,
// divided by the elements per row so that the mean over rows is the mean
// over elements.
template <typename F>
double RowMeanSum(const char* metric, const Tensor& output, const TensorData& batch, F f) {
  const std::vector<double> out = output.ToVector();
  const std::vector<double> want = batch.targets.ToVector();
  ACTGRAD_REQUIRE(out.size() == want.size(), std::source_location::current(), metric,
                  ": the output is ", output.shape().ToString(), " but the targets are ",
                  batch.targets.shape().ToString());
  const int64_t rows = batch.rows();
  if (rows == 0 || out.empty()) return 0.0;
  double sum = 0;
  for (size_t i = 0; i < out.size(); ++i) sum += f(out[i] - want[i]);
  return sum * double(rows) / double(out.size());
}

}  // namespace

Metric RmseMetric() {
  Metric metric{.name = "rmse", .higher_is_better = false};
  metric.sum = [](const Tensor& output, const TensorData& batch) {
    return RowMeanSum("rmse", output, batch, [](double d) { return d * d; });
  };
  metric.finish = [](double mean) { return std::sqrt(mean); };
  return metric;
}

Metric MeanAbsoluteErrorMetric() {
  Metric metric{.name = "mae", .higher_is_better = false};
  metric.sum = [](const Tensor& output, const TensorData& batch) {
    return RowMeanSum("mae", output, batch, [](double d) { return std::abs(d); });
  };
  return metric;
}

}  // namespace actgrad::nn
