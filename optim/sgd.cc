#include "optim/sgd.h"

#include <Eigen/Core>

#include "graph/grad_mode.h"

namespace actgrad::optim {

namespace {

template <typename T>
using Vector = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>, Eigen::Aligned64>;

template <typename T>
Vector<T> View(const Tensor& t) {
  return Vector<T>(static_cast<T*>(t.raw_data()), t.numel());
}

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

  // kFirst: the buffer starts as the first gradient (PyTorch's rule).
  template <bool kFirst, bool kNesterov>
  void Run() const {
    T* __restrict p = param;
    const T* __restrict g = grad;
    T* __restrict b = buffer;
    for (int64_t i = 0; i < n; ++i) {
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
      auto param = View<T>(p);
      auto g = View<T>(grad);
      const T lr = T(o.learning_rate), wd = T(o.weight_decay);
      if (o.momentum == 0) {
        if (o.weight_decay == 0) {
          param -= lr * g;
        } else {
          param -= lr * (g + wd * param);
        }
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
      if (first) {
        o.nesterov ? update.template Run<true, true>() : update.template Run<true, false>();
      } else {
        o.nesterov ? update.template Run<false, true>() : update.template Run<false, false>();
      }
    });
  }
}

void Sgd::ZeroGrad() {
  for (Tensor& p : parameters_) p.ZeroGrad();
}

}  // namespace actgrad::optim
