// -----------------------------------------------------------------------------
// File: conformance_json.h
// -----------------------------------------------------------------------------
//
// A conformance report (check/conformance.h) as one JSON object, the form
// `actgrad gradcheck --json` prints and scripts read: name, passed, cases,
// elements, max_abs_error, max_rel_error, kind, taylor_order, taylor_case,
// failures, uninformative_cases, uninformative, worst, grid, second_order
// (with its own worst), float32, finiteness, activation. A worst element
// carries its case, input, index, x, analytic, numeric, errors, and f' (or
// f'') by the row and by finite differences for activations; a finiteness
// problem its x, value, why and the expected value. Values JSON cannot hold
// (NaN, infinities) print as null, or as strings where the value itself is
// the point (inputs such as "inf", a NaN derivative).
//
// Example:
//
//   std::cout << actgrad::ConformanceJson(actgrad::CheckConformance(actgrad::ops::kTanh));

#ifndef ACTGRAD_CHECK_CONFORMANCE_JSON_H_
#define ACTGRAD_CHECK_CONFORMANCE_JSON_H_

#include <string>

#include "check/conformance.h"

namespace actgrad {

std::string ConformanceJson(const ConformanceReport& report);

}  // namespace actgrad

#endif  // ACTGRAD_CHECK_CONFORMANCE_JSON_H_
