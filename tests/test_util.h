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

#include <string>
#include <vector>

#include "actgrad.h"

namespace actgrad::testing {

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
