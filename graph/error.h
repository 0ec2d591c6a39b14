// -----------------------------------------------------------------------------
// File: error.h
// -----------------------------------------------------------------------------
//
// `actgrad::Error` is what the library throws when its API is misused: a shape
// mismatch, a dtype mix, `Backward()` on a non-scalar without a seed, a tensor
// whose graph was freed. The message names the op, the shapes or dtypes
// involved and the caller's source location, so it can be read without a
// debugger. Failures caused by the outside world (files, flags, plugins) are
// not errors of this kind; they come back as `absl::Status`.
//
// Example:
//
//   try {
//     actgrad::Tensor c = actgrad::Matmul(a, b);  // a is [3,4], b is [5,2]
//   } catch (const actgrad::Error& e) {
//     std::cerr << e.what();
//     // matmul: inner dimensions differ: [3,4] x [5,2] (at model.cc:42)
//   }

#ifndef ACTGRAD_GRAPH_ERROR_H_
#define ACTGRAD_GRAPH_ERROR_H_

#include <source_location>
#include <stdexcept>
#include <string>

#include "absl/strings/str_cat.h"

namespace actgrad {

class Error : public std::runtime_error {
 public:
  // `what()` is `message` followed by " (at FILE:LINE)".
  Error(const std::string& message, std::source_location location);

  // The message without the location suffix.
  const std::string& message() const { return message_; }
  const std::source_location& location() const { return location_; }

 private:
  std::string message_;
  std::source_location location_;
};

// "file.cc:42", with the directories stripped.
std::string FormatLocation(const std::source_location& location);

namespace internal {

// Throws `Error(StrCat(op, ": ", pieces...), location)`. Out of line so that
// the checks at every call site stay one compare and one cold call.
[[noreturn]] void ThrowError(const std::string& message, const std::source_location& location);

}  // namespace internal

// Throws an `Error` whose message joins `pieces` with absl::StrCat.
#define ACTGRAD_THROW(location, ...) \
  ::actgrad::internal::ThrowError(absl::StrCat(__VA_ARGS__), (location))

// Throws unless `condition` holds; the message is built only on failure.
#define ACTGRAD_REQUIRE(condition, location, ...) \
  do {                                            \
    if (!(condition)) [[unlikely]] {              \
      ACTGRAD_THROW((location), __VA_ARGS__);     \
    }                                             \
  } while (false)

}  // namespace actgrad

#endif  // ACTGRAD_GRAPH_ERROR_H_
