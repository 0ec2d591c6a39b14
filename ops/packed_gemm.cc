#include "ops/packed_gemm.h"

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "graph/parallel.h"
#include "ops/gemm_lanes.h"

namespace actgrad::internal {

#if ACTGRAD_GEMM_LANES

namespace {

using Lanes = GemmLanes;
using Vec = Lanes::Vec;
constexpr int kWidth = Lanes::kWidth;
// Columns of a B panel and rows of an A block: the block of C the kernel
// keeps in registers. Three vectors by four rows ran at half the speed with
// AVX2, two by four at 0.9 of this.
constexpr int kVecs = 2;
constexpr int kPanel = kVecs * kWidth;
constexpr int kRows = Lanes::kRowsTwoWide;
// Depth of a block: one B panel is 16 KiB, half of L1, next to the A rows
// the kernel streams.
constexpr int64_t kDepth = 4096 / kPanel;
// Rows of A copied at a time (96 KiB with AVX2, 128 KiB with AVX-512: in
// L2), swept once per B panel.
constexpr int64_t kRowBlock = 16 * kRows;
// Columns of B copied at a time: 2 MiB of panels at most, in L3.
constexpr int64_t kColumnBlock = 2048;
// Products smaller than this stay on one thread: a second one costs more
// to start than it saves.
constexpr int64_t kParallelVolume = int64_t{1} << 21;
// Past this a side is not multiplied with others, so m * n * k cannot
// overflow.
constexpr int64_t kLargest = int64_t{1} << 20;

// C[kR rows, cols] (+)= A block [depth][kR] x B panel [depth][kPanel]; cols
// at most kPanel, the panel's columns past them zero.
template <int kR>
inline void Kernel(int64_t depth, const float* a, const float* b, float* c, int64_t ldc, int cols,
                   bool add_to_c) {
  // C's rows are far apart and, in large products, out of cache: asked for
  // now, they arrive while the sum runs instead of stalling the stores.
#pragma GCC unroll 16
  for (int r = 0; r < kR; ++r) {
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + kPanel - 1), _MM_HINT_T0);
  }
  Vec acc[kR][kVecs];
#pragma GCC unroll 16
  for (int r = 0; r < kR; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) acc[r][v] = Lanes::Zero();
  }
#pragma GCC unroll 4
  for (int64_t p = 0; p < depth; ++p) {
    Vec row[kVecs];
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) row[v] = Lanes::Load(b + p * kPanel + v * kWidth);
#pragma GCC unroll 16
    for (int r = 0; r < kR; ++r) {
      const Vec scalar = Lanes::Broadcast(a[p * kR + r]);
#pragma GCC unroll 4
      for (int v = 0; v < kVecs; ++v) acc[r][v] = Lanes::Fma(scalar, row[v], acc[r][v]);
    }
  }
  if (cols == kPanel) {
#pragma GCC unroll 16
    for (int r = 0; r < kR; ++r) {
#pragma GCC unroll 4
      for (int v = 0; v < kVecs; ++v) {
        float* to = c + r * ldc + v * kWidth;
        Lanes::Store(to, add_to_c ? Lanes::Add(Lanes::Load(to), acc[r][v]) : acc[r][v]);
      }
    }
    return;
  }
  for (int v = 0; v * kWidth < cols; ++v) {
    const typename Lanes::Mask mask = Lanes::FirstLanes(std::min(cols - v * kWidth, kWidth));
    for (int r = 0; r < kR; ++r) {
      float* to = c + r * ldc + v * kWidth;
      const Vec sum = add_to_c ? Lanes::Add(Lanes::LoadFirst(to, mask), acc[r][v]) : acc[r][v];
      Lanes::StoreFirst(to, mask, sum);
    }
  }
}

// Kernel<rows> for the 1 to kRows rows of a block.
void KernelFor(int rows, int64_t depth, const float* a, const float* b, float* c, int64_t ldc,
               int cols, bool add_to_c) {
  auto by_rows = [&]<int... kFewer>(std::integer_sequence<int, kFewer...>) {
    (void)((rows == kFewer + 1 &&
            (Kernel<kFewer + 1>(depth, a, b, c, ldc, cols, add_to_c), true)) ||
           ...);
  };
  by_rows(std::make_integer_sequence<int, kRows>());
}

// Rows [first_row, first_row + rows) of op(A), depths [first_depth,
// first_depth + depth), as blocks of kRows rows (the last may have fewer),
// each [depth][rows of the block].
void PackA(bool trans_a, const float* a, int64_t lda, int64_t first_row, int64_t rows,
           int64_t first_depth, int64_t depth, float* out) {
  for (int64_t i = 0; i < rows; i += kRows) {
    const int64_t block = std::min<int64_t>(kRows, rows - i);
    const int64_t row = first_row + i;
    if (trans_a) {
      for (int64_t p = 0; p < depth; ++p) {
        const float* from = a + (first_depth + p) * lda + row;
        for (int64_t r = 0; r < block; ++r) out[p * block + r] = from[r];
      }
    } else {
      for (int64_t r = 0; r < block; ++r) {
        const float* from = a + (row + r) * lda + first_depth;
        for (int64_t p = 0; p < depth; ++p) out[p * block + r] = from[p];
      }
    }
    out += block * depth;
  }
}

// Depths [first_depth, first_depth + depth) of op(B), columns [first_col,
// first_col + cols), as panels [depth][kPanel], zero past the last column.
void PackB(bool trans_b, const float* b, int64_t ldb, int64_t first_depth, int64_t depth,
           int64_t first_col, int64_t cols, float* out) {
  for (int64_t j = 0; j < cols; j += kPanel) {
    const int64_t width = std::min<int64_t>(kPanel, cols - j);
    const int64_t col = first_col + j;
    if (trans_b) {
      for (int64_t jj = 0; jj < width; ++jj) {
        const float* from = b + (col + jj) * ldb + first_depth;
        for (int64_t p = 0; p < depth; ++p) out[p * kPanel + jj] = from[p];
      }
      for (int64_t p = 0; p < depth && width < kPanel; ++p) {
        std::fill(out + p * kPanel + width, out + (p + 1) * kPanel, 0.0f);
      }
    } else if (width == kPanel) {
      for (int64_t p = 0; p < depth; ++p) {
        const float* from = b + (first_depth + p) * ldb + col;
        for (int v = 0; v < kVecs; ++v) {
          Lanes::Store(out + p * kPanel + v * kWidth, Lanes::Load(from + v * kWidth));
        }
      }
    } else {
      for (int64_t p = 0; p < depth; ++p) {
        const float* from = b + (first_depth + p) * ldb + col;
        std::copy(from, from + width, out + p * kPanel);
        std::fill(out + p * kPanel + width, out + (p + 1) * kPanel, 0.0f);
      }
    }
    out += depth * kPanel;
  }
}

}  // namespace

bool PackedGemmAvailable() { return true; }

bool PackedGemmApplies(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k) {
  if (m <= 0 || n <= 0 || k <= 0 || m > kLargest || n > kLargest || k > kLargest) return false;
#ifdef __AVX512F__
  // Not measured against oneDNN's AVX-512 kernels, which the small-product
  // measurements there found strong past 64^3.
  return false;
#else
  // Weight gradients, A^T B over a batch: oneDNN 2.6's AVX2 sgemm runs them
  // at half its speed on other products, and this kernel at 1.07-2.2x it
  // (bench/gemm_libraries, from 256 x 512 x 128 up: W3's, W7's and W8's).
  // Elsewhere the two are within noise of each other, and the library
  // stays.
  return trans_a && !trans_b && m * n * k >= (int64_t{1} << 22);
#endif
}

void PackedGemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a,
                int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  // The copies keep their capacity from call to call.
  thread_local std::vector<float> packed_b;
  const int64_t panels = (std::min(n, kColumnBlock) + kPanel - 1) / kPanel;
  packed_b.resize(static_cast<size_t>(panels * kPanel * std::min(k, kDepth)));
  const int64_t row_blocks = (m + kRowBlock - 1) / kRowBlock;
  const bool split = ParallelThreads() > 1 && row_blocks > 1 && m * n * k >= kParallelVolume;
  for (int64_t first_col = 0; first_col < n; first_col += kColumnBlock) {
    const int64_t cols = std::min(kColumnBlock, n - first_col);
    for (int64_t first_depth = 0; first_depth < k; first_depth += kDepth) {
      const int64_t depth = std::min(kDepth, k - first_depth);
      const bool add_to_c = accumulate || first_depth > 0;
      PackB(trans_b, b, ldb, first_depth, depth, first_col, cols, packed_b.data());
      // A thread_local named inside the lambda would be the worker's own.
      const float* const panels_of_b = packed_b.data();
      auto row_range = [&](int64_t first_block, int64_t last_block) {
        thread_local std::vector<float> packed_a;
        packed_a.resize(static_cast<size_t>(kRowBlock * depth));
        for (int64_t block = first_block; block < last_block; ++block) {
          const int64_t first_row = block * kRowBlock;
          const int64_t rows = std::min(kRowBlock, m - first_row);
          PackA(trans_a, a, lda, first_row, rows, first_depth, depth, packed_a.data());
          for (int64_t j = 0; j < cols; j += kPanel) {
            const float* panel = panels_of_b + (j / kPanel) * depth * kPanel;
            const int width = static_cast<int>(std::min<int64_t>(kPanel, cols - j));
            for (int64_t i = 0; i < rows; i += kRows) {
              KernelFor(static_cast<int>(std::min<int64_t>(kRows, rows - i)), depth,
                        packed_a.data() + i * depth, panel,
                        c + (first_row + i) * ldc + first_col + j, ldc, width, add_to_c);
            }
          }
        }
      };
      if (split) {
        ParallelForItems(row_blocks, row_range);
      } else {
        row_range(0, row_blocks);
      }
    }
  }
}

#else  // neither AVX-512 nor AVX2 with FMA

bool PackedGemmAvailable() { return false; }
bool PackedGemmApplies(bool, bool, int64_t, int64_t, int64_t) { return false; }

void PackedGemm(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t,
                float*, int64_t, bool) {}

#endif

}  // namespace actgrad::internal
