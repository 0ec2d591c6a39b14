#include "check/plugin_check.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "check/conformance.h"
#include "ops/plugin.h"

namespace actgrad {

namespace {

std::string ElementText(const std::string& where, const ElementCheck& e) {
  return absl::StrFormat("%s, input %d %s (x=%.6g): analytic %.10g, numeric %.10g (abs error %.3g)",
                         where, e.input, e.index, e.x, e.analytic, e.numeric, e.abs_error);
}

}  // namespace

absl::Status VerifyTensorOp(const OpDef& op) {
  ConformanceOptions options;
  options.second_order = true;
  const ConformanceReport report = CheckConformance(op, options);
  if (report.passed) return absl::OkStatus();
  std::string why = absl::StrJoin(report.failures, "; ");
  if (report.worst.has_value() && !report.worst->passed) {
    absl::StrAppend(&why, "; worst element: ",
                    ElementText("first derivative, " + report.worst_case, *report.worst));
  }
  if (report.second_order_worst.has_value() && !report.second_order_worst->passed) {
    absl::StrAppend(&why, "; worst element: ",
                    ElementText("second derivative, " + report.second_order_worst_case,
                                *report.second_order_worst));
  }
  return absl::InvalidArgumentError(why);
}

absl::StatusOr<std::vector<const OpDef*>> LoadCheckedPlugin(const std::string& path) {
  return LoadPlugin(path, {.verify_tensor_op = &VerifyTensorOp});
}

}  // namespace actgrad
