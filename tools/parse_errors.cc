#include "tools/parse_errors.h"

#include <cmath>
#include <cstdint>
#include <regex>

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
  static const std::regex kRange(R"(^([^:]*): Value (\S+) not in range (\S+) to (\S+)\s*$)");
  // CLI11 names the program in some messages; the caller names it already.
  absl::ConsumePrefix(&message, "actgrad: ");
  const std::string text(message);
  std::smatch m;
  if (!std::regex_match(text, m, kRange)) return text;
  double low = 0, high = 0;
  if (!absl::SimpleAtod(m[3].str(), &low) || !absl::SimpleAtod(m[4].str(), &high)) return text;
  // Bounds beyond 1e300 are CLI11's stand-ins for "no bound".
  const bool open_low = low<-1e300, open_high = high> 1e300;
  double given = 0;
  const bool finite = absl::SimpleAtod(m[2].str(), &given) && std::isfinite(given);
  const std::string value =
      absl::StrCat(m[1].str(), " ", m[2].str(), ": must be ", finite ? "" : "a finite number ");
  if (open_low && open_high) return text;
  if (open_high) return absl::StrCat(value, ">= ", Number(low));
  if (open_low) return absl::StrCat(value, "<= ", Number(high));
  return absl::StrCat(value, "between ", Number(low), " and ", Number(high));
}

}  // namespace actgrad::tools
