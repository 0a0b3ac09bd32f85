// Packed-weight kernels (packed_neon.h) with the ARMv8.2 dotprod extension: one SDOT by lane
// multiplies a 16-byte chunk (four bytes of each of four rows) by the four matching
// activation bytes, chosen by lane from a 16-byte activation register, and adds each row's
// four products into that row's 32-bit lane. Per 256 weights and activation row that is 58
// instructions for Q4_0 and 62 for Q4_K (45 and 46 with two activation rows per call)
// against 170 and 157 in the file layout's SDOT kernels (simd_neon.h): instructions executed
// under qemu-aarch64 for 8 rows of 2560, not a timing.
#include <arm_neon.h>

#include "kernels/kernel_paths.h"
#include "kernels/packed_neon.h"

namespace zen::kernels {
namespace {

using neon_packed::Unroll;

struct SdotProducts {
  // isum[k][h]: rows 4h .. 4h+3 of a BlockQ4_0x8 (qs) against activation quants x[k].
  template <int NX>
  static void Q4_0Block(const uint8_t* qs, const int8_t* const* x, int32x4_t (*isum)[2]) {
    int8x16_t xv[NX][2];
    for (int k = 0; k < NX; ++k) {
      xv[k][0] = vld1q_s8(x[k]);       // elements 0..15: low nibbles of chunks 0..3
      xv[k][1] = vld1q_s8(x[k] + 16);  // elements 16..31: high nibbles
      isum[k][0] = isum[k][1] = vdupq_n_s32(0);
    }
    Unroll<4>([&](auto c) {
      for (int h = 0; h < 2; ++h) {
        int8x16_t lo, hi;
        neon_packed::LoadNibbles(qs + 32 * c + 16 * h, &lo, &hi);
        for (int k = 0; k < NX; ++k) {
          isum[k][h] = vdotq_laneq_s32(isum[k][h], lo, xv[k][0], c);
          isum[k][h] = vdotq_laneq_s32(isum[k][h], hi, xv[k][1], c);
        }
      }
    });
  }

  // lo[k][h] / hi[k][h]: rows 4h .. 4h+3 of sub-blocks 2c / 2c + 1, from the eight chunks at
  // q (32 bytes apart) and the 64 activation quants at x[k].
  template <int NX>
  static void Q4_KPair(const uint8_t* q, const int8_t* const* x, int32x4_t (*lo)[2],
                       int32x4_t (*hi)[2]) {
    int8x16_t xv[NX][4];
    for (int k = 0; k < NX; ++k) {
      for (int i = 0; i < 4; ++i) xv[k][i] = vld1q_s8(x[k] + 16 * i);
      lo[k][0] = lo[k][1] = hi[k][0] = hi[k][1] = vdupq_n_s32(0);
    }
    Unroll<8>([&](auto t) {
      for (int h = 0; h < 2; ++h) {
        int8x16_t l, u;
        neon_packed::LoadNibbles(q + 32 * t + 16 * h, &l, &u);
        for (int k = 0; k < NX; ++k) {
          lo[k][h] = vdotq_laneq_s32(lo[k][h], l, xv[k][t / 4], t % 4);
          hi[k][h] = vdotq_laneq_s32(hi[k][h], u, xv[k][2 + t / 4], t % 4);
        }
      }
    });
  }
};

}  // namespace

// Fills the packed-weight entries of the dotprod path (called by MakeNeonDotprodPath).
void FillNeonDotprodPackedDots(KernelPath* p) {
  neon_packed::SetPackedDots<SdotProducts, 4, 2>(p);
}

}  // namespace zen::kernels
