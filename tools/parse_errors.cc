#include "tools/parse_errors.h"

#include <cmath>
#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace actgrad::tools {

namespace {

// 1000000, not 1e+06.
std::string Number(double v) {
  return v == static_cast<double>(static_cast<int64_t>(v)) && std::abs(v) < 1e15
             ? absl::StrCat(static_cast<int64_t>(v))
             : absl::StrCat(v);
}

}  // namespace

std::string DescribeParseError(absl::string_view message) {
  // CLI11 names the program in some messages; the caller names it already.
  absl::ConsumePrefix(&message, "actgrad: ");
  const std::string text(message);
  // "<option>: Value <v> not in range <low> to <high>".
  const size_t value_at = text.find(": Value ");
  const size_t range_at = text.find(" not in range ");
  const size_t to_at = text.find(" to ", range_at == std::string::npos ? 0 : range_at);
  if (value_at == std::string::npos || range_at == std::string::npos ||
      to_at == std::string::npos || range_at < value_at) {
    return text;
  }
  const std::string option = text.substr(0, value_at);
  const std::string given_text = text.substr(value_at + 8, range_at - value_at - 8);
  double low = 0, high = 0, given = 0;
  if (!absl::SimpleAtod(text.substr(range_at + 14, to_at - range_at - 14), &low) ||
      !absl::SimpleAtod(absl::StripAsciiWhitespace(text.substr(to_at + 4)), &high)) {
    return text;
  }
  // Bounds beyond 1e300 are CLI11's stand-ins for "no bound".
  const bool open_low = low<-1e300, open_high = high> 1e300;
  const bool finite = absl::SimpleAtod(given_text, &given) && std::isfinite(given);
  const std::string value =
      absl::StrCat(option, " ", given_text, ": must be ", finite ? "" : "a finite number ");
  if (open_low && open_high) return text;
  if (open_high) return absl::StrCat(value, ">= ", Number(low));
  if (open_low) return absl::StrCat(value, "<= ", Number(high));
  return absl::StrCat(value, "between ", Number(low), " and ", Number(high));
}

}  // namespace actgrad::tools
