#include "optim/sgd.h"

#include <Eigen/Core>

#include "graph/grad_mode.h"
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
    : parameters_(std::move(parameters)), momentum_buffers_(parameters_.size()), options_(options) {
  ACTGRAD_REQUIRE(options.learning_rate >= 0, location, "Sgd: negative learning rate ",
                  options.learning_rate);
  ACTGRAD_REQUIRE(options.momentum >= 0, location, "Sgd: negative momentum ", options.momentum);
  ACTGRAD_REQUIRE(options.weight_decay >= 0, location, "Sgd: negative weight decay ",
                  options.weight_decay);
  ACTGRAD_REQUIRE(!options.nesterov || (options.momentum > 0 && options.dampening == 0), location,
                  "Sgd: Nesterov momentum needs momentum > 0 and zero dampening");
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const Tensor& p = parameters_[i];
    ACTGRAD_REQUIRE(p.defined() && p.is_leaf() && p.requires_grad(), location, "Sgd: parameter ", i,
                    " must be a leaf that requires a gradient");
  }
}

void Sgd::Step() {
  NoGradGuard no_grad;
  const SgdOptions& o = options_;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const Tensor& p = parameters_[i];
    const Tensor& grad = p.grad();
    if (!grad.defined()) continue;
    Tensor& buffer = momentum_buffers_[i];
    DispatchFloating(p.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T lr = T(o.learning_rate), wd = T(o.weight_decay);
      if (o.momentum == 0) {
        T* pp = static_cast<T*>(p.raw_data());
        const T* pg = static_cast<const T*>(grad.raw_data());
        internal::ParallelFor(p.numel(), [&](int64_t begin, int64_t end) {
          Vector<T> param(pp + begin, end - begin);
          const Vector<T> g(const_cast<T*>(pg) + begin, end - begin);
          if (o.weight_decay == 0) {
            param -= lr * g;
          } else {
            param -= lr * (g + wd * param);
          }
        });
        return;
      }
      const bool first = !buffer.defined();
      if (first) buffer = Tensor(internal::NewUninitialized(p.shape(), p.dtype()));
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
}

void Sgd::ZeroGrad() {
  for (Tensor& p : parameters_) p.ZeroGrad();
}

}  // namespace actgrad::optim
