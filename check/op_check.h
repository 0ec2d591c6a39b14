// -----------------------------------------------------------------------------
// File: op_check.h
// -----------------------------------------------------------------------------
//
// Gradient-checks an op row on its own sample inputs (`OpDef::check_cases`),
// in float64: the routine behind the registry-wide test and `actgrad
// gradcheck`. The row's declared kinks and each case's are kept clear of.
//
// A case in which both gradients are zero throughout lies in a flat region
// of the op (relu below 0, a user activation that is 0 below a threshold):
// it proves nothing either way. A random case is then redrawn, from the same
// seeded generator, up to kFlatRedraws times; one that stays flat, or a
// fixed case that is flat, is uninformative — counted and reported, neither
// passed nor failed. The op fails when no case at all was informative.
// (GradCheck itself still fails a check whose gradients are all zero.)
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

// How many times a random case that is flat throughout is drawn again.
inline constexpr int kFlatRedraws = 4;

struct OpCaseResult {
  std::string description;
  GradCheckReport report;
  // Both gradients zero throughout, after `redraws` new random draws: the
  // case neither passes nor fails (report.passed is false, its verdict "all
  // gradients are zero").
  bool uninformative = false;
  int redraws = 0;  // new random draws this case took (the report is the last)
};

struct OpCheckResult {
  bool passed = false;
  double max_abs_error = 0;
  double max_rel_error = 0;
  int64_t checked = 0;
  int64_t uninformative = 0;  // cases
  std::vector<OpCaseResult> cases;
};

// A check that proves nothing because both gradients are zero throughout.
bool IsFlat(const GradCheckReport& report);

// The worst element over `cases` (by internal::Badness; non-finite values
// first) and the case it is in; {nullptr, nullptr} when no case compared
// an element.
struct WorstElement {
  const OpCaseResult* in = nullptr;
  const ElementCheck* element = nullptr;
};
WorstElement FindWorstElement(const std::vector<OpCaseResult>& cases,
                              const GradCheckOptions& options = {});

// Checks `op` on `c`; `options.kinks` is extended with the row's and the
// case's kinks, and with those the row declares for the case's attributes
// (OpDef::kinks_at).
GradCheckReport CheckOpCase(const OpDef& op, const GradCheckCase& c, GradCheckOptions options = {});

// The row's check cases drawn from `gen`, each param a case leaves unset
// (NaN) taken from `attrs` where it sets one: so that the random cases, not
// only the fixed grid of the conformance report, run at an attribute value
// that `actgrad gradcheck` checks (hardtanh:max_val=5, a plugin's p=0.5).
std::vector<GradCheckCase> DrawCheckCases(const OpDef& op, Generator& gen, const Attrs& attrs = {});

// Checks `op` on every case its row provides (DrawCheckCases from `seed` and
// `attrs`; flat random cases redrawn, see above). An op without check cases,
// or without an informative one, fails: an unchecked gradient is not a
// passing one.
OpCheckResult CheckOp(const OpDef& op, uint64_t seed = 1, const GradCheckOptions& options = {},
                      const Attrs& attrs = {});

}  // namespace actgrad

#endif  // ACTGRAD_CHECK_OP_CHECK_H_
