// -----------------------------------------------------------------------------
// File: json_writer.h
// -----------------------------------------------------------------------------
//
// The few JSON helpers that reports (the command line, profile/, check/)
// need: quoted strings and numbers (JSON has no NaN or infinity; they print
// as null).
//
// Example:
//
//   using actgrad::io::JsonNumber, actgrad::io::JsonString;
//   std::cout << "{\"name\": " << JsonString(name) << ", \"loss\": " << JsonNumber(loss) << "}";

#ifndef ACTGRAD_IO_JSON_WRITER_H_
#define ACTGRAD_IO_JSON_WRITER_H_

#include <string>

#include "absl/strings/string_view.h"

namespace actgrad::io {

std::string JsonString(absl::string_view s);
std::string JsonNumber(double v);

}  // namespace actgrad::io

#endif  // ACTGRAD_IO_JSON_WRITER_H_
