#include "optim/adagrad.h"

#include <cmath>

#include "graph/parallel.h"

namespace actgrad::optim {

namespace {

// Element i depends on element i alone: any split over threads gives the
// same bits.
template <typename T>
void AdagradPass(T* __restrict p, const T* __restrict grad, T* __restrict s, int64_t begin,
                 int64_t end, T sign, T decay, T eps, T neg_clr) {
  for (int64_t i = begin; i < end; ++i) {
    T g = sign * grad[i];
    if (decay != T(0)) g = g + decay * p[i];
    s[i] = s[i] + g * g;
    p[i] = p[i] + neg_clr * g / (std::sqrt(s[i]) + eps);
  }
}

}  // namespace

Adagrad::Adagrad(std::vector<ParamGroup> groups, const AdagradOptions& options,
                 std::source_location location)
    : Optimizer("Adagrad", std::move(groups), options.learning_rate, options.weight_decay, {"sum"},
                location),
      options_(options) {
  RequireRange("lr decay", options.lr_decay, 0, INFINITY, location);
  RequireRange("initial accumulator value", options.initial_accumulator_value, 0, INFINITY,
               location);
  ACTGRAD_REQUIRE(std::isfinite(options.eps) && options.eps > 0, location,
                  "Adagrad: eps must be > 0, got ", options.eps);
}

void Adagrad::Update(const Tensor& param, const Tensor& grad, const Resolved& group,
                     ParameterState& state) {
  const AdagradOptions& o = options_;
  const Tensor sum = Buffer(state, "sum", param, o.initial_accumulator_value);
  const double clr = group.learning_rate / (1 + static_cast<double>(state.step - 1) * o.lr_decay);
  DispatchFloating(param.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* p = static_cast<T*>(param.raw_data());
    const T* g = static_cast<const T*>(grad.raw_data());
    T* s = static_cast<T*>(sum.raw_data());
    const T sign = o.maximize ? T(-1) : T(1);
    const T decay = T(group.weight_decay), eps = T(o.eps), neg_clr = T(-clr);
    internal::ParallelFor(param.numel(), [&](int64_t begin, int64_t end) {
      AdagradPass<T>(p, g, s, begin, end, sign, decay, eps, neg_clr);
    });
  });
}

}  // namespace actgrad::optim
