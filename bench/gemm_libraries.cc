// The measurement behind ops/gemm.h's choice of library: float32 products
// on OpenBLAS (cblas_sgemm, under this machine's OPENBLAS_CORETYPE) and on
// oneDNN (dnnl_sgemm), side by side, at 1024^3 and at the shapes of W3's and
// W4's layers (forward, weight gradient, input gradient), with the largest
// difference between the two results; and the library's own small-product
// kernel (ops/small_gemm.h) on the shapes small enough for it, which is how
// its threshold was chosen; the packed kernel (ops/packed_gemm.h) and, on
// processors with AMX, the split-bfloat16 kernel (ops/amx_gemm.h)
// everywhere. "(used)" marks the kernel ops/gemm.cc takes at that shape.
// The last two columns are the worst error of oneDNN's and the AMX kernel's
// results against a float64 product, over every eighth row, in units of
// sum_p |a_ip b_pj|.
//
//   actgrad_gemm_libraries [threads]     # default 1
//
// Each cell is the median of 9 rounds; a round times every candidate once,
// each over a loop long enough for ~0.2 GFLOP.

#include <cblas.h>
#include <immintrin.h>
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <vector>

#include "graph/parallel.h"
#include "ops/amx_gemm.h"
#include "ops/packed_gemm.h"
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
    {"W7 step forward", false, false, 32, 512, 128},
    {"W7 step dh", false, false, 32, 128, 512},
    {"W7 half-batch step forward", false, false, 16, 512, 128},
    {"W7 half-batch step dh", false, false, 16, 128, 512},
    {"few rows 16 x 256 x 256", false, true, 16, 256, 256},
    {"few rows 8 x 1024 x 128", false, false, 8, 1024, 128},
    {"W7 dW_hh", true, false, 512, 128, 992},
    {"W7 dW_ih", true, false, 512, 64, 1024},
    {"W8 in_proj forward", false, true, 1024, 768, 256},
    {"128 x 128 x 256 forward", false, true, 128, 128, 256},
    {"128 x 256 x 128 dX", false, false, 128, 256, 128},
    {"256^3 dW", true, false, 256, 256, 256},
    {"W8 in_proj dW", true, false, 768, 256, 1024},
    {"W8 in_proj dX", false, false, 1024, 256, 768},
    {"W8 linear2 forward", false, true, 1024, 256, 1024},
    {"W8 linear2 dW", true, false, 256, 1024, 1024},
    {"W8 out_proj dW", true, false, 256, 256, 1024},
    {"W8 linear1 dW", true, false, 1024, 256, 1024},
};

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
#pragma GCC push_options
#pragma GCC target("amx-tile,amx-bf16")
// The tile units' own ceiling: bfloat16 GFLOP/s of tdpbf16ps on tiles held
// in registers, four independent sums, on the calling thread. Call only
// where AmxGemmAvailable (which also asks Linux for the tile state).
double TilePeakGflops() {
  struct alignas(64) {
    uint8_t palette = 1, start_row = 0, reserved[14] = {};
    uint16_t bytes_per_row[16] = {};
    uint8_t rows[16] = {};
  } config;
  for (int t = 0; t < 8; ++t) {
    config.bytes_per_row[t] = 64;
    config.rows[t] = 16;
  }
  _tile_loadconfig(&config);
  alignas(64) static const uint16_t kOnes[16 * 32] = {};
  _tile_loadd(4, kOnes, 64);
  _tile_loadd(5, kOnes, 64);
  _tile_loadd(6, kOnes, 64);
  _tile_loadd(7, kOnes, 64);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  constexpr long kRounds = 5000000;
  const auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < kRounds; ++i) {
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  _tile_release();
  // Each tdpbf16ps: 16 x 16 sums of 32 products.
  return kRounds * 4.0 * 16 * 16 * 32 * 2 / seconds / 1e9;
}
#pragma GCC pop_options
#else
double TilePeakGflops() { return 0; }
#endif

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);
  actgrad::internal::SetParallelThreads(threads);
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  std::printf("threads %d; OpenBLAS %s (OPENBLAS_CORETYPE=%s); oneDNN %d.%d.%d\n\n", threads,
              openblas_get_corename(), coretype ? coretype : "(unset)", dnnl_version()->major,
              dnnl_version()->minor, dnnl_version()->patch);
  if (actgrad::internal::AmxGemmAvailable()) {
    std::printf("AMX tile units, one thread: %.0f GFLOP/s of bfloat16 products\n\n",
                TilePeakGflops());
  }
  std::printf(
      "| shape | m x n x k | OpenBLAS GFLOP/s | oneDNN GFLOP/s | oneDNN / OpenBLAS | max |diff| "
      "| small kernel GFLOP/s | small / oneDNN | small's max |diff| "
      "| packed kernel GFLOP/s | packed / oneDNN | packed's max |diff| "
      "| AMX kernel GFLOP/s | AMX / oneDNN | AMX's max |diff| "
      "| oneDNN's error | AMX's error |\n");
  std::printf(
      "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
      "---: | ---: | ---: | ---: |\n");
  std::mt19937 gen(1);
  std::normal_distribution<float> normal;
  for (const Shape& s : kShapes) {
    std::vector<float> a(size_t(s.m) * s.k), b(size_t(s.k) * s.n), c_blas(size_t(s.m) * s.n),
        c_dnnl(size_t(s.m) * s.n);
    for (float& v : a) v = normal(gen);
    for (float& v : b) v = normal(gen);
    const int lda = s.trans_a ? s.m : s.k, ldb = s.trans_b ? s.k : s.n;
    const double flop = 2.0 * s.m * s.n * s.k;
    const int reps = std::max(5, int(2e8 / flop));
    // Every candidate computes into its own C. The small kernel runs on small
    // shapes only, including some past its threshold, to show where the
    // library overtakes it; the packed one everywhere.
    const bool small_runs =
        actgrad::internal::SmallGemmAvailable() && int64_t{s.m} * s.n * s.k <= (1 << 21);
    const bool small_used = actgrad::internal::SmallGemmApplies(s.m, s.n, s.k);
    const bool amx_used = !small_used && actgrad::internal::AmxGemmApplies(s.m, s.n, s.k);
    const bool packed_used =
        !small_used && !amx_used &&
        actgrad::internal::PackedGemmApplies(s.trans_a, s.trans_b, s.m, s.n, s.k);
    std::vector<std::function<void(float*)>> candidates = {
        [&](float* c) {
          cblas_sgemm(CblasRowMajor, s.trans_a ? CblasTrans : CblasNoTrans,
                      s.trans_b ? CblasTrans : CblasNoTrans, s.m, s.n, s.k, 1.0f, a.data(), lda,
                      b.data(), ldb, 0.0f, c, s.n);
        },
        [&](float* c) {
          dnnl_sgemm(s.trans_a ? 'T' : 'N', s.trans_b ? 'T' : 'N', s.m, s.n, s.k, 1.0f, a.data(),
                     lda, b.data(), ldb, 0.0f, c, s.n);
        }};
    if (small_runs) {
      candidates.push_back([&](float* c) {
        actgrad::internal::SmallGemm(s.trans_a, s.trans_b, s.m, s.n, s.k, a.data(), lda, b.data(),
                                     ldb, c, s.n, false);
      });
    }
    const int packed_index = static_cast<int>(candidates.size());
    if (actgrad::internal::PackedGemmAvailable()) {
      candidates.push_back([&](float* c) {
        actgrad::internal::PackedGemm(s.trans_a, s.trans_b, s.m, s.n, s.k, a.data(), lda, b.data(),
                                      ldb, c, s.n, false);
      });
    }
    const int amx_index = static_cast<int>(candidates.size());
    if (actgrad::internal::AmxGemmAvailable()) {
      candidates.push_back([&](float* c) {
        actgrad::internal::AmxGemm(s.trans_a, s.trans_b, s.m, s.n, s.k, a.data(), lda, b.data(),
                                   ldb, c, s.n, false);
      });
    }
    // Rounds of one timing per candidate each, so that a change in the
    // machine's speed falls on all of them alike; each ratio to oneDNN is
    // the median of the rounds' ratios.
    std::vector<std::vector<float>> results(candidates.size(),
                                            std::vector<float>(size_t(s.m) * s.n));
    std::vector<std::vector<double>> seconds(candidates.size()), to_dnnl(candidates.size());
    for (int round = 0; round < 9; ++round) {
      std::vector<double> this_round;
      for (size_t i = 0; i < candidates.size(); ++i) {
        const auto start = std::chrono::steady_clock::now();
        for (int r = 0; r < reps; ++r) candidates[i](results[i].data());
        this_round.push_back(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / reps);
        seconds[i].push_back(this_round.back());
      }
      for (size_t i = 0; i < candidates.size(); ++i)
        to_dnnl[i].push_back(this_round[1] / this_round[i]);
    }
    auto diff_to_blas = [&](size_t i) {
      double diff = 0;
      for (size_t j = 0; j < results[0].size(); ++j) {
        diff = std::max(diff, double(std::abs(results[0][j] - results[i][j])));
      }
      return diff;
    };
    auto gflops = [&](size_t i) { return flop / Median(seconds[i]) / 1e9; };
    std::printf("| %s | %d x %d x %d | %.1f | %.1f | %.2f | %.1e |", s.name, s.m, s.n, s.k,
                gflops(0), gflops(1), 1 / Median(to_dnnl[0]), diff_to_blas(1));
    auto own = [&](bool runs, size_t i, bool used) {
      if (!runs) {
        std::printf(" - | - | - |");
        return;
      }
      std::printf(" %.1f | %.2f | %.1e%s |", gflops(i), Median(to_dnnl[i]), diff_to_blas(i),
                  used ? " (used)" : "");
    };
    own(small_runs, 2, small_used);
    own(actgrad::internal::PackedGemmAvailable(), packed_index, packed_used);
    own(actgrad::internal::AmxGemmAvailable(), amx_index, amx_used);
    auto error_against_float64 = [&](const std::vector<float>& c) {
      double worst = 0;
      for (int i = 0; i < s.m; i += 8) {
        for (int j = 0; j < s.n; ++j) {
          double exact = 0, magnitude = 0;
          for (int p = 0; p < s.k; ++p) {
            const double x = a[s.trans_a ? size_t(p) * lda + i : size_t(i) * lda + p];
            const double y = b[s.trans_b ? size_t(j) * ldb + p : size_t(p) * ldb + j];
            exact += x * y;
            magnitude += std::abs(x * y);
          }
          worst = std::max(worst, std::abs(c[size_t(i) * s.n + j] - exact) / magnitude);
        }
      }
      return worst;
    };
    std::printf(" %.2e |", error_against_float64(results[1]));
    if (actgrad::internal::AmxGemmAvailable()) {
      std::printf(" %.2e |", error_against_float64(results[amx_index]));
    } else {
      std::printf(" - |");
    }
    std::printf("\n");
  }
  return 0;
}
