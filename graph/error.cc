#include "graph/error.h"

#include <string_view>

namespace actgrad {

std::string FormatLocation(const std::source_location& location) {
  std::string_view file = location.file_name();
  if (size_t slash = file.rfind('/'); slash != std::string_view::npos) {
    file.remove_prefix(slash + 1);
  }
  return absl::StrCat(absl::string_view(file.data(), file.size()), ":", location.line());
}

Error::Error(const std::string& message, std::source_location location)
    : std::runtime_error(absl::StrCat(message, " (at ", FormatLocation(location), ")")),
      message_(message),
      location_(location) {}

namespace internal {

void ThrowError(const std::string& message, const std::source_location& location) {
  throw Error(message, location);
}

}  // namespace internal
}  // namespace actgrad
