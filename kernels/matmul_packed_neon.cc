// Packed-weight kernels (packed_neon.h) for ARMv8.0 NEON without dotprod (Cortex-A53/A72:
// Raspberry Pi 3/4). A widening multiply of eight chunk bytes (four of each of two rows) by
// the four matching activation bytes, loaded once into every 32-bit lane, keeps each row's
// products in its own 16-bit lanes; they add up in 16 bits over a block (at most eight
// products of 15 * 128 per lane, < 2^15) and reach 32 bits with one pairwise widening add
// and one pairwise add per four rows. Per 256 weights and activation row that is 88
// instructions for Q4_0 (75 with two activation rows per call) and 95 for Q4_K against 218
// and 204 in the file layout's widening kernels (simd_neon.h): instructions executed under
// qemu-aarch64 for 8 rows of 2560, not a timing.
#include <arm_neon.h>

#include "kernels/kernel_paths.h"
#include "kernels/packed_neon.h"

namespace zen::kernels {
namespace {

using neon_packed::Unroll;

// Activation bytes 4 kLane .. 4 kLane + 3 of x in every 32-bit lane.
template <int kLane>
inline int8x16_t Broadcast4(int8x16_t x) {
  return vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(x), kLane));
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
    RowPairSums sums[NX][2];
    int8x16_t xv[NX][2];
    for (int k = 0; k < NX; ++k) {
      xv[k][0] = vld1q_s8(x[k]);       // elements 0..15: low nibbles of chunks 0..3
      xv[k][1] = vld1q_s8(x[k] + 16);  // elements 16..31: high nibbles
    }
    Unroll<4>([&](auto c) {
      for (int h = 0; h < 2; ++h) {
        int8x16_t lo, hi;
        neon_packed::LoadNibbles(qs + 32 * c + 16 * h, &lo, &hi);
        for (int k = 0; k < NX; ++k) {
          MultiplyAdd<c == 0>(&sums[k][h], lo, Broadcast4<c>(xv[k][0]));
          MultiplyAdd<false>(&sums[k][h], hi, Broadcast4<c>(xv[k][1]));
        }
      }
    });
    for (int k = 0; k < NX; ++k) {
      isum[k][0] = RowSums(sums[k][0]);
      isum[k][1] = RowSums(sums[k][1]);
    }
  }

  // lo[k][h] / hi[k][h]: rows 4h .. 4h+3 of sub-blocks 2c / 2c + 1, from the eight chunks at
  // q (32 bytes apart) and the 64 activation quants at x[k].
  template <int NX>
  static void Q4_KPair(const uint8_t* q, const int8_t* const* x, int32x4_t (*lo)[2],
                       int32x4_t (*hi)[2]) {
    for (int h = 0; h < 2; ++h) {
      RowPairSums sums_lo[NX], sums_hi[NX];
      int8x16_t xv[NX][2];  // low- and high-nibble activations of chunks t .. t+3
      Unroll<8>([&](auto t) {
        int8x16_t l, u;
        neon_packed::LoadNibbles(q + 32 * t + 16 * h, &l, &u);
        for (int k = 0; k < NX; ++k) {
          if constexpr (t % 4 == 0) {
            xv[k][0] = vld1q_s8(x[k] + 4 * t);
            xv[k][1] = vld1q_s8(x[k] + 32 + 4 * t);
          }
          MultiplyAdd<t == 0>(&sums_lo[k], l, Broadcast4<t % 4>(xv[k][0]));
          MultiplyAdd<t == 0>(&sums_hi[k], u, Broadcast4<t % 4>(xv[k][1]));
        }
      });
      for (int k = 0; k < NX; ++k) {
        lo[k][h] = RowSums(sums_lo[k]);
        hi[k][h] = RowSums(sums_hi[k]);
      }
    }
  }
};

}  // namespace

// Fills the packed-weight entries of the baseline NEON path (called by MakeNeonPath; the
// dotprod path inherits them unless it brings its own).
void FillNeonPackedDots(KernelPath* p) {
  // One activation row at a time for Q4_K: its multiplies and broadcasts are per row, so a
  // second row shares only the nibble unpacking and GCC spills the 16 accumulators; two rows
  // at once took 95 instructions per row and 256 weights, as one row alone does.
  neon_packed::SetPackedDots<WideningProducts, 2, 1>(p);
}

}  // namespace zen::kernels
