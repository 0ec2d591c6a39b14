#include "check/conformance_json.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "io/json.h"

namespace actgrad {

namespace {

// Special values (inf, NaN) have no JSON number; inputs and values that can
// be special print as strings.
std::string ValueString(double v) { return std::isnan(v) ? "nan" : absl::StrFormat("%g", v); }

// A value that may be special: a number when finite, else "nan", "inf" or
// "-inf" (a NaN derivative is the point of the report that names it).
void MaybeSpecial(io::JsonWriter& out, double v) {
  if (std::isfinite(v)) {
    out.Number(v);
  } else {
    out.String(ValueString(v));
  }
}

// `v` when there is one (MaybeSpecial), else null.
void OptionalNumber(io::JsonWriter& out, const std::optional<double>& v) {
  if (v.has_value()) {
    MaybeSpecial(out, *v);
  } else {
    out.Null();
  }
}

// One checked element, where it was, and f' or f'' itself when known.
void Element(io::JsonWriter& out, const ElementCheck& e, const std::string& where,
             const std::optional<double>& derivative,
             const std::optional<double>& numeric_derivative) {
  out.BeginObject().Key("case").String(where).Key("input").Int(e.input).Key("index").String(
      e.index);
  out.Key("x");
  MaybeSpecial(out, e.x);
  out.Key("analytic");
  MaybeSpecial(out, e.analytic);
  out.Key("numeric");
  MaybeSpecial(out, e.numeric);
  out.Key("abs_error");
  MaybeSpecial(out, e.abs_error);
  out.Key("rel_error");
  MaybeSpecial(out, e.rel_error);
  out.Key("passed").Bool(e.passed).Key("derivative");
  OptionalNumber(out, derivative);
  out.Key("numeric_derivative");
  OptionalNumber(out, numeric_derivative);
  out.EndObject();
}

// One quantity of an oracle report, with its worst point.
void UlpJson(io::JsonWriter& out, const UlpSummary& s) {
  out.BeginObject().Key("compared").Int(s.compared).Key("failed").Int(s.failed);
  out.Key("undefined").Int(s.undefined).Key("max_ulps");
  MaybeSpecial(out, s.max_ulps);
  out.Key("max_ulps_beyond_allowance");
  MaybeSpecial(out, s.max_ulps_beyond_allowance);
  out.Key("worst").BeginObject().Key("x");
  MaybeSpecial(out, s.worst_x);
  out.Key("row");
  MaybeSpecial(out, s.worst_value);
  out.Key("exact");
  MaybeSpecial(out, static_cast<double>(s.worst_reference));
  out.Key("ulps");
  MaybeSpecial(out, s.worst_ulps);
  out.Key("allowed_ulps");
  MaybeSpecial(out, s.worst_allowed_ulps);
  out.EndObject().EndObject();
}

// The derivative oracle's reports, one per dtype.
void ExactJson(io::JsonWriter& out, const std::vector<OracleReport>& reports) {
  out.BeginArray();
  for (const OracleReport& e : reports) {
    out.BeginObject()
        .Key("dtype")
        .String(DTypeName(e.dtype))
        .Key("passed")
        .Bool(e.passed)
        .Key("points")
        .Int(e.points)
        .Key("failures")
        .BeginArray();
    for (const std::string& f : e.failures) out.String(f);
    out.EndArray().Key("forward");
    UlpJson(out, e.forward);
    out.Key("derivative");
    UlpJson(out, e.derivative);
    out.Key("second_derivative");
    if (e.second_derivative.has_value()) {
      UlpJson(out, *e.second_derivative);
    } else {
      out.Null();
    }
    out.Key("kinks").BeginArray();
    for (const KinkConvention& k : e.kinks) {
      out.BeginObject().Key("x");
      MaybeSpecial(out, k.kink);
      out.Key("quantity").String(k.quantity).Key("chosen");
      MaybeSpecial(out, k.chosen);
      out.Key("left_limit");
      MaybeSpecial(out, static_cast<double>(k.left_limit));
      out.Key("right_limit");
      MaybeSpecial(out, static_cast<double>(k.right_limit));
      out.Key("between").Bool(k.between).EndObject();
    }
    out.EndArray().Key("problems").BeginArray();
    for (const OracleProblem& p : e.problems) {
      out.BeginObject().Key("x");
      MaybeSpecial(out, p.x);
      out.Key("quantity").String(p.quantity).Key("value");
      MaybeSpecial(out, p.value);
      out.Key("exact");
      MaybeSpecial(out, static_cast<double>(p.reference));
      out.Key("why").String(p.why).EndObject();
    }
    out.EndArray().EndObject();
  }
  out.EndArray();
}

}  // namespace

std::string ConformanceJson(const ConformanceReport& r) {
  io::JsonWriter out;
  out.BeginObject()
      .Key("name")
      .String(r.name)
      .Key("passed")
      .Bool(r.passed)
      .Key("cases")
      .Int(static_cast<int64_t>(r.cases.cases.size()))
      .Key("elements")
      .Int(r.cases.checked)
      .Key("max_abs_error")
      .Number(r.cases.max_abs_error)
      .Key("max_rel_error")
      .Number(r.cases.max_rel_error);
  out.Key("kind")
      .String(r.kind == OpKind::kActivation ? "activation" : "op")
      .Key("taylor_order")
      .Number(r.taylor_order)
      .Key("taylor_case")
      .String(r.taylor_case)
      .Key("failures")
      .BeginArray();
  for (const std::string& failure : r.failures) out.String(failure);
  out.EndArray();

  // Random cases in which both gradients were zero throughout, even redrawn.
  out.Key("uninformative_cases").Int(r.cases.uninformative).Key("uninformative").BeginArray();
  for (const OpCaseResult& c : r.cases.cases) {
    if (c.uninformative) out.String(c.description);
  }
  out.EndArray();

  out.Key("worst");
  if (r.worst.has_value()) {
    Element(out, *r.worst, r.worst_case, r.worst_derivative, r.worst_numeric_derivative);
  } else {
    out.Null();
  }

  out.Key("grid");
  if (r.grid.has_value()) {
    out.BeginObject()
        .Key("passed")
        .Bool(r.grid->passed)
        .Key("checked")
        .Int(r.grid->checked)
        .Key("skipped")
        .Int(r.grid->skipped)
        .Key("max_abs_error")
        .Number(r.grid->max_abs_error)
        .Key("max_rel_error")
        .Number(r.grid->max_rel_error)
        .EndObject();
  } else {
    out.Null();
  }

  out.Key("second_order");
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
    out.BeginObject()
        .Key("passed")
        .Bool(passed)
        .Key("cases")
        .Int(static_cast<int64_t>(r.second_order.size()))
        .Key("elements")
        .Int(checked)
        .Key("max_rel_error")
        .Number(max_rel)
        .Key("zero_cases")
        .Int(zero)
        .Key("worst");
    if (r.second_order_worst.has_value()) {
      Element(out, *r.second_order_worst, r.second_order_worst_case,
              r.second_order_worst_derivative, r.second_order_worst_numeric_derivative);
    } else {
      out.Null();
    }
    out.EndObject();
  } else {
    out.Null();
  }

  out.Key("float32")
      .BeginObject()
      .Key("forward_max_rel_error")
      .Number(r.float32.forward_max_rel_error)
      .Key("forward_worst")
      .String(r.float32.forward_worst)
      .Key("derivative_max_rel_error")
      .Number(r.float32.derivative_max_rel_error)
      .Key("derivative_worst")
      .String(r.float32.derivative_worst)
      .Key("compared")
      .Int(r.float32.compared)
      .EndObject();

  out.Key("forward_mode");
  if (r.forward_mode.has_value()) {
    const ForwardReverseCheck& f = *r.forward_mode;
    out.BeginObject()
        .Key("source")
        .String(JvpSourceName(f.source))
        .Key("passed")
        .Bool(f.passed)
        .Key("cases")
        .Int(static_cast<int64_t>(f.cases.size()))
        .Key("worst_discrepancy")
        .Number(f.worst)
        .Key("worst_case")
        .String(f.worst_case)
        .Key("limit")
        .Number(kForwardReverseLimit)
        .Key("error")
        .String(f.error)
        .EndObject();
  } else {
    out.Null();
  }

  out.Key("exact_derivatives");
  ExactJson(out, r.exact);

  out.Key("finiteness");
  if (r.finiteness_checked) {
    bool passed = true;
    for (const FinitenessProblem& p : r.finiteness) passed &= !p.fatal;
    out.BeginObject().Key("passed").Bool(passed).Key("problems").BeginArray();
    for (const FinitenessProblem& p : r.finiteness) {
      out.BeginObject()
          .Key("x")
          .String(ValueString(p.x))
          .Key("dtype")
          .String(p.dtype)
          .Key("quantity")
          .String(p.quantity)
          .Key("value")
          .String(ValueString(p.value))
          .Key("why")
          .String(p.why)
          .Key("fatal")
          .Bool(p.fatal)
          .Key("similar")
          .Int(p.similar)
          .Key("expected");
      OptionalNumber(out, std::isnan(p.expected) ? std::nullopt : std::optional(p.expected));
      out.EndObject();
    }
    out.EndArray().EndObject();
  } else {
    out.Null();
  }

  out.Key("activation");
  if (r.figures.has_value()) {
    const ActivationFigures& f = *r.figures;
    out.BeginObject()
        .Key("range")
        .BeginArray()
        .Number(f.range_min)
        .Number(f.range_max)
        .EndArray()
        .Key("monotonicity")
        .String(MonotonicityName(f.monotonicity))
        .Key("derivative_at_zero")
        .Number(f.derivative_at_zero)
        .Key("zero_is_kink")
        .Bool(f.zero_is_kink)
        .Key("normal_mean")
        .Number(f.normal_mean)
        .Key("normal_mean_stderr")
        .Number(f.normal_mean_stderr)
        .Key("zero_centred")
        .Bool(f.zero_centred)
        .Key("saturated_fraction")
        .Number(f.saturated_fraction)
        .Key("estimated_gain")
        .Number(f.estimated_gain)
        .Key("row_gain");
    OptionalNumber(out, f.row_gain);
    out.EndObject();
  } else {
    out.Null();
  }
  out.EndObject();
  return out.str();
}

}  // namespace actgrad
