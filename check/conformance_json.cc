#include "check/conformance_json.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "io/json_writer.h"

namespace actgrad {

namespace {

using io::JsonNumber;
using io::JsonString;

// Special values (inf, NaN) have no JSON number; inputs and values that can
// be special print as strings.
std::string JsonValueString(double v) {
  return JsonString(std::isnan(v) ? "nan" : absl::StrFormat("%g", v));
}
std::string JsonBool(bool b) { return b ? "true" : "false"; }

}  // namespace

std::string ConformanceJson(const ConformanceReport& r) {
  std::string out = absl::StrFormat(
      "{\"name\": %s, \"passed\": %s, \"cases\": %d, \"elements\": %d, \"max_abs_error\": %s, "
      "\"max_rel_error\": %s",
      JsonString(r.name), JsonBool(r.passed), r.cases.cases.size(), r.cases.checked,
      JsonNumber(r.cases.max_abs_error), JsonNumber(r.cases.max_rel_error));
  absl::StrAppendFormat(&out,
                        ",\n   \"kind\": %s, \"taylor_order\": %s, \"taylor_case\": %s, "
                        "\"failures\": [",
                        JsonString(r.kind == OpKind::kActivation ? "activation" : "op"),
                        JsonNumber(r.taylor_order), JsonString(r.taylor_case));
  for (size_t i = 0; i < r.failures.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ", ", JsonString(r.failures[i]));
  }
  absl::StrAppend(&out, "],\n   \"worst\": ");
  if (r.worst.has_value()) {
    const ElementCheck& e = *r.worst;
    absl::StrAppendFormat(
        &out,
        "{\"case\": %s, \"input\": %d, \"index\": %s, \"x\": %s, \"analytic\": "
        "%s, \"numeric\": %s, \"abs_error\": %s, \"rel_error\": %s, "
        "\"passed\": %s, \"derivative\": %s, \"numeric_derivative\": %s}",
        JsonString(r.worst_case), e.input, JsonString(e.index), JsonNumber(e.x),
        JsonNumber(e.analytic), JsonNumber(e.numeric), JsonNumber(e.abs_error),
        JsonNumber(e.rel_error), JsonBool(e.passed),
        r.worst_derivative ? JsonNumber(*r.worst_derivative) : "null",
        r.worst_numeric_derivative ? JsonNumber(*r.worst_numeric_derivative) : "null");
  } else {
    absl::StrAppend(&out, "null");
  }
  absl::StrAppend(&out, ",\n   \"grid\": ");
  if (r.grid.has_value()) {
    absl::StrAppendFormat(&out,
                          "{\"passed\": %s, \"checked\": %d, \"skipped\": %d, \"max_abs_error\": "
                          "%s, \"max_rel_error\": %s}",
                          JsonBool(r.grid->passed), r.grid->checked, r.grid->skipped,
                          JsonNumber(r.grid->max_abs_error), JsonNumber(r.grid->max_rel_error));
  } else {
    absl::StrAppend(&out, "null");
  }
  absl::StrAppend(&out, ",\n   \"second_order\": ");
  if (r.second_order_checked) {
    bool passed = true;
    int64_t checked = 0, zero = 0;
    double max_rel = 0;
    for (const OpCaseResult& c : r.second_order) {
      const bool zero_case = c.report.verdict == "all gradients are zero" ||
                             c.report.verdict == "every element sits on a kink";
      passed &= c.report.passed || zero_case;
      zero += zero_case ? 1 : 0;
      checked += c.report.checked;
      max_rel = std::max(max_rel, c.report.max_rel_error);
    }
    absl::StrAppendFormat(&out,
                          "{\"passed\": %s, \"cases\": %d, \"elements\": %d, \"max_rel_error\": "
                          "%s, \"zero_cases\": %d}",
                          JsonBool(passed), r.second_order.size(), checked, JsonNumber(max_rel),
                          zero);
  } else {
    absl::StrAppend(&out, "null");
  }
  absl::StrAppendFormat(
      &out,
      ",\n   \"float32\": {\"forward_max_rel_error\": %s, \"forward_worst\": %s, "
      "\"derivative_max_rel_error\": %s, \"derivative_worst\": %s, \"compared\": %d}",
      JsonNumber(r.float32.forward_max_rel_error), JsonString(r.float32.forward_worst),
      JsonNumber(r.float32.derivative_max_rel_error), JsonString(r.float32.derivative_worst),
      r.float32.compared);
  absl::StrAppend(&out, ",\n   \"finiteness\": ");
  if (r.finiteness_checked) {
    bool passed = true;
    std::vector<std::string> problems;
    for (const FinitenessProblem& p : r.finiteness) {
      passed &= !p.fatal;
      problems.push_back(absl::StrFormat(
          "{\"x\": %s, \"dtype\": %s, \"quantity\": %s, \"value\": %s, \"why\": %s, \"fatal\": "
          "%s, \"similar\": %d}",
          JsonValueString(p.x), JsonString(p.dtype), JsonString(p.quantity),
          JsonValueString(p.value), JsonString(p.why), JsonBool(p.fatal), p.similar));
    }
    absl::StrAppendFormat(&out, "{\"passed\": %s, \"problems\": [%s]}", JsonBool(passed),
                          absl::StrJoin(problems, ", "));
  } else {
    absl::StrAppend(&out, "null");
  }
  absl::StrAppend(&out, ",\n   \"activation\": ");
  if (r.figures.has_value()) {
    const ActivationFigures& f = *r.figures;
    absl::StrAppendFormat(
        &out,
        "{\"range\": [%s, %s], \"monotonicity\": %s, \"derivative_at_zero\": %s, "
        "\"zero_is_kink\": %s, \"normal_mean\": %s, \"normal_mean_stderr\": %s, "
        "\"zero_centred\": %s, \"saturated_fraction\": %s, \"estimated_gain\": %s, "
        "\"row_gain\": %s}",
        JsonNumber(f.range_min), JsonNumber(f.range_max),
        JsonString(MonotonicityName(f.monotonicity)), JsonNumber(f.derivative_at_zero),
        JsonBool(f.zero_is_kink), JsonNumber(f.normal_mean), JsonNumber(f.normal_mean_stderr),
        JsonBool(f.zero_centred), JsonNumber(f.saturated_fraction), JsonNumber(f.estimated_gain),
        f.row_gain ? JsonNumber(*f.row_gain) : std::string("null"));
  } else {
    absl::StrAppend(&out, "null");
  }
  return out + "}";
}

}  // namespace actgrad
