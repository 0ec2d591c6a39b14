// std::source_location for clang 14 on libstdc++ 12, force-included (-include)
// by the `fuzz` preset only.
//
// libstdc++ 12 defines std::source_location only when the compiler has
// __builtin_source_location, which clang gained in version 15; clang 14 sees
// an empty <source_location>, and every actgrad header uses the type. This
// fills the gap with the builtins clang 14 does have (__builtin_FILE and
// friends), which, used as default arguments, are evaluated at the call
// site just as std::source_location::current() is. With a compiler or
// library that has the real thing, this header does nothing.

#ifndef ACTGRAD_FUZZ_CLANG14_SOURCE_LOCATION_H_
#define ACTGRAD_FUZZ_CLANG14_SOURCE_LOCATION_H_

#if defined(__cplusplus) && defined(__clang__) && !__has_builtin(__builtin_source_location)

#include <cstdint>
#include <source_location>  // empty here; included so that it cannot add a second definition

#ifndef __cpp_lib_source_location
namespace std {

struct source_location {
  static constexpr source_location current(const char* file = __builtin_FILE(),
                                           const char* function = __builtin_FUNCTION(),
                                           uint_least32_t line = __builtin_LINE(),
                                           uint_least32_t column = __builtin_COLUMN()) noexcept {
    source_location location;
    location.file_ = file;
    location.function_ = function;
    location.line_ = line;
    location.column_ = column;
    return location;
  }

  constexpr source_location() noexcept = default;
  constexpr uint_least32_t line() const noexcept { return line_; }
  constexpr uint_least32_t column() const noexcept { return column_; }
  constexpr const char* file_name() const noexcept { return file_; }
  constexpr const char* function_name() const noexcept { return function_; }

 private:
  const char* file_ = "";
  const char* function_ = "";
  uint_least32_t line_ = 0;
  uint_least32_t column_ = 0;
};

}  // namespace std
#endif  // __cpp_lib_source_location

#endif  // clang without __builtin_source_location

#endif  // ACTGRAD_FUZZ_CLANG14_SOURCE_LOCATION_H_
