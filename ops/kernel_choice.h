// -----------------------------------------------------------------------------
// File: kernel_choice.h
// -----------------------------------------------------------------------------
//
// Choosing between two kernels for the same work by timing both, as cuDNN's
// benchmark mode does: the first time a shape is seen on a thread, both run
// three times each, the first untimed (so that set-up and first-touch costs
// do not count) and the faster of the other two counted, and the faster
// kernel is kept for that shape from then on. The
// output of that first call comes from the kernel that won. The choices
// made are listed by ConvKernelChoices() (ops/layer_ops.h), and
// SetConvKernel() can force either kernel.
//
// Example:
//
//   internal::RunFaster(key, [&] { return std::string("conv2d forward [64,32,14,14]"); },
//                       [&] { Im2colForward(...); },
//                       [&] { return DnnlConvForward(...); });

#ifndef ACTGRAD_OPS_KERNEL_CHOICE_H_
#define ACTGRAD_OPS_KERNEL_CHOICE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"

namespace actgrad::internal {

// Runs `im2col` or `onednn` (which returns false, having written nothing,
// when it cannot run the shape) for the work `key` identifies; `describe`
// says what the work is, for ConvKernelChoices(), and runs only when a
// choice is made.
void RunFaster(const std::vector<int64_t>& key, absl::FunctionRef<std::string()> describe,
               absl::FunctionRef<void()> im2col, absl::FunctionRef<bool()> onednn);

}  // namespace actgrad::internal

#endif  // ACTGRAD_OPS_KERNEL_CHOICE_H_
