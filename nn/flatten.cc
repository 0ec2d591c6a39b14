#include "nn/flatten.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ops/functional.h"
#include "ops/layer_ops.h"

namespace actgrad::nn {

Tensor Flatten::Forward(const Tensor& x) { return actgrad::Flatten(x, start_, end_); }

std::string Flatten::ToString() const {
  return absl::StrCat("Flatten(", start_, " to ", end_, ")");
}

ModuleConfig Flatten::Config() const {
  return ModuleConfig().Set("start", start_).Set("end", end_);
}

Unflatten::Unflatten(int64_t dim, std::vector<int64_t> sizes, std::source_location location)
    : dim_(dim), sizes_(std::move(sizes)) {
  // The product must fit in int64: Forward compares it with an extent, and
  // the sizes may come from a file.
  bool valid = !sizes_.empty() && sizes_.size() < size_t(Shape::kMaxRank);
  int64_t product = 1;
  for (int64_t s : sizes_) valid = valid && s > 0 && !__builtin_mul_overflow(product, s, &product);
  ACTGRAD_REQUIRE(valid, location, "unflatten: sizes (", absl::StrJoin(sizes_, ", "),
                  ") must be 1 to 7 positive extents whose product fits in 64 bits");
}

Tensor Unflatten::Forward(const Tensor& x) {
  const std::optional<int> axis = NormalizeAxis(dim_, x.rank());
  int64_t product = 1;
  for (int64_t s : sizes_) product *= s;
  ACTGRAD_REQUIRE(
      axis && x.dim(*axis) == product && x.rank() + int(sizes_.size()) - 1 <= Shape::kMaxRank,
      std::source_location::current(), "unflatten: cannot split dimension ", dim_, " of ",
      x.shape().ToString(), " into (", absl::StrJoin(sizes_, ", "), ")");
  std::vector<int64_t> dims;
  for (int d = 0; d < x.rank(); ++d) {
    if (d == *axis) {
      dims.insert(dims.end(), sizes_.begin(), sizes_.end());
    } else {
      dims.push_back(x.dim(d));
    }
  }
  return Reshape(x, dims);
}

std::string Unflatten::ToString() const {
  return absl::StrCat("Unflatten(", dim_, " into ", absl::StrJoin(sizes_, "x"), ")");
}

ModuleConfig Unflatten::Config() const {
  return ModuleConfig().Set("dim", dim_).Set("sizes", sizes_);
}

}  // namespace actgrad::nn
