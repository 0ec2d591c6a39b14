// -----------------------------------------------------------------------------
// File: json_writer.h
// -----------------------------------------------------------------------------
//
// The few JSON helpers the command line needs to print results: quoted
// strings and numbers (JSON has no NaN or infinity; they print as null).
//
// Example:
//
//   std::cout << "{\"name\": " << JsonString(name) << ", \"loss\": " << JsonNumber(loss) << "}";

#ifndef ACTGRAD_TOOLS_JSON_WRITER_H_
#define ACTGRAD_TOOLS_JSON_WRITER_H_

#include <string>

#include "absl/strings/string_view.h"

namespace actgrad::tools {

std::string JsonString(absl::string_view s);
std::string JsonNumber(double v);

}  // namespace actgrad::tools

#endif  // ACTGRAD_TOOLS_JSON_WRITER_H_
