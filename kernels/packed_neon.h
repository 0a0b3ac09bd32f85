// NEON kernels for packed (eight-row interleaved) weights, packed_blocks.h, shared by the
// baseline NEON path (matmul_packed_neon.cc) and the dotprod one
// (matmul_packed_neon_dotprod.cc). A 16-byte load of a packed chunk holds four bytes of each
// of four rows, one row per 32-bit lane, so each row's integer sum builds up in its own lane:
// no horizontal adds, and a group's eight outputs leave in two stores. The templates here do
// everything but the integer products, which come from a policy P (SDOT by lane, or widening
// multiplies). Included only by *_neon.cc / *_dotprod.cc; everything is static so each file
// keeps its own copy compiled with its own -march.
//
// Every activation row goes through the same operations in the same order whatever the
// number of rows in the call, so a row gets the same bits alone or batched.
#pragma once

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <utility>

#include "kernels/kernel_paths.h"
#include "kernels/packed_blocks.h"
#include "kernels/quant_blocks.h"

namespace zen::kernels::neon_packed {

// Calls f(std::integral_constant<int, I>{}) for I = 0 .. N-1: NEON lane indices must be
// compile-time constants.
template <int N, typename F>
static inline void Unroll(F&& f) {
  [&]<int... I>(std::integer_sequence<int, I...>) {
    (f(std::integral_constant<int, I>{}), ...);
  }
  (std::make_integer_sequence<int, N>{});
}

// The 16 bytes at p split into low nibbles (lo) and high nibbles (hi), each 0..15.
static inline void LoadNibbles(const uint8_t* p, int8x16_t* lo, int8x16_t* hi) {
  const uint8x16_t w = vld1q_u8(p);
  *lo = vreinterpretq_s8_u8(vandq_u8(w, vdupq_n_u8(0x0F)));
  *hi = vreinterpretq_s8_u8(vshrq_n_u8(w, 4));
}

// Eight float16 values as two float32x4 (rows 0-3, rows 4-7).
static inline void LoadHalf8(const uint16_t* p, float32x4_t out[2]) {
  const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(p));
  out[0] = vcvt_f32_f16(vget_low_f16(h));
  out[1] = vcvt_high_f32_f16(h);
}

// out[k * 8 + r] = dot(row r, activation row k) for k < NX. P::Q4_0Block<NX> gives, per
// activation row k and half h (rows 4h .. 4h+3), the integer sums of q * x with the unsigned
// nibbles q = 0..15; the -8 of value = d (q - 8) goes through s = d_x sum(x_q) per block, as
// in the scalar kernel, but folded into the block's term before the row scale.
template <typename P, int NX>
static void PackedQ4_0(const void* group, const uint8_t* act, size_t stride, int64_t n,
                       float* out) {
  const auto* blocks = static_cast<const BlockQ4_0x8*>(group);
  float32x4_t acc[NX][2];
  for (int k = 0; k < NX; ++k) acc[k][0] = acc[k][1] = vdupq_n_f32(0.0f);
  for (int64_t b = 0; b < n / kQK32; ++b) {
    const ActQ8_32* a[NX];
    const int8_t* x[NX];
    for (int k = 0; k < NX; ++k) {
      a[k] = reinterpret_cast<const ActQ8_32*>(act + k * stride) + b;
      x[k] = a[k]->qs;
    }
    int32x4_t isum[NX][2];
    P::template Q4_0Block<NX>(blocks[b].qs, x, isum);
    float32x4_t dw[2];
    LoadHalf8(blocks[b].d, dw);
    for (int k = 0; k < NX; ++k) {
      const float32x4_t offset = vdupq_n_f32(-8.0f * a[k]->s);
      for (int h = 0; h < 2; ++h) {
        const float32x4_t block = vfmaq_n_f32(offset, vcvtq_f32_s32(isum[k][h]), a[k]->d);
        acc[k][h] = vfmaq_f32(acc[k][h], dw[h], block);
      }
    }
  }
  for (int k = 0; k < NX; ++k) {
    vst1q_f32(out + 8 * k, acc[k][0]);
    vst1q_f32(out + 8 * k + 4, acc[k][1]);
  }
}

// The 6-bit scales and mins of one BlockQ4_Kx8, unpacked for all eight rows.
struct Q4KScales {
  int32x4_t scale[8][2];  // sub-block j, rows 4h .. 4h+3
  int16x8_t min[8];       // sub-block j, rows 0 .. 7
};

// Sub-blocks j and j + 1 of 16 bytes (8 rows each) into out->scale.
static inline void WidenScales(uint8x16_t v, int j, Q4KScales* out) {
  const uint16x8_t first = vmovl_u8(vget_low_u8(v));
  const uint16x8_t second = vmovl_high_u8(v);
  out->scale[j][0] = vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(first)));
  out->scale[j][1] = vreinterpretq_s32_u32(vmovl_high_u16(first));
  out->scale[j + 1][0] = vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(second)));
  out->scale[j + 1][1] = vreinterpretq_s32_u32(vmovl_high_u16(second));
}

// The layout of scale_low / min_low / high is in packed_blocks.h: byte 8 j' + r, so each
// 16-byte half holds sub-blocks j' = 2i, 2i + 1 (and j' + 4 in the other nibble).
static inline void UnpackQ4KScales(const BlockQ4_Kx8& blk, Q4KScales* out) {
  const uint8x16_t m4 = vdupq_n_u8(0x0F);
  const uint8x16_t m30 = vdupq_n_u8(0x30);
  for (int i = 0; i < 2; ++i) {
    const uint8x16_t sl = vld1q_u8(blk.scale_low + 16 * i);
    const uint8x16_t ml = vld1q_u8(blk.min_low + 16 * i);
    const uint8x16_t hb = vld1q_u8(blk.high + 16 * i);
    const uint8x16_t sc_a = vorrq_u8(vandq_u8(sl, m4), vandq_u8(vshlq_n_u8(hb, 4), m30));
    const uint8x16_t sc_b = vorrq_u8(vshrq_n_u8(sl, 4), vandq_u8(vshlq_n_u8(hb, 2), m30));
    const uint8x16_t mn_a = vorrq_u8(vandq_u8(ml, m4), vandq_u8(hb, m30));
    const uint8x16_t mn_b = vorrq_u8(vshrq_n_u8(ml, 4), vandq_u8(vshrq_n_u8(hb, 2), m30));
    WidenScales(sc_a, 2 * i, out);
    WidenScales(sc_b, 2 * i + 4, out);
    out->min[2 * i] = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(mn_a)));
    out->min[2 * i + 1] = vreinterpretq_s16_u16(vmovl_high_u8(mn_a));
    out->min[2 * i + 4] = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(mn_b)));
    out->min[2 * i + 5] = vreinterpretq_s16_u16(vmovl_high_u8(mn_b));
  }
}

// msum[h] = sum over sub-blocks j of min[j] * (sum of the activation's 32 quants of j), for
// rows 4h .. 4h+3; the sub-block sums come from ActQ8_K::bsums (16 elements each).
static inline void MinSums(const Q4KScales& s, const ActQ8_K& a, int32x4_t msum[2]) {
  const int16x8_t pairs = vpaddq_s16(vld1q_s16(a.bsums), vld1q_s16(a.bsums + 8));
  msum[0] = vmull_laneq_s16(vget_low_s16(s.min[0]), pairs, 0);
  msum[1] = vmull_high_laneq_s16(s.min[0], pairs, 0);
  Unroll<7>([&](auto i) {
    constexpr int j = i + 1;
    msum[0] = vmlal_laneq_s16(msum[0], vget_low_s16(s.min[j]), pairs, j);
    msum[1] = vmlal_high_laneq_s16(msum[1], s.min[j], pairs, j);
  });
}

// Q4_K: value = d scale q - dmin min per 32-element sub-block. P::Q4_KPair<NX> gives, for
// sub-blocks 2c (low nibbles) and 2c + 1 (high nibbles), the integer sums of q * x of rows
// 4h .. 4h+3 (lo[k][h], hi[k][h]); they meet their per-row scales in one multiply-add each.
template <typename P, int NX>
static void PackedQ4_K(const void* group, const uint8_t* act, size_t stride, int64_t n,
                       float* out) {
  const auto* blocks = static_cast<const BlockQ4_Kx8*>(group);
  float32x4_t acc[NX][2];
  for (int k = 0; k < NX; ++k) acc[k][0] = acc[k][1] = vdupq_n_f32(0.0f);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const BlockQ4_Kx8& blk = blocks[b];
    const ActQ8_K* a[NX];
    for (int k = 0; k < NX; ++k) a[k] = reinterpret_cast<const ActQ8_K*>(act + k * stride) + b;
    Q4KScales s;
    UnpackQ4KScales(blk, &s);
    int32x4_t isum[NX][2];
    for (int k = 0; k < NX; ++k) isum[k][0] = isum[k][1] = vdupq_n_s32(0);
    for (int c = 0; c < 4; ++c) {
      const int8_t* x[NX];
      for (int k = 0; k < NX; ++k) x[k] = a[k]->qs + 64 * c;
      int32x4_t lo[NX][2], hi[NX][2];
      P::template Q4_KPair<NX>(blk.qs + 256 * c, x, lo, hi);
      for (int k = 0; k < NX; ++k) {
        for (int h = 0; h < 2; ++h) {
          isum[k][h] = vmlaq_s32(isum[k][h], lo[k][h], s.scale[2 * c][h]);
          isum[k][h] = vmlaq_s32(isum[k][h], hi[k][h], s.scale[2 * c + 1][h]);
        }
      }
    }
    float32x4_t dw[2], dmw[2];
    LoadHalf8(blk.d, dw);
    LoadHalf8(blk.dmin, dmw);
    for (int k = 0; k < NX; ++k) {
      int32x4_t msum[2];
      MinSums(s, *a[k], msum);
      for (int h = 0; h < 2; ++h) {
        float32x4_t block = vmulq_f32(vcvtq_f32_s32(isum[k][h]), dw[h]);
        block = vfmsq_f32(block, vcvtq_f32_s32(msum[h]), dmw[h]);
        acc[k][h] = vfmaq_n_f32(acc[k][h], block, a[k]->d);
      }
    }
  }
  for (int k = 0; k < NX; ++k) {
    vst1q_f32(out + 8 * k, acc[k][0]);
    vst1q_f32(out + 8 * k + 4, acc[k][1]);
  }
}

// The path-table form (KernelPath::packed_dot): one group, n_act activation rows handled
// kMaxRows at a time (more would not fit the registers).
template <template <typename, int> class Kernel, typename P, int kMaxRows>
static void PackedEntry(const void* group, const void* act, size_t stride, int n_act, int64_t n,
                        float* out) {
  const auto* x = static_cast<const uint8_t*>(act);
  for (int k = 0; k < n_act;) {
    const int rows = n_act - k < kMaxRows ? n_act - k : kMaxRows;
    const uint8_t* xk = x + k * stride;
    float* ok = out + 8 * k;
    if (rows == 1) Kernel<P, 1>::Run(group, xk, stride, n, ok);
    if constexpr (kMaxRows >= 2) {
      if (rows == 2) Kernel<P, 2>::Run(group, xk, stride, n, ok);
    }
    if constexpr (kMaxRows >= 3) {
      if (rows == 3) Kernel<P, 3>::Run(group, xk, stride, n, ok);
    }
    if constexpr (kMaxRows >= 4) {
      if (rows == 4) Kernel<P, 4>::Run(group, xk, stride, n, ok);
    }
    k += rows;
  }
}

// Kernel adaptors for PackedEntry.
template <typename P, int NX>
struct Q4_0Kernel {
  static void Run(const void* g, const uint8_t* a, size_t s, int64_t n, float* o) {
    PackedQ4_0<P, NX>(g, a, s, n, o);
  }
};
template <typename P, int NX>
struct Q4_KKernel {
  static void Run(const void* g, const uint8_t* a, size_t s, int64_t n, float* o) {
    PackedQ4_K<P, NX>(g, a, s, n, o);
  }
};

// Sets a path's packed Q4_0 and Q4_K kernels built on products P, taking up to kQ4_0Rows /
// kQ4_KRows activation rows per pass over the weights.
template <typename P, int kQ4_0Rows, int kQ4_KRows>
static void SetPackedDots(KernelPath* path) {
  path->packed_dot[static_cast<int>(TensorType::kQ4_0)] = PackedEntry<Q4_0Kernel, P, kQ4_0Rows>;
  path->packed_dot[static_cast<int>(TensorType::kQ4_K)] = PackedEntry<Q4_KKernel, P, kQ4_KRows>;
}

}  // namespace zen::kernels::neon_packed
