#include "graph/factories.h"

#include <algorithm>
#include <cstring>

namespace actgrad {

namespace {

Tensor NewTensor(const Shape& shape, DType dtype) {
  return Tensor(internal::NewUninitialized(shape, dtype));
}

// Fills `t` with values from `next(i)`, converted to its dtype.
template <typename Next>
void FillWith(Tensor& t, Next next) {
  const int64_t n = t.numel();
  switch (t.dtype()) {
    case DType::kFloat32: {
      float* p = t.data<float>();
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(next(i));
      break;
    }
    case DType::kFloat64: {
      double* p = t.data<double>();
      for (int64_t i = 0; i < n; ++i) p[i] = next(i);
      break;
    }
    case DType::kInt64: {
      int64_t* p = t.data<int64_t>();
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<int64_t>(next(i));
      break;
    }
  }
}

}  // namespace

Tensor Zeros(const Shape& shape, DType dtype) {
  Tensor t = NewTensor(shape, dtype);
  std::memset(t.raw_data(), 0, t.numel() * DTypeSize(dtype));
  return t;
}

Tensor Ones(const Shape& shape, DType dtype) { return Full(shape, 1.0, dtype); }

Tensor Full(const Shape& shape, double value, DType dtype) {
  Tensor t = NewTensor(shape, dtype);
  FillWith(t, [value](int64_t) { return value; });
  return t;
}

Tensor Scalar(double value, DType dtype) { return Full(Shape(), value, dtype); }

Tensor FromValues(std::span<const double> values, const Shape& shape, DType dtype,
                  std::source_location location) {
  ACTGRAD_REQUIRE(static_cast<int64_t>(values.size()) == shape.NumElements(), location,
                  "FromValues: ", values.size(), " values do not fill shape ", shape.ToString(),
                  " (", shape.NumElements(), " elements)");
  Tensor t = NewTensor(shape, dtype);
  FillWith(t, [&](int64_t i) { return values[i]; });
  return t;
}

Tensor FromValues(std::initializer_list<double> values, const Shape& shape, DType dtype,
                  std::source_location location) {
  return FromValues(std::span<const double>(values.begin(), values.size()), shape, dtype, location);
}

Tensor FromValues(std::initializer_list<double> values, DType dtype) {
  return FromValues(std::span<const double>(values.begin(), values.size()),
                    Shape{static_cast<int64_t>(values.size())}, dtype);
}

Tensor FromValues(std::span<const float> values, const Shape& shape,
                  std::source_location location) {
  ACTGRAD_REQUIRE(static_cast<int64_t>(values.size()) == shape.NumElements(), location,
                  "FromValues: ", values.size(), " values do not fill shape ", shape.ToString());
  Tensor t = NewTensor(shape, DType::kFloat32);
  std::copy(values.begin(), values.end(), t.data<float>());
  return t;
}

Tensor Labels(std::span<const int64_t> values) {
  Tensor t = NewTensor(Shape{static_cast<int64_t>(values.size())}, DType::kInt64);
  std::copy(values.begin(), values.end(), t.data<int64_t>());
  return t;
}

Tensor Labels(std::initializer_list<int64_t> values) {
  return Labels(std::span<const int64_t>(values.begin(), values.size()));
}

Tensor Uniform(const Shape& shape, double low, double high, Generator& gen, DType dtype) {
  Tensor t = NewTensor(shape, dtype);
  FillWith(t, [&](int64_t) { return low + (high - low) * gen.NextUniform(); });
  return t;
}

Tensor Normal(const Shape& shape, double mean, double stddev, Generator& gen, DType dtype) {
  Tensor t = NewTensor(shape, dtype);
  FillWith(t, [&](int64_t) { return mean + stddev * gen.NextNormal(); });
  return t;
}

Tensor ToDType(const Tensor& t, DType dtype) {
  if (t.dtype() == dtype) return t.Clone();
  const std::vector<double> values = t.ToVector();
  Tensor out = NewTensor(t.shape(), dtype);
  FillWith(out, [&](int64_t i) { return values[i]; });
  return out;
}

}  // namespace actgrad
