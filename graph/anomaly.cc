#include "graph/anomaly.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace actgrad::internal {

std::string DescribeNonFinite(const Tensor& t) {
  if (!t.defined() || !IsFloating(t.dtype())) return "";
  std::string out;
  DispatchFloating(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = static_cast<const T*>(t.raw_data());
    const int64_t n = t.numel();
    for (int64_t i = 0; i < n; ++i) {
      if (std::isfinite(p[i])) continue;
      std::vector<int64_t> index(t.rank());
      for (int64_t d = t.rank() - 1, rest = i; d >= 0; --d) {
        index[d] = rest % t.dim(static_cast<int>(d));
        rest /= t.dim(static_cast<int>(d));
      }
      std::vector<std::string> around;
      for (int64_t j = std::max<int64_t>(0, i - 2); j < std::min<int64_t>(n, i + 3); ++j) {
        around.push_back(absl::StrFormat("%g", double(p[j])));
      }
      out = absl::StrCat(std::isnan(p[i]) ? "NaN" : (p[i] > 0 ? "+Inf" : "-Inf"), " at [",
                         absl::StrJoin(index, ","), "] of ", t.shape().ToString(),
                         " (values around it: ", absl::StrJoin(around, ", "), ")");
      return;
    }
  });
  return out;
}

}  // namespace actgrad::internal
