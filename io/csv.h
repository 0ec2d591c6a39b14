// -----------------------------------------------------------------------------
// File: csv.h
// -----------------------------------------------------------------------------
//
// Numeric data sets from CSV files, and the ways a training run cuts them:
// train/test splits (stratified for classification, plain for regression) and
// shuffled mini-batches.
//
// The CSV dialect is RFC 4180 with the leniencies that real files need: a
// UTF-8 byte-order mark is skipped, lines may end in CRLF or LF, fields may be
// quoted (with "" for a quote inside), cells may carry spaces around the
// number, and blank lines at the end are ignored. A header row is required and
// every other cell must be a finite number. Anything else is refused with an
// `absl::Status` that says where, e.g.
//
//   data.csv:14:3: "abc" is not a number (column "mean_radius")
//
// (line and column are 1-based; the column counts bytes from the start of the
// line to the start of the cell).
//
// Example:
//
//   absl::StatusOr<actgrad::io::Dataset> data =
//       actgrad::io::ReadCsv("data/breast_cancer.csv", {.target_column = "benign"});
//   if (!data.ok()) return data.status();
//   actgrad::io::Split split = actgrad::io::StratifiedSplit(data->y, 0.2, /*seed=*/0);
//   actgrad::io::Dataset test = data->Subset(split.test);
//   actgrad::Generator gen(1);
//   for (const std::vector<int64_t>& batch :
//        actgrad::io::ShuffledBatches(split.train, 32, gen)) {
//     actgrad::io::Dataset b = data->Subset(batch);
//     actgrad::Tensor x = b.Features();                            // [32, 30] float32
//     actgrad::Tensor labels = b.Targets(actgrad::DType::kInt64);  // [32] int64
//   }

#ifndef ACTGRAD_IO_CSV_H_
#define ACTGRAD_IO_CSV_H_

#include <cstdint>
#include <source_location>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "graph/dtype.h"
#include "graph/generator.h"
#include "graph/tensor.h"

namespace actgrad::io {

struct CsvOptions {
  // The column that holds the target (label or regression value); every
  // other column is a feature. Empty means the last column.
  std::string target_column;
  // With a target_column that the file lacks: read every column as a
  // feature and leave `y` empty (data to predict on) instead of failing.
  bool target_optional = false;
  // Every column is a feature and `y` stays empty (target_column unused).
  bool no_target = false;
  // Features beyond float32's range (|x| > 3.4e38) become infinite in a
  // float32 network, so they are refused at load unless the caller reads
  // them as float64.
  bool allow_beyond_float32 = false;
};

// A table of numbers: `rows` samples of `features` features each, and one
// target per sample.
struct Dataset {
  std::vector<std::string> feature_names;
  std::string target_name;
  int64_t rows = 0;
  int64_t features = 0;
  std::vector<double> x;  // row-major, rows * features
  std::vector<double> y;  // rows
  // When the target column holds text (any cell that is not a number): the
  // distinct labels in sorted order, and `y` holds each row's index into
  // them ("setosa" -> 0, "versicolor" -> 1, ...). Empty for numeric targets.
  std::vector<std::string> target_labels;
  // Where the data came from (the path given to ReadCsv), for messages.
  std::string source;

  // The features as a [rows, features] tensor.
  Tensor Features(DType dtype = DType::kFloat32) const;
  // The targets as a [rows] tensor. With kInt64 (class labels for
  // cross_entropy), throws `Error` when a target is not a whole number.
  Tensor Targets(DType dtype = DType::kFloat32,
                 std::source_location location = std::source_location::current()) const;
  // The given rows, in the given order (repeats allowed). Throws `Error` for
  // an index outside [0, rows).
  Dataset Subset(std::span<const int64_t> row_indices,
                 std::source_location location = std::source_location::current()) const;
};

// Reads a CSV file as described at the top of this file. Errors:
// kNotFound (missing file), kInvalidArgument (a directory, or content that is
// not a numeric CSV table with at least one feature column and one data row),
// kPermissionDenied (unreadable).
absl::StatusOr<Dataset> ReadCsv(const std::string& path, const CsvOptions& options = {});

// Parses CSV text already in memory; `source` names it in messages.
absl::StatusOr<Dataset> ParseCsv(absl::string_view text, absl::string_view source,
                                 const CsvOptions& options = {});

// Row indices of a train/test split. Both lists are shuffled.
struct Split {
  std::vector<int64_t> train;
  std::vector<int64_t> test;
};

// Splits the rows of a classification data set so that every class keeps its
// share: of the n rows with a label, round(n * test_fraction) go to test, as
// scikit-learn's train_test_split(stratify=...) aims for. The same labels and
// seed give the same split on every platform. Throws `Error` when
// test_fraction is outside [0, 1] or a label is not finite.
Split StratifiedSplit(std::span<const double> labels, double test_fraction, uint64_t seed,
                      std::source_location location = std::source_location::current());

// Splits rows 0..rows-1 at random: round(rows * test_fraction) go to test.
// For regression, where stratifying by target makes no sense.
Split RandomSplit(int64_t rows, double test_fraction, uint64_t seed,
                  std::source_location location = std::source_location::current());

// `rows` in a random order drawn from `gen`, cut into batches of `batch`; the
// last batch holds the remainder and may be smaller. Every row appears
// exactly once. Throws `Error` when batch < 1.
std::vector<std::vector<int64_t>> ShuffledBatches(
    std::span<const int64_t> rows, int64_t batch, Generator& gen,
    std::source_location location = std::source_location::current());

// Shuffles `values` in place (Fisher-Yates driven by gen.NextBelow), so the
// permutation depends only on the generator's state, not on the standard
// library's unspecified std::shuffle.
void Shuffle(std::span<int64_t> values, Generator& gen);

}  // namespace actgrad::io

#endif  // ACTGRAD_IO_CSV_H_
