#include "ops/float_evaluation.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_format.h"

namespace actgrad::internal {

namespace {

constexpr long double kSmallestSubnormal = 0x1p-149L;
constexpr long double kSmallestNormal = 0x1p-126L;

// Points per binade, on each side of zero: four times as many for
// derivatives, whose errors a cancellation concentrates near where the
// derivative's terms balance.
constexpr int kPointsPerBinade = 32;
constexpr int kDerivativePointsPerBinade = 128;
constexpr long double kFloatRoundoff = 0x1p-24L;

long double FloatUlp(long double v) {
  const long double a = std::fabs(v);
  if (a < kSmallestNormal) return kSmallestSubnormal;
  return std::ldexp(1.0L, std::ilogb(a) - 23);
}

std::vector<float> Grid(int points_per_binade) {
  std::vector<float> x = {0.0f, -0.0f, std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity(),
                          std::numeric_limits<float>::quiet_NaN()};
  for (int e = -149; e <= 127; ++e) {
    for (int j = 0; j < points_per_binade; ++j) {
      // Off the round numbers, where formulas are at their most ordinary.
      const float v = std::ldexp(1.0f + (float(j) + 0.37f) / points_per_binade, e);
      if (!std::isfinite(v) || v == 0) continue;
      x.push_back(v);
      x.push_back(-v);
    }
  }
  return x;
}

bool SameFloat(float a, float b) {
  return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, sizeof(a)) == 0 || a == b;
}

}  // namespace

std::string FloatEvaluationReport::ToString() const {
  if (threw) return "the formula threw on the grid";
  return absl::StrFormat("%d points, worst %.3g ulps beyond the allowance at x = %.9g", points,
                         max_ulps_beyond_allowance, worst_x);
}

FloatEvaluationReport MeasureFloatEvaluation(const GenericFormula& g, int order,
                                             const Attrs& attrs) {
  FloatEvaluationReport report;
  if (g.map_float_in_float == nullptr || order < 0 || order > 1) {
    report.max_ulps_beyond_allowance = std::numeric_limits<double>::infinity();
    return report;
  }
  const std::vector<float> x = Grid(order == 0 ? kPointsPerBinade : kDerivativePointsPerBinade);
  const int64_t n = int64_t(x.size());
  std::vector<float> in_float(x.size()), in_double(x.size());
  // A formula may throw on inputs the caller never gives it; one that does
  // on the grid cannot be measured, and keeps the double evaluation.
  try {
    g.map_float_in_float(order, x.data(), nullptr, in_float.data(), n, attrs);
    g.map_float(order, x.data(), nullptr, in_double.data(), n, attrs);
  } catch (...) {
    report.threw = true;
    report.max_ulps_beyond_allowance = std::numeric_limits<double>::infinity();
    return report;
  }
  report.points = int(n);
  auto note = [&](double beyond, float at) {
    if (beyond > report.max_ulps_beyond_allowance) {
      report.max_ulps_beyond_allowance = beyond;
      report.worst_x = at;
    }
  };
  for (int64_t i = 0; i < n; ++i) {
    const float fast = in_float[i], careful = in_double[i];
    if (!std::isfinite(x[i]) || !std::isfinite(careful)) {
      if (!SameFloat(fast, careful)) note(std::numeric_limits<double>::infinity(), x[i]);
      continue;
    }
    HyperDual<long double> exact;
    try {
      exact = g.wide_hyper_dual(HyperDual<long double>::Variable(x[i]), attrs);
    } catch (...) {
      report.threw = true;
      note(std::numeric_limits<double>::infinity(), x[i]);
      continue;
    }
    const long double reference = order == 0 ? exact.value.value : FirstDerivative(exact);
    if (!std::isfinite(reference) || std::fabs(reference) > std::numeric_limits<float>::max()) {
      if (!SameFloat(fast, careful)) note(std::numeric_limits<double>::infinity(), x[i]);
      continue;
    }
    if (!std::isfinite(fast)) {
      note(std::numeric_limits<double>::infinity(), x[i]);
      continue;
    }
    long double allowance = 0;
    // A derivative is judged as the derivative oracle judges the built-in
    // kernels': beyond what the input's rounding would move it by.
    if (order == 1) {
      const long double second = SecondDerivative(exact);
      if (std::isfinite(second)) {
        allowance = FloatEvaluationReport::kDerivativeAllowance * std::fabs(x[i]) * kFloatRoundoff *
                    std::fabs(second);
      }
    }
    // Below the normal range a result holds fewer digits: half of them must
    // be right, and in the lowest subnormals it may flush to zero.
    if (std::fabs(reference) < kSmallestNormal) {
      allowance += std::sqrt(std::fabs(reference) * kSmallestSubnormal);
      if (std::fabs(reference) < kSmallestSubnormal * 0x1p12L) allowance += std::fabs(reference);
    }
    const long double ulp = FloatUlp(reference);
    const long double beyond = std::fabs(fast - reference) / ulp - allowance / ulp;
    if (beyond > 0) note(double(beyond), x[i]);
  }
  return report;
}

bool EvaluatesInFloat(const GenericFormula& g, int order, const Attrs& attrs) {
  if (g.map_float_in_float == nullptr || order < 0 || order > 1) return false;
  // The attributes a formula may read, by their bits: unset parameters are
  // NaN, which compares unequal to itself.
  constexpr int kReals = Attrs::kMaxParams + 5;
  std::array<double, kReals> reals;
  std::copy(attrs.params.begin(), attrs.params.end(), reals.begin());
  const std::array<double, 5> others = {attrs.alpha, attrs.grad_at_zero, attrs.exponent, attrs.min,
                                        attrs.max};
  std::copy(others.begin(), others.end(), reals.begin() + Attrs::kMaxParams);
  using Key = std::tuple<const GenericFormula*, int, std::array<uint64_t, kReals>>;
  Key key{&g, order, {}};
  std::memcpy(std::get<2>(key).data(), reals.data(), sizeof(reals));
  static std::mutex mutex;
  static auto* decided = new absl::flat_hash_map<Key, bool>();
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (auto it = decided->find(key); it != decided->end()) return it->second;
    if (decided->size() >= 4096) return false;
  }
  const bool accurate = MeasureFloatEvaluation(g, order, attrs).accurate();
  std::lock_guard<std::mutex> lock(mutex);
  decided->emplace(key, accurate);
  return accurate;
}

}  // namespace actgrad::internal
