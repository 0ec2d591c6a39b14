// -----------------------------------------------------------------------------
// File: data.h
// -----------------------------------------------------------------------------
//
// The data the experiments train on: the bundled real data sets (breast
// cancer, digits), and synthetic sets drawn from a seed — two interleaved
// spirals and XOR (classes no straight line separates, for claims C13-C14)
// and Friedman's regression function #1 (for claim C11). `Prepare` cuts a
// data set into a fixed train/test split and scales the inputs on the
// training rows only, the way `actgrad train` does.
//
// Example:
//
//   absl::StatusOr<actgrad::io::Dataset> digits = LoadBundled(options, "digits.csv");
//   if (!digits.ok()) return digits.status();
//   Data data = Prepare("digits", *digits, actgrad::nn::Scaling::kUnit, {});
//   // data.x_train: [1437, 64] float32 in [0, 1]; data.describe: one line for the setup
//
//   Data spirals = Prepare("spirals", TwoSpirals(200, 0.02, /*seed=*/7),
//                          actgrad::nn::Scaling::kNone, {});

#ifndef ACTGRAD_EXPERIMENTS_DATA_H_
#define ACTGRAD_EXPERIMENTS_DATA_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "experiments/experiment.h"
#include "graph/tensor.h"
#include "io/csv.h"
#include "nn/scaler.h"
#include "nn/task.h"

namespace actgrad::experiments {

// Where the bundled data sets are: <prefix>/share/actgrad/data beside an
// installed program, else the source tree's data/.
std::string BundledDataDir();

// Reads `file` (e.g. "digits.csv") from options.data_dir, or from the
// project's data/ when that is empty; the last column is the target.
absl::StatusOr<io::Dataset> LoadBundled(const Options& options, absl::string_view file);

// Two spirals of `per_class` points each, 1.75 turns, interleaved; radius in
// (0, 1], Gaussian noise of `noise` on each coordinate. Labels 0 and 1.
io::Dataset TwoSpirals(int64_t per_class, double noise, uint64_t seed);

// Points uniform in [-1, 1]^2 labelled 1 where x1 * x2 > 0 (XOR of the signs).
io::Dataset Xor(int64_t rows, uint64_t seed);

// Friedman (1991) #1: x uniform in [0, 1]^10, y = 10 sin(pi x1 x2) +
// 20 (x3 - 0.5)^2 + 10 x4 + 5 x5 + N(0, noise^2); x6..x10 are noise.
io::Dataset Friedman1(int64_t rows, double noise, uint64_t seed);

struct SplitOptions {
  double test_fraction = 0.2;
  uint64_t split_seed = 0;
  // Keep at most this many training rows (0: all), for reduced runs.
  int64_t max_train_rows = 0;
};

// A data set cut for training: stratified (classification) or random
// (regression) split, inputs scaled with statistics of the training rows.
struct Data {
  std::string name;
  nn::Task task = nn::Task::kBinary;
  int64_t features = 0;
  int64_t outputs = 1;  // network outputs the task needs
  Tensor x_train;       // float32 [rows, features], scaled
  Tensor x_test;
  std::vector<double> y_train;
  std::vector<double> y_test;
  nn::Scaling scaling = nn::Scaling::kNone;
  // "digits: 1437 train / 360 test rows, 64 features, 10 classes, inputs
  // min-max scaled to [0, 1] on the training rows"
  std::string describe;
};

Data Prepare(std::string name, const io::Dataset& dataset, nn::Scaling scaling,
             const SplitOptions& split);

}  // namespace actgrad::experiments

#endif  // ACTGRAD_EXPERIMENTS_DATA_H_
