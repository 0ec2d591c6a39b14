#include "ops/check_cases.h"

namespace actgrad {
namespace internal {

Tensor RandomDouble(const Shape& shape, double low, double high, Generator& gen) {
  return Uniform(shape, low, high, gen, DType::kFloat64);
}

std::vector<GradCheckCase> UnaryCases(Generator& gen, double low, double high, const Attrs& attrs) {
  std::vector<GradCheckCase> cases;
  for (const Shape& shape : {Shape{6}, Shape{3, 4}, Shape{2, 3, 2}}) {
    cases.push_back({{RandomDouble(shape, low, high, gen)}, attrs, shape.ToString(), {}});
  }
  return cases;
}

std::vector<GradCheckCase> BinaryBroadcastCases(Generator& gen, double low, double high,
                                                double second_low, double second_high) {
  struct Pair {
    Shape a, b;
    const char* what;
  };
  const Pair pairs[] = {
      {{3, 4}, {3, 4}, "[3,4] with [3,4]"},
      {{3, 4}, {4}, "[3,4] with [4] (broadcast)"},
      {{3, 1}, {1, 4}, "[3,1] with [1,4] (broadcast both)"},
      {{2, 3}, {}, "[2,3] with [] (scalar)"},
  };
  std::vector<GradCheckCase> cases;
  for (const Pair& p : pairs) {
    cases.push_back(
        {{RandomDouble(p.a, low, high, gen), RandomDouble(p.b, second_low, second_high, gen)},
         {},
         p.what,
         {}});
  }
  return cases;
}

}  // namespace internal
}  // namespace actgrad
