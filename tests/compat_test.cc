// Code written against the header names of 0.1.0 keeps compiling and
// working: the forwarding headers in compat/ lead to the headers that moved.

#include <gtest/gtest.h>

#include "graph/factories.h"
#include "graph/gradcheck.h"
#include "graph/profiler.h"
#include "ops/builtin_ops.h"
#include "ops/conformance.h"
#include "ops/functional.h"
#include "ops/op_check.h"
#include "ops/op_def.h"

namespace actgrad {
namespace {

TEST(CompatTest, OldHeaderNamesStillGiveTheCheckerAndTheProfiler) {
  Profile profile;
  {
    Profiler profiler(&profile);
    const Tensor x = FromValues({0.5, -1.0}, DType::kFloat64);
    const GradCheckReport report =
        GradCheck([](std::span<const Tensor> in) { return Tanh(in[0]); }, {x});
    EXPECT_TRUE(report.passed) << report.ToString();
  }
  EXPECT_FALSE(profile.records().empty());
  EXPECT_NE(ChromeTraceJson(profile).find("tanh"), std::string::npos);
  EXPECT_TRUE(CheckOp(ops::kSigmoid).passed);
  EXPECT_TRUE(CheckConformance(ops::kTanh).passed);
}

}  // namespace
}  // namespace actgrad
