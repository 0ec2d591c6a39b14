#include "check/op_check.h"

#include <algorithm>
#include <cmath>

namespace actgrad {

namespace {

// Same inputs, value for value: the case does not come from random draws.
bool SameInputs(const GradCheckCase& a, const GradCheckCase& b) {
  if (a.inputs.size() != b.inputs.size()) return false;
  for (size_t k = 0; k < a.inputs.size(); ++k) {
    const Tensor& x = a.inputs[k];
    const Tensor& y = b.inputs[k];
    if (x.defined() != y.defined()) return false;
    if (!x.defined()) continue;
    if (x.dtype() != y.dtype() || !(x.shape() == y.shape()) || x.ToVector() != y.ToVector()) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool IsFlat(const GradCheckReport& report) { return report.verdict == "all gradients are zero"; }

WorstElement FindWorstElement(const std::vector<OpCaseResult>& cases,
                              const GradCheckOptions& options) {
  WorstElement worst;
  double worst_badness = -1;
  for (const OpCaseResult& c : cases) {
    if (c.report.worst.empty()) continue;
    const double b = internal::Badness(c.report.worst.front(), options);
    if (b > worst_badness) {
      worst_badness = b;
      worst = {&c, &c.report.worst.front()};
    }
  }
  return worst;
}

GradCheckReport CheckOpCase(const OpDef& op, const GradCheckCase& c, GradCheckOptions options) {
  options.kinks.insert(options.kinks.end(), op.kinks.begin(), op.kinks.end());
  options.kinks.insert(options.kinks.end(), c.kinks.begin(), c.kinks.end());
  if (op.kinks_at != nullptr) {
    const std::vector<double> at = op.kinks_at(c.attrs);
    options.kinks.insert(options.kinks.end(), at.begin(), at.end());
  }
  const Attrs attrs = c.attrs;
  return GradCheck(
      [&op, attrs](std::span<const Tensor> inputs) { return Apply(op, inputs, attrs); }, c.inputs,
      options);
}

std::vector<GradCheckCase> DrawCheckCases(const OpDef& op, Generator& gen, const Attrs& attrs) {
  std::vector<GradCheckCase> cases = op.check_cases(gen);
  for (GradCheckCase& c : cases) {
    for (size_t k = 0; k < c.attrs.params.size(); ++k) {
      if (std::isnan(c.attrs.params[k])) c.attrs.params[k] = attrs.params[k];
    }
  }
  return cases;
}

OpCheckResult CheckOp(const OpDef& op, uint64_t seed, const GradCheckOptions& options,
                      const Attrs& attrs) {
  OpCheckResult result;
  if (op.check_cases == nullptr) return result;
  Generator gen(seed);
  std::vector<GradCheckCase> cases = DrawCheckCases(op, gen, attrs);
  bool all_passed = true;
  for (size_t i = 0; i < cases.size(); ++i) {
    OpCaseResult r{cases[i].description, CheckOpCase(op, cases[i], options)};
    // A flat case is drawn again with the rest of the row's cases, from the
    // same generator; the same values again mean a fixed case.
    while (IsFlat(r.report) && r.redraws < kFlatRedraws) {
      std::vector<GradCheckCase> again = DrawCheckCases(op, gen, attrs);
      if (again.size() != cases.size() || again[i].description != cases[i].description ||
          SameInputs(again[i], cases[i])) {
        break;
      }
      r.report = CheckOpCase(op, again[i], options);
      ++r.redraws;
    }
    r.uninformative = IsFlat(r.report);
    result.uninformative += r.uninformative ? 1 : 0;
    all_passed &= r.report.passed || r.uninformative;
    result.max_abs_error = std::max(result.max_abs_error, r.report.max_abs_error);
    result.max_rel_error = std::max(result.max_rel_error, r.report.max_rel_error);
    result.checked += r.report.checked;
    result.cases.push_back(std::move(r));
  }
  result.passed = all_passed && result.uninformative < static_cast<int64_t>(result.cases.size());
  return result;
}

}  // namespace actgrad
