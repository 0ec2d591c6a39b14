#include "check/forward_mode_check.h"

#include <algorithm>
#include <cmath>
#include <exception>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "check/op_check.h"
#include "graph/factories.h"
#include "graph/grad_mode.h"
#include "ops/autodiff.h"

namespace actgrad {

namespace {

bool IsDifferentiableInput(const OpDef& op, size_t i) {
  return i >= 32 || ((op.non_differentiable >> i) & 1u) == 0;
}

struct Dot {
  long double value = 0;
  long double magnitude = 0;
};

Dot DotProduct(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.ToVector();
  const std::vector<double> y = b.ToVector();
  Dot dot;
  for (size_t i = 0; i < x.size(); ++i) {
    const long double term = static_cast<long double>(x[i]) * y[i];
    dot.value += term;
    dot.magnitude += std::fabs(term);
  }
  return dot;
}

double RelativeGap(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.ToVector();
  const std::vector<double> y = b.ToVector();
  double gap = 0, scale = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    gap = std::max(gap, std::fabs(x[i] - y[i]));
    scale = std::max(scale, std::fabs(x[i]));
  }
  if (gap == 0) return 0;
  return scale > 0 ? gap / scale : gap;
}

Tensor JvpOf(const OpDef& op, const GradCheckCase& c, std::span<const Tensor> tangents) {
  const TensorFunction f = [&](std::span<const Tensor> in) { return Apply(op, in, c.attrs); };
  return Jvp(f, c.inputs, tangents).tangent;
}

ForwardReverseCase CheckCase(const OpDef& op, const GradCheckCase& c, Generator& gen) {
  ForwardReverseCase result{.description = c.description};
  const size_t n = c.inputs.size();
  std::vector<Tensor> tangents(n);
  std::vector<Tensor> wrt;
  std::vector<size_t> wrt_index;
  std::vector<Tensor> reverse_inputs(c.inputs.begin(), c.inputs.end());
  for (size_t i = 0; i < n; ++i) {
    if (!IsDifferentiableInput(op, i) || !IsFloating(c.inputs[i].dtype())) continue;
    tangents[i] = Normal(c.inputs[i].shape(), 0.0, 1.0, gen, c.inputs[i].dtype());
    reverse_inputs[i] = c.inputs[i].Clone();
    reverse_inputs[i].set_requires_grad(true);
    wrt.push_back(reverse_inputs[i]);
    wrt_index.push_back(i);
  }
  const Tensor jv = JvpOf(op, c, tangents);

  GradModeGuard recording(true);
  const Tensor y = Apply(op, reverse_inputs, c.attrs);
  const Tensor u = Normal(y.shape(), 0.0, 1.0, gen, y.dtype());
  const Dot forward = DotProduct(u, jv);
  Dot reverse;
  if (!wrt.empty() && y.requires_grad()) {
    const std::vector<Tensor> grads = Grad(y, wrt, u);
    for (size_t k = 0; k < grads.size(); ++k) {
      const Dot d = DotProduct(grads[k], tangents[wrt_index[k]]);
      reverse.value += d.value;
      reverse.magnitude += d.magnitude;
    }
  }
  result.forward = static_cast<double>(forward.value);
  result.reverse = static_cast<double>(reverse.value);
  const long double scale = forward.magnitude + reverse.magnitude;
  const long double gap = std::fabs(forward.value - reverse.value);
  result.discrepancy = gap == 0 ? 0.0 : static_cast<double>(scale > 0 ? gap / scale : gap);

  if (JvpSourceOf(op) == JvpSource::kRow) {
    // The same row without its own rule: its recorded backward, transposed.
    const internal::TransposedJvpOnly transposed;
    result.row_against_transposed = RelativeGap(jv, JvpOf(op, c, tangents));
  }
  return result;
}

}  // namespace

std::string ForwardReverseCheck::ToString() const {
  if (!error.empty()) {
    return absl::StrCat("forward mode (", JvpSourceName(source), "): FAILED to run: ", error);
  }
  std::string out =
      absl::StrFormat("forward mode (%s): %d cases, agrees with reverse to %.1e (limit %.0e)%s",
                      JvpSourceName(source), cases.size(), worst, kForwardReverseLimit,
                      passed ? "" : absl::StrCat(", FAILED in case ", worst_case));
  return out;
}

ForwardReverseCheck CheckForwardAgainstReverse(const OpDef& op, uint64_t seed, const Attrs& attrs) {
  ForwardReverseCheck check{.op = std::string(op.name), .source = JvpSourceOf(op)};
  if (op.check_cases == nullptr) {
    check.error = "the row has no check cases";
    return check;
  }
  Generator gen(seed);
  try {
    for (const GradCheckCase& c : DrawCheckCases(op, gen, attrs)) {
      ForwardReverseCase r = CheckCase(op, c, gen);
      double worst = r.discrepancy;
      if (!std::isnan(r.row_against_transposed)) worst = std::max(worst, r.row_against_transposed);
      if (!(worst <= check.worst)) {
        check.worst = std::isnan(worst) ? std::numeric_limits<double>::infinity() : worst;
        check.worst_case = r.description;
      }
      check.cases.push_back(std::move(r));
    }
  } catch (const std::exception& e) {
    check.error = e.what();
    return check;
  }
  check.passed = !check.cases.empty() && check.worst <= kForwardReverseLimit;
  return check;
}

}  // namespace actgrad
