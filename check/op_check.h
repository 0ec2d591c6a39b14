// -----------------------------------------------------------------------------
// File: op_check.h
// -----------------------------------------------------------------------------
//
// Gradient-checks an op row on its own sample inputs (`OpDef::check_cases`),
// in float64: the routine behind the registry-wide test and `actgrad
// gradcheck`. The row's declared kinks and each case's are kept clear of.
//
// Example:
//
//   for (const actgrad::OpDef* op : actgrad::OpRegistry::Global().All()) {
//     actgrad::OpCheckResult result = actgrad::CheckOp(*op);
//     std::cout << op->name << (result.passed ? " ok" : " FAILED") << "\n";
//   }

#ifndef ACTGRAD_CHECK_OP_CHECK_H_
#define ACTGRAD_CHECK_OP_CHECK_H_

#include <string>
#include <vector>

#include "check/gradcheck.h"
#include "graph/op_def.h"

namespace actgrad {

struct OpCaseResult {
  std::string description;
  GradCheckReport report;
};

struct OpCheckResult {
  bool passed = false;
  double max_abs_error = 0;
  double max_rel_error = 0;
  int64_t checked = 0;
  std::vector<OpCaseResult> cases;
};

// Checks `op` on `c`; `options.kinks` is extended with the row's and the
// case's kinks.
GradCheckReport CheckOpCase(const OpDef& op, const GradCheckCase& c, GradCheckOptions options = {});

// Checks `op` on every case its row provides (generated from `seed`). An op
// without check cases fails: an unchecked gradient is not a passing one.
OpCheckResult CheckOp(const OpDef& op, uint64_t seed = 1, const GradCheckOptions& options = {});

}  // namespace actgrad

#endif  // ACTGRAD_CHECK_OP_CHECK_H_
