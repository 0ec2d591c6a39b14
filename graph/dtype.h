// -----------------------------------------------------------------------------
// File: dtype.h
// -----------------------------------------------------------------------------
//
// Element types. float32 is the default for training; float64 exists so that
// gradients can be checked in double precision. int64 holds class labels and
// indices only: arithmetic ops reject it.
//
// Example:
//
//   actgrad::Tensor x = actgrad::Zeros({2, 3}, actgrad::DType::kFloat64);
//   std::cout << actgrad::DTypeName(x.dtype());  // "float64"

#ifndef ACTGRAD_GRAPH_DTYPE_H_
#define ACTGRAD_GRAPH_DTYPE_H_

#include <cstddef>
#include <cstdint>

namespace actgrad {

enum class DType : uint8_t { kFloat32, kFloat64, kInt64 };

constexpr size_t DTypeSize(DType dtype) { return dtype == DType::kFloat32 ? 4 : 8; }

constexpr const char* DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return "float32";
    case DType::kFloat64:
      return "float64";
    case DType::kInt64:
      return "int64";
  }
  return "?";
}

constexpr bool IsFloating(DType dtype) { return dtype != DType::kInt64; }

template <typename T>
constexpr DType DTypeOf();
template <>
constexpr DType DTypeOf<float>() {
  return DType::kFloat32;
}
template <>
constexpr DType DTypeOf<double>() {
  return DType::kFloat64;
}
template <>
constexpr DType DTypeOf<int64_t>() {
  return DType::kInt64;
}

// Calls `fn(T{})` with T = float or double according to `dtype`; the caller
// guarantees that `dtype` is floating. One switch per op call, never per
// element.
template <typename Fn>
decltype(auto) DispatchFloating(DType dtype, Fn&& fn) {
  if (dtype == DType::kFloat64) return fn(double{});
  return fn(float{});
}

}  // namespace actgrad

#endif  // ACTGRAD_GRAPH_DTYPE_H_
