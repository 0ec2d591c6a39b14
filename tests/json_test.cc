// JSON in and out: strict parsing with byte offsets and a depth limit, and a
// writer whose numbers read back exactly and whose NaN is null.

#include "io/json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

namespace actgrad::io {
namespace {

using ::testing::HasSubstr;

std::string ErrorOf(absl::string_view text, JsonLimits limits = {}) {
  absl::StatusOr<JsonDocument> doc = ParseJson(text, "f.json", limits);
  return doc.ok() ? "" : std::string(doc.status().message());
}

TEST(JsonTest, ParsesOneStrictValue) {
  absl::StatusOr<JsonDocument> doc = ParseJson(R"({"a": [1, 2.5, "x"], "b": null})", "f.json");
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ((*doc)["a"][0].GetInt64(), 1);
  EXPECT_EQ((*doc)["a"][1].GetDouble(), 2.5);
  EXPECT_TRUE((*doc)["b"].IsNull());
  EXPECT_STREQ(JsonTypeName((*doc)["a"]), "an array");
}

TEST(JsonTest, ErrorsNameTheByteAndTheReason) {
  EXPECT_THAT(ErrorOf(R"({"a": 1 "b": 2})"), HasSubstr("f.json: byte 8: Missing a comma"));
  EXPECT_THAT(ErrorOf("[1, 2,]"), HasSubstr("f.json: byte 6:"));
  EXPECT_THAT(ErrorOf("{} {}"), HasSubstr("byte 3: The document root must not be followed"));
  EXPECT_THAT(ErrorOf("[NaN]"), HasSubstr("byte 1: Invalid value"));
  EXPECT_THAT(ErrorOf(std::string("{}\0", 3)),
              HasSubstr("byte 2: a NUL byte after the JSON value"));
  EXPECT_THAT(ErrorOf("\"\xff\""), HasSubstr("Invalid encoding"));
  EXPECT_THAT(ErrorOf(""), HasSubstr("byte 0: The document is empty"));
  EXPECT_THAT(ErrorOf("[\"a\x01\"]"), HasSubstr("byte 3: control character 0x01 in a string"));
  // RapidJSON alone would decode this into bytes that are not UTF-8.
  EXPECT_THAT(ErrorOf(R"(["\udc00"])"), HasSubstr("not valid UTF-8 (an escaped lone surrogate)"));
  EXPECT_THAT(ErrorOf(R"({"\udc00": 1})"), HasSubstr("not valid UTF-8"));
}

TEST(JsonTest, RefusesNestingBeyondTheLimitWithoutRecursing) {
  EXPECT_EQ(ErrorOf(std::string(64, '[') + std::string(64, ']')), "");
  EXPECT_THAT(ErrorOf(std::string(65, '[') + std::string(65, ']')),
              HasSubstr("byte 64: objects and arrays nested deeper than 64"));
  // Far deeper than any stack would survive in a recursive parser.
  EXPECT_THAT(ErrorOf(std::string(1 << 20, '['), {.max_depth = 8}),
              HasSubstr("nested deeper than 8"));
}

TEST(JsonTest, WriterRoundTripsNumbersAndWritesNullForNonFinite) {
  JsonWriter out;
  out.BeginObject()
      .Key("third")
      .Number(1.0 / 3)
      .Key("big")
      .Int(std::numeric_limits<int64_t>::max())
      .Key("nan")
      .Number(std::nan(""))
      .Key("text")
      .String("a \"quoted\"\n\x01 line")
      .Key("flags")
      .BeginArray()
      .Bool(true)
      .Null()
      .EndArray()
      .EndObject();
  ASSERT_TRUE(out.complete());
  absl::StatusOr<JsonDocument> back = ParseJson(out.str(), "written");
  ASSERT_TRUE(back.ok()) << back.status() << "\n" << out.str();
  EXPECT_EQ((*back)["third"].GetDouble(), 1.0 / 3);
  EXPECT_EQ((*back)["big"].GetInt64(), std::numeric_limits<int64_t>::max());
  EXPECT_TRUE((*back)["nan"].IsNull());
  EXPECT_EQ(std::string((*back)["text"].GetString()), "a \"quoted\"\n\x01 line");
  EXPECT_THAT(out.str(), HasSubstr(R"("text":"a \"quoted\"\n\u0001 line")"));
}

TEST(JsonTest, PrettyWriterIndents) {
  JsonWriter out(/*pretty=*/true);
  out.BeginObject().Key("a").BeginArray().Int(1).EndArray().EndObject();
  EXPECT_EQ(out.str(), "{\n  \"a\": [\n    1\n  ]\n}");
}

}  // namespace
}  // namespace actgrad::io
