#include "optim/clip.h"

#include <cmath>
#include <type_traits>

namespace actgrad::optim {

namespace {

// Calls fn(values, count) on each gradient buffer, typed by its dtype.
template <typename Fn>
void ForEachGradient(std::span<const Tensor> parameters, Fn fn) {
  for (const Tensor& p : parameters) {
    const Tensor& g = p.grad();
    if (!g.defined()) continue;
    DispatchFloating(g.dtype(), [&](auto tag) {
      using T = decltype(tag);
      fn(static_cast<T*>(g.raw_data()), g.numel());
    });
  }
}

}  // namespace

double ClipGradNorm(std::span<const Tensor> parameters, double max_norm) {
  double sum_of_squares = 0;
  ForEachGradient(parameters, [&](const auto* values, int64_t n) {
    for (int64_t i = 0; i < n; ++i) sum_of_squares += double(values[i]) * double(values[i]);
  });
  const double norm = std::sqrt(sum_of_squares);
  if (!std::isfinite(norm) || norm <= max_norm) return norm;
  const double scale = max_norm / (norm + 1e-6);
  ForEachGradient(parameters, [&](auto* values, int64_t n) {
    using T = std::remove_pointer_t<decltype(values)>;
    for (int64_t i = 0; i < n; ++i) values[i] *= T(scale);
  });
  return norm;
}

}  // namespace actgrad::optim
