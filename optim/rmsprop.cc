#include "optim/rmsprop.h"

#include <cmath>

#include "graph/parallel.h"

namespace actgrad::optim {

namespace {

template <typename T, bool kCentered, bool kMomentum>
void RmsPropPass(T* __restrict p, const T* __restrict grad, T* __restrict s, T* __restrict a,
                 T* __restrict b, int64_t begin, int64_t end, T sign, T decay, T alpha,
                 T one_minus_alpha, T eps, T momentum, T neg_lr) {
  for (int64_t i = begin; i < end; ++i) {
    T g = sign * grad[i];
    if (decay != T(0)) g = g + decay * p[i];
    s[i] = s[i] * alpha + one_minus_alpha * (g * g);
    T avg;
    if constexpr (kCentered) {
      a[i] = a[i] * alpha + one_minus_alpha * g;
      avg = std::sqrt(s[i] + T(-1) * (a[i] * a[i])) + eps;
    } else {
      avg = std::sqrt(s[i]) + eps;
    }
    if constexpr (kMomentum) {
      b[i] = b[i] * momentum + g / avg;
      p[i] = p[i] + neg_lr * b[i];
    } else {
      p[i] = p[i] + neg_lr * g / avg;
    }
  }
}

}  // namespace

RmsProp::RmsProp(std::vector<ParamGroup> groups, const RmsPropOptions& options,
                 std::source_location location)
    : Optimizer("RMSprop", std::move(groups), options.learning_rate, options.weight_decay,
                {"square_avg", "grad_avg", "momentum_buffer"}, location),
      options_(options) {
  RequireRange("alpha", options.alpha, 0, 1, location, /*high_inclusive=*/true);
  RequireRange("momentum", options.momentum, 0, INFINITY, location);
  ACTGRAD_REQUIRE(std::isfinite(options.eps) && options.eps > 0, location,
                  "RMSprop: eps must be > 0, got ", options.eps);
}

void RmsProp::Update(const Tensor& param, const Tensor& grad, const Resolved& group,
                     ParameterState& state) {
  const RmsPropOptions& o = options_;
  Tensor s = Buffer(state, "square_avg", param);
  const Tensor a = o.centered ? Buffer(state, "grad_avg", param) : Tensor();
  const Tensor b = o.momentum > 0 ? Buffer(state, "momentum_buffer", param) : Tensor();
  DispatchFloating(param.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* pp = static_cast<T*>(param.raw_data());
    const T* pg = static_cast<const T*>(grad.raw_data());
    T* ps = static_cast<T*>(s.raw_data());
    T* pa = a.defined() ? static_cast<T*>(a.raw_data()) : nullptr;
    T* pb = b.defined() ? static_cast<T*>(b.raw_data()) : nullptr;
    const T sign = o.maximize ? T(-1) : T(1);
    const T decay = T(group.weight_decay), alpha = T(o.alpha), one_minus = T(1 - o.alpha);
    const T eps = T(o.eps), momentum = T(o.momentum), neg_lr = T(-group.learning_rate);
    internal::ParallelFor(param.numel(), [&](int64_t begin, int64_t end) {
      auto run = [&](auto centered, auto with_momentum) {
        RmsPropPass<T, decltype(centered)::value, decltype(with_momentum)::value>(
            pp, pg, ps, pa, pb, begin, end, sign, decay, alpha, one_minus, eps, momentum, neg_lr);
      };
      if (o.centered) {
        b.defined() ? run(std::true_type{}, std::true_type{})
                    : run(std::true_type{}, std::false_type{});
      } else {
        b.defined() ? run(std::false_type{}, std::true_type{})
                    : run(std::false_type{}, std::false_type{});
      }
    });
  });
}

}  // namespace actgrad::optim
