// -----------------------------------------------------------------------------
// File: check_cases.h
// -----------------------------------------------------------------------------
//
// Internal: builders for the sample inputs that op rows hand to the
// registry-wide gradient check (`OpDef::check_cases`). Values are float64 and
// drawn from the generator the check passes in, so every run is reproducible.
//
// Example (a row's check_cases):
//
//   std::vector<GradCheckCase> LogCases(Generator& gen) {
//     return internal::UnaryCases(gen, 0.1, 4.0);
//   }

#ifndef ACTGRAD_OPS_CHECK_CASES_H_
#define ACTGRAD_OPS_CHECK_CASES_H_

#include <vector>

#include "graph/factories.h"
#include "graph/op_def.h"

namespace actgrad {
namespace internal {

Tensor RandomDouble(const Shape& shape, double low, double high, Generator& gen);

// One input of shapes [6], [3,4] and [2,3,2], uniform in [low, high).
std::vector<GradCheckCase> UnaryCases(Generator& gen, double low, double high,
                                      const Attrs& attrs = {});

// Two inputs: equal shapes, a row broadcast ([3,4] with [4]), a column
// broadcast ([3,1] with [1,4]) and a scalar ([2,3] with []).
std::vector<GradCheckCase> BinaryBroadcastCases(Generator& gen, double low, double high,
                                                double second_low, double second_high);

}  // namespace internal
}  // namespace actgrad

#endif  // ACTGRAD_OPS_CHECK_CASES_H_
