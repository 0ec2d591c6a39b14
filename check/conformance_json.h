// -----------------------------------------------------------------------------
// File: conformance_json.h
// -----------------------------------------------------------------------------
//
// A conformance report (check/conformance.h) as one JSON object, the form
// `actgrad gradcheck --json` prints and scripts read: name, passed, cases,
// elements, max_abs_error, max_rel_error, kind, taylor_order, taylor_case,
// failures, worst, grid, second_order, float32, finiteness, activation.
// Values JSON cannot hold (NaN, infinities) print as null, or as strings
// where the value itself is the point (inputs such as "inf").
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
