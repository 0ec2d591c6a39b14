// The measurement behind ops/gemm.h's choice of library: float32 products
// on OpenBLAS (cblas_sgemm, under this machine's OPENBLAS_CORETYPE) and on
// oneDNN (dnnl_sgemm), side by side, at 1024^3 and at the shapes of W3's and
// W4's layers (forward, weight gradient, input gradient), with the largest
// difference between the two results; and the library's own small-product
// kernel (ops/small_gemm.h) on the shapes small enough for it, which is how
// its threshold was chosen.
//
//   actgrad_gemm_libraries [threads]     # default 1
//
// Each cell is the median of 7 timings of a loop long enough for ~2 GFLOP.

#include <cblas.h>
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "ops/small_gemm.h"

namespace {

struct Shape {
  const char* name;
  bool trans_a, trans_b;
  int m, n, k;
};

constexpr Shape kShapes[] = {
    {"W5 1024^3", false, false, 1024, 1024, 1024},
    {"W3 layer 1 forward", false, true, 128, 512, 784},
    {"W3 layer 1 dW", true, false, 512, 784, 128},
    {"W3 layer 2 forward", false, true, 128, 256, 512},
    {"W3 layer 2 dW", true, false, 256, 512, 128},
    {"W3 layer 2 dX", false, false, 128, 512, 256},
    {"W3 layer 3 forward", false, true, 128, 10, 256},
    {"W4 layer forward", false, true, 32, 64, 64},
    {"W4 layer dW", true, false, 64, 64, 32},
    {"W4 layer dX", false, false, 32, 64, 64},
    {"64^3 forward", false, true, 64, 64, 64},
    {"64^3 dX", false, false, 64, 64, 64},
    {"128 x 64 x 64 forward", false, true, 128, 64, 64},
    {"128^3 dX", false, false, 128, 128, 128},
    {"odd 33 x 65 x 17", false, true, 33, 65, 17},
};

template <typename Fn>
double MedianSeconds(int reps, Fn fn) {
  std::vector<double> t;
  for (int r = 0; r < 7; ++r) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) fn();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() /
                reps);
  }
  std::sort(t.begin(), t.end());
  return t[3];
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  std::printf("threads %d; OpenBLAS %s (OPENBLAS_CORETYPE=%s); oneDNN %d.%d.%d\n\n", threads,
              openblas_get_corename(), coretype ? coretype : "(unset)", dnnl_version()->major,
              dnnl_version()->minor, dnnl_version()->patch);
  std::printf(
      "| shape | m x n x k | OpenBLAS GFLOP/s | oneDNN GFLOP/s | oneDNN / OpenBLAS | max |diff| "
      "| small kernel GFLOP/s | small / oneDNN | small's max |diff| |\n");
  std::printf("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  std::mt19937 gen(1);
  std::normal_distribution<float> normal;
  for (const Shape& s : kShapes) {
    std::vector<float> a(size_t(s.m) * s.k), b(size_t(s.k) * s.n), c_blas(size_t(s.m) * s.n),
        c_dnnl(size_t(s.m) * s.n);
    for (float& v : a) v = normal(gen);
    for (float& v : b) v = normal(gen);
    const int lda = s.trans_a ? s.m : s.k, ldb = s.trans_b ? s.k : s.n;
    const double flop = 2.0 * s.m * s.n * s.k;
    const int reps = std::max(5, int(2e9 / flop));
    const double blas = MedianSeconds(reps, [&] {
      cblas_sgemm(CblasRowMajor, s.trans_a ? CblasTrans : CblasNoTrans,
                  s.trans_b ? CblasTrans : CblasNoTrans, s.m, s.n, s.k, 1.0f, a.data(), lda,
                  b.data(), ldb, 0.0f, c_blas.data(), s.n);
    });
    const double dnnl = MedianSeconds(reps, [&] {
      dnnl_sgemm(s.trans_a ? 'T' : 'N', s.trans_b ? 'T' : 'N', s.m, s.n, s.k, 1.0f, a.data(), lda,
                 b.data(), ldb, 0.0f, c_dnnl.data(), s.n);
    });
    double diff = 0;
    for (size_t i = 0; i < c_blas.size(); ++i) {
      diff = std::max(diff, double(std::abs(c_blas[i] - c_dnnl[i])));
    }
    std::printf("| %s | %d x %d x %d | %.1f | %.1f | %.2f | %.1e |", s.name, s.m, s.n, s.k,
                flop / blas / 1e9, flop / dnnl / 1e9, blas / dnnl, diff);
    // The small kernel on small shapes only, including some past its
    // threshold, to show where the library overtakes it.
    if (!actgrad::internal::SmallGemmAvailable() || int64_t{s.m} * s.n * s.k > (1 << 21)) {
      std::printf(" - | - | - |\n");
      continue;
    }
    std::vector<float> c_small(c_dnnl.size());
    const double small = MedianSeconds(reps, [&] {
      actgrad::internal::SmallGemm(s.trans_a, s.trans_b, s.m, s.n, s.k, a.data(), lda, b.data(),
                                   ldb, c_small.data(), s.n, false);
    });
    double small_diff = 0;
    for (size_t i = 0; i < c_blas.size(); ++i) {
      small_diff = std::max(small_diff, double(std::abs(c_blas[i] - c_small[i])));
    }
    std::printf(" %.1f | %.2f | %.1e |%s\n", flop / small / 1e9, dnnl / small, small_diff,
                actgrad::internal::SmallGemmApplies(s.m, s.n, s.k) ? " (used)" : "");
  }
  return 0;
}
