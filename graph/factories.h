// -----------------------------------------------------------------------------
// File: factories.h
// -----------------------------------------------------------------------------
//
// Functions that make new leaf tensors. Random factories take an explicit
// `Generator`, so results are reproducible from a seed. Every factory returns
// a tensor that does not require a gradient; mark parameters with
// `set_requires_grad(true)`.
//
// Example:
//
//   actgrad::Generator gen(0);
//   actgrad::Tensor x = actgrad::FromValues({1, 2, 3, 4}, {2, 2});
//   actgrad::Tensor w = actgrad::Normal({2, 8}, 0.0, 0.1, gen).set_requires_grad(true);
//   actgrad::Tensor labels = actgrad::Labels({0, 3, 1});  // int64

#ifndef ACTGRAD_GRAPH_FACTORIES_H_
#define ACTGRAD_GRAPH_FACTORIES_H_

#include <cstdint>
#include <initializer_list>
#include <source_location>
#include <span>

#include "graph/generator.h"
#include "graph/tensor.h"

namespace actgrad {

Tensor Zeros(const Shape& shape, DType dtype = DType::kFloat32);
Tensor Ones(const Shape& shape, DType dtype = DType::kFloat32);
Tensor Full(const Shape& shape, double value, DType dtype = DType::kFloat32);
// A rank-0 tensor holding `value`.
Tensor Scalar(double value, DType dtype = DType::kFloat32);

// Copies `values` (row-major) into a tensor of `shape`; throws when the counts
// differ. With no shape, the result is one-dimensional.
Tensor FromValues(std::span<const double> values, const Shape& shape, DType dtype = DType::kFloat32,
                  std::source_location location = std::source_location::current());
Tensor FromValues(std::initializer_list<double> values, const Shape& shape,
                  DType dtype = DType::kFloat32,
                  std::source_location location = std::source_location::current());
Tensor FromValues(std::initializer_list<double> values, DType dtype = DType::kFloat32);
Tensor FromValues(std::span<const float> values, const Shape& shape,
                  std::source_location location = std::source_location::current());

// An int64 tensor of class labels or indices.
Tensor Labels(std::span<const int64_t> values);
Tensor Labels(std::initializer_list<int64_t> values);

// Independent draws, uniform in [low, high).
Tensor Uniform(const Shape& shape, double low, double high, Generator& gen,
               DType dtype = DType::kFloat32);
// Independent draws from a normal distribution.
Tensor Normal(const Shape& shape, double mean, double stddev, Generator& gen,
              DType dtype = DType::kFloat32);

// The same values converted to `dtype` (a new leaf, cut from the graph).
Tensor ToDType(const Tensor& t, DType dtype);

}  // namespace actgrad

#endif  // ACTGRAD_GRAPH_FACTORIES_H_
