#include "io/json.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "graph/error.h"
#include "io/text.h"

namespace actgrad::io {

namespace json_internal {

void JsonAssertFailed(const char* condition, const char* file, int line) {
  ACTGRAD_THROW(std::source_location::current(), "JSON: internal check failed: ", condition, " (",
                file, ":", line, ")");
}

}  // namespace json_internal

namespace {

// Passes the reader's events on to a document, refusing nesting beyond the
// limit; returning false stops the parser where it is.
class DepthLimitedHandler {
 public:
  DepthLimitedHandler(JsonDocument& document, int max_depth)
      : document_(document), max_depth_(max_depth) {}

  bool Null() { return document_.Null(); }
  bool Bool(bool b) { return document_.Bool(b); }
  bool Int(int i) { return document_.Int(i); }
  bool Uint(unsigned i) { return document_.Uint(i); }
  bool Int64(int64_t i) { return document_.Int64(i); }
  bool Uint64(uint64_t i) { return document_.Uint64(i); }
  bool Double(double d) { return document_.Double(d); }
  bool RawNumber(const char* s, rapidjson::SizeType length, bool copy) {
    return document_.RawNumber(s, length, copy);
  }
  // RapidJSON decodes an escaped lone surrogate ("\udc00") into bytes that
  // are not UTF-8; such text goes no further.
  bool String(const char* s, rapidjson::SizeType length, bool copy) {
    return Utf8(s, length) && document_.String(s, length, copy);
  }
  bool StartObject() { return Enter() && document_.StartObject(); }
  bool Key(const char* s, rapidjson::SizeType length, bool copy) {
    return Utf8(s, length) && document_.Key(s, length, copy);
  }
  bool EndObject(rapidjson::SizeType members) {
    --depth_;
    return document_.EndObject(members);
  }
  bool StartArray() { return Enter() && document_.StartArray(); }
  bool EndArray(rapidjson::SizeType elements) {
    --depth_;
    return document_.EndArray(elements);
  }

  bool too_deep() const { return too_deep_; }
  bool bad_text() const { return bad_text_; }

 private:
  bool Utf8(const char* s, rapidjson::SizeType length) {
    if (!IsValidUtf8(absl::string_view(s, length))) bad_text_ = true;
    return !bad_text_;
  }
  bool Enter() {
    if (++depth_ > max_depth_) too_deep_ = true;
    return !too_deep_;
  }

  JsonDocument& document_;
  int max_depth_;
  int depth_ = 0;
  bool too_deep_ = false;
  bool bad_text_ = false;
};

}  // namespace

absl::StatusOr<JsonDocument> ParseJson(absl::string_view text, absl::string_view source,
                                       const JsonLimits& limits) {
  JsonDocument document;
  rapidjson::ParseResult result;
  bool too_deep = false;
  bool bad_text = false;
  size_t end = 0;
  // Populate() moves the one value the events built into the document.
  auto generate = [&](JsonDocument& target) {
    DepthLimitedHandler handler(target, limits.max_depth);
    rapidjson::MemoryStream stream(text.data(), text.size());
    rapidjson::Reader reader;
    // The reader takes a NUL for the end of the input, so it stops after the
    // value and the rest is checked here.
    constexpr unsigned kFlags =
        rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag |
        rapidjson::kParseFullPrecisionFlag | rapidjson::kParseStopWhenDoneFlag;
    result = reader.Parse<kFlags>(stream, handler);
    too_deep = handler.too_deep();
    bad_text = handler.bad_text();
    end = stream.Tell();
    return !result.IsError();
  };
  document.Populate(generate);
  if (result.IsError()) {
    const std::string reason =
        too_deep   ? absl::StrCat("objects and arrays nested deeper than ", limits.max_depth)
        : bad_text ? std::string("a string that is not valid UTF-8 (an escaped lone surrogate)")
                   : DescribeParseError(result, text);
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": byte ", result.Offset(), ": ", reason));
  }
  while (end < text.size() &&
         (text[end] == ' ' || text[end] == '\t' || text[end] == '\n' || text[end] == '\r')) {
    ++end;
  }
  if (end < text.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": byte ", end, ": ",
        text[end] == '\0' ? "a NUL byte after the JSON value"
                          : "The document root must not be followed by other values."));
  }
  return document;
}

std::string DescribeParseError(const rapidjson::ParseResult& result, absl::string_view text) {
  const size_t at = result.Offset();
  if (result.Code() == rapidjson::kParseErrorStringEscapeInvalid && at < text.size() &&
      static_cast<unsigned char>(text[at]) < 0x20) {
    return absl::StrCat("control character 0x",
                        absl::Hex(static_cast<unsigned char>(text[at]), absl::kZeroPad2),
                        " in a string (it must be escaped)");
  }
  return rapidjson::GetParseError_En(result.Code());
}

const char* JsonTypeName(const JsonValue& value) {
  switch (value.GetType()) {
    case rapidjson::kNullType:
      return "null";
    case rapidjson::kFalseType:
    case rapidjson::kTrueType:
      return "a boolean";
    case rapidjson::kObjectType:
      return "an object";
    case rapidjson::kArrayType:
      return "an array";
    case rapidjson::kStringType:
      return "a string";
    case rapidjson::kNumberType:
      return "a number";
  }
  return "a value";
}

JsonWriter::JsonWriter(bool pretty) : compact_(buffer_), pretty_(buffer_), is_pretty_(pretty) {
  pretty_.SetIndent(' ', 2);
}

// Both writers format the same buffer; only the chosen one is ever called.
#define ACTGRAD_JSON_WRITE(call) (is_pretty_ ? pretty_.call : compact_.call)

JsonWriter& JsonWriter::BeginObject() {
  ACTGRAD_JSON_WRITE(StartObject());
  return *this;
}
JsonWriter& JsonWriter::EndObject() {
  ACTGRAD_JSON_WRITE(EndObject());
  return *this;
}
JsonWriter& JsonWriter::BeginArray() {
  ACTGRAD_JSON_WRITE(StartArray());
  return *this;
}
JsonWriter& JsonWriter::EndArray() {
  ACTGRAD_JSON_WRITE(EndArray());
  return *this;
}
JsonWriter& JsonWriter::Key(absl::string_view key) {
  ACTGRAD_JSON_WRITE(Key(key.data(), static_cast<rapidjson::SizeType>(key.size()), true));
  return *this;
}
JsonWriter& JsonWriter::String(absl::string_view value) {
  ACTGRAD_JSON_WRITE(String(value.data(), static_cast<rapidjson::SizeType>(value.size()), true));
  return *this;
}
JsonWriter& JsonWriter::Number(double value) {
  if (!std::isfinite(value)) return Null();
  ACTGRAD_JSON_WRITE(Double(value));
  return *this;
}
JsonWriter& JsonWriter::Int(int64_t value) {
  ACTGRAD_JSON_WRITE(Int64(value));
  return *this;
}
JsonWriter& JsonWriter::Bool(bool value) {
  ACTGRAD_JSON_WRITE(Bool(value));
  return *this;
}
JsonWriter& JsonWriter::Null() {
  ACTGRAD_JSON_WRITE(Null());
  return *this;
}
JsonWriter& JsonWriter::Value(const JsonValue& value) {
  if (is_pretty_) {
    value.Accept(pretty_);
  } else {
    value.Accept(compact_);
  }
  return *this;
}

#undef ACTGRAD_JSON_WRITE

bool JsonWriter::complete() const {
  return is_pretty_ ? pretty_.IsComplete() : compact_.IsComplete();
}

}  // namespace actgrad::io
