// -----------------------------------------------------------------------------
// File: metrics.h
// -----------------------------------------------------------------------------
//
// What the training loop reports besides the loss. A metric is a sum over a
// batch's rows (correct predictions, squared errors) and a function of the
// mean over all rows; sums add up over batches and over processes, so a
// metric on a whole data set, or on a global batch split over ranks, is
// exact however it was cut.
//
// Example:
//
//   actgrad::nn::TrainOptions options;
//   options.metrics = {actgrad::nn::AccuracyMetric()};
//   // EpochReport::validation->metrics[0] is the validation accuracy.
//
//   actgrad::nn::Metric mae{.name = "mae", .higher_is_better = false};
//   mae.sum = [](const actgrad::Tensor& out, const actgrad::nn::TensorData& batch) {
//     return actgrad::Sum(actgrad::Abs(out - batch.targets)).item();
//   };

#ifndef ACTGRAD_NN_METRICS_H_
#define ACTGRAD_NN_METRICS_H_

#include <functional>
#include <span>
#include <string>

#include "graph/tensor.h"

namespace actgrad::nn {

// Rows of inputs and their targets: a data set, or one batch of it. Both
// tensors have the rows in their first dimension; the targets may have any
// shape and dtype the loss wants (float [rows, 1], int64 labels [rows], ...).
struct TensorData {
  Tensor inputs;
  Tensor targets;

  int64_t rows() const { return inputs.defined() && inputs.rank() > 0 ? inputs.dim(0) : 0; }
  // The rows listed in `rows`, copied, in that order.
  TensorData Rows(std::span<const int64_t> rows) const;
};

struct Metric {
  std::string name;
  // The metric summed over the rows of `batch`, given the network's output
  // for them (no graph is recorded while it runs).
  std::function<double(const Tensor& output, const TensorData& batch)> sum;
  // The reported value, from the mean of `sum` over all rows; the mean
  // itself when unset.
  std::function<double(double mean)> finish;
  bool higher_is_better = true;

  double Finish(double mean) const { return finish ? finish(mean) : mean; }
};

// Classification accuracy from one output column per class (argmax; ties
// go to the first) against integer labels. With a single output column it
// is binary: the output at or above `threshold` predicts 1 (0 for logits,
// 0.5 for probabilities).
Metric AccuracyMetric(double threshold = 0.0);
// Root mean squared error over every output element.
Metric RmseMetric();
// Mean absolute error over every output element.
Metric MeanAbsoluteErrorMetric();

}  // namespace actgrad::nn

#endif  // ACTGRAD_NN_METRICS_H_
