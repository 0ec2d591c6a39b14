// -----------------------------------------------------------------------------
// File: svg_check.h
// -----------------------------------------------------------------------------
//
// A strict structural check of the SVG documents this folder writes, without
// an XML library: well-formed XML (balanced elements, quoted attributes
// without duplicates, only the five predefined entities and numeric
// character references), an <svg> root in the SVG namespace with a size and
// viewBox, only the elements the writer emits, finite numbers wherever a
// coordinate or size is expected, and every clip-path naming a declared,
// unique id. Tests run every figure through it; so can anyone who edits
// figures by hand.
//
// Example:
//
//   absl::Status s = actgrad::viz::CheckSvg(chart.ToSvg());
//   if (!s.ok()) std::cerr << s.message();  // "byte 412: <polyline> attribute x ..."

#ifndef ACTGRAD_VIZ_SVG_CHECK_H_
#define ACTGRAD_VIZ_SVG_CHECK_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace actgrad::viz {

// OK, or kInvalidArgument naming the first problem and its byte offset.
absl::Status CheckSvg(absl::string_view document);

}  // namespace actgrad::viz

#endif  // ACTGRAD_VIZ_SVG_CHECK_H_
