#include "ops/amx_gemm.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "graph/parallel.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
#define ACTGRAD_AMX_KERNEL 1
#include <cpuid.h>
#include <immintrin.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#else
#define ACTGRAD_AMX_KERNEL 0
#endif

namespace actgrad::internal {

namespace {

std::atomic<bool> amx_allowed{true};

// Below these the copies into tiles cost more than the tiles save
// (bench/gemm_libraries). A's copy is shared by n columns of C and B's by m
// rows: on one thread 128 x 512 x 256 ran 1.04-1.15x oneDNN's speed,
// 128 x 128 x 256 0.95x and 512 x 128 x 992 0.94x. On two, where oneDNN
// splits better and C's blocks of 128 x 256 are what the threads share,
// products 512 columns wide gained from 2^23 multiply-adds (128 x 512 x 256
// 1.11x, 256 x 512 x 128 1.24x, 128 x 512 x 784 1.16x) and narrower ones
// only past 2^27 (128 x 256 x 512 0.82x, 256 x 256 x 1024 0.97x,
// 768 x 256 x 1024 1.29x).
constexpr int64_t kSmallestRowsAndDepth = 128;
constexpr int64_t kSmallestColumns = 256;
constexpr int64_t kSmallestVolumeOneThread = int64_t{1} << 23;
constexpr int64_t kSmallestVolumeThreads = int64_t{1} << 27;
constexpr int64_t kSmallestWideColumnsThreads = 512;
constexpr int64_t kSmallestWideVolumeThreads = int64_t{1} << 23;
// Past this a side is not multiplied with others, so sizes cannot overflow.
constexpr int64_t kLargestSide = int64_t{1} << 20;
// The packed operands, at most.
constexpr int64_t kMostScratchBytes = int64_t{256} << 20;

}  // namespace

void SetAmxGemmAllowed(bool allowed) { amx_allowed.store(allowed, std::memory_order_relaxed); }

#if ACTGRAD_AMX_KERNEL

namespace {

bool DetectAmx() {
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
      !__builtin_cpu_supports("avx512bf16")) {
    return false;
  }
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  const bool amx_bf16 = edx & (1u << 22), amx_tile = edx & (1u << 24);
  if (!amx_bf16 || !amx_tile) return false;
  // Linux hands out the 8 KiB of tile state only to processes that ask.
  constexpr long kArchRequestPermission = 0x1023;
  constexpr long kTileDataFeature = 18;
  return syscall(SYS_arch_prctl, kArchRequestPermission, kTileDataFeature) == 0;
}

// A tile: 16 rows of 64 bytes, 32 bfloat16 each. A tile of A holds 16 rows
// of 32 depths; a tile of B holds 16 pairs of depths for 16 columns, each
// pair side by side, as the multiply reads them.
constexpr int kTileRows = 16;
constexpr int kTileDepth = 32;
constexpr int64_t kTileElements = kTileRows * kTileDepth;
constexpr int kParts = 3;
// The packed layout keeps what one block of C reads together: for each
// pair of tiles along m (or n) and each 32 depths, the two tiles' three
// parts in a row, 6 KiB.
constexpr int64_t kGroupElements = 2 * kParts * kTileElements;
// C is computed in blocks of 8 x 16 tiles (128 x 256 floats), over up to
// 1024 depths at a time: one pair of B's tiles over those depths stays in
// L2 while A's rows stream past it.
constexpr int64_t kRowPairsPerBlock = 4;
constexpr int64_t kColumnPairsPerBlock = 8;
constexpr int64_t kDepthBlocksPerPass = 32;
constexpr int64_t kShallowestInPlace = 128;
constexpr int64_t kStagingRows = 32 * kRowPairsPerBlock;
constexpr int64_t kStagingColumns = 32 * kColumnPairsPerBlock;

// The smallest nonzero and the largest |x| an operand holds, as the bits
// of a positive float (which order like the floats); NaN and infinity
// compare above every finite float.
struct Magnitudes {
  int32_t smallest_nonzero = INT32_MAX;
  int32_t largest = 0;
};

void Merge(const Magnitudes& from, Magnitudes& into) {
  into.smallest_nonzero = std::min(into.smallest_nonzero, from.smallest_nonzero);
  into.largest = std::max(into.largest, from.largest);
}

constexpr int32_t PowerOfTwoBits(int exponent) { return (127 + exponent) << 23; }

constexpr int32_t kSmallestMagnitude = PowerOfTwoBits(-100);
constexpr int32_t kLargestMagnitude = PowerOfTwoBits(100);

// Finite, and zero or of a magnitude in [2^-100, 2^100].
bool WithinSplitBounds(const Magnitudes& x) {
  return x.largest <= kLargestMagnitude &&
         (x.smallest_nonzero == INT32_MAX || x.smallest_nonzero >= kSmallestMagnitude);
}

// Every part product of two operands within these bounds is a normal
// float: the smallest part of x is at least 2^-24 |x|.
bool SplitStaysNormal(const Magnitudes& a, const Magnitudes& b) {
  if (!WithinSplitBounds(a) || !WithinSplitBounds(b)) return false;
  if (a.smallest_nonzero == INT32_MAX || b.smallest_nonzero == INT32_MAX) return true;
  return double(std::bit_cast<float>(a.smallest_nonzero)) *
             double(std::bit_cast<float>(b.smallest_nonzero)) >=
         std::ldexp(1.0, -100);
}

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

// Scratch memory in 2 MiB pages: the packed operands are read in tile-size
// pieces from all over, and on 4 KiB pages the kernel ran 1.6x slower,
// waiting on the TLB.
class HugePageBuffer {
 public:
  void* Reserve(int64_t bytes) {
    constexpr int64_t kHugePage = int64_t{2} << 20;
    if (bytes > capacity_) {
      const int64_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
      memory_.reset(std::aligned_alloc(kHugePage, static_cast<size_t>(rounded)));
      if (memory_ == nullptr) {
        capacity_ = 0;
        return nullptr;
      }
      madvise(memory_.get(), static_cast<size_t>(rounded), MADV_HUGEPAGE);
      capacity_ = rounded;
    }
    return memory_.get();
  }

 private:
  std::unique_ptr<void, FreeDeleter> memory_;
  int64_t capacity_ = 0;
};

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512bf16,amx-tile,amx-bf16")

struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t bytes_per_row[16] = {};
  uint8_t rows[16] = {};
};

void ConfigureTiles() {
  TileConfig config;
  for (int t = 0; t < 8; ++t) {
    config.bytes_per_row[t] = 64;
    config.rows[t] = kTileRows;
  }
  _tile_loadconfig(&config);
}

// x rounded to its 8 leading significant bits (ties away from zero), a
// float that bfloat16 holds exactly: carrying into the exponent is right,
// and the sign is untouched for the finite magnitudes the kernel takes.
// Integer operations only, which the vector units run on either port.
inline __m512 RoundToEightBits(__m512 x) {
  const __m512i carried = _mm512_add_epi32(_mm512_castps_si512(x), _mm512_set1_epi32(0x8000));
  return _mm512_castsi512_ps(
      _mm512_and_si512(carried, _mm512_set1_epi32(static_cast<int32_t>(0xffff0000u))));
}

// Two vectors of floats that bfloat16 holds exactly, as 32 bfloat16 taken
// alternately: first[0], second[0], first[1], second[1], ...
inline __m512i Interleave(__m512 first, __m512 second) {
  return _mm512_mask_blend_epi16(0xaaaaaaaau, _mm512_srli_epi32(_mm512_castps_si512(first), 16),
                                 _mm512_castps_si512(second));
}

// first and second split exactly into three parts, each taking the next 8
// significant bits of what is left (the last takes at most 8), for floats
// within the bounds above; part[p] holds part p of both, interleaved.
inline void SplitInThree(__m512 first, __m512 second, __m512i part[kParts]) {
  for (int p = 0; p + 1 < kParts; ++p) {
    const __m512 first_top = RoundToEightBits(first), second_top = RoundToEightBits(second);
    part[p] = Interleave(first_top, second_top);
    first = _mm512_sub_ps(first, first_top);
    second = _mm512_sub_ps(second, second_top);
  }
  part[kParts - 1] = Interleave(first, second);
}

inline void Observe(__m512 x, __m512i& smallest, __m512i& largest) {
  const __m512i bits = _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(0x7fffffff));
  largest = _mm512_max_epi32(largest, bits);
  const __mmask16 nonzero = _mm512_test_epi32_mask(bits, bits);
  smallest = _mm512_mask_min_epi32(smallest, nonzero, smallest, bits);
}

// dst's 16 rows (dst_stride apart) = the columns of src's 16 x 16 floats.
inline void Transpose16x16(const float* src, int64_t src_stride, float* dst, int64_t dst_stride) {
  __m512 rows[16], pairs[16], quads[16];
  for (int i = 0; i < 16; ++i) rows[i] = _mm512_loadu_ps(src + i * src_stride);
  // In each 128-bit lane: rows 2i and 2i+1 interleaved, then four rows' worth
  // of one column in each lane of quads[4 g + q] (rows 4g..4g+3, column 4
  // lane + q).
  for (int i = 0; i < 8; ++i) {
    pairs[2 * i] = _mm512_unpacklo_ps(rows[2 * i], rows[2 * i + 1]);
    pairs[2 * i + 1] = _mm512_unpackhi_ps(rows[2 * i], rows[2 * i + 1]);
  }
  for (int g = 0; g < 4; ++g) {
    quads[4 * g] = _mm512_shuffle_ps(pairs[4 * g], pairs[4 * g + 2], 0x44);
    quads[4 * g + 1] = _mm512_shuffle_ps(pairs[4 * g], pairs[4 * g + 2], 0xEE);
    quads[4 * g + 2] = _mm512_shuffle_ps(pairs[4 * g + 1], pairs[4 * g + 3], 0x44);
    quads[4 * g + 3] = _mm512_shuffle_ps(pairs[4 * g + 1], pairs[4 * g + 3], 0xEE);
  }
  // Then the lanes: column 4 lane + q gathers lane `lane` of quads[q],
  // quads[4 + q], quads[8 + q] and quads[12 + q].
  for (int q = 0; q < 4; ++q) {
    const __m512 even_low = _mm512_shuffle_f32x4(quads[q], quads[4 + q], 0x88);
    const __m512 odd_low = _mm512_shuffle_f32x4(quads[q], quads[4 + q], 0xDD);
    const __m512 even_high = _mm512_shuffle_f32x4(quads[8 + q], quads[12 + q], 0x88);
    const __m512 odd_high = _mm512_shuffle_f32x4(quads[8 + q], quads[12 + q], 0xDD);
    _mm512_store_ps(dst + q * dst_stride, _mm512_shuffle_f32x4(even_low, even_high, 0x88));
    _mm512_store_ps(dst + (8 + q) * dst_stride, _mm512_shuffle_f32x4(even_low, even_high, 0xDD));
    _mm512_store_ps(dst + (4 + q) * dst_stride, _mm512_shuffle_f32x4(odd_low, odd_high, 0x88));
    _mm512_store_ps(dst + (12 + q) * dst_stride, _mm512_shuffle_f32x4(odd_low, odd_high, 0xDD));
  }
}

// Two vectors of an operand: their magnitudes noted, and both split in three.
inline void ObserveAndSplit(__m512 first, __m512 second, __m512i parts[kParts], __m512i& smallest,
                            __m512i& largest) {
  Observe(first, smallest, largest);
  Observe(second, smallest, largest);
  SplitInThree(first, second, parts);
}

// The first min(count, 16) lanes, for count > 0.
inline __mmask16 FirstLanes(int64_t count) {
  return static_cast<__mmask16>(count >= 16 ? 0xffff : (1u << count) - 1);
}

// `rows` rows of 16 `vectors` floats from x (rows `ld` apart) into `to`
// (rows `to_stride` apart), reading only x's first `valid_rows` rows and
// `valid_columns` columns, which may be fewer or none; zeros past them.
// For the tiles cut by an operand's edges.
inline void LoadCut(const float* x, int64_t ld, int rows, int vectors, int64_t valid_rows,
                    int64_t valid_columns, float* to, int64_t to_stride) {
  for (int r = 0; r < rows; ++r) {
    for (int v = 0; v < vectors; ++v) {
      const int64_t left = valid_columns - 16 * v;
      __m512 values = _mm512_setzero_ps();
      if (r < valid_rows && left > 0) {
        values = _mm512_maskz_loadu_ps(FirstLanes(left), x + r * ld + 16 * v);
      }
      _mm512_store_ps(to + r * to_stride + 16 * v, values);
    }
  }
}

// One tile's floats into `stage`, stage_rows x stage_columns (16 x 32 or
// 32 x 16): from x, whose rows (`ld` apart) run along the stage's rows when
// `direct` and along its columns otherwise. Only the stage's first
// `valid_rows` rows and `valid_columns` columns lie inside the operand;
// the rest are zeros.
inline void StageTile(const float* x, int64_t ld, bool direct, int stage_rows, int stage_columns,
                      int64_t valid_rows, int64_t valid_columns, float* stage) {
  const bool whole = valid_rows >= stage_rows && valid_columns >= stage_columns;
  if (direct) {
    if (!whole) {
      LoadCut(x, ld, stage_rows, stage_columns / 16, valid_rows, valid_columns, stage,
              stage_columns);
      return;
    }
    for (int r = 0; r < stage_rows; ++r) {
      for (int c = 0; c < stage_columns; c += 16) {
        _mm512_store_ps(stage + r * stage_columns + c, _mm512_loadu_ps(x + r * ld + c));
      }
    }
    return;
  }
  alignas(64) float cut[kTileRows * kTileDepth];
  if (!whole) {
    LoadCut(x, ld, stage_columns, stage_rows / 16, valid_columns, valid_rows, cut, stage_rows);
    x = cut;
    ld = stage_rows;
  }
  for (int i = 0; i < stage_columns / 16; ++i) {
    for (int j = 0; j < stage_rows / 16; ++j) {
      Transpose16x16(x + 16 * i * ld + 16 * j, ld, stage + 16 * j * stage_columns + 16 * i,
                     stage_columns);
    }
  }
}

// fn(tile, depth_block, x at the tile's depth_block) for each tile in
// [first_tile, last_tile) and block of depth, in the order that reads an
// operand along its rows: the depths outside (each block of depth across
// the tiles) when `depths_outside`, else each tile's blocks in turn. x is
// the operand as stored, rows `ld` apart, its rows running along the depths
// when `depths_outside` and along the tiles' rows otherwise.
template <typename Fn>
inline void ForEachTileInReadingOrder(const float* x, int64_t ld, int64_t first_tile,
                                      int64_t last_tile, int64_t depth_blocks, bool depths_outside,
                                      Fn fn) {
  const int64_t tiles = last_tile - first_tile;
  for (int64_t step = 0; step < tiles * depth_blocks; ++step) {
    const int64_t tile = first_tile + (depths_outside ? step % tiles : step / depth_blocks);
    const int64_t block = depths_outside ? step / tiles : step % depth_blocks;
    const int64_t row0 = tile * kTileRows, depth0 = block * kTileDepth;
    fn(tile, block, depths_outside ? x + depth0 * ld + row0 : x + row0 * ld + depth0);
  }
}

int64_t TileOffset(int64_t tile, int64_t depth_block, int64_t depth_blocks) {
  return ((tile / 2) * depth_blocks + depth_block) * kGroupElements +
         (tile % 2) * kParts * kTileElements;
}

// Tiles [first_tile, last_tile) of op(A) (16 rows each) or, `as_b`, of
// op(B) (16 columns each), zeros past its `lines` rows (or columns) and k
// depths; x stored as the product's `trans` says. A tile of A is staged as
// 16 rows of 32 depths, one of B as 32 depths of 16 columns. The tile units
// multiply A's words 2i and 2i + 1 of a row by the two words of B's row i
// in each column, so each tile row interleaves two runs of 16 floats: in
// A's row, depths 0-15 with 16-31 (depth order 0, 16, 1, 17, ...); in B's
// row i, depth i with depth i + 16 of each column. The two orders agree,
// and neither takes a shuffle across the vector.
void PackTiles(bool as_b, bool trans, const float* x, int64_t ld, int64_t lines, int64_t k,
               int64_t first_tile, int64_t last_tile, int64_t depth_blocks, uint16_t* packed,
               Magnitudes& seen) {
  alignas(64) float stage[kTileRows * kTileDepth];
  __m512i smallest = _mm512_set1_epi32(INT32_MAX), largest = _mm512_setzero_si512();
  // Each tile's depths in turn when its rows (or columns) are stored as
  // rows, so that its 16 of them are read along; the depths outside when
  // the depths are stored as rows, so that each is read along across the
  // tiles.
  const bool depths_stored_as_rows = as_b != trans;
  ForEachTileInReadingOrder(
      x, ld, first_tile, last_tile, depth_blocks, depths_stored_as_rows,
      [&](int64_t tile, int64_t block, const float* from) {
        const int64_t valid_lines = lines - tile * kTileRows, valid_depths = k - block * kTileDepth;
        if (as_b) {
          StageTile(from, ld, !trans, kTileDepth, kTileRows, valid_depths, valid_lines, stage);
        } else {
          StageTile(from, ld, !trans, kTileRows, kTileDepth, valid_lines, valid_depths, stage);
        }
        uint16_t* out = packed + TileOffset(tile, block, depth_blocks);
        for (int row = 0; row < kTileRows; ++row) {
          const float* first = as_b ? stage + row * kTileRows : stage + row * kTileDepth;
          const float* second = as_b ? first + 16 * kTileRows : first + 16;
          __m512i parts[kParts];
          ObserveAndSplit(_mm512_load_ps(first), _mm512_load_ps(second), parts, smallest, largest);
          for (int part = 0; part < kParts; ++part) {
            _mm512_store_si512(out + part * kTileElements + row * kTileDepth, parts[part]);
          }
        }
      });
  seen.smallest_nonzero = _mm512_reduce_min_epi32(smallest);
  seen.largest = _mm512_reduce_max_epi32(largest);
}

// What ObserveAndSplit would note of rows [first, last) of a matrix stored
// with `columns` floats in each.
Magnitudes ObserveRows(const float* x, int64_t ld, int64_t columns, int64_t first, int64_t last) {
  __m512i smallest = _mm512_set1_epi32(INT32_MAX), largest = _mm512_setzero_si512();
  for (int64_t r = first; r < last; ++r) {
    const float* row = x + r * ld;
    int64_t c = 0;
    for (; c + 16 <= columns; c += 16) Observe(_mm512_loadu_ps(row + c), smallest, largest);
    if (c < columns)
      Observe(_mm512_maskz_loadu_ps(FirstLanes(columns - c), row + c), smallest, largest);
  }
  return {_mm512_reduce_min_epi32(smallest), _mm512_reduce_max_epi32(largest)};
}

// Tiles 4 and 5: two tiles of A's part; 6 and 7: two of B's; 0-3: the 2 x 2
// tiles of C.
inline void LoadA(const uint16_t* group, int part) {
  _tile_loadd(4, group + part * kTileElements, 64);
  _tile_loadd(5, group + (kParts + part) * kTileElements, 64);
}

// C's tiles += the A and B tiles loaded.
inline void MultiplyLoaded() {
  _tile_dpbf16ps(0, 4, 6);
  _tile_dpbf16ps(1, 4, 7);
  _tile_dpbf16ps(2, 5, 6);
  _tile_dpbf16ps(3, 5, 7);
}

inline void MultiplyByB(const uint16_t* group, int part) {
  _tile_loadd(6, group + part * kTileElements, 64);
  _tile_loadd(7, group + (kParts + part) * kTileElements, 64);
  MultiplyLoaded();
}

// C's 32 x 32 floats at c = the groups' products over `depth_blocks`, plus
// C when `add_to_c`, or else plus `start_row`'s 32 floats in every row when
// it is not null.
void MultiplyBlock(const uint16_t* a, const uint16_t* b, int64_t depth_blocks, float* c,
                   int64_t ldc, bool add_to_c, const float* start_row) {
  const int64_t stride = ldc * int64_t{sizeof(float)};
  if (add_to_c) {
    _tile_loadd(0, c, stride);
    _tile_loadd(1, c + 16, stride);
    _tile_loadd(2, c + 16 * ldc, stride);
    _tile_loadd(3, c + 16 * ldc + 16, stride);
  } else if (start_row != nullptr) {
    // A stride of 0 bytes: each of the tile's rows reads the same floats.
    _tile_loadd(0, start_row, 0);
    _tile_loadd(1, start_row + 16, 0);
    _tile_loadd(2, start_row, 0);
    _tile_loadd(3, start_row + 16, 0);
  } else {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
  }
  for (int64_t block = 0; block < depth_blocks; ++block) {
    const uint16_t* a_group = a + block * kGroupElements;
    const uint16_t* b_group = b + block * kGroupElements;
    // Each step changes the part of one operand only, the largest term
    // last: 14 loads of tiles, against 18 when each A part is loaded once
    // and B's parts around it. The tile units wait on those loads from L2:
    // at 1024^3 this order took 5 % less time.
    LoadA(a_group, 2);
    MultiplyByB(b_group, 0);  // a2 b0
    LoadA(a_group, 1);
    MultiplyLoaded();         // a1 b0
    MultiplyByB(b_group, 1);  // a1 b1
    LoadA(a_group, 0);
    MultiplyLoaded();         // a0 b1
    MultiplyByB(b_group, 2);  // a0 b2
    MultiplyByB(b_group, 0);  // a0 b0
  }
  _tile_stored(0, c, stride);
  _tile_stored(1, c + 16, stride);
  _tile_stored(2, c + 16 * ldc, stride);
  _tile_stored(3, c + 16 * ldc + 16, stride);
}

// An operand as the caller stores it, for observing and copying into tiles
// block by block: op(A)'s `lines` rows or op(B)'s `lines` columns, over k
// depths.
struct Unpacked {
  bool trans;
  const float* x;
  int64_t ld, lines, k;

  // What ObserveAndSplit would note of part [first, last) of `parts` of the
  // rows the operand is stored in: its depths when it is A transposed or B
  // not transposed (as PackTiles reads it), its lines otherwise.
  Magnitudes ObserveStoredRows(bool as_b, int64_t first, int64_t last, int64_t parts) const {
    const bool depths_stored_as_rows = as_b != trans;
    const int64_t rows = depths_stored_as_rows ? k : lines;
    const int64_t columns = depths_stored_as_rows ? lines : k;
    return ObserveRows(x, ld, columns, first * rows / parts, last * rows / parts);
  }
};

// An operand copied into tiles a block at a time, into `buffer`, which
// holds one block: op(A)'s pairs of tile rows or op(B)'s pairs of tile
// columns.
struct BlockCopy {
  bool as_b;
  const Unpacked& from;
  int64_t depth_blocks;
  uint16_t* buffer;
  int64_t held = -1;  // the block in `buffer`

  // Block `block`, pairs [first_pair, last_pair), copied unless it is held
  // already (then `seen` and `copied` are left as they are), as a pointer to
  // where pair 0's groups would start were all of the operand packed.
  const uint16_t* Get(int64_t block, int64_t first_pair, int64_t last_pair, Magnitudes& seen,
                      bool& copied) {
    uint16_t* rebased = buffer - first_pair * depth_blocks * kGroupElements;
    if (held != block) {
      PackTiles(as_b, from.trans, from.x, from.ld, from.lines, from.k, 2 * first_pair,
                2 * last_pair, depth_blocks, rebased, seen);
      held = block;
      copied = true;
    }
    return rebased;
  }
};

struct PackedProduct {
  const uint16_t* b;  // null when B is copied into tiles block by block, as A is
  int64_t m, n, row_pairs, column_pairs, depth_blocks;
  int64_t column_pairs_per_block;
  float* c;
  int64_t ldc;
  bool accumulate;
  const float* bias;  // 32 column_pairs floats, or null
  // When A (and B, when it is copied block by block) has not been observed
  // first, each block's two operands are checked against each other before
  // they are multiplied, and a refusal is recorded. The magnitudes of a B
  // copied whole are those it is checked against.
  bool checks_blocks;
  Magnitudes a_seen, b_seen;
  std::atomic<bool>* refused;
};

// The blocks of C with numbers [first, last), along n then m: A is copied
// into tiles here, once for each block of rows, into `block_a`, which stays
// in L2 while it is read. B, when it is copied here too (C then has one
// block of rows), goes into `block_b` a block of columns at a time.
// `staging` holds kStagingRows x kStagingColumns floats.
void MultiplyBlocks(const PackedProduct& p, const Unpacked& unpacked_a, const Unpacked& unpacked_b,
                    uint16_t* block_a, uint16_t* block_b, float* staging, int64_t first,
                    int64_t last) {
  const bool packs_b = p.b == nullptr;
  const int64_t blocks_along_n =
      (p.column_pairs + p.column_pairs_per_block - 1) / p.column_pairs_per_block;
  BlockCopy copy_a{/*as_b=*/false, unpacked_a, p.depth_blocks, block_a};
  BlockCopy copy_b{/*as_b=*/true, unpacked_b, p.depth_blocks, block_b};
  Magnitudes a_seen = p.a_seen, b_seen = p.b_seen;
  ConfigureTiles();
  for (int64_t block = first; block < last; ++block) {
    if (p.checks_blocks && p.refused->load(std::memory_order_relaxed)) break;
    const int64_t row_block = block / blocks_along_n, column_block = block % blocks_along_n;
    const int64_t first_row_pair = row_block * kRowPairsPerBlock;
    const int64_t first_column_pair = column_block * p.column_pairs_per_block;
    const int64_t last_row_pair = std::min(p.row_pairs, first_row_pair + kRowPairsPerBlock);
    const int64_t last_column_pair =
        std::min(p.column_pairs, first_column_pair + p.column_pairs_per_block);
    bool copied = false;
    const uint16_t* a = copy_a.Get(row_block, first_row_pair, last_row_pair, a_seen, copied);
    const uint16_t* b =
        packs_b ? copy_b.Get(column_block, first_column_pair, last_column_pair, b_seen, copied)
                : p.b;
    if (p.checks_blocks && copied && !SplitStaysNormal(a_seen, b_seen)) {
      p.refused->store(true, std::memory_order_relaxed);
      break;
    }
    // Pieces of C are summed in place where the block lies whole inside C;
    // otherwise in `staging`, whose part inside C is then copied or added
    // out. In place, C's values start the sums: rounded after each of the
    // six part products, at C's scale, which shallow products (fewer than
    // kShallowestInPlace depths) cannot hold to a float32 product's bound,
    // so theirs are added after the product, rounding once.
    const int64_t rows = std::min(p.m, 32 * last_row_pair) - 32 * first_row_pair;
    const int64_t columns = std::min(p.n, 32 * last_column_pair) - 32 * first_column_pair;
    const bool staged = (p.accumulate && p.depth_blocks * kTileDepth < kShallowestInPlace) ||
                        rows < 32 * (last_row_pair - first_row_pair) ||
                        columns < 32 * (last_column_pair - first_column_pair);
    float* out = staged ? staging : p.c + 32 * first_row_pair * p.ldc + 32 * first_column_pair;
    const int64_t ld = staged ? kStagingColumns : p.ldc;
    for (int64_t depth = 0; depth < p.depth_blocks; depth += kDepthBlocksPerPass) {
      const int64_t depth_blocks = std::min(kDepthBlocksPerPass, p.depth_blocks - depth);
      for (int64_t j = first_column_pair; j < last_column_pair; ++j) {
        for (int64_t i = first_row_pair; i < last_row_pair; ++i) {
          MultiplyBlock(a + (i * p.depth_blocks + depth) * kGroupElements,
                        b + (j * p.depth_blocks + depth) * kGroupElements, depth_blocks,
                        out + 32 * (i - first_row_pair) * ld + 32 * (j - first_column_pair), ld,
                        depth > 0 || (p.accumulate && !staged),
                        p.bias == nullptr ? nullptr : p.bias + 32 * j);
        }
      }
    }
    if (staged) {
      float* c = p.c + 32 * first_row_pair * p.ldc + 32 * first_column_pair;
      for (int64_t r = 0; r < rows; ++r) {
        const float* from = staging + r * kStagingColumns;
        float* to = c + r * p.ldc;
        if (p.accumulate) {
          for (int64_t x = 0; x < columns; ++x) to[x] += from[x];
        } else {
          std::copy_n(from, columns, to);
        }
      }
    }
  }
  _tile_release();
}

#pragma GCC pop_options

void OnThreads(int64_t items, bool split, absl::FunctionRef<void(int64_t, int64_t)> fn) {
  if (split) {
    ParallelForItems(items, fn);
  } else {
    fn(0, items);
  }
}

}  // namespace

bool AmxGemmAvailable() {
  static const bool available = DetectAmx();
  return available;
}

bool AmxGemmApplies(int64_t m, int64_t n, int64_t k) {
  if (m < kSmallestRowsAndDepth || k < kSmallestRowsAndDepth || n < kSmallestColumns) return false;
  if (m > kLargestSide || n > kLargestSide || k > kLargestSide) return false;
  const int64_t smallest_volume = ParallelThreads() == 1             ? kSmallestVolumeOneThread
                                  : n >= kSmallestWideColumnsThreads ? kSmallestWideVolumeThreads
                                                                     : kSmallestVolumeThreads;
  if (m * n * k < smallest_volume) return false;
  return amx_allowed.load(std::memory_order_relaxed) && AmxGemmAvailable();
}

bool AmxGemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a,
             int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate,
             const float* bias) {
  if (m <= 0 || n <= 0 || k <= 0 || m > kLargestSide || n > kLargestSide || k > kLargestSide ||
      (accumulate && bias != nullptr)) {
    return false;
  }
  const int64_t row_pairs = (m + 31) / 32, column_pairs = (n + 31) / 32;
  const int64_t depth_blocks = (k + kTileDepth - 1) / kTileDepth;
  // A is copied into tiles a block of rows at a time, just before the block
  // is multiplied, so that it is read from L2, whichever way it is stored:
  // copied whole when stored [k, m], as the weight gradients' A is, W8's
  // in_proj and linear1 weight gradients ran at 180 and 183 GFLOP/s on one
  // thread against 226 and 227 by blocks, W3's first layer's at 200 against
  // 223. When C has a single block of rows, B is copied a block of columns at a time too, half a
  // block wide, so that both stay in L2 (W3's first layer, 128 x 512 x 784:
  // ~200 -> ~235 GFLOP/s) rather than B being written whole and read back
  // from L3.
  const bool packs_b_by_block = row_pairs <= kRowPairsPerBlock;
  const int64_t column_pairs_per_block =
      packs_b_by_block ? kColumnPairsPerBlock / 2 : kColumnPairsPerBlock;
  // An operand copied block by block is observed before anything is
  // written only when C's values are needed again (accumulating);
  // otherwise each block is checked as it is copied, and a refusal partway
  // leaves C for the next kernel to overwrite, saving a read of the
  // operand.
  const bool observes_first = accumulate;
  const int64_t b_elements = packs_b_by_block ? 0 : column_pairs * depth_blocks * kGroupElements;
  const bool split = ParallelThreads() > 1;
  const int64_t blocks = ((row_pairs + kRowPairsPerBlock - 1) / kRowPairsPerBlock) *
                         ((column_pairs + column_pairs_per_block - 1) / column_pairs_per_block);
  // The blocks of C in as many ranges as threads, each with its own blocks
  // of the operands copied block by block.
  const int64_t ranges = split ? std::min<int64_t>(ParallelThreads(), blocks) : 1;
  const int64_t blocks_per_range = (blocks + ranges - 1) / ranges;
  const int64_t block_a_elements = kRowPairsPerBlock * depth_blocks * kGroupElements;
  const int64_t block_b_elements =
      packs_b_by_block ? column_pairs_per_block * depth_blocks * kGroupElements : 0;
  const int64_t packed_bytes =
      (b_elements + ranges * (block_a_elements + block_b_elements)) * int64_t{2};
  const int64_t staging_bytes = ranges * kStagingRows * kStagingColumns * int64_t{4};
  if (packed_bytes + staging_bytes > kMostScratchBytes) return false;

  // The buffers keep their capacity from call to call, on the calling thread.
  thread_local HugePageBuffer packed_buffer;
  auto* scratch = static_cast<char*>(packed_buffer.Reserve(staging_bytes + packed_bytes));
  if (scratch == nullptr) return false;
  auto* staging = reinterpret_cast<float*>(scratch);
  auto* packed = reinterpret_cast<uint16_t*>(scratch + staging_bytes);
  uint16_t* packed_b = packed;
  uint16_t* blocks_a = packed_b + b_elements;
  uint16_t* blocks_b = blocks_a + ranges * block_a_elements;

  // Items: A's pairs of tiles, observed here when it is observed first (its
  // stored rows in as many ranges), then B's pairs of tiles, each copied
  // whole here or, when it is copied block by block and observed first,
  // only observed. Each thread's range records what it saw of A at its
  // first item, and of B at its first item past A's.
  const Unpacked unpacked_a{trans_a, a, lda, m, k};
  const Unpacked unpacked_b{trans_b, b, ldb, n, k};
  const int64_t a_items = observes_first ? row_pairs : 0;
  const int64_t b_items = packs_b_by_block && !observes_first ? 0 : column_pairs;
  std::vector<Magnitudes> seen(static_cast<size_t>(a_items + b_items));
  OnThreads(a_items + b_items, split, [&](int64_t first, int64_t last) {
    if (first < a_items) {
      seen[first] =
          unpacked_a.ObserveStoredRows(/*as_b=*/false, first, std::min(last, a_items), a_items);
    }
    if (last > a_items) {
      const int64_t first_b = std::max(first, a_items) - a_items, last_b = last - a_items;
      if (packs_b_by_block) {
        seen[a_items + first_b] =
            unpacked_b.ObserveStoredRows(/*as_b=*/true, first_b, last_b, b_items);
      } else {
        PackTiles(/*as_b=*/true, trans_b, b, ldb, n, k, 2 * first_b, 2 * last_b, depth_blocks,
                  packed_b, seen[a_items + first_b]);
      }
    }
  });
  Magnitudes a_seen, b_seen;
  for (int64_t item = 0; item < a_items + b_items; ++item) {
    Merge(seen[item], item < a_items ? a_seen : b_seen);
  }
  const bool checks_blocks = a_items == 0 || b_items == 0;
  if (!checks_blocks && !SplitStaysNormal(a_seen, b_seen)) return false;
  // The bias, padded with zeros to whole tiles, within the same bounds: the
  // tiles would take a subnormal one as zero.
  thread_local std::vector<float> padded_bias;
  if (bias != nullptr) {
    if (!WithinSplitBounds(ObserveRows(bias, n, n, 0, 1))) return false;
    padded_bias.assign(static_cast<size_t>(32 * column_pairs), 0.0f);
    std::copy(bias, bias + n, padded_bias.begin());
  }

  std::atomic<bool> refused{false};
  const PackedProduct product{.b = packs_b_by_block ? nullptr : packed_b,
                              .m = m,
                              .n = n,
                              .row_pairs = row_pairs,
                              .column_pairs = column_pairs,
                              .depth_blocks = depth_blocks,
                              .column_pairs_per_block = column_pairs_per_block,
                              .c = c,
                              .ldc = ldc,
                              .accumulate = accumulate,
                              .bias = bias == nullptr ? nullptr : padded_bias.data(),
                              .checks_blocks = checks_blocks,
                              .a_seen = a_seen,
                              .b_seen = b_seen,
                              .refused = &refused};
  OnThreads(ranges, ranges > 1, [&](int64_t first, int64_t last) {
    for (int64_t range = first; range < last; ++range) {
      MultiplyBlocks(product, unpacked_a, unpacked_b, blocks_a + range * block_a_elements,
                     blocks_b + range * block_b_elements,
                     staging + range * kStagingRows * kStagingColumns, range * blocks_per_range,
                     std::min(blocks, (range + 1) * blocks_per_range));
    }
  });
  return !refused.load();
}

#else  // no AMX kernel in this build

bool AmxGemmAvailable() { return false; }
bool AmxGemmApplies(int64_t, int64_t, int64_t) { return false; }
bool AmxGemm(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t,
             float*, int64_t, bool, const float*) {
  return false;
}

#endif

}  // namespace actgrad::internal
