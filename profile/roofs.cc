#include "profile/roofs.h"

#include <algorithm>
#include <chrono>

#include "graph/factories.h"
#include "ops/functional.h"

namespace actgrad {

double MeasureGemmGflops() {
  Generator gen(0);
  const Tensor a = Normal({512, 512}, 0, 1, gen);
  const Tensor b = Normal({512, 512}, 0, 1, gen);
  double best = 0;
  for (int i = 0; i < 5; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const Tensor c = Matmul(a, b);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, 2.0 * 512 * 512 * 512 / seconds / 1e9);
  }
  return best;
}

}  // namespace actgrad
