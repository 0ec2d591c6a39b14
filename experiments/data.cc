#include "experiments/data.h"

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <numbers>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "graph/generator.h"

namespace actgrad::experiments {

namespace {

io::Dataset Empty(std::string source, int64_t features) {
  io::Dataset d;
  d.source = std::move(source);
  d.features = features;
  for (int64_t f = 0; f < features; ++f) d.feature_names.push_back(absl::StrCat("x", f + 1));
  // Not `= "y"`: GCC 12 warns falsely (-Wrestrict, bug 105329) on that
  // assignment once it is inlined here.
  d.target_name.push_back('y');
  return d;
}

std::string ScalingPhrase(nn::Scaling scaling) {
  switch (scaling) {
    case nn::Scaling::kUnit:
      return "inputs min-max scaled to [0, 1] on the training rows";
    case nn::Scaling::kSymmetric:
      return "inputs min-max scaled to [-1, 1] on the training rows";
    case nn::Scaling::kStandard:
      return "inputs standardized on the training rows";
    case nn::Scaling::kNone:
      return "inputs unscaled";
  }
  return "";
}

}  // namespace

std::string BundledDataDir() {
  // An installed program finds the data beside itself
  // (<prefix>/bin/actgrad -> <prefix>/share/actgrad/data); one run from the
  // build tree, in the source tree.
  char self[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n > 0) {
    const std::string exe(self, static_cast<size_t>(n));
    const std::string bin = exe.substr(0, exe.rfind('/'));
    const std::string installed =
        absl::StrCat(bin.substr(0, bin.rfind('/')), "/", ACTGRAD_INSTALLED_DATA_DIR);
    struct stat st;
    if (::stat(absl::StrCat(installed, "/breast_cancer.csv").c_str(), &st) == 0) return installed;
  }
  return ACTGRAD_DATA_DIR;
}

absl::StatusOr<io::Dataset> LoadBundled(const Options& options, absl::string_view file) {
  const std::string dir = options.data_dir.empty() ? BundledDataDir() : options.data_dir;
  return io::ReadCsv(absl::StrCat(dir, "/", file));
}

io::Dataset TwoSpirals(int64_t per_class, double noise, uint64_t seed) {
  Generator gen(seed);
  io::Dataset d = Empty(absl::StrFormat("two spirals (seed %d)", seed), 2);
  const double turns = 1.75;
  for (int64_t i = 0; i < per_class; ++i) {
    for (int label = 0; label < 2; ++label) {
      const double t = 0.05 + 0.95 * gen.NextUniform();
      const double angle = t * turns * 2 * std::numbers::pi + label * std::numbers::pi;
      d.x.push_back(t * std::cos(angle) + noise * gen.NextNormal());
      d.x.push_back(t * std::sin(angle) + noise * gen.NextNormal());
      d.y.push_back(label);
    }
  }
  d.rows = 2 * per_class;
  return d;
}

io::Dataset Xor(int64_t rows, uint64_t seed) {
  Generator gen(seed);
  io::Dataset d = Empty(absl::StrFormat("XOR (seed %d)", seed), 2);
  for (int64_t i = 0; i < rows; ++i) {
    const double a = 2 * gen.NextUniform() - 1;
    const double b = 2 * gen.NextUniform() - 1;
    d.x.insert(d.x.end(), {a, b});
    d.y.push_back(a * b > 0 ? 1 : 0);
  }
  d.rows = rows;
  return d;
}

io::Dataset Friedman1(int64_t rows, double noise, uint64_t seed) {
  Generator gen(seed);
  io::Dataset d = Empty(absl::StrFormat("Friedman #1 (seed %d)", seed), 10);
  for (int64_t i = 0; i < rows; ++i) {
    double x[10];
    for (double& v : x) v = gen.NextUniform();
    d.x.insert(d.x.end(), x, x + 10);
    d.y.push_back(10 * std::sin(std::numbers::pi * x[0] * x[1]) + 20 * (x[2] - 0.5) * (x[2] - 0.5) +
                  10 * x[3] + 5 * x[4] + noise * gen.NextNormal());
  }
  d.rows = rows;
  return d;
}

Data Prepare(std::string name, const io::Dataset& dataset, nn::Scaling scaling,
             const SplitOptions& split) {
  Data data;
  data.name = std::move(name);
  data.task = nn::DetectTask(dataset.y);
  data.outputs = nn::OutputWidth(data.task, dataset.y);
  data.features = dataset.features;
  data.scaling = scaling;
  io::Split rows = data.task == nn::Task::kRegression
                       ? io::RandomSplit(dataset.rows, split.test_fraction, split.split_seed)
                       : io::StratifiedSplit(dataset.y, split.test_fraction, split.split_seed);
  if (split.max_train_rows > 0 && int64_t(rows.train.size()) > split.max_train_rows) {
    rows.train.resize(split.max_train_rows);
  }
  const io::Dataset train = dataset.Subset(rows.train);
  const io::Dataset test = dataset.Subset(rows.test);
  const Tensor raw_train = train.Features();
  const nn::Scaler scaler = nn::Scaler::Fit(scaling, raw_train);
  data.x_train = scaler.Transform(raw_train);
  data.x_test = scaler.Transform(test.Features());
  data.y_train = train.y;
  data.y_test = test.y;
  const std::string target =
      data.task == nn::Task::kRegression
          ? "a real-valued target"
          : absl::StrCat(data.task == nn::Task::kBinary ? 2 : data.outputs, " classes");
  data.describe = absl::StrFormat(
      "%s: %d train / %d test rows (%s split, test fraction %g, split seed %d), %d features, %s, "
      "%s",
      data.name, train.rows, test.rows,
      data.task == nn::Task::kRegression ? "random" : "stratified", split.test_fraction,
      split.split_seed, data.features, target, ScalingPhrase(scaling));
  return data;
}

}  // namespace actgrad::experiments
