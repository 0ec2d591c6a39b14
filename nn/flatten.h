// -----------------------------------------------------------------------------
// File: flatten.h
// -----------------------------------------------------------------------------
//
// Flatten and Unflatten layers, as PyTorch's: Flatten merges a range of
// dimensions into one (images to rows before a linear layer); Unflatten
// splits one dimension into several (rows of features from a CSV file back
// into the images they are, so a saved model takes the file's rows).
//
// Example:
//
//   actgrad::nn::Unflatten to_images(1, {1, 8, 8});  // [N, 64] -> [N, 1, 8, 8]
//   actgrad::nn::Flatten to_rows;                    // [N, C, H, W] -> [N, C*H*W]

#ifndef ACTGRAD_NN_FLATTEN_H_
#define ACTGRAD_NN_FLATTEN_H_

#include <source_location>
#include <string>
#include <vector>

#include "nn/module.h"

namespace actgrad::nn {

class Flatten : public Module {
 public:
  // Dimensions start..end (inclusive; negative counts from the back).
  explicit Flatten(int64_t start = 1, int64_t end = -1) : start_(start), end_(end) {}
  Tensor Forward(const Tensor& x) override;
  std::string ToString() const override;
  std::string Kind() const override { return "flatten"; }
  ModuleConfig Config() const override;
  int64_t start() const { return start_; }
  int64_t end() const { return end_; }

 private:
  int64_t start_, end_;
};

class Unflatten : public Module {
 public:
  // Splits dimension `dim` (negative counts from the back) into `sizes`.
  // Throws `Error` for an empty or non-positive `sizes`.
  Unflatten(int64_t dim, std::vector<int64_t> sizes,
            std::source_location location = std::source_location::current());
  // Throws `Error` when the dimension's extent is not the product of sizes.
  Tensor Forward(const Tensor& x) override;
  std::string ToString() const override;
  std::string Kind() const override { return "unflatten"; }
  ModuleConfig Config() const override;
  int64_t dim() const { return dim_; }
  const std::vector<int64_t>& sizes() const { return sizes_; }

 private:
  int64_t dim_;
  std::vector<int64_t> sizes_;
};

}  // namespace actgrad::nn

#endif  // ACTGRAD_NN_FLATTEN_H_
