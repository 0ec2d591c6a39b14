#include "check/op_check.h"

#include <algorithm>

namespace actgrad {

GradCheckReport CheckOpCase(const OpDef& op, const GradCheckCase& c, GradCheckOptions options) {
  options.kinks.insert(options.kinks.end(), op.kinks.begin(), op.kinks.end());
  options.kinks.insert(options.kinks.end(), c.kinks.begin(), c.kinks.end());
  const Attrs attrs = c.attrs;
  return GradCheck(
      [&op, attrs](std::span<const Tensor> inputs) { return Apply(op, inputs, attrs); }, c.inputs,
      options);
}

OpCheckResult CheckOp(const OpDef& op, uint64_t seed, const GradCheckOptions& options) {
  OpCheckResult result;
  if (op.check_cases == nullptr) return result;
  Generator gen(seed);
  result.passed = true;
  for (GradCheckCase& c : op.check_cases(gen)) {
    GradCheckReport report = CheckOpCase(op, c, options);
    result.passed &= report.passed;
    result.max_abs_error = std::max(result.max_abs_error, report.max_abs_error);
    result.max_rel_error = std::max(result.max_rel_error, report.max_rel_error);
    result.checked += report.checked;
    result.cases.push_back({std::move(c.description), std::move(report)});
  }
  result.passed &= !result.cases.empty();
  return result;
}

}  // namespace actgrad
