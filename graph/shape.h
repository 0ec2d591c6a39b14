// -----------------------------------------------------------------------------
// File: shape.h
// -----------------------------------------------------------------------------
//
// `Shape` is the extent of each dimension of a contiguous, row-major tensor.
// It stores up to `kMaxRank` dimensions inline, so shapes are copied into graph
// nodes without touching the heap. The broadcasting helpers follow NumPy:
// shapes are aligned at the right, and a dimension of 1 stretches.
//
// Example:
//
//   actgrad::Shape a{4, 1, 3};
//   actgrad::Shape b{5, 3};
//   actgrad::Shape c = *actgrad::BroadcastShapes(a, b);  // [4,5,3]
//   c.ToString();                                       // "[4,5,3]"

#ifndef ACTGRAD_GRAPH_SHAPE_H_
#define ACTGRAD_GRAPH_SHAPE_H_

#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <source_location>
#include <span>
#include <string>

namespace actgrad {

class Shape {
 public:
  static constexpr int kMaxRank = 8;

  Shape() = default;
  // Throws `Error` for more than kMaxRank dimensions or a negative extent.
  Shape(std::initializer_list<int64_t> dims,
        std::source_location location = std::source_location::current());
  explicit Shape(std::span<const int64_t> dims,
                 std::source_location location = std::source_location::current());

  int rank() const { return rank_; }
  int64_t operator[](int axis) const { return dims_[axis]; }
  int64_t& operator[](int axis) { return dims_[axis]; }
  std::span<const int64_t> dims() const { return {dims_.data(), size_t(rank_)}; }

  // Product of the extents; 1 for a rank-0 (scalar) shape.
  int64_t NumElements() const {
    int64_t n = 1;
    for (int i = 0; i < rank_; ++i) n *= dims_[i];
    return n;
  }

  // Row-major strides in elements.
  std::array<int64_t, kMaxRank> Strides() const;

  // Throws `Error` when the rank would exceed kMaxRank.
  void PushBack(int64_t extent);

  // "[2,3]"; "[]" for a scalar.
  std::string ToString() const;

  friend bool operator==(const Shape& a, const Shape& b) {
    if (a.rank_ != b.rank_) return false;
    for (int i = 0; i < a.rank_; ++i) {
      if (a.dims_[i] != b.dims_[i]) return false;
    }
    return true;
  }

 private:
  std::array<int64_t, kMaxRank> dims_{};
  int rank_ = 0;
};

// The NumPy broadcast of `a` and `b`, or nullopt when they are incompatible.
std::optional<Shape> BroadcastShapes(const Shape& a, const Shape& b);

// Maps a possibly negative axis into [0, rank); nullopt when out of range.
std::optional<int> NormalizeAxis(int64_t axis, int rank);

}  // namespace actgrad

#endif  // ACTGRAD_GRAPH_SHAPE_H_
