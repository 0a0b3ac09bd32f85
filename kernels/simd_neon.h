// NEON dot-product kernels shared by the baseline NEON path and the dotprod path: each is a
// template over how 16 int8 pairs are multiplied and summed into int32 lanes (included only
// by *_neon.cc / *_dotprod.cc, which are built for aarch64).
#pragma once

#include <arm_neon.h>

#include <cstring>

#include "kernels/block_unpack.h"

namespace zen::kernels::neon {

// ARMv8.0: widening multiplies and pairwise accumulation.
struct MullDot {
  static int32x4_t Dot(int32x4_t acc, int8x16_t a, int8x16_t b) {
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
  }
};

static inline float Half(uint16_t h) {
  return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

template <typename D>
static float DotQ4_0(const void* w, const void* act, int64_t n) {
  const BlockQ4_0* wb = static_cast<const BlockQ4_0*>(w);
  const ActQ8_32* xb = static_cast<const ActQ8_32*>(act);
  float32x4_t acc = vdupq_n_f32(0.0f);
  const uint8x16_t mask = vdupq_n_u8(0x0F);
  const int8x16_t eight = vdupq_n_s8(8);
  for (int64_t b = 0; b < n / kQK32; ++b) {
    const uint8x16_t q = vld1q_u8(wb[b].qs);
    const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, mask)), eight);
    const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), eight);
    int32x4_t p = D::Dot(vdupq_n_s32(0), lo, vld1q_s8(xb[b].qs));
    p = D::Dot(p, hi, vld1q_s8(xb[b].qs + 16));
    acc = vmlaq_n_f32(acc, vcvtq_f32_s32(p), Half(wb[b].d) * xb[b].d);
  }
  return vaddvq_f32(acc);
}

template <typename D>
static float DotQ8_0(const void* w, const void* act, int64_t n) {
  const BlockQ8_0* wb = static_cast<const BlockQ8_0*>(w);
  const ActQ8_32* xb = static_cast<const ActQ8_32*>(act);
  float32x4_t acc = vdupq_n_f32(0.0f);
  for (int64_t b = 0; b < n / kQK32; ++b) {
    int32x4_t p = D::Dot(vdupq_n_s32(0), vld1q_s8(wb[b].qs), vld1q_s8(xb[b].qs));
    p = D::Dot(p, vld1q_s8(wb[b].qs + 16), vld1q_s8(xb[b].qs + 16));
    acc = vmlaq_n_f32(acc, vcvtq_f32_s32(p), Half(wb[b].d) * xb[b].d);
  }
  return vaddvq_f32(acc);
}

template <typename D>
static float DotQ4K(const void* w, const void* act, int64_t n) {
  const BlockQ4_K* wb = static_cast<const BlockQ4_K*>(w);
  const ActQ8_K* xb = static_cast<const ActQ8_K*>(act);
  const uint8x16_t mask = vdupq_n_u8(0x0F);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    uint8_t scales[8], mins[8];
    for (int j = 0; j < 8; ++j) GetScaleMinK4(j, wb[b].scales, &scales[j], &mins[j]);
    const int16x8_t pairs = vpaddq_s16(vld1q_s16(xb[b].bsums), vld1q_s16(xb[b].bsums + 8));
    const int16x8_t mins16 = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(mins)));
    const int32x4_t mprod =
        vmlal_high_s16(vmull_s16(vget_low_s16(mins16), vget_low_s16(pairs)), mins16, pairs);
    const int8_t* x = xb[b].qs;
    int32x4_t sumi = vdupq_n_s32(0);
    for (int c = 0; c < 4; ++c) {
      const uint8x16_t q0 = vld1q_u8(wb[b].qs + 32 * c);
      const uint8x16_t q1 = vld1q_u8(wb[b].qs + 32 * c + 16);
      int32x4_t p_lo =
          D::Dot(vdupq_n_s32(0), vreinterpretq_s8_u8(vandq_u8(q0, mask)), vld1q_s8(x + 64 * c));
      p_lo = D::Dot(p_lo, vreinterpretq_s8_u8(vandq_u8(q1, mask)), vld1q_s8(x + 64 * c + 16));
      int32x4_t p_hi =
          D::Dot(vdupq_n_s32(0), vreinterpretq_s8_u8(vshrq_n_u8(q0, 4)), vld1q_s8(x + 64 * c + 32));
      p_hi = D::Dot(p_hi, vreinterpretq_s8_u8(vshrq_n_u8(q1, 4)), vld1q_s8(x + 64 * c + 48));
      sumi = vmlaq_n_s32(sumi, p_lo, scales[2 * c]);
      sumi = vmlaq_n_s32(sumi, p_hi, scales[2 * c + 1]);
    }
    sum += Half(wb[b].d) * xb[b].d * static_cast<float>(vaddvq_s32(sumi)) -
           Half(wb[b].dmin) * xb[b].d * static_cast<float>(vaddvq_s32(mprod));
  }
  return sum;
}

template <typename D>
static float DotQ6K(const void* w, const void* act, int64_t n) {
  const BlockQ6_K* wb = static_cast<const BlockQ6_K*>(w);
  const ActQ8_K* xb = static_cast<const ActQ8_K*>(act);
  const uint8x16_t mask = vdupq_n_u8(0x0F);
  const uint8x16_t two = vdupq_n_u8(0x03);
  const int8x16_t offset = vdupq_n_s8(32);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const BlockQ6_K& blk = wb[b];
    const int8_t* x = xb[b].qs;
    int32x4_t sumi = vdupq_n_s32(0);
    for (int h = 0; h < 2; ++h) {
      for (int l0 = 0; l0 < 32; l0 += 16) {
        const uint8x16_t ql0 = vld1q_u8(blk.ql + 64 * h + l0);
        const uint8x16_t ql1 = vld1q_u8(blk.ql + 64 * h + 32 + l0);
        const uint8x16_t qh = vld1q_u8(blk.qh + 32 * h + l0);
        const uint8x16_t q[4] = {
            vorrq_u8(vandq_u8(ql0, mask), vshlq_n_u8(vandq_u8(qh, two), 4)),
            vorrq_u8(vandq_u8(ql1, mask), vshlq_n_u8(vandq_u8(vshrq_n_u8(qh, 2), two), 4)),
            vorrq_u8(vshrq_n_u8(ql0, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(qh, 4), two), 4)),
            vorrq_u8(vshrq_n_u8(ql1, 4), vshlq_n_u8(vshrq_n_u8(qh, 6), 4))};
        for (int j = 0; j < 4; ++j) {
          // Elements 128h + 32j + l0 .. +15 form sub-block 8h + 2j + l0/16.
          const int e = 128 * h + 32 * j + l0;
          const int8x16_t qs = vsubq_s8(vreinterpretq_s8_u8(q[j]), offset);
          const int32x4_t p = D::Dot(vdupq_n_s32(0), qs, vld1q_s8(x + e));
          sumi = vmlaq_n_s32(sumi, p, blk.scales[e / 16]);
        }
      }
    }
    sum += Half(blk.d) * xb[b].d * static_cast<float>(vaddvq_s32(sumi));
  }
  return sum;
}

}  // namespace zen::kernels::neon
