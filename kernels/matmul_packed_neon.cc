// Packed-weight kernels (packed_neon.h) for ARMv8.0 NEON without dotprod (Cortex-A53/A72:
// Raspberry Pi 3/4). A widening multiply of eight chunk bytes (four of each of two rows) by
// the four matching activation bytes, loaded once into every 32-bit lane, keeps each row's
// products in its own 16-bit lanes; they add up in 16 bits over a block (at most eight
// products of 15 * 128 per lane, < 2^15) and reach 32 bits with one pairwise widening add
// and one pairwise add per four rows. Per 256 weights and activation row that is about 85
// instructions for Q4_0 and 85 for Q4_K against about 170 and 195 in the file layout's
// widening kernels (simd_neon.h), counted in the generated code, not timed.
#include <arm_neon.h>

#include <cstring>

#include "kernels/kernel_paths.h"
#include "kernels/packed_neon.h"

namespace zen::kernels {
namespace {

using neon_packed::Unroll;

// Four activation bytes at p in every 32-bit lane.
inline int8x16_t Broadcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return vreinterpretq_s8_s32(vdupq_n_s32(v));
}

// Rows 0, 1 of a four-row chunk: 16-bit lanes (row, byte); rows 2, 3 likewise.
struct RowPairSums {
  int16x8_t first, second;
};

// sums += q * x for the four rows of one 16-byte chunk (first term: sums = q * x).
template <bool kFirst>
inline void MultiplyAdd(RowPairSums* sums, int8x16_t q, int8x16_t x) {
  if constexpr (kFirst) {
    sums->first = vmull_s8(vget_low_s8(q), vget_low_s8(x));
    sums->second = vmull_high_s8(q, x);
  } else {
    sums->first = vmlal_s8(sums->first, vget_low_s8(q), vget_low_s8(x));
    sums->second = vmlal_high_s8(sums->second, q, x);
  }
}

// One 32-bit sum per row of the four rows.
inline int32x4_t RowSums(const RowPairSums& s) {
  return vpaddq_s32(vpaddlq_s16(s.first), vpaddlq_s16(s.second));
}

struct WideningProducts {
  // isum[k][h]: rows 4h .. 4h+3 of a BlockQ4_0x8 (qs) against activation quants x[k].
  template <int NX>
  static void Q4_0Block(const uint8_t* qs, const int8_t* const* x, int32x4_t (*isum)[2]) {
    const uint8x16_t mask = vdupq_n_u8(0x0F);
    RowPairSums sums[NX][2];
    Unroll<4>([&](auto c) {
      for (int h = 0; h < 2; ++h) {
        const uint8x16_t w = vld1q_u8(qs + 32 * c + 16 * h);
        const int8x16_t lo = vreinterpretq_s8_u8(vandq_u8(w, mask));
        const int8x16_t hi = vreinterpretq_s8_u8(vshrq_n_u8(w, 4));
        for (int k = 0; k < NX; ++k) {
          MultiplyAdd<c == 0>(&sums[k][h], lo, Broadcast4(x[k] + 4 * c));
          MultiplyAdd<false>(&sums[k][h], hi, Broadcast4(x[k] + 16 + 4 * c));
        }
      }
    });
    for (int k = 0; k < NX; ++k) {
      isum[k][0] = RowSums(sums[k][0]);
      isum[k][1] = RowSums(sums[k][1]);
    }
  }

  // lo[k] / hi[k]: rows 4h .. 4h+3 of sub-blocks 2c / 2c + 1, from the eight chunks at q
  // (32 bytes apart) and the 64 activation quants at x[k].
  template <int NX>
  static void Q4_KPair(const uint8_t* q, const int8_t* const* x, int32x4_t* lo, int32x4_t* hi) {
    const uint8x16_t mask = vdupq_n_u8(0x0F);
    RowPairSums sums_lo[NX], sums_hi[NX];
    Unroll<8>([&](auto t) {
      const uint8x16_t w = vld1q_u8(q + 32 * t);
      const int8x16_t l = vreinterpretq_s8_u8(vandq_u8(w, mask));
      const int8x16_t h = vreinterpretq_s8_u8(vshrq_n_u8(w, 4));
      for (int k = 0; k < NX; ++k) {
        MultiplyAdd<t == 0>(&sums_lo[k], l, Broadcast4(x[k] + 4 * t));
        MultiplyAdd<t == 0>(&sums_hi[k], h, Broadcast4(x[k] + 32 + 4 * t));
      }
    });
    for (int k = 0; k < NX; ++k) {
      lo[k] = RowSums(sums_lo[k]);
      hi[k] = RowSums(sums_hi[k]);
    }
  }
};

}  // namespace

// Fills the packed-weight entries of the baseline NEON path (called by MakeNeonPath; the
// dotprod path inherits them unless it brings its own).
void FillNeonPackedDots(KernelPath* p) {
  using neon_packed::PackedEntry;
  p->packed_dot[static_cast<int>(TensorType::kQ4_0)] =
      PackedEntry<neon_packed::Q4_0Kernel, WideningProducts, 2>;
  p->packed_dot[static_cast<int>(TensorType::kQ4_K)] =
      PackedEntry<neon_packed::Q4_KKernel, WideningProducts, 2>;
}

}  // namespace zen::kernels
