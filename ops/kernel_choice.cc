#include "ops/kernel_choice.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>

#include "ops/layer_ops.h"

namespace actgrad {

namespace {

std::atomic<ConvKernel> forced{ConvKernel::kFastest};

std::mutex& ChoicesMutex() {
  static std::mutex* mutex = new std::mutex();
  return *mutex;
}

std::vector<ConvKernelChoice>& Choices() {
  static auto* choices = new std::vector<ConvKernelChoice>();
  return *choices;
}

template <typename Fn>
double Microseconds(Fn fn) {
  const auto start = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace

void SetConvKernel(ConvKernel kernel) { forced = kernel; }

std::vector<ConvKernelChoice> ConvKernelChoices() {
  std::lock_guard<std::mutex> lock(ChoicesMutex());
  return Choices();
}

namespace internal {

void RunFaster(const std::vector<int64_t>& key, absl::FunctionRef<std::string()> describe,
               absl::FunctionRef<void()> im2col, absl::FunctionRef<bool()> onednn) {
  switch (forced.load()) {
    case ConvKernel::kIm2col:
      im2col();
      return;
    case ConvKernel::kOneDnn:
      if (!onednn()) im2col();
      return;
    case ConvKernel::kFastest:
      break;
  }
  thread_local std::map<std::vector<int64_t>, bool> use_onednn;
  if (auto it = use_onednn.find(key); it != use_onednn.end()) {
    if (!it->second || !onednn()) im2col();
    return;
  }
  ConvKernelChoice choice{.work = describe()};
  if (!onednn()) {
    use_onednn[key] = false;
    im2col();
  } else {
    // The faster of two timed runs each, after an untimed one: a single
    // run on a shared machine can land on a burst of other work.
    choice.onednn_us = std::min(Microseconds([&] { onednn(); }), Microseconds([&] { onednn(); }));
    im2col();
    choice.im2col_us = std::min(Microseconds([&] { im2col(); }), Microseconds([&] { im2col(); }));
    const bool faster = choice.onednn_us < choice.im2col_us;
    use_onednn[key] = faster;
    // The output comes from the kernel later calls will use.
    if (faster) onednn();
  }
  choice.kernel = use_onednn[key] ? ConvKernel::kOneDnn : ConvKernel::kIm2col;
  std::lock_guard<std::mutex> lock(ChoicesMutex());
  Choices().push_back(std::move(choice));
}

}  // namespace internal
}  // namespace actgrad
