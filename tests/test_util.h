// -----------------------------------------------------------------------------
// File: test_util.h
// -----------------------------------------------------------------------------
//
// Small helpers shared by the test suites.
//
// Example:
//
//   EXPECT_THAT(ToVector(y), ElementsAreNear({0.5, 0.7310585786}, 1e-6));
//   EXPECT_THROW_MESSAGE(Matmul(a, b), HasSubstr("inner dimensions"));

#ifndef ACTGRAD_TESTS_TEST_UTIL_H_
#define ACTGRAD_TESTS_TEST_UTIL_H_

#include <gmock/gmock.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "actgrad.h"

namespace actgrad::testing {

// A path in the test temporary directory for a file the running case
// writes: named after the process and the case, so that cases running at
// once never share one, and removed when the process ends, together with
// every file whose name starts with it (a drawing made from it, a writer's
// temporary).
inline std::string TempPath(const std::string& name) {
  struct RemovedAtExit {
    std::vector<std::filesystem::path> paths;
    ~RemovedAtExit() {
      std::vector<std::filesystem::path> found;
      for (const std::filesystem::path& path : paths) {
        const std::string prefix = path.filename().string();
        std::error_code error;
        for (std::filesystem::directory_iterator it(path.parent_path(), error), end;
             !error && it != end; it.increment(error)) {
          if (it->path().filename().string().rfind(prefix, 0) == 0) found.push_back(it->path());
        }
      }
      for (const std::filesystem::path& path : found) {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
      }
    }
  };
  static RemovedAtExit written;
  const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::filesystem::path path =
      std::filesystem::path(::testing::TempDir()) /
      absl::StrCat(::getpid(), "_", test != nullptr ? test->name() : "", "_", name);
  written.paths.push_back(path);
  return path.string();
}

inline ::testing::Matcher<std::vector<double>> ElementsAreNear(std::vector<double> expected,
                                                               double tolerance) {
  std::vector<::testing::Matcher<double>> each;
  for (double e : expected) each.push_back(::testing::DoubleNear(e, tolerance));
  return ::testing::ElementsAreArray(each);
}

// The message of the actgrad::Error thrown by `fn`, or "" if none is thrown.
template <typename Fn>
std::string ErrorMessageOf(Fn fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace actgrad::testing

#endif  // ACTGRAD_TESTS_TEST_UTIL_H_
