// -----------------------------------------------------------------------------
// File: json.h
// -----------------------------------------------------------------------------
//
// JSON in and out, through one library: RapidJSON (Debian's rapidjson-dev).
// It was chosen over nlohmann-json and simdjson for what untrusted input
// needs — errors as values with the byte offset of the problem, no
// exceptions, a non-recursive parser whose depth this wrapper limits — and
// for speed: `bench/json_libraries.cc` parses and walks a 105 MB
// safetensors-style header at 239 MB/s through ParseJson (depth limit,
// UTF-8 validation, full-precision numbers), against 52 MB/s for
// nlohmann-json; simdjson, at 728 MB/s, reports no error offsets and cannot
// write, so it could not be the one library.
//
// Only .cc files include this header: the library's public headers do not
// expose RapidJSON, so programs built against actgrad need nothing more.
//
// Example:
//
//   absl::StatusOr<actgrad::io::JsonDocument> doc =
//       actgrad::io::ParseJson(text, "model.safetensors: the architecture");
//   if (!doc.ok()) return doc.status();  // "...: byte 17: missing a comma ..."
//
//   actgrad::io::JsonWriter out;
//   out.BeginObject().Key("loss").Number(0.25).Key("labels").BeginArray();
//   for (const std::string& l : labels) out.String(l);
//   out.EndArray().EndObject();
//   std::string text = out.str();  // {"loss":0.25,"labels":[...]}

#ifndef ACTGRAD_IO_JSON_H_
#define ACTGRAD_IO_JSON_H_

#ifndef RAPIDJSON_HAS_STDSTRING
#define RAPIDJSON_HAS_STDSTRING 1
#endif
// A broken invariant inside RapidJSON is a bug of ours (we check types
// before reading values); say so instead of reading past an end.
#ifndef RAPIDJSON_ASSERT
#define RAPIDJSON_ASSERT(x)   \
  ((x) ? static_cast<void>(0) \
       : ::actgrad::io::json_internal::JsonAssertFailed(#x, __FILE__, __LINE__))
#endif

namespace actgrad::io::json_internal {
[[noreturn]] void JsonAssertFailed(const char* condition, const char* file, int line);
}  // namespace actgrad::io::json_internal

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace actgrad::io {

using JsonValue = rapidjson::Value;
using JsonDocument = rapidjson::Document;

struct JsonLimits {
  // Objects and arrays nested deeper than this are refused.
  int max_depth = 64;
};

// Parses `text` as exactly one JSON value (strict: no comments, NaN,
// trailing commas or invalid UTF-8). Errors are kInvalidArgument
// "<source>: byte <offset>: <reason>".
absl::StatusOr<JsonDocument> ParseJson(absl::string_view text, absl::string_view source,
                                       const JsonLimits& limits = {});

// RapidJSON's reason for `result`, made precise where its own words
// mislead (a raw control character is not an "invalid escape").
std::string DescribeParseError(const rapidjson::ParseResult& result, absl::string_view text);

// A value's JSON type in words, for messages ("an array", "a string").
const char* JsonTypeName(const JsonValue& value);

// Compact (or indented) JSON text, built call by call. NaN and infinities,
// which JSON cannot hold, are written as null.
class JsonWriter {
 public:
  explicit JsonWriter(bool pretty = false);

  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(absl::string_view key);
  JsonWriter& String(absl::string_view value);
  // The shortest text that reads back as the same double.
  JsonWriter& Number(double value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();
  // A value parsed earlier, written as it is.
  JsonWriter& Value(const JsonValue& value);

  // The text so far; complete once every object and array is closed.
  std::string str() const { return std::string(buffer_.GetString(), buffer_.GetSize()); }
  bool complete() const;

 private:
  rapidjson::StringBuffer buffer_;
  rapidjson::Writer<rapidjson::StringBuffer> compact_;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> pretty_;
  bool is_pretty_;
};

}  // namespace actgrad::io

#endif  // ACTGRAD_IO_JSON_H_
