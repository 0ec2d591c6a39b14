#include "check/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "graph/factories.h"
#include "graph/grad_mode.h"
#include "ops/functional.h"

namespace actgrad {

namespace {

double Dot(const Tensor& a, const Tensor& b) {
  const double* pa = a.data<double>();
  const double* pb = b.data<double>();
  double sum = 0;
  for (int64_t i = 0; i < a.numel(); ++i) sum += pa[i] * pb[i];
  return sum;
}

// Central differences per element, at steps h, h/2, ..., h/2^(kLadder-1).
constexpr int kLadder = 5;

bool NearKink(double x, double h, const std::vector<double>& kinks) {
  for (double k : kinks) {
    if (std::abs(x - k) <= h) return true;
  }
  return false;
}

// Least-squares slope of log(r) against log(h).
double FittedOrder(const std::vector<double>& h, const std::vector<double>& r) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  const double n = static_cast<double>(h.size());
  for (size_t i = 0; i < h.size(); ++i) {
    const double lx = std::log(h[i]), ly = std::log(r[i]);
    sx += lx;
    sy += ly;
    sxx += lx * lx;
    sxy += lx * ly;
  }
  return (n * sxy - sx * sy) / (n * sxx - sx * sx);
}

// Where f's value is not finite: its first such element, and the input
// there when the output has the first input's shape.
std::string NonFiniteOutput(const TensorFunction& f, std::span<const Tensor> x) {
  NoGradGuard values_only;
  const Tensor y = f(x);
  const std::vector<double> values = y.ToVector();
  for (size_t k = 0; k < values.size(); ++k) {
    if (std::isfinite(values[k])) continue;
    const int64_t flat = static_cast<int64_t>(k);
    std::string out =
        absl::StrFormat("output %s = %s", internal::IndexString(y.shape(), flat),
                        std::isnan(values[k]) ? "nan" : absl::StrFormat("%g", values[k]));
    if (!x.empty() && x[0].defined() && IsFloating(x[0].dtype()) && x[0].shape() == y.shape()) {
      absl::StrAppendFormat(&out, " at input 0 %s, x=%.6g", internal::IndexString(y.shape(), flat),
                            x[0].ToVector()[k]);
    }
    return out;
  }
  return "";
}

}  // namespace

std::string GradCheckReport::ToString() const {
  std::string out = absl::StrFormat(
      "gradcheck: %s (%s): %d elements checked, %d skipped near kinks, %d outside "
      "tolerance; max abs error %.3g, max rel error %.3g; taylor order %.2f\n",
      passed ? "passed" : "FAILED", verdict, checked, skipped, failed, max_abs_error, max_rel_error,
      taylor_order);
  if (!non_finite_output.empty()) absl::StrAppend(&out, "  ", non_finite_output, "\n");
  for (const ElementCheck& e : worst) {
    absl::StrAppendFormat(&out,
                          "  %s input %d %s  x=%.6g  analytic=%.10g  numeric=%.10g  "
                          "abs=%.3g  rel=%.3g\n",
                          e.passed ? "ok  " : "FAIL", e.input, e.index, e.x, e.analytic, e.numeric,
                          e.abs_error, e.rel_error);
  }
  return out;
}

GradCheckReport GradCheck(const TensorFunction& f, std::span<const Tensor> inputs,
                          const GradCheckOptions& options) {
  GradCheckReport report;
  GradModeGuard recording(true);

  std::vector<Tensor> x;
  std::vector<bool> differentiable;
  for (const Tensor& input : inputs) {
    const bool floating = input.defined() && IsFloating(input.dtype());
    x.push_back(floating ? ToDType(input, DType::kFloat64) : input);
    if (floating) x.back().set_requires_grad(true);
    differentiable.push_back(floating);
  }
  if (std::none_of(differentiable.begin(), differentiable.end(), [](bool d) { return d; })) {
    report.verdict = "no input requires a gradient";
    return report;
  }

  const Tensor y = f(x);
  ACTGRAD_REQUIRE(y.defined() && y.dtype() == DType::kFloat64, std::source_location::current(),
                  "GradCheck: the function must return a float64 tensor for float64 inputs");
  Generator gen(options.seed);
  const Tensor weights = Normal(y.shape(), 0.0, 1.0, gen, DType::kFloat64);
  if (y.requires_grad()) y.Backward(weights);

  auto loss = [&]() {
    NoGradGuard values_only;
    return Dot(f(x), weights);
  };
  const double base = loss();
  if (!std::isfinite(base)) {
    report.verdict = "non-finite values";
    report.non_finite_output = NonFiniteOutput(f, x);
    return report;
  }

  std::vector<ElementCheck> all;
  std::vector<std::vector<double>> analytic(x.size());
  bool finite = true;
  for (size_t i = 0; i < x.size(); ++i) {
    if (!differentiable[i]) continue;
    const Tensor& g = x[i].grad();
    analytic[i] = g.defined() ? g.ToVector() : std::vector<double>(x[i].numel(), 0.0);
    double* values = x[i].data<double>();
    for (int64_t j = 0; j < x[i].numel(); ++j) {
      const double x0 = values[j];
      const double h = options.step * std::max(1.0, std::abs(x0));
      if (NearKink(x0, h, options.kinks)) {
        ++report.skipped;
        continue;
      }
      auto central = [&](double step) {
        values[j] = x0 + step;
        const double up = loss();
        values[j] = x0 - step;
        const double down = loss();
        values[j] = x0;
        return (up - down) / (2 * step);
      };
      const double numeric = internal::RichardsonDerivative(central, h);
      ElementCheck e;
      e.input = static_cast<int>(i);
      e.flat_index = j;
      e.x = x0;
      e.analytic = analytic[i][j];
      e.numeric = numeric;
      finite &= std::isfinite(e.analytic) && std::isfinite(e.numeric);
      e.abs_error = std::abs(e.analytic - e.numeric);
      const double scale = std::max(std::abs(e.analytic), std::abs(e.numeric));
      e.rel_error = scale > 0 || std::isnan(scale) ? e.abs_error / scale : 0.0;
      e.passed = e.abs_error <= options.atol + options.rtol * scale;
      all.push_back(e);
    }
  }

  report.checked = static_cast<int64_t>(all.size());
  double largest = 0;
  for (const ElementCheck& e : all) {
    report.max_abs_error = std::max(report.max_abs_error, e.abs_error);
    report.max_rel_error = std::max(report.max_rel_error, e.rel_error);
    report.failed += e.passed ? 0 : 1;
    largest = std::max({largest, std::abs(e.analytic), std::abs(e.numeric)});
  }
  // Worst first, by how far each element is from its tolerance.
  std::sort(all.begin(), all.end(), [&](const ElementCheck& a, const ElementCheck& b) {
    return internal::Badness(a, options) > internal::Badness(b, options);
  });
  for (size_t k = 0; k < all.size() && k < static_cast<size_t>(options.max_reported); ++k) {
    all[k].index = internal::IndexString(x[all[k].input].shape(), all[k].flat_index);
    report.worst.push_back(all[k]);
  }

  // Taylor remainder along a random direction that keeps clear of kinks.
  {
    constexpr double kSteps[] = {1e-2, 5e-3, 2.5e-3, 1.25e-3};
    std::vector<std::vector<double>> direction(x.size());
    double slope = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      if (!differentiable[i]) continue;
      const double* values = x[i].data<double>();
      for (int64_t j = 0; j < x[i].numel(); ++j) {
        double v = gen.NextNormal();
        if (NearKink(values[j], 4 * kSteps[0] * std::max(1.0, std::abs(v)), options.kinks)) {
          v = 0;
        }
        direction[i].push_back(v);
        slope += v * analytic[i][j];
      }
    }
    auto moved = [&](double h) {
      std::vector<std::vector<double>> saved(x.size());
      for (size_t i = 0; i < x.size(); ++i) {
        if (!differentiable[i]) continue;
        double* values = x[i].data<double>();
        saved[i].assign(values, values + x[i].numel());
        for (int64_t j = 0; j < x[i].numel(); ++j) values[j] += h * direction[i][j];
      }
      const double value = loss();
      for (size_t i = 0; i < x.size(); ++i) {
        if (differentiable[i]) std::copy(saved[i].begin(), saved[i].end(), x[i].data<double>());
      }
      return value;
    };
    std::vector<double> steps, remainders;
    const double noise = 1e-12 * std::max(1.0, std::abs(base));
    for (double h : kSteps) {
      const double r = std::abs(moved(h) - base - h * slope);
      if (r > 100 * noise) {
        steps.push_back(h);
        remainders.push_back(r);
      }
    }
    report.taylor_order = steps.size() >= 3 ? FittedOrder(steps, remainders)
                                            : std::numeric_limits<double>::quiet_NaN();
  }

  if (!finite) {
    report.verdict = "non-finite values";
  } else if (report.checked == 0) {
    report.verdict = "every element sits on a kink";
  } else if (largest <= options.atol) {
    report.verdict = "all gradients are zero";
  } else if (report.failed > 0) {
    report.verdict = "mismatch";
  } else {
    report.verdict = "ok";
    report.passed = true;
  }
  return report;
}

GradCheckReport GradCheckSecondOrder(const TensorFunction& f, std::span<const Tensor> inputs,
                                     const GradCheckOptions& options) {
  // The weighting of f's output, fixed across evaluations.
  Tensor weights;
  {
    NoGradGuard values_only;
    std::vector<Tensor> wide;
    for (const Tensor& input : inputs) {
      wide.push_back(input.defined() && IsFloating(input.dtype()) ? ToDType(input, DType::kFloat64)
                                                                  : input);
    }
    Generator gen(options.seed + 1);
    weights = Normal(f(wide).shape(), 0.0, 1.0, gen, DType::kFloat64);
  }
  auto first_derivative = [&](std::span<const Tensor> in) {
    // Recorded only when the checker itself differentiates this function;
    // its finite differences need plain values.
    const bool differentiate = IsGradEnabled();
    GradModeGuard recording(true);
    std::vector<Tensor> wrt;
    for (const Tensor& t : in) {
      if (t.requires_grad()) wrt.push_back(t);
    }
    const Tensor y = f(in);
    std::vector<Tensor> parts;
    for (const Tensor& g : Grad(y, wrt, weights, {.create_graph = differentiate})) {
      parts.push_back(Reshape(g, {-1}));
    }
    return parts.size() == 1 ? parts[0] : Concatenate(parts, 0);
  };
  return GradCheck(first_derivative, inputs, options);
}

namespace internal {

double RichardsonDerivative(const std::function<double(double step)>& central, double h) {
  // The error of a central difference is of order h^2, but of order h where
  // f'' jumps (a C^1 function such as softsign at 0): both extrapolations
  // are tried.
  double differences[kLadder];
  for (int k = 0; k < kLadder; ++k) differences[k] = central(h / double(1 << k));
  double numeric = (4 * differences[kLadder - 1] - differences[kLadder - 2]) / 3;
  double best_gap = std::numeric_limits<double>::infinity();
  for (const double factor : {4.0, 2.0}) {
    double extrapolated[kLadder - 1];
    for (int k = 0; k + 1 < kLadder; ++k) {
      extrapolated[k] = (factor * differences[k + 1] - differences[k]) / (factor - 1);
    }
    for (int k = 0; k + 2 < kLadder; ++k) {
      const double gap = std::abs(extrapolated[k + 1] - extrapolated[k]);
      if (gap < best_gap) {
        best_gap = gap;
        numeric = extrapolated[k + 1];
      }
    }
  }
  return numeric;
}

double Badness(const ElementCheck& e, const GradCheckOptions& options) {
  if (std::isnan(e.abs_error) || std::isinf(e.abs_error)) {
    return std::numeric_limits<double>::infinity();
  }
  return e.abs_error /
         (options.atol + options.rtol * std::max(std::abs(e.analytic), std::abs(e.numeric)));
}

std::string IndexString(const Shape& shape, int64_t flat) {
  std::vector<int64_t> index(shape.rank());
  for (int d = shape.rank() - 1; d >= 0; --d) {
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
  return absl::StrCat("[", absl::StrJoin(index, ","), "]");
}

}  // namespace internal
}  // namespace actgrad
