// -----------------------------------------------------------------------------
// File: grad_mode.h
// -----------------------------------------------------------------------------
//
// Whether ops record graph nodes on this thread. Inside a `NoGradGuard` ops
// compute values only: nothing is recorded and their results do not require
// a gradient, which is what evaluation and optimizer updates want.
//
// Example:
//
//   {
//     actgrad::NoGradGuard no_grad;
//     actgrad::Tensor prediction = model(x);  // records nothing
//   }

#ifndef ACTGRAD_GRAPH_GRAD_MODE_H_
#define ACTGRAD_GRAPH_GRAD_MODE_H_

namespace actgrad {

namespace internal {
inline thread_local bool grad_enabled = true;
}  // namespace internal

inline bool IsGradEnabled() { return internal::grad_enabled; }

// Sets the mode for its lifetime and restores the previous one after.
class GradModeGuard {
 public:
  explicit GradModeGuard(bool enabled) : previous_(internal::grad_enabled) {
    internal::grad_enabled = enabled;
  }
  ~GradModeGuard() { internal::grad_enabled = previous_; }
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool previous_;
};

class NoGradGuard : public GradModeGuard {
 public:
  NoGradGuard() : GradModeGuard(false) {}
};

}  // namespace actgrad

#endif  // ACTGRAD_GRAPH_GRAD_MODE_H_
