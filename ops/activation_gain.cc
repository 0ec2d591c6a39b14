#include "ops/activation_gain.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>

#include "graph/factories.h"
#include "graph/grad_mode.h"
#include "ops/scalar_activation.h"

namespace actgrad {

namespace internal {

namespace {

constexpr uint64_t kMonteCarloSeed = 0x6a1e;

}  // namespace

Evaluated Evaluate(const OpDef& op, const Attrs& attrs, std::span<const double> x, DType dtype,
                   bool derivative) {
  const Shape shape{static_cast<int64_t>(x.size())};
  if (!derivative) {
    NoGradGuard values_only;
    return {Apply(op, {FromValues(x, shape, dtype)}, attrs).ToVector(), {}};
  }
  GradModeGuard recording(true);
  Tensor input = FromValues(x, shape, dtype);
  input.set_requires_grad(true);
  const Tensor y = Apply(op, {input}, attrs);
  const std::vector<Tensor> dx = Grad(y, {input}, Ones(y.shape(), dtype));
  return {y.ToVector(), dx[0].ToVector()};
}

const std::vector<double>& NormalSamples(int64_t n) {
  static std::mutex* mutex = new std::mutex();
  static auto* cache = new std::map<int64_t, std::vector<double>>();
  std::lock_guard<std::mutex> lock(*mutex);
  std::vector<double>& z = (*cache)[n];
  if (z.empty()) {
    Generator gen(kMonteCarloSeed);
    const int64_t half = std::max<int64_t>(1, n / 2);
    for (int64_t i = 0; i < half; ++i) z.push_back(gen.NextNormal());
    for (int64_t i = 0; i < half; ++i) z.push_back(-z[i]);
  }
  return z;
}

double MeanSquare(std::span<const double> y) {
  double sum = 0;
  for (double v : y) sum += v * v;
  return sum / static_cast<double>(y.size());
}

}  // namespace internal

double EstimatedGain(const OpDef& activation, const Attrs& attrs) {
  const std::vector<double>& z = internal::NormalSamples(kMonteCarloSamples);
  return 1 /
         std::sqrt(internal::MeanSquare(
             internal::Evaluate(activation, attrs, z, DType::kFloat64, /*derivative=*/false).y));
}

bool UsesEstimatedGain(const OpDef& activation) {
  return activation.kind == OpKind::kActivation && activation.gain == nullptr &&
         activation.forward == &internal::ScalarActivationForward;
}

}  // namespace actgrad
