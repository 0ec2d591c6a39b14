#include "ops/gemm.h"

#include <cblas.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "ops/amx_gemm.h"
#include "ops/packed_gemm.h"
#include "ops/small_gemm.h"
#include "ops/threads.h"

#if ACTGRAD_HAS_ONEDNN
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#endif

namespace actgrad {

namespace internal {

void MatchOpenMpThreads() {
#if ACTGRAD_HAS_ONEDNN
  thread_local int told = 0;
  const int wanted = NumThreads();
  if (told != wanted) {
    omp_set_num_threads(wanted);
    told = wanted;
  }
#endif
}

}  // namespace internal

namespace {

#if ACTGRAD_HAS_ONEDNN

const char* IsaName(dnnl_cpu_isa_t isa) {
  switch (isa) {
    case dnnl_cpu_isa_sse41:
      return "sse41";
    case dnnl_cpu_isa_avx:
      return "avx";
    case dnnl_cpu_isa_avx2:
      return "avx2";
    case dnnl_cpu_isa_avx512_core:
      return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni:
      return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx:
      return "avx512_core_amx";
    default:
      return "other";
  }
}
#endif

}  // namespace

std::string GemmLibraryName() {
#if ACTGRAD_HAS_ONEDNN
  const dnnl_version_t* v = dnnl_version();
  std::string name = absl::StrCat("oneDNN ", v->major, ".", v->minor, ".", v->patch, " (",
                                  IsaName(dnnl_get_effective_cpu_isa()), ")");
#else
  std::string name = absl::StrCat("OpenBLAS (", BlasCoreName(), ")");
#endif
  if (internal::AmxGemmAvailable())
    absl::StrAppend(&name, ", AMX split bfloat16 for large products");
  return name;
}

namespace internal {

namespace {

// Handles what the libraries are not asked about: nothing to compute, or an
// empty sum (zeros, or C unchanged when accumulating). True when done.
template <typename T>
bool EmptyProduct(int64_t m, int64_t n, int64_t k, T* c, int64_t ldc, bool accumulate) {
  if (m == 0 || n == 0) return true;
  if (k != 0) return false;
  if (!accumulate) {
    for (int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, T(0));
  }
  return true;
}

template <typename T>
void CopyIntoEveryRow(const T* row, int64_t m, int64_t n, T* c) {
  for (int64_t i = 0; i < m; ++i) std::copy(row, row + n, c + i * n);
}

}  // namespace

void GemmStrided(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a,
                 int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  if (EmptyProduct(m, n, k, c, ldc, accumulate)) return;
  if (SmallGemmApplies(m, n, k)) {
    SmallGemm(trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
    return;
  }
  if (AmxGemmApplies(m, n, k) &&
      AmxGemm(trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc, accumulate)) {
    return;
  }
  if (PackedGemmApplies(trans_a, trans_b, m, n, k)) {
    PackedGemm(trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
    return;
  }
  const float beta = accumulate ? 1.0f : 0.0f;
  EnsureBlasThreads();
#if ACTGRAD_HAS_ONEDNN
  internal::MatchOpenMpThreads();
  dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
#else
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
#endif
}

void GemmStrided(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const double* a,
                 int64_t lda, const double* b, int64_t ldb, double* c, int64_t ldc,
                 bool accumulate) {
  if (EmptyProduct(m, n, k, c, ldc, accumulate)) return;
  EnsureBlasThreads();
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, m, n, k, 1.0, a, lda, b, ldb,
              accumulate ? 1.0 : 0.0, c, ldc);
}

void Gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a,
          const float* b, float* c, bool accumulate) {
  GemmStrided(trans_a, trans_b, m, n, k, a, trans_a ? m : k, b, trans_b ? k : n, c, n, accumulate);
}

void Gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const double* a,
          const double* b, double* c, bool accumulate) {
  GemmStrided(trans_a, trans_b, m, n, k, a, trans_a ? m : k, b, trans_b ? k : n, c, n, accumulate);
}

void GemmWithBias(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a,
                  const float* b, const float* bias, float* c) {
  const int64_t lda = trans_a ? m : k, ldb = trans_b ? k : n;
  if (AmxGemmApplies(m, n, k) &&
      AmxGemm(trans_a, trans_b, m, n, k, a, lda, b, ldb, c, n, /*accumulate=*/false, bias)) {
    return;
  }
  CopyIntoEveryRow(bias, m, n, c);
  GemmStrided(trans_a, trans_b, m, n, k, a, lda, b, ldb, c, n, /*accumulate=*/true);
}

void GemmWithBias(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const double* a,
                  const double* b, const double* bias, double* c) {
  CopyIntoEveryRow(bias, m, n, c);
  Gemm(trans_a, trans_b, m, n, k, a, b, c, /*accumulate=*/true);
}

}  // namespace internal
}  // namespace actgrad
