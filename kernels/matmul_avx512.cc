// AVX-512 path (F/BW/VL/DQ + VNNI: Ice Lake and later, Zen 4 and later): decode dot products
// for the formats Qwen3 files use, at 64 bytes per instruction. Prefill kernels and the other
// formats come from the AVX2 path (see Complete() in matmul.cc).
// GCC 12's AVX-512 cast and reduce intrinsics start from _mm512_undefined_*() and trip
// -Wuninitialized falsely (GCC bug 105593); the values are always fully written.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <cstring>

#include "kernels/kernel_paths.h"
#include "kernels/quant_blocks.h"

namespace zen::kernels {
namespace {

inline float Half(uint16_t h) {
  return _cvtsh_ss(h);
}

// Q4_K: one 512-bit step per 64 elements. The 32 packed bytes go to both halves; the low
// half keeps the low nibbles (sub-block 2c), the high half the high nibbles (2c + 1), which
// matches the 64 activation bytes x[64c .. 64c + 63] loaded as they are.
float DotQ4K(const void* w, const void* act, int64_t n) {
  const BlockQ4_K* wb = static_cast<const BlockQ4_K*>(w);
  const ActQ8_K* xb = static_cast<const ActQ8_K*>(act);
  const __m512i low_mask = _mm512_set1_epi8(0x0F);
  const __m512i nibble_shift = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1);
  __m512i pick[4];  // word c: scale 2c in the low half, 2c + 1 in the high half
  for (int c = 0; c < 4; ++c) {
    pick[c] =
        _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16(static_cast<short>(2 * c))),
                           _mm256_set1_epi16(static_cast<short>(2 * c + 1)), 1);
  }
  __m512 acc = _mm512_setzero_ps();
  float min_sum = 0.0f;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    uint32_t a[3];
    std::memcpy(a, wb[b].scales, 12);
    const uint32_t sc_low = a[0] & 0x3f3f3f3f;
    const uint32_t m_low = a[1] & 0x3f3f3f3f;
    const uint32_t sc_high = (a[2] & 0x0f0f0f0f) | (((a[0] >> 6) & 0x03030303) << 4);
    const uint32_t m_high = ((a[2] >> 4) & 0x0f0f0f0f) | (((a[1] >> 6) & 0x03030303) << 4);
    const __m256i sm16 =
        _mm256_cvtepu8_epi16(_mm_set_epi32(static_cast<int>(m_high), static_cast<int>(m_low),
                                           static_cast<int>(sc_high), static_cast<int>(sc_low)));
    const __m512i scales = _mm512_zextsi256_si512(sm16);  // words 0-7 scales, 8-15 mins
    __m512i sumi = _mm512_setzero_si512();
    for (int c = 0; c < 4; ++c) {
      const __m512i packed = _mm512_broadcast_i64x4(
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb[b].qs + 32 * c)));
      const __m512i q = _mm512_and_si512(_mm512_srlv_epi16(packed, nibble_shift), low_mask);
      const __m512i x = _mm512_loadu_si512(xb[b].qs + 64 * c);
      const __m512i sc = _mm512_permutexvar_epi16(pick[c], scales);
      sumi = _mm512_add_epi32(sumi, _mm512_madd_epi16(_mm512_maddubs_epi16(q, x), sc));
    }
    acc = _mm512_fmadd_ps(_mm512_set1_ps(Half(wb[b].d) * xb[b].d), _mm512_cvtepi32_ps(sumi), acc);
    // mins[j] * (bsums[2j] + bsums[2j+1])
    const __m128i b0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(xb[b].bsums));
    const __m128i b1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(xb[b].bsums + 8));
    const __m128i prod = _mm_madd_epi16(_mm256_extracti128_si256(sm16, 1), _mm_hadd_epi16(b0, b1));
    __m128i s = _mm_add_epi32(prod, _mm_shuffle_epi32(prod, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    min_sum += Half(wb[b].dmin) * xb[b].d * static_cast<float>(_mm_cvtsi128_si32(s));
  }
  return _mm512_reduce_add_ps(acc) - min_sum;
}

// Q6_K: elements 128h + 32j .. +31 (j = 0..3) are built as in the AVX2 path; two such
// groups (j, j + 1) fill one 512-bit register.
float DotQ6K(const void* w, const void* act, int64_t n) {
  const BlockQ6_K* wb = static_cast<const BlockQ6_K*>(w);
  const ActQ8_K* xb = static_cast<const ActQ8_K*>(act);
  const __m256i low_mask = _mm256_set1_epi8(0x0F);
  const __m256i two_bits = _mm256_set1_epi8(0x03);
  __m512 acc = _mm512_setzero_ps();
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const BlockQ6_K& blk = wb[b];
    const ActQ8_K& a = xb[b];
    // The -32 offset of every element, through the 16-element activation sums.
    const __m256i scales16 =
        _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.scales)));
    const __m256i bsums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.bsums));
    __m512i sumi = _mm512_castsi256_si512(_mm256_sub_epi32(
        _mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(scales16, bsums), 5)));
    sumi = _mm512_inserti64x4(sumi, _mm256_setzero_si256(), 1);
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = blk.ql + 64 * h;
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qh + 32 * h));
      const __m256i ql0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
      const __m256i ql1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
      const __m256i q0 = _mm256_or_si256(_mm256_and_si256(ql0, low_mask),
                                         _mm256_slli_epi16(_mm256_and_si256(qh, two_bits), 4));
      const __m256i q1 = _mm256_or_si256(
          _mm256_and_si256(ql1, low_mask),
          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), two_bits), 4));
      const __m256i q2 = _mm256_or_si256(
          _mm256_and_si256(_mm256_srli_epi16(ql0, 4), low_mask),
          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), two_bits), 4));
      const __m256i q3 = _mm256_or_si256(
          _mm256_and_si256(_mm256_srli_epi16(ql1, 4), low_mask),
          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), two_bits), 4));
      const __m512i q01 = _mm512_inserti64x4(_mm512_castsi256_si512(q0), q1, 1);
      const __m512i q23 = _mm512_inserti64x4(_mm512_castsi256_si512(q2), q3, 1);
      // One 16-bit scale per 16 elements: quarter k of a 512-bit group uses scale 8h + 4g + k.
      const int s = 8 * h;
      const __m512i sc01 = _mm512_inserti64x4(
          _mm512_castsi256_si512(
              _mm256_set_m128i(_mm_set1_epi16(blk.scales[s + 1]), _mm_set1_epi16(blk.scales[s]))),
          _mm256_set_m128i(_mm_set1_epi16(blk.scales[s + 3]), _mm_set1_epi16(blk.scales[s + 2])),
          1);
      const __m512i sc23 = _mm512_inserti64x4(
          _mm512_castsi256_si512(_mm256_set_m128i(_mm_set1_epi16(blk.scales[s + 5]),
                                                  _mm_set1_epi16(blk.scales[s + 4]))),
          _mm256_set_m128i(_mm_set1_epi16(blk.scales[s + 7]), _mm_set1_epi16(blk.scales[s + 6])),
          1);
      const __m512i x01 = _mm512_loadu_si512(a.qs + 128 * h);
      const __m512i x23 = _mm512_loadu_si512(a.qs + 128 * h + 64);
      sumi = _mm512_add_epi32(sumi, _mm512_madd_epi16(_mm512_maddubs_epi16(q01, x01), sc01));
      sumi = _mm512_add_epi32(sumi, _mm512_madd_epi16(_mm512_maddubs_epi16(q23, x23), sc23));
    }
    acc = _mm512_fmadd_ps(_mm512_set1_ps(Half(blk.d) * a.d), _mm512_cvtepi32_ps(sumi), acc);
  }
  return _mm512_reduce_add_ps(acc);
}

// Q4_0 and Q8_0, two blocks per 512-bit step with VNNI: lanes 0-7 belong to the first block,
// 8-15 to the second.
inline __m512i TwoActBlocks(const ActQ8_32* a) {
  return _mm512_inserti64x4(
      _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[0].qs))),
      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[1].qs)), 1);
}

inline __m512 TwoScales(float first, float second) {
  return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(first)), _mm256_set1_ps(second),
                            1);
}

inline __m256i Nibbles32(const uint8_t* qs) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i mask = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), mask), _mm_and_si128(q, mask));
}

float DotQ4_0(const void* w, const void* act, int64_t n) {
  const BlockQ4_0* wb = static_cast<const BlockQ4_0*>(w);
  const ActQ8_32* xb = static_cast<const ActQ8_32*>(act);
  const int64_t nb = n / kQK32;
  __m512 acc = _mm512_setzero_ps();
  float offset = 0.0f;  // sum over blocks of d_w * d_x * sum(x_q), times -8 at the end
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    const __m512i q =
        _mm512_inserti64x4(_mm512_castsi256_si512(Nibbles32(wb[b].qs)), Nibbles32(wb[b + 1].qs), 1);
    const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, TwoActBlocks(xb + b));
    const float d0 = Half(wb[b].d), d1 = Half(wb[b + 1].d);
    acc = _mm512_fmadd_ps(TwoScales(d0 * xb[b].d, d1 * xb[b + 1].d), _mm512_cvtepi32_ps(dot), acc);
    offset += d0 * xb[b].s + d1 * xb[b + 1].s;
  }
  float tail = 0.0f;
  for (; b < nb; ++b) {
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb[b].qs));
    const __m256i dot = _mm256_dpbusd_epi32(_mm256_setzero_si256(), Nibbles32(wb[b].qs), x);
    const __m256 f = _mm256_cvtepi32_ps(dot);
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(f), _mm256_extractf128_ps(f, 1));
    s = _mm_hadd_ps(s, s);
    s = _mm_hadd_ps(s, s);
    const float d = Half(wb[b].d);
    tail += d * xb[b].d * _mm_cvtss_f32(s);
    offset += d * xb[b].s;
  }
  return _mm512_reduce_add_ps(acc) + tail - 8.0f * offset;
}

// Q8_0: weights are signed, so they are biased by +128 (XOR 0x80) to feed VNNI's unsigned
// operand, and 128 * sum(x) is taken back off.
float DotQ8_0(const void* w, const void* act, int64_t n) {
  const BlockQ8_0* wb = static_cast<const BlockQ8_0*>(w);
  const ActQ8_32* xb = static_cast<const ActQ8_32*>(act);
  const int64_t nb = n / kQK32;
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512 acc = _mm512_setzero_ps();
  float offset = 0.0f;
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    const __m512i q = _mm512_inserti64x4(
        _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb[b].qs))),
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb[b + 1].qs)), 1);
    const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_xor_si512(q, bias),
                                            TwoActBlocks(xb + b));
    const float d0 = Half(wb[b].d), d1 = Half(wb[b + 1].d);
    acc = _mm512_fmadd_ps(TwoScales(d0 * xb[b].d, d1 * xb[b + 1].d), _mm512_cvtepi32_ps(dot), acc);
    offset += d0 * xb[b].s + d1 * xb[b + 1].s;
  }
  float tail = 0.0f;
  for (; b < nb; ++b) {
    int32_t isum = 0;
    for (int j = 0; j < kQK32; ++j) isum += wb[b].qs[j] * xb[b].qs[j];
    tail += Half(wb[b].d) * xb[b].d * static_cast<float>(isum);
  }
  return _mm512_reduce_add_ps(acc) + tail - 128.0f * offset;
}

float DotF16(const void* w, const void* x, int64_t n) {
  const uint16_t* a = static_cast<const uint16_t*>(w);
  const float* b = static_cast<const float*>(x);
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_fmadd_ps(
        _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i))),
        _mm512_loadu_ps(b + i), acc0);
    acc1 = _mm512_fmadd_ps(
        _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i + 16))),
        _mm512_loadu_ps(b + i + 16), acc1);
  }
  float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
  for (; i < n; ++i) sum += Half(a[i]) * b[i];
  return sum;
}

}  // namespace

KernelPath MakeAvx512Path() {
  KernelPath p;
  p.name = "avx512";
  p.dot[static_cast<int>(TensorType::kQ4_K)] = DotQ4K;
  p.dot[static_cast<int>(TensorType::kQ6_K)] = DotQ6K;
  p.dot[static_cast<int>(TensorType::kQ4_0)] = DotQ4_0;
  p.dot[static_cast<int>(TensorType::kQ8_0)] = DotQ8_0;
  p.dot[static_cast<int>(TensorType::kF16)] = DotF16;
  return p;
}

}  // namespace zen::kernels
