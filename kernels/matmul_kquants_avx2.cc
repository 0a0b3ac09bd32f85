// AVX2 dot products for the K-quants (Q2_K .. Q6_K) against ActQ8_K activations; the
// 32-element and float types are in matmul_avx2.cc.
#include <immintrin.h>

#include <cmath>
#include <cstddef>
#include <cstring>

#include "kernels/block_unpack.h"
#include "kernels/dot_avx2.h"
#include "kernels/kernel_paths.h"
#include "kernels/simd_avx2.h"

namespace zen::kernels {
namespace {

using avx2::Acts;
using avx2::Half;
using avx2::HorizontalSum;

// The 8 six-bit scales (bytes 0-7) and mins (bytes 8-15) of a Q4_K/Q5_K block, unpacked
// from the 12 packed bytes (layout in quant_blocks.h, GetScaleMinK4) in vector registers,
// 32 bits at a time: words a0, a1, a2 give [a0 & 3f, (a2 & 0f) | ((a0 >> 2) & 30),
// a1 & 3f, ((a2 >> 4) & 0f) | ((a1 >> 2) & 30)]. Reads 16 bytes: the caller's block
// continues past the scales.
inline __m128i ScalesMinsK4(const uint8_t* packed) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(packed));
  const __m128i a0a0a1a1 = _mm_shuffle_epi32(v, 0x50);
  const __m128i a2 = _mm_shuffle_epi32(v, 0xAA);
  const __m128i six_and_high =
      _mm_and_si128(_mm_srlv_epi32(a0a0a1a1, _mm_set_epi32(2, 0, 2, 0)),
                    _mm_set_epi32(0x30303030, 0x3f3f3f3f, 0x30303030, 0x3f3f3f3f));
  const __m128i low_nibbles = _mm_and_si128(_mm_srlv_epi32(a2, _mm_set_epi32(4, 0, 0, 0)),
                                            _mm_set_epi32(0x0f0f0f0f, 0, 0x0f0f0f0f, 0));
  return _mm_or_si128(six_and_high, low_nibbles);
}

static_assert(offsetof(BlockQ4_K, dmin) == 2 && offsetof(BlockQ5_K, dmin) == 2);

// Q4_K and Q5_K: 8 sub-blocks of 32 with 6-bit scale and min.
template <int NX, bool kFifthBit>
void DotQ4Q5K(const void* w, const Acts<NX>& acts, int64_t n, float* out) {
  // One float accumulator per activation row (the mins go into it too), so four rows with
  // their integer sums still fit the 16 ymm registers.
  __m256 acc[NX];
  for (int k = 0; k < NX; ++k) acc[k] = _mm256_setzero_ps();
  const __m256i low_mask = _mm256_set1_epi8(0x0F);
  // vpshufb controls that broadcast 16-bit scale j to every word.
  __m256i pick[8];
  for (int j = 0; j < 8; ++j)
    pick[j] = _mm256_set1_epi16(static_cast<int16_t>(0x0100 + 0x0202 * j));
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const uint8_t* qs;
    const uint8_t* qh = nullptr;
    const uint8_t* packed;
    const uint8_t* d_and_dmin;  // the block's first 4 bytes: halves d, dmin
    if constexpr (kFifthBit) {
      const BlockQ5_K& blk = static_cast<const BlockQ5_K*>(w)[b];
      avx2::PrefetchAhead(&blk, sizeof(blk));
      qs = blk.qs, qh = blk.qh, packed = blk.scales,
      d_and_dmin = reinterpret_cast<const uint8_t*>(&blk);
    } else {
      const BlockQ4_K& blk = static_cast<const BlockQ4_K*>(w)[b];
      avx2::PrefetchAhead(&blk, sizeof(blk));
      qs = blk.qs, packed = blk.scales, d_and_dmin = reinterpret_cast<const uint8_t*>(&blk);
    }
    const __m256i sm16 = _mm256_cvtepu8_epi16(ScalesMinsK4(packed));
    const __m256i scales = _mm256_permute2x128_si256(sm16, sm16, 0x00);
    // The 8 mins as 16-bit words in the low lane, zeros in the high lane: products with
    // them leave the high lane zero whatever it is multiplied with.
    const __m256i mins = _mm256_zextsi128_si256(_mm256_extracti128_si256(sm16, 1));
    int32_t d_bits;
    std::memcpy(&d_bits, d_and_dmin, 4);
    const __m128 d_dmin = _mm_cvtph_ps(_mm_cvtsi32_si128(d_bits));  // converted together
    const __m256 d = _mm256_broadcastss_ps(d_dmin);
    const __m256 dmin = _mm256_broadcastss_ps(_mm_movehdup_ps(d_dmin));
    __m256i sumi[NX];
    for (int k = 0; k < NX; ++k) sumi[k] = _mm256_setzero_si256();
    __m256i high_bits;
    if constexpr (kFifthBit) high_bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh));
    for (int c = 0; c < 4; ++c) {
      const __m256i packed_q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * c));
      __m256i q_lo = _mm256_and_si256(packed_q, low_mask);
      __m256i q_hi = _mm256_and_si256(_mm256_srli_epi16(packed_q, 4), low_mask);
      if constexpr (kFifthBit) {
        // Bit p of each qh byte to bit 4 with one shift and one mask (bits a 16-bit shift
        // carries across the byte boundary fall outside the mask).
        const __m256i bit4 = _mm256_set1_epi8(0x10);
        auto fifth = [&](int p) {
          const __m256i moved =
              p <= 4 ? _mm256_slli_epi16(high_bits, 4 - p) : _mm256_srli_epi16(high_bits, p - 4);
          return _mm256_and_si256(moved, bit4);
        };
        q_lo = _mm256_or_si256(q_lo, fifth(2 * c));
        q_hi = _mm256_or_si256(q_hi, fifth(2 * c + 1));
      }
      const __m256i sc_lo = _mm256_shuffle_epi8(scales, pick[2 * c]);
      const __m256i sc_hi = _mm256_shuffle_epi8(scales, pick[2 * c + 1]);
      for (int k = 0; k < NX; ++k) {
        const ActQ8_K& a = reinterpret_cast<const ActQ8_K*>(acts.row[k])[b];
        const __m256i x_lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.qs + 64 * c));
        const __m256i x_hi =
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.qs + 64 * c + 32));
        const __m256i p_lo = _mm256_madd_epi16(_mm256_maddubs_epi16(q_lo, x_lo), sc_lo);
        const __m256i p_hi = _mm256_madd_epi16(_mm256_maddubs_epi16(q_hi, x_hi), sc_hi);
        sumi[k] = _mm256_add_epi32(sumi[k], _mm256_add_epi32(p_lo, p_hi));
      }
    }
    for (int k = 0; k < NX; ++k) {
      const ActQ8_K& a = reinterpret_cast<const ActQ8_K*>(acts.row[k])[b];
      // mins[j] * (bsums[2j] + bsums[2j+1]): each min covers two 16-element sums.
      const __m128i b0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a.bsums));
      const __m128i b1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a.bsums + 8));
      const __m256i prod = _mm256_madd_epi16(mins, _mm256_castsi128_si256(_mm_hadd_epi16(b0, b1)));
      // a.d (d sumi - dmin prod), one multiply-add into the row's accumulator.
      const __m256 block = _mm256_fnmadd_ps(dmin, _mm256_cvtepi32_ps(prod),
                                            _mm256_mul_ps(d, _mm256_cvtepi32_ps(sumi[k])));
      acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(a.d), block, acc[k]);
    }
  }
  for (int k = 0; k < NX; ++k) out[k] = HorizontalSum(acc[k]);
}

template <int NX>
void DotQ6K(const void* w, const Acts<NX>& acts, int64_t n, float* out) {
  __m256 acc[NX];
  for (int k = 0; k < NX; ++k) acc[k] = _mm256_setzero_ps();
  const __m256i low_mask = _mm256_set1_epi8(0x0F);
  const __m256i bits45 = _mm256_set1_epi8(0x30);
  // vpshufb controls: word 2j to the low lane, word 2j + 1 to the high lane, so one shuffle
  // of a register holding 8 scales in both lanes gives the scales of a 32-element step.
  __m256i pick[4];
  for (int j = 0; j < 4; ++j) {
    pick[j] = _mm256_set_m128i(_mm_set1_epi16(static_cast<int16_t>(0x0100 + 0x0202 * (2 * j + 1))),
                               _mm_set1_epi16(static_cast<int16_t>(0x0100 + 0x0202 * (2 * j))));
  }
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const BlockQ6_K& blk = static_cast<const BlockQ6_K*>(w)[b];
    avx2::PrefetchAhead(&blk, sizeof(blk));
    const __m256i scales16 =
        _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.scales)));
    // Scales 0-7 (first half of the block) and 8-15 (second half), each in both lanes.
    const __m256i half_scales[2] = {_mm256_permute4x64_epi64(scales16, 0x44),
                                    _mm256_permute4x64_epi64(scales16, 0xEE)};
    __m256i sumi[NX];
    for (int k = 0; k < NX; ++k) {
      // The -32 offset of every element, folded in once per block through the 16-sums.
      const ActQ8_K& a = reinterpret_cast<const ActQ8_K*>(acts.row[k])[b];
      const __m256i bsums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.bsums));
      sumi[k] = _mm256_slli_epi32(_mm256_madd_epi16(scales16, bsums), 5);
      sumi[k] = _mm256_sub_epi32(_mm256_setzero_si256(), sumi[k]);
    }
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = blk.ql + 64 * h;
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qh + 32 * h));
      const __m256i ql0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
      const __m256i ql1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
      __m256i q[4];
      // Bits 2j, 2j+1 of qh become bits 4, 5 with one shift and one mask (the bits a 16-bit
      // shift carries across the byte boundary fall outside the mask).
      q[0] = _mm256_or_si256(_mm256_and_si256(ql0, low_mask),
                             _mm256_and_si256(_mm256_slli_epi16(qh, 4), bits45));
      q[1] = _mm256_or_si256(_mm256_and_si256(ql1, low_mask),
                             _mm256_and_si256(_mm256_slli_epi16(qh, 2), bits45));
      q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low_mask),
                             _mm256_and_si256(qh, bits45));
      q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low_mask),
                             _mm256_and_si256(_mm256_srli_epi16(qh, 2), bits45));
      for (int j = 0; j < 4; ++j) {
        // Elements 128h + 32j .. +31: sub-blocks 8h + 2j (low lane) and 8h + 2j + 1 (high).
        const __m256i sc = _mm256_shuffle_epi8(half_scales[h], pick[j]);
        for (int k = 0; k < NX; ++k) {
          const ActQ8_K& a = reinterpret_cast<const ActQ8_K*>(acts.row[k])[b];
          const __m256i x =
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.qs + 128 * h + 32 * j));
          sumi[k] = _mm256_add_epi32(sumi[k], _mm256_madd_epi16(_mm256_maddubs_epi16(q[j], x), sc));
        }
      }
    }
    const float d = Half(blk.d);
    for (int k = 0; k < NX; ++k) {
      const ActQ8_K& a = reinterpret_cast<const ActQ8_K*>(acts.row[k])[b];
      acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(d * a.d), _mm256_cvtepi32_ps(sumi[k]), acc[k]);
    }
  }
  for (int k = 0; k < NX; ++k) out[k] = HorizontalSum(acc[k]);
}

// Q2_K and Q3_K (rare in practice): scalar unpacking, vector integer products.
template <int NX, TensorType kType>
void DotUnpackedK(const void* w, const Acts<NX>& acts, int64_t n, float* out) {
  float result[NX] = {};
  UnpackedK u;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    UnpackK(kType, w, b, &u);
    const __m256i scales16 =
        _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(u.scale)));
    const __m256i mins16 =
        _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(u.min)));
    for (int k = 0; k < NX; ++k) {
      const ActQ8_K& a = reinterpret_cast<const ActQ8_K*>(acts.row[k])[b];
      const __m256i bsums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.bsums));
      __m256i sumi =
          _mm256_mullo_epi32(_mm256_madd_epi16(scales16, bsums), _mm256_set1_epi32(-u.offset));
      for (int j = 0; j < 8; ++j) {
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(u.q + 32 * j));
        const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.qs + 32 * j));
        const __m256i sc =
            _mm256_set_m128i(_mm_set1_epi16(u.scale[2 * j + 1]), _mm_set1_epi16(u.scale[2 * j]));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_maddubs_epi16(q, x), sc));
      }
      const int32_t summ = HorizontalSum(_mm256_madd_epi16(mins16, bsums));
      // Explicit fmas: left to -ffp-contract, the fusing could differ between NX
      // instantiations and a row's bits would depend on its batch.
      result[k] = std::fma(u.d * a.d, static_cast<float>(HorizontalSum(sumi)),
                           std::fma(-u.dmin * a.d, static_cast<float>(summ), result[k]));
    }
  }
  for (int k = 0; k < NX; ++k) out[k] = result[k];
}

template <int NX>
void DotQ4K(const void* w, const Acts<NX>& a, int64_t n, float* o) {
  DotQ4Q5K<NX, false>(w, a, n, o);
}
template <int NX>
void DotQ5K(const void* w, const Acts<NX>& a, int64_t n, float* o) {
  DotQ4Q5K<NX, true>(w, a, n, o);
}
template <int NX>
void DotQ2K(const void* w, const Acts<NX>& a, int64_t n, float* o) {
  DotUnpackedK<NX, TensorType::kQ2_K>(w, a, n, o);
}
template <int NX>
void DotQ3K(const void* w, const Acts<NX>& a, int64_t n, float* o) {
  DotUnpackedK<NX, TensorType::kQ3_K>(w, a, n, o);
}

ZEN_DOT_ENTRIES(Q2K, DotQ2K)
ZEN_DOT_ENTRIES(Q3K, DotQ3K)
ZEN_DOT_ENTRIES(Q4K, DotQ4K)
ZEN_DOT_ENTRIES(Q5K, DotQ5K)
ZEN_DOT_ENTRIES(Q6K, DotQ6K)
#undef ZEN_DOT_ENTRIES

}  // namespace

// Fills the K-quant entries of the AVX2 path (called by MakeAvx2Path).
void FillAvx2KQuantDots(KernelPath* p) {
  auto set = [&](TensorType t, RowDotFn dot, MultiDotFn multi) {
    p->dot[static_cast<int>(t)] = dot;
    p->multi_dot[static_cast<int>(t)] = multi;
  };
  set(TensorType::kQ2_K, Q2KDot, Q2KMulti);
  set(TensorType::kQ3_K, Q3KDot, Q3KMulti);
  set(TensorType::kQ4_K, Q4KDot, Q4KMulti);
  set(TensorType::kQ5_K, Q5KDot, Q5KMulti);
  set(TensorType::kQ6_K, Q6KDot, Q6KMulti);
}

}  // namespace zen::kernels
