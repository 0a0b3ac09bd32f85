// AVX2 kernel for packed (eight-row interleaved) Q6_K weights, BlockQ6_Kx8 in packed_blocks.h.
//
// Each 32-byte load holds four bytes of each of the eight rows, one row per 32-bit lane. Three
// loads in four give the 6-bit values q = 0..63 of four elements of every row with one mask,
// the fourth comes from the top bits of three loads; one vpmaddubsw against the four matching
// activation bytes (broadcast to every lane) then serves eight rows. A vpmaddubsw word is at
// most 2 * 63 * 128 = 16128, so two of them (8 elements of one 16-element sub-block) are added
// in 16 bits before one vpmaddwd widens them against the sub-block's scale, which sits in both
// halves of the row's lane. The -32 offset goes through the activation's 16-element sums
// (bsums) times the scales, once per block: value = d scale (q - 32), as the scalar kernel.
// Against the file layout this saves the per-row horizontal sums and scale shuffles; in cache
// it reads 5-12% more bytes per second than with ql/qh interleaved as GGUF has them (17 ops
// per four value vectors there, 11 here).
#include <immintrin.h>

#include <cstdint>

#include "kernels/dot_avx2.h"
#include "kernels/kernel_paths.h"
#include "kernels/packed_blocks.h"

namespace zen::kernels {
namespace {

using avx2::Acts;
using avx2::Broadcast4;

// An empty asm that takes v in a register and may change it: the adds before and after
// it can no longer be reassociated. Without it GCC 12 turned the running sum of 32 products
// per block into a tree whose leaves (every vpmaddwd result) went through the stack.
inline void Materialize(__m256i& v) {
  __asm__("" : "+x"(v));
}

// Loads 32-byte chunk t of a packed field.
inline __m256i Chunk(const uint8_t* field, int t) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(field + 32 * t));
}

// The 6-bit values of elements 128h + 32I + 4t + 0..3 of every row, from the half's chunks
// (`half` = q + 32 * 24h): chunk 8I + t under a mask for I < 3; for I = 3 the top two bits of
// chunks t, 8 + t and 16 + t, moved to bits 0-1, 2-3 and 4-5 (each 16-bit shift is masked,
// so no bit carried across a byte boundary survives).
template <int I>
inline __m256i Values(const uint8_t* half, int t) {
  if constexpr (I < 3) {
    return _mm256_and_si256(Chunk(half, 8 * I + t), _mm256_set1_epi8(0x3F));
  } else {
    const __m256i b01 =
        _mm256_and_si256(_mm256_srli_epi16(Chunk(half, t), 6), _mm256_set1_epi8(0x03));
    const __m256i b23 =
        _mm256_and_si256(_mm256_srli_epi16(Chunk(half, 8 + t), 4), _mm256_set1_epi8(0x0C));
    const __m256i b45 =
        _mm256_and_si256(_mm256_srli_epi16(Chunk(half, 16 + t), 2), _mm256_set1_epi8(0x30));
    return _mm256_or_si256(_mm256_or_si256(b01, b23), b45);
  }
}

// Adds to isum[k] (32-bit lane r = row r) the integer dot of elements 128h + 32I .. +31,
// sub-blocks 2m and 2m + 1 with m = 4h + I, including their share of the -32 offset.
template <int NX, int I>
inline void Quarter(const BlockQ6_Kx8& blk, const Acts<NX>& acts, int64_t b, int h, __m256i* isum) {
  const int m = 4 * h + I;
  // Lane r: the sign-extended scales of sub-blocks 2m, 2m + 1 of row r.
  const __m256i pair =
      _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.scales + 16 * m)));
  // -32 (scale_2m bsum_2m + scale_2m+1 bsum_2m+1); 32 scale fits 16 bits (|32 * 128| = 2^12).
  const __m256i pair32 = _mm256_slli_epi16(pair, 5);
  for (int k = 0; k < NX; ++k) {
    const ActQ8_K& a = reinterpret_cast<const ActQ8_K*>(acts.row[k])[b];
    isum[k] = _mm256_sub_epi32(isum[k], _mm256_madd_epi16(pair32, Broadcast4(a.bsums + 2 * m)));
  }
  // Word 0 (sub-block 2m) or word 1 (2m + 1) of every lane into both halves of the lane.
  const __m256i even = _mm256_setr_epi8(0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13, 0, 1, 0,
                                        1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13);
  const __m256i scale[2] = {_mm256_shuffle_epi8(pair, even),
                            _mm256_shuffle_epi8(pair, _mm256_add_epi8(even, _mm256_set1_epi8(2)))};
  const uint8_t* half = blk.q + 32 * 24 * h;
  // Chunks 2p, 2p + 1 hold 8 elements of one sub-block: their two vpmaddubsw words add up to
  // at most 2 * 16128 < 2^15 before vpmaddwd widens them against the scale.
  for (int p = 0; p < 4; ++p) {
    const __m256i q0 = Values<I>(half, 2 * p);
    const __m256i q1 = Values<I>(half, 2 * p + 1);
    for (int k = 0; k < NX; ++k) {
      const int8_t* x =
          reinterpret_cast<const ActQ8_K*>(acts.row[k])[b].qs + 128 * h + 32 * I + 8 * p;
      const __m256i s = _mm256_add_epi16(_mm256_maddubs_epi16(q0, Broadcast4(x)),
                                         _mm256_maddubs_epi16(q1, Broadcast4(x + 4)));
      isum[k] = _mm256_add_epi32(isum[k], _mm256_madd_epi16(s, scale[p / 2]));
      Materialize(isum[k]);
    }
  }
}

// out[k * 8 + r] = dot(row r of the group, activation row k). Every activation row goes
// through the same operations in the same order whatever NX is, so a row's bits do not
// depend on its batch.
template <int NX>
void PackedQ6_K(const void* group, const Acts<NX>& acts, int64_t n, float* out) {
  const BlockQ6_Kx8* blocks = static_cast<const BlockQ6_Kx8*>(group);
  __m256 acc[NX];
  for (int k = 0; k < NX; ++k) acc[k] = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const BlockQ6_Kx8& blk = blocks[b];
    avx2::PrefetchAhead(&blk, sizeof(blk));
    __m256i isum[NX];
    for (int k = 0; k < NX; ++k) isum[k] = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      Quarter<NX, 0>(blk, acts, b, h, isum);
      Quarter<NX, 1>(blk, acts, b, h, isum);
      Quarter<NX, 2>(blk, acts, b, h, isum);
      Quarter<NX, 3>(blk, acts, b, h, isum);
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.d)));
    for (int k = 0; k < NX; ++k) {
      const ActQ8_K& a = reinterpret_cast<const ActQ8_K*>(acts.row[k])[b];
      acc[k] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(a.d)), _mm256_cvtepi32_ps(isum[k]),
                               acc[k]);
    }
  }
  for (int k = 0; k < NX; ++k) _mm256_storeu_ps(out + 8 * k, acc[k]);
}

// The path-table form: one group, 1-4 activation rows.
void PackedQ6_KEntry(const void* group, const void* act, size_t stride, int n_act, int64_t n,
                     float* out) {
  switch (n_act) {
    case 1:
      return PackedQ6_K<1>(group, avx2::MakeActs<1>(act, stride), n, out);
    case 2:
      return PackedQ6_K<2>(group, avx2::MakeActs<2>(act, stride), n, out);
    case 3:
      return PackedQ6_K<3>(group, avx2::MakeActs<3>(act, stride), n, out);
    default:
      return PackedQ6_K<4>(group, avx2::MakeActs<4>(act, stride), n, out);
  }
}

}  // namespace

// Fills the packed Q6_K entry of the AVX2 path (called by MakeAvx2Path).
void FillAvx2PackedQ6KDot(KernelPath* p) {
  p->packed_dot[static_cast<int>(TensorType::kQ6_K)] = PackedQ6_KEntry;
}

}  // namespace zen::kernels
