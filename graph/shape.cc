#include "graph/shape.h"

#include <algorithm>

#include "absl/strings/str_join.h"
#include "graph/error.h"

namespace actgrad {

Shape::Shape(std::initializer_list<int64_t> dims, std::source_location location)
    : Shape(std::span<const int64_t>(dims.begin(), dims.size()), location) {}

Shape::Shape(std::span<const int64_t> dims, std::source_location location) {
  ACTGRAD_REQUIRE(dims.size() <= kMaxRank, location, "shape: rank ", dims.size(),
                  " exceeds the maximum of ", kMaxRank);
  for (int64_t d : dims) {
    ACTGRAD_REQUIRE(d >= 0, location, "shape: negative extent ", d, " in [",
                    absl::StrJoin(dims, ","), "]");
    dims_[rank_++] = d;
  }
}

std::array<int64_t, Shape::kMaxRank> Shape::Strides() const {
  std::array<int64_t, kMaxRank> strides{};
  int64_t stride = 1;
  for (int i = rank_ - 1; i >= 0; --i) {
    strides[i] = stride;
    stride *= dims_[i];
  }
  return strides;
}

void Shape::PushBack(int64_t extent) {
  ACTGRAD_REQUIRE(rank_ < kMaxRank, std::source_location::current(),
                  "shape: rank exceeds the maximum of ", kMaxRank);
  dims_[rank_++] = extent;
}

std::string Shape::ToString() const { return absl::StrCat("[", absl::StrJoin(dims(), ","), "]"); }

std::optional<Shape> BroadcastShapes(const Shape& a, const Shape& b) {
  const int rank = std::max(a.rank(), b.rank());
  std::array<int64_t, Shape::kMaxRank> dims{};
  for (int i = 0; i < rank; ++i) {
    const int ia = a.rank() - rank + i;
    const int ib = b.rank() - rank + i;
    const int64_t da = ia >= 0 ? a[ia] : 1;
    const int64_t db = ib >= 0 ? b[ib] : 1;
    if (da != db && da != 1 && db != 1) return std::nullopt;
    dims[i] = da == 1 ? db : da;
  }
  return Shape(std::span<const int64_t>(dims.data(), rank));
}

std::optional<int> NormalizeAxis(int64_t axis, int rank) {
  if (axis < -rank || axis >= rank) return std::nullopt;
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

}  // namespace actgrad
