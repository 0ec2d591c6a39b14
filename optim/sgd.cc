#include "optim/sgd.h"

#include <Eigen/Core>
#include <cmath>

#include "graph/error.h"
#include "graph/parallel.h"

namespace actgrad::optim {

namespace {

template <typename T>
using Vector = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>, Eigen::Aligned64>;

// The momentum step in one pass over each parameter: the buffer and the
// parameter are updated while the element's gradient is in a register, so
// the step reads and writes each array once.
template <typename T>
struct MomentumUpdate {
  T* param;
  const T* grad;
  T* buffer;
  int64_t n;
  T lr, weight_decay, momentum, keep;  // keep = 1 - dampening

  // Elements [begin, end). kFirst: the buffer starts as the first gradient
  // (PyTorch's rule).
  template <bool kFirst, bool kNesterov>
  void Run(int64_t begin, int64_t end) const {
    T* __restrict p = param;
    const T* __restrict g = grad;
    T* __restrict b = buffer;
    for (int64_t i = begin; i < end; ++i) {
      const T d = g[i] + weight_decay * p[i];
      const T v = kFirst ? d : momentum * b[i] + keep * d;
      b[i] = v;
      p[i] -= lr * (kNesterov ? d + momentum * v : v);
    }
  }
};

}  // namespace

Sgd::Sgd(std::vector<Tensor> parameters, const SgdOptions& options, std::source_location location)
    : Sgd(std::vector<ParamGroup>{{.parameters = std::move(parameters)}}, options, location) {}

Sgd::Sgd(std::vector<ParamGroup> groups, const SgdOptions& options, std::source_location location)
    : Optimizer("SGD", std::move(groups), options.learning_rate, options.weight_decay,
                {"momentum_buffer"}, location),
      options_(options) {
  RequireRange("momentum", options.momentum, 0, INFINITY, location);
  RequireRange("dampening", options.dampening, 0, INFINITY, location);
  ACTGRAD_REQUIRE(!options.nesterov || (options.momentum > 0 && options.dampening == 0), location,
                  "SGD: Nesterov momentum needs momentum > 0 and zero dampening");
}

void Sgd::set_momentum_buffer(size_t i, Tensor buffer) {
  ParameterState resumed = state(i);
  resumed.buffers.clear();
  if (buffer.defined()) resumed.buffers.emplace_back("momentum_buffer", std::move(buffer));
  set_state(i, std::move(resumed));
}

void Sgd::Update(const Tensor& p, const Tensor& grad, const Resolved& group,
                 ParameterState& state) {
  const SgdOptions& o = options_;
  DispatchFloating(p.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T lr = T(group.learning_rate), wd = T(group.weight_decay);
    if (o.momentum == 0) {
      T* pp = static_cast<T*>(p.raw_data());
      const T* pg = static_cast<const T*>(grad.raw_data());
      internal::ParallelFor(p.numel(), [&](int64_t begin, int64_t end) {
        Vector<T> param(pp + begin, end - begin);
        const Vector<T> g(const_cast<T*>(pg) + begin, end - begin);
        if (group.weight_decay == 0) {
          param -= lr * g;
        } else {
          param -= lr * (g + wd * param);
        }
      });
      return;
    }
    // PyTorch's rule: the buffer starts as the first gradient.
    const bool first = !state.buffer("momentum_buffer").defined();
    const Tensor buffer = Buffer(state, "momentum_buffer", p);
    const MomentumUpdate<T> update{static_cast<T*>(p.raw_data()),
                                   static_cast<const T*>(grad.raw_data()),
                                   static_cast<T*>(buffer.raw_data()),
                                   p.numel(),
                                   lr,
                                   wd,
                                   T(o.momentum),
                                   T(1 - o.dampening)};
    // Large parameters are split over the threads, so that a second thread
    // updates half instead of waiting for the next product.
    internal::ParallelFor(p.numel(), [&](int64_t begin, int64_t end) {
      if (first) {
        o.nesterov ? update.template Run<true, true>(begin, end)
                   : update.template Run<true, false>(begin, end);
      } else {
        o.nesterov ? update.template Run<false, true>(begin, end)
                   : update.template Run<false, false>(begin, end);
      }
    });
  });
}

}  // namespace actgrad::optim
