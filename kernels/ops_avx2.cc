// AVX2 float primitives for attention and the cache: row conversions, dot, axpy, exp.
#include <immintrin.h>

#include <cmath>

#include "kernels/block_unpack.h"
#include "kernels/kernel_paths.h"
#include "kernels/simd_avx2.h"

namespace zen::kernels {
namespace {

void DequantF16(const void* src, float* dst, int64_t n) {
  const uint16_t* s = static_cast<const uint16_t*>(src);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(dst + i,
                     _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i))));
  }
  for (; i < n; ++i) dst[i] = _cvtsh_ss(s[i]);
}

void DequantBf16(const void* src, float* dst, int64_t n) {
  const uint16_t* s = static_cast<const uint16_t*>(src);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i v =
        _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i)));
    _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
  }
  for (; i < n; ++i) dst[i] = Bf16ToF32(s[i]);
}

void DequantQ8_0(const void* src, float* dst, int64_t n) {
  const BlockQ8_0* b = static_cast<const BlockQ8_0*>(src);
  for (int64_t i = 0; i < n / kQK32; ++i) {
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(b[i].d));
    for (int j = 0; j < kQK32; j += 8) {
      const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b[i].qs + j));
      _mm256_storeu_ps(dst + i * kQK32 + j,
                       _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q))));
    }
  }
}

float DotF32(const float* a, const float* b, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  }
  float sum = avx2::HorizontalSum(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

void AxpyF32(float a, const float* x, float* y, int64_t n) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  }
  for (; i < n; ++i) y[i] += a * x[i];
}

void ScaleF32(float a, float* y, int64_t n) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(va, _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] *= a;
}

float ExpSumF32(float* x, int64_t n, float max) {
  const __m256 vmax = _mm256_set1_ps(max);
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = avx2::ExpNonPositive(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmax));
    _mm256_storeu_ps(x + i, e);
    acc = _mm256_add_ps(acc, e);
  }
  float sum = avx2::HorizontalSum(acc);
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  return sum;
}

// Four keys per pass over a query row, so each query load feeds four FMAs.
void AttnScores(const float* q, int64_t n_rows, const float* keys, int64_t n_keys, int hd,
                float* scores, int64_t ld) {
  if (hd % 8 != 0) {
    for (int64_t r = 0; r < n_rows; ++r) {
      for (int64_t j = 0; j < n_keys; ++j)
        scores[r * ld + j] = DotF32(q + r * hd, keys + j * hd, hd);
    }
    return;
  }
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* qr = q + r * hd;
    float* out = scores + r * ld;
    int64_t j = 0;
    for (; j + 4 <= n_keys; j += 4) {
      const float* k0 = keys + j * hd;
      __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
      __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
      for (int d = 0; d < hd; d += 8) {
        const __m256 qv = _mm256_loadu_ps(qr + d);
        a0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + d), a0);
        a1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + hd + d), a1);
        a2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + 2 * hd + d), a2);
        a3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + 3 * hd + d), a3);
      }
      // Horizontal sums of the four accumulators at once.
      const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
      _mm_storeu_ps(out + j, _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
    }
    for (; j < n_keys; ++j) out[j] = DotF32(qr, keys + j * hd, hd);
  }
}

// The accumulator row stays in registers, 64 dimensions at a time, across all keys.
void AttnAccumulate(const float* p, int64_t n_keys, const float* values, int hd, float* acc) {
  int d0 = 0;
  for (; d0 + 64 <= hd; d0 += 64) {
    __m256 a[8];
    for (int i = 0; i < 8; ++i) a[i] = _mm256_loadu_ps(acc + d0 + 8 * i);
    for (int64_t j = 0; j < n_keys; ++j) {
      const __m256 pj = _mm256_broadcast_ss(p + j);
      const float* v = values + j * hd + d0;
      for (int i = 0; i < 8; ++i) a[i] = _mm256_fmadd_ps(pj, _mm256_loadu_ps(v + 8 * i), a[i]);
    }
    for (int i = 0; i < 8; ++i) _mm256_storeu_ps(acc + d0 + 8 * i, a[i]);
  }
  if (d0 < hd) {
    for (int64_t j = 0; j < n_keys; ++j) AxpyF32(p[j], values + j * hd + d0, acc + d0, hd - d0);
  }
}

}  // namespace

// Installs the AVX2 float primitives into a path table.
void FillAvx2FloatOps(KernelPath* path) {
  path->dequant[static_cast<int>(TensorType::kF16)] = DequantF16;
  path->dequant[static_cast<int>(TensorType::kBF16)] = DequantBf16;
  path->dequant[static_cast<int>(TensorType::kQ8_0)] = DequantQ8_0;
  path->dot_f32 = DotF32;
  path->axpy_f32 = AxpyF32;
  path->scale_f32 = ScaleF32;
  path->exp_sum_f32 = ExpSumF32;
  path->attn_scores = AttnScores;
  path->attn_accumulate = AttnAccumulate;
}

}  // namespace zen::kernels
