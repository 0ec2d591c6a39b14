// -----------------------------------------------------------------------------
// File: parse_errors.h
// -----------------------------------------------------------------------------
//
// Command-line mistakes in words: CLI11's range messages print an open
// bound as DBL_MAX's 300 digits ("Value -1 not in range 0 to 1797...");
// this says "must be >= 0" instead. Every such mistake exits with status 2.
//
// Example:
//
//   DescribeParseError("--lr: Value -1 not in range 0 to 1.79769e+308")
//   // "--lr -1: must be >= 0"

#ifndef ACTGRAD_TOOLS_PARSE_ERRORS_H_
#define ACTGRAD_TOOLS_PARSE_ERRORS_H_

#include <string>

#include "absl/strings/string_view.h"

namespace actgrad::tools {

std::string DescribeParseError(absl::string_view message);

}  // namespace actgrad::tools

#endif  // ACTGRAD_TOOLS_PARSE_ERRORS_H_
