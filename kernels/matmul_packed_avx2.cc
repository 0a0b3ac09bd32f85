// AVX2 kernels for packed (eight-row interleaved) weights, packed_blocks.h.
//
// Q4_0: each 32-byte load holds four bytes (eight nibbles) of each of the eight rows, one row
// per 32-bit lane. The matching four activation bytes are broadcast to every lane, so one
// vpmaddubsw per nibble half serves eight rows at once, and the eight 16-bit partial sums of
// a block stay in 16-bit lanes until one vpmaddwd per block (|sum| <= 8 * 2 * 15 * 127 <
// 2^15). Per 256 weights and activation row that is about 45 instructions in decode against
// 110 for the plain layout: no horizontal adds, no permutes, one scale convert per 8 blocks.
#include <immintrin.h>

#include <cstdint>

#include "kernels/dot_avx2.h"
#include "kernels/kernel_paths.h"
#include "kernels/packed_blocks.h"

namespace zen::kernels {
namespace {

using avx2::Acts;
using avx2::Broadcast4;

// out[k * 8 + r] = dot(row r of the group, activation row k): value = d (q - 8), with the -8
// taken through the activation block sums s once per block, as the scalar kernel does.
template <int NX>
void PackedQ4_0(const void* group, const Acts<NX>& acts, int64_t n, float* out) {
  const BlockQ4_0x8* blocks = static_cast<const BlockQ4_0x8*>(group);
  const int64_t nb = n / kQK32;
  const __m256i mask = _mm256_set1_epi8(0x0F);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[NX], offset[NX];
  for (int k = 0; k < NX; ++k) acc[k] = offset[k] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const BlockQ4_0x8& blk = blocks[b];
    avx2::PrefetchAhead(&blk, sizeof(blk));
    __m256i sum[NX];
    for (int k = 0; k < NX; ++k) sum[k] = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
      const __m256i packed = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qs + 32 * c));
      const __m256i low = _mm256_and_si256(packed, mask);
      for (int k = 0; k < NX; ++k) {
        const ActQ8_32& a = reinterpret_cast<const ActQ8_32*>(acts.row[k])[b];
        sum[k] = _mm256_add_epi16(sum[k], _mm256_maddubs_epi16(low, Broadcast4(a.qs + 4 * c)));
      }
      const __m256i high = _mm256_and_si256(_mm256_srli_epi16(packed, 4), mask);
      for (int k = 0; k < NX; ++k) {
        const ActQ8_32& a = reinterpret_cast<const ActQ8_32*>(acts.row[k])[b];
        sum[k] =
            _mm256_add_epi16(sum[k], _mm256_maddubs_epi16(high, Broadcast4(a.qs + 16 + 4 * c)));
      }
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.d)));
    for (int k = 0; k < NX; ++k) {
      const ActQ8_32& a = reinterpret_cast<const ActQ8_32*>(acts.row[k])[b];
      const __m256 isum = _mm256_cvtepi32_ps(_mm256_madd_epi16(sum[k], ones));
      acc[k] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(a.d)), isum, acc[k]);
      offset[k] = _mm256_fmadd_ps(dw, _mm256_set1_ps(a.s), offset[k]);
    }
  }
  for (int k = 0; k < NX; ++k) {
    _mm256_storeu_ps(out + 8 * k, _mm256_fnmadd_ps(_mm256_set1_ps(8.0f), offset[k], acc[k]));
  }
}

// Q4_K: the nibbles as Q4_0's (eight rows per load, one row per 32-bit lane); the 16-bit
// sums of each 32-element sub-block meet their per-row 6-bit scales in one vpmaddwd (the
// scale sits in both halves of the row's lane), and the mins meet the activation sums of
// two sub-blocks per vpmaddwd. value = d scale q - dmin min, as the scalar kernel.
template <int NX>
void PackedQ4_K(const void* group, const Acts<NX>& acts, int64_t n, float* out) {
  const BlockQ4_Kx8* blocks = static_cast<const BlockQ4_Kx8*>(group);
  const int64_t nb = n / kQK_K;
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i m30 = _mm256_set1_epi8(0x30);
  // Byte r of a 64-bit row of bytes into both 16-bit halves of 32-bit lane r (rows 0-3 in
  // the low 128 bits, 4-7 in the high ones; the qword is first copied to every position).
  const __m256i spread = _mm256_setr_epi8(0, -1, 0, -1, 1, -1, 1, -1, 2, -1, 2, -1, 3, -1, 3, -1, 4,
                                          -1, 4, -1, 5, -1, 5, -1, 6, -1, 6, -1, 7, -1, 7, -1);
  __m256 acc[NX];
  for (int k = 0; k < NX; ++k) acc[k] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const BlockQ4_Kx8& blk = blocks[b];
    avx2::PrefetchAhead(&blk, sizeof(blk));
    const __m256i high = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.high));
    const __m256i sl = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.scale_low));
    const __m256i ml = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.min_low));
    // Bytes 8 j' + r: sub-block j' (first four) and j' + 4 (last four) of row r.
    const __m256i sc_a = _mm256_or_si256(_mm256_and_si256(sl, m4),
                                         _mm256_and_si256(_mm256_slli_epi16(high, 4), m30));
    const __m256i sc_b = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(sl, 4), m4),
                                         _mm256_and_si256(_mm256_slli_epi16(high, 2), m30));
    const __m256i mn_a = _mm256_or_si256(_mm256_and_si256(ml, m4), _mm256_and_si256(high, m30));
    const __m256i mn_b = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ml, 4), m4),
                                         _mm256_and_si256(_mm256_srli_epi16(high, 2), m30));
    const __m256i scale[8] = {_mm256_shuffle_epi8(_mm256_permute4x64_epi64(sc_a, 0x00), spread),
                              _mm256_shuffle_epi8(_mm256_permute4x64_epi64(sc_a, 0x55), spread),
                              _mm256_shuffle_epi8(_mm256_permute4x64_epi64(sc_a, 0xAA), spread),
                              _mm256_shuffle_epi8(_mm256_permute4x64_epi64(sc_a, 0xFF), spread),
                              _mm256_shuffle_epi8(_mm256_permute4x64_epi64(sc_b, 0x00), spread),
                              _mm256_shuffle_epi8(_mm256_permute4x64_epi64(sc_b, 0x55), spread),
                              _mm256_shuffle_epi8(_mm256_permute4x64_epi64(sc_b, 0xAA), spread),
                              _mm256_shuffle_epi8(_mm256_permute4x64_epi64(sc_b, 0xFF), spread)};
    // Lane r of mins[j'] = 16-bit (min j', min j' + 4) of row r.
    const __m256i mins_02 = _mm256_unpacklo_epi8(mn_a, mn_b);  // j' = 0 | j' = 2
    const __m256i mins_13 = _mm256_unpackhi_epi8(mn_a, mn_b);  // j' = 1 | j' = 3
    const __m256i mins[4] = {_mm256_cvtepu8_epi16(_mm256_castsi256_si128(mins_02)),
                             _mm256_cvtepu8_epi16(_mm256_castsi256_si128(mins_13)),
                             _mm256_cvtepu8_epi16(_mm256_extracti128_si256(mins_02, 1)),
                             _mm256_cvtepu8_epi16(_mm256_extracti128_si256(mins_13, 1))};
    __m256i isum[NX];
    for (int k = 0; k < NX; ++k) isum[k] = _mm256_setzero_si256();
    // One pass over the 8 chunks of sub-blocks 2c (low nibbles) and 2c + 1 (high nibbles).
    // With more than two activation rows the two halves take separate passes (reloading
    // the chunks from L1) so the 16-bit sums of every row stay in registers.
    auto pass = [&](int c, int h0, int h1) {
      __m256i sum[2][NX];
      for (int k = 0; k < NX; ++k) sum[0][k] = sum[1][k] = _mm256_setzero_si256();
      for (int t = 0; t < 8; ++t) {
        const __m256i packed =
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qs + 32 * (8 * c + t)));
        for (int h = h0; h <= h1; ++h) {
          const __m256i q = _mm256_and_si256(h == 0 ? packed : _mm256_srli_epi16(packed, 4), m4);
          for (int k = 0; k < NX; ++k) {
            const int8_t* x =
                reinterpret_cast<const ActQ8_K*>(acts.row[k])[b].qs + 64 * c + 32 * h + 4 * t;
            sum[h][k] = _mm256_add_epi16(sum[h][k], _mm256_maddubs_epi16(q, Broadcast4(x)));
          }
        }
      }
      for (int h = h0; h <= h1; ++h) {
        for (int k = 0; k < NX; ++k) {
          isum[k] = _mm256_add_epi32(isum[k], _mm256_madd_epi16(sum[h][k], scale[2 * c + h]));
        }
      }
    };
    for (int c = 0; c < 4; ++c) {
      if constexpr (NX <= 2) {
        pass(c, 0, 1);
      } else {
        pass(c, 0, 0);
        pass(c, 1, 1);
      }
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.d)));
    const __m256 dmw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.dmin)));
    for (int k = 0; k < NX; ++k) {
      const ActQ8_K& a = reinterpret_cast<const ActQ8_K*>(acts.row[k])[b];
      // Sums of the eight 32-element sub-blocks, paired as (j', j' + 4) per 32-bit word.
      const __m128i sums =
          _mm_hadd_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a.bsums)),
                         _mm_loadu_si128(reinterpret_cast<const __m128i*>(a.bsums + 8)));
      const __m128i pairs = _mm_unpacklo_epi16(sums, _mm_srli_si128(sums, 8));
      __m256i msum = _mm256_madd_epi16(mins[0], _mm256_broadcastd_epi32(pairs));
      msum = _mm256_add_epi32(
          msum,
          _mm256_madd_epi16(mins[1], _mm256_broadcastd_epi32(_mm_shuffle_epi32(pairs, 0x55))));
      msum = _mm256_add_epi32(
          msum,
          _mm256_madd_epi16(mins[2], _mm256_broadcastd_epi32(_mm_shuffle_epi32(pairs, 0xAA))));
      msum = _mm256_add_epi32(
          msum,
          _mm256_madd_epi16(mins[3], _mm256_broadcastd_epi32(_mm_shuffle_epi32(pairs, 0xFF))));
      const __m256 block = _mm256_fnmadd_ps(dmw, _mm256_cvtepi32_ps(msum),
                                            _mm256_mul_ps(dw, _mm256_cvtepi32_ps(isum[k])));
      acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(a.d), block, acc[k]);
    }
  }
  for (int k = 0; k < NX; ++k) _mm256_storeu_ps(out + 8 * k, acc[k]);
}

// The path-table form of a packed kernel: one group, 1-4 activation rows.
template <template <int> class Kernel>
void PackedEntry(const void* group, const void* act, size_t stride, int n_act, int64_t n,
                 float* out) {
  switch (n_act) {
    case 1:
      return Kernel<1>::Run(group, avx2::MakeActs<1>(act, stride), n, out);
    case 2:
      return Kernel<2>::Run(group, avx2::MakeActs<2>(act, stride), n, out);
    case 3:
      return Kernel<3>::Run(group, avx2::MakeActs<3>(act, stride), n, out);
    default:
      return Kernel<4>::Run(group, avx2::MakeActs<4>(act, stride), n, out);
  }
}

template <int NX>
struct Q4_0Kernel {
  static void Run(const void* g, const Acts<NX>& a, int64_t n, float* o) {
    PackedQ4_0<NX>(g, a, n, o);
  }
};
template <int NX>
struct Q4_KKernel {
  static void Run(const void* g, const Acts<NX>& a, int64_t n, float* o) {
    PackedQ4_K<NX>(g, a, n, o);
  }
};

}  // namespace

// Fills the packed-weight entries of the AVX2 path (called by MakeAvx2Path).
void FillAvx2PackedDots(KernelPath* p) {
  p->packed_dot[static_cast<int>(TensorType::kQ4_0)] = PackedEntry<Q4_0Kernel>;
  p->packed_dot[static_cast<int>(TensorType::kQ4_K)] = PackedEntry<Q4_KKernel>;
}

}  // namespace zen::kernels
