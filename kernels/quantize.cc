// Quantizers: weights (every weight type) for the synthetic-model tool and
// the KV cache, and the 8-bit activation blocks every MatMul path consumes.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "kernels/fp16.h"
#include "kernels/kernel_paths.h"
#include "kernels/matmul.h"
#include "kernels/quant_blocks.h"

namespace zen::kernels {
namespace {

// Round-half-even for |x| < 2^22 without a libm call, so the activation loops vectorize:
// adding 1.5 * 2^23 pushes the fraction out of the mantissa under the default rounding mode.
inline float RoundSmall(float x) {
  constexpr float kMagic = 12582912.0f;
  return (x + kMagic) - kMagic;
}

// round(x) limited to [lo, hi]; clamping first keeps huge values and NaN (-> lo) in range.
inline int RoundClamped(float x, int lo, int hi) {
  if (!(x >= static_cast<float>(lo))) x = static_cast<float>(lo);
  if (x > static_cast<float>(hi)) x = static_cast<float>(hi);
  return static_cast<int>(RoundSmall(x));
}

void QuantizeQ8_0(const float* x, BlockQ8_0* out, int64_t n) {
  for (int64_t b = 0; b < n / kQK32; ++b, x += kQK32) {
    float amax = 0.0f;
    for (int j = 0; j < kQK32; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    out[b].d = F32ToF16(d);
    for (int j = 0; j < kQK32; ++j) out[b].qs[j] = static_cast<int8_t>(RoundSmall(x[j] * id));
  }
}

// Packs 32 levels: low 4 bits as nibbles (element j low, j + 16 high); with qh, the fifth
// bits as a little-endian 32-bit mask.
void PackNibbles(const uint8_t* q, uint8_t* qs, uint8_t* qh) {
  for (int j = 0; j < 16; ++j)
    qs[j] = static_cast<uint8_t>((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4));
  if (qh == nullptr) return;
  uint32_t bits = 0;
  for (int j = 0; j < 32; ++j) bits |= static_cast<uint32_t>((q[j] >> 4) & 1) << j;
  std::memcpy(qh, &bits, 4);
}

// The element of largest magnitude, with its sign.
float SignedAbsMax(const float* x, int n) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < n; ++j) {
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

// Q4_0 / Q5_0: x ~= d * (q - kHalf); the largest-magnitude value maps to -kHalf exactly,
// which uses the extra negative level.
template <typename Block, int kHalf>
void QuantizeSymmetric32(const float* x, Block* out, int64_t n) {
  for (int64_t b = 0; b < n / kQK32; ++b, x += kQK32) {
    const float d = SignedAbsMax(x, kQK32) / static_cast<float>(-kHalf);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    out[b].d = F32ToF16(d);
    uint8_t q[32];
    for (int j = 0; j < kQK32; ++j) {
      q[j] = static_cast<uint8_t>(RoundClamped(x[j] * id, -kHalf, kHalf - 1) + kHalf);
    }
    if constexpr (kHalf == 16) {
      PackNibbles(q, out[b].qs, out[b].qh);
    } else {
      PackNibbles(q, out[b].qs, nullptr);
    }
  }
}

// Fits x[i] ~= scale * L[i] - min with L in [0, nmax] and min >= 0 by trying a range of
// grid spacings and solving weighted least squares for (scale, min) at each; the weights
// favour large-magnitude elements, as llama.cpp's non-imatrix quantizer does.
float FitScaleMin(const float* x, int n, int nmax, float* min_out) {
  float lo = 0.0f, hi = x[0], sum_x2 = 0.0f;
  for (int i = 0; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
    sum_x2 += x[i] * x[i];
  }
  if (hi <= lo) {
    *min_out = -lo;
    return 0.0f;
  }
  const float av = std::sqrt(sum_x2 / n);
  float best_scale = (hi - lo) / nmax, best_offset = lo, best_err = INFINITY;
  for (int step = -10; step <= 10; ++step) {
    const float iscale = (nmax + 0.1f * step) / (hi - lo);
    float sw = 0, sl = 0, sl2 = 0, sx = 0, sxl = 0;
    int levels[256];
    for (int i = 0; i < n; ++i) {
      const int l = RoundClamped(iscale * (x[i] - lo), 0, nmax);
      levels[i] = l;
      const float w = av + std::fabs(x[i]);
      sw += w;
      sl += w * l;
      sl2 += w * l * l;
      sx += w * x[i];
      sxl += w * l * x[i];
    }
    const float det = sw * sl2 - sl * sl;
    if (det <= 0.0f) continue;
    float scale = (sw * sxl - sx * sl) / det;
    float offset = (sl2 * sx - sl * sxl) / det;
    if (offset > 0.0f) {  // the format can only subtract a min
      offset = 0.0f;
      scale = sxl / sl2;
    }
    float err = 0.0f;
    for (int i = 0; i < n; ++i) {
      const float diff = scale * levels[i] + offset - x[i];
      err += (av + std::fabs(x[i])) * diff * diff;
    }
    if (err < best_err) {
      best_err = err;
      best_scale = scale;
      best_offset = offset;
    }
  }
  *min_out = -best_offset;
  return best_scale;
}

// One Q4_K/Q5_K super-block: per-32 scale and min fitted, then stored as 6-bit multiples of
// the half-precision d and dmin; levels (0..nmax) are refitted to the values that decode.
void FitKBlock(const float* x, int nmax, uint16_t* d_out, uint16_t* dmin_out, uint8_t* packed,
               uint8_t* levels) {
  float scales[8], mins[8], max_scale = 0.0f, max_min = 0.0f;
  for (int j = 0; j < 8; ++j) {
    scales[j] = FitScaleMin(x + 32 * j, 32, nmax, &mins[j]);
    max_scale = std::max(max_scale, scales[j]);
    max_min = std::max(max_min, mins[j]);
  }
  const float d = max_scale / 63.0f, dmin = max_min / 63.0f;
  *d_out = F32ToF16(d);
  *dmin_out = F32ToF16(dmin);
  const float d_stored = F16ToF32(*d_out), dmin_stored = F16ToF32(*dmin_out);
  std::memset(packed, 0, 12);
  for (int j = 0; j < 8; ++j) {
    const int sc = d > 0 ? RoundClamped(scales[j] / d, 0, 63) : 0;
    const int m = dmin > 0 ? RoundClamped(mins[j] / dmin, 0, 63) : 0;
    if (j < 4) {
      packed[j] = static_cast<uint8_t>(sc);
      packed[j + 4] = static_cast<uint8_t>(m);
    } else {
      packed[j + 4] = static_cast<uint8_t>((sc & 0xF) | ((m & 0xF) << 4));
      packed[j - 4] |= static_cast<uint8_t>((sc >> 4) << 6);
      packed[j] |= static_cast<uint8_t>((m >> 4) << 6);
    }
    const float step = d_stored * sc, offset = dmin_stored * m;
    for (int i = 0; i < 32; ++i) {
      levels[32 * j + i] =
          step > 0 ? static_cast<uint8_t>(RoundClamped((x[32 * j + i] + offset) / step, 0, nmax))
                   : 0;
    }
  }
}

void QuantizeQ4_K(const float* x, BlockQ4_K* out, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    uint8_t levels[256];
    BlockQ4_K& blk = out[b];
    FitKBlock(x, 15, &blk.d, &blk.dmin, blk.scales, levels);
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        blk.qs[32 * c + l] =
            static_cast<uint8_t>(levels[64 * c + l] | (levels[64 * c + 32 + l] << 4));
      }
    }
  }
}

// Signed scale for x[i] ~= scale * L[i], L in [-nmax, nmax - 1], chosen among grid spacings
// near the one that maps the largest-magnitude element to -nmax, by weighted (x^2) error.
float FitSignedScale(const float* x, int n, int nmax) {
  const float max = SignedAbsMax(x, n);
  if (max == 0.0f) return 0.0f;
  float best_scale = max / static_cast<float>(-nmax), best_err = INFINITY;
  for (int step = -9; step <= 9; ++step) {
    const float iscale = -(static_cast<float>(nmax) + 0.1f * step) / max;
    float sxl = 0, sl2 = 0;
    int levels[16];
    for (int i = 0; i < n; ++i) {
      levels[i] = RoundClamped(iscale * x[i], -nmax, nmax - 1);
      const float w = x[i] * x[i];
      sxl += w * x[i] * levels[i];
      sl2 += w * levels[i] * levels[i];
    }
    if (sl2 <= 0.0f) continue;
    const float scale = sxl / sl2;
    float err = 0.0f;
    for (int i = 0; i < n; ++i) {
      const float diff = scale * levels[i] - x[i];
      err += x[i] * x[i] * diff * diff;
    }
    if (err < best_err) {
      best_err = err;
      best_scale = scale;
    }
  }
  return best_scale;
}

void QuantizeQ6_K(const float* x, BlockQ6_K* out, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    float scales[16], max_abs = 0.0f;
    for (int s = 0; s < 16; ++s) {
      scales[s] = FitSignedScale(x + 16 * s, 16, 32);
      max_abs = std::max(max_abs, std::fabs(scales[s]));
    }
    const float d = max_abs / 127.0f;
    BlockQ6_K& blk = out[b];
    blk.d = F32ToF16(d);
    const float d_stored = F16ToF32(blk.d);
    uint8_t q[256];
    for (int s = 0; s < 16; ++s) {
      const int sc = d > 0 ? RoundClamped(scales[s] / d, -127, 127) : 0;
      blk.scales[s] = static_cast<int8_t>(sc);
      const float step = d_stored * sc;
      for (int i = 0; i < 16; ++i) {
        const int l = step != 0 ? RoundClamped(x[16 * s + i] / step, -32, 31) : 0;
        q[16 * s + i] = static_cast<uint8_t>(l + 32);
      }
    }
    for (int h = 0; h < 2; ++h) {
      const uint8_t* qq = q + 128 * h;
      for (int l = 0; l < 32; ++l) {
        blk.ql[64 * h + l] = static_cast<uint8_t>((qq[l] & 0xF) | ((qq[l + 64] & 0xF) << 4));
        blk.ql[64 * h + l + 32] =
            static_cast<uint8_t>((qq[l + 32] & 0xF) | ((qq[l + 96] & 0xF) << 4));
        blk.qh[32 * h + l] =
            static_cast<uint8_t>((qq[l] >> 4) | ((qq[l + 32] >> 4) << 2) |
                                 ((qq[l + 64] >> 4) << 4) | ((qq[l + 96] >> 4) << 6));
      }
    }
  }
}

// Q4_1 / Q5_1: x ~= d * q + m with m the block minimum and 2^bits - 1 steps up to the max.
template <typename Block, int kLevels>
void QuantizeAffine32(const float* x, Block* out, int64_t n) {
  for (int64_t b = 0; b < n / kQK32; ++b, x += kQK32) {
    float lo = x[0], hi = x[0];
    for (int j = 1; j < kQK32; ++j) {
      lo = std::min(lo, x[j]);
      hi = std::max(hi, x[j]);
    }
    const float d = (hi - lo) / (kLevels - 1);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    out[b].d = F32ToF16(d);
    out[b].m = F32ToF16(lo);
    uint8_t q[32];
    for (int j = 0; j < kQK32; ++j) {
      q[j] = static_cast<uint8_t>(RoundClamped((x[j] - lo) * id, 0, kLevels - 1));
    }
    if constexpr (kLevels == 32) {
      PackNibbles(q, out[b].qs, out[b].qh);
    } else {
      PackNibbles(q, out[b].qs, nullptr);
    }
  }
}

void QuantizeQ5_K(const float* x, BlockQ5_K* out, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    uint8_t levels[256];
    BlockQ5_K& blk = out[b];
    FitKBlock(x, 31, &blk.d, &blk.dmin, blk.scales, levels);
    std::memset(blk.qh, 0, sizeof blk.qh);
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        const uint8_t q0 = levels[64 * c + l], q1 = levels[64 * c + 32 + l];
        blk.qs[32 * c + l] = static_cast<uint8_t>((q0 & 0xF) | ((q1 & 0xF) << 4));
        blk.qh[l] |= static_cast<uint8_t>(((q0 >> 4) << (2 * c)) | ((q1 >> 4) << (2 * c + 1)));
      }
    }
  }
}

// Q2_K: 16 sub-blocks of 16 with 4-bit scale and min, 2-bit levels.
void QuantizeQ2_K(const float* x, BlockQ2_K* out, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    float scales[16], mins[16], max_scale = 0.0f, max_min = 0.0f;
    for (int s = 0; s < 16; ++s) {
      scales[s] = FitScaleMin(x + 16 * s, 16, 3, &mins[s]);
      max_scale = std::max(max_scale, scales[s]);
      max_min = std::max(max_min, mins[s]);
    }
    const float d = max_scale / 15.0f, dmin = max_min / 15.0f;
    BlockQ2_K& blk = out[b];
    blk.d = F32ToF16(d);
    blk.dmin = F32ToF16(dmin);
    const float d_stored = F16ToF32(blk.d), dmin_stored = F16ToF32(blk.dmin);
    uint8_t levels[256];
    for (int s = 0; s < 16; ++s) {
      const int sc = d > 0 ? RoundClamped(scales[s] / d, 0, 15) : 0;
      const int m = dmin > 0 ? RoundClamped(mins[s] / dmin, 0, 15) : 0;
      blk.scales[s] = static_cast<uint8_t>(sc | (m << 4));
      const float step = d_stored * sc, offset = dmin_stored * m;
      for (int i = 0; i < 16; ++i) {
        levels[16 * s + i] =
            step > 0 ? static_cast<uint8_t>(RoundClamped((x[16 * s + i] + offset) / step, 0, 3))
                     : 0;
      }
    }
    std::memset(blk.qs, 0, sizeof blk.qs);
    for (int h = 0; h < 2; ++h) {
      for (int j = 0; j < 4; ++j) {
        for (int l = 0; l < 32; ++l) {
          blk.qs[32 * h + l] |= static_cast<uint8_t>(levels[128 * h + 32 * j + l] << (2 * j));
        }
      }
    }
  }
}

// Q3_K: 16 sub-blocks of 16 with signed 6-bit scales, levels -4..3.
void QuantizeQ3_K(const float* x, BlockQ3_K* out, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    float scales[16], max_abs = 0.0f;
    for (int s = 0; s < 16; ++s) {
      scales[s] = FitSignedScale(x + 16 * s, 16, 4);
      max_abs = std::max(max_abs, std::fabs(scales[s]));
    }
    const float d = max_abs / 31.0f;
    BlockQ3_K& blk = out[b];
    blk.d = F32ToF16(d);
    const float d_stored = F16ToF32(blk.d);
    std::memset(blk.scales, 0, sizeof blk.scales);
    std::memset(blk.hmask, 0, sizeof blk.hmask);
    std::memset(blk.qs, 0, sizeof blk.qs);
    uint8_t levels[256];
    for (int s = 0; s < 16; ++s) {
      const int sc = d > 0 ? RoundClamped(scales[s] / d, -32, 31) : 0;
      const int biased = sc + 32;  // stored as 6 bits: 4 in a nibble, 2 in bytes 8..11
      blk.scales[s % 8] |= static_cast<uint8_t>((biased & 0xF) << (s < 8 ? 0 : 4));
      blk.scales[8 + s % 4] |= static_cast<uint8_t>((biased >> 4) << (2 * (s / 4)));
      const float step = d_stored * sc;
      for (int i = 0; i < 16; ++i) {
        const int l = step != 0 ? RoundClamped(x[16 * s + i] / step, -4, 3) : 0;
        levels[16 * s + i] = static_cast<uint8_t>(l + 4);
      }
    }
    for (int h = 0; h < 2; ++h) {
      for (int j = 0; j < 4; ++j) {
        for (int l = 0; l < 32; ++l) {
          const uint8_t u = levels[128 * h + 32 * j + l];
          blk.qs[32 * h + l] |= static_cast<uint8_t>((u & 3) << (2 * j));
          if (u & 4) blk.hmask[l] |= static_cast<uint8_t>(1u << (4 * h + j));
        }
      }
    }
  }
}

// Activations: symmetric 8-bit with d = max|x| / 127 per block.
void QuantizeActQ8_32(const float* x, ActQ8_32* out, int64_t n) {
  for (int64_t b = 0; b < n / kQK32; ++b, x += kQK32) {
    float amax = 0.0f;
    for (int j = 0; j < kQK32; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int32_t sum = 0;
    for (int j = 0; j < kQK32; ++j) {
      const int q = static_cast<int>(RoundSmall(x[j] * id));
      out[b].qs[j] = static_cast<int8_t>(q);
      sum += q;
    }
    out[b].d = d;
    out[b].s = d * static_cast<float>(sum);
  }
}

void QuantizeActQ8_K(const float* x, ActQ8_K* out, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K) {
    float amax = 0.0f;
    for (int j = 0; j < kQK_K; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int s = 0; s < 16; ++s) {
      int sum = 0;
      for (int j = 16 * s; j < 16 * s + 16; ++j) {
        const int q = static_cast<int>(RoundSmall(x[j] * id));
        out[b].qs[j] = static_cast<int8_t>(q);
        sum += q;
      }
      out[b].bsums[s] = static_cast<int16_t>(sum);
    }
    out[b].d = d;
  }
}

}  // namespace

bool CanQuantize(TensorType type) {
  switch (type) {
    case TensorType::kF32:
    case TensorType::kF16:
    case TensorType::kBF16:
    case TensorType::kQ8_0:
    case TensorType::kQ4_0:
    case TensorType::kQ4_K:
    case TensorType::kQ6_K:
    case TensorType::kQ4_1:
    case TensorType::kQ5_0:
    case TensorType::kQ5_1:
    case TensorType::kQ2_K:
    case TensorType::kQ3_K:
    case TensorType::kQ5_K:
      return true;
    default:
      return false;
  }
}

void QuantizeRow(TensorType type, const float* src, void* dst, int64_t n) {
  switch (type) {
    case TensorType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case TensorType::kF16: {
      uint16_t* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = F32ToF16(src[i]);
      return;
    }
    case TensorType::kBF16: {
      uint16_t* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = F32ToBf16(src[i]);
      return;
    }
    case TensorType::kQ8_0:
      return QuantizeQ8_0(src, static_cast<BlockQ8_0*>(dst), n);
    case TensorType::kQ4_0:
      return QuantizeSymmetric32<BlockQ4_0, 8>(src, static_cast<BlockQ4_0*>(dst), n);
    case TensorType::kQ4_K:
      return QuantizeQ4_K(src, static_cast<BlockQ4_K*>(dst), n);
    case TensorType::kQ6_K:
      return QuantizeQ6_K(src, static_cast<BlockQ6_K*>(dst), n);
    case TensorType::kQ4_1:
      return QuantizeAffine32<BlockQ4_1, 16>(src, static_cast<BlockQ4_1*>(dst), n);
    case TensorType::kQ5_1:
      return QuantizeAffine32<BlockQ5_1, 32>(src, static_cast<BlockQ5_1*>(dst), n);
    case TensorType::kQ5_0:
      return QuantizeSymmetric32<BlockQ5_0, 16>(src, static_cast<BlockQ5_0*>(dst), n);
    case TensorType::kQ2_K:
      return QuantizeQ2_K(src, static_cast<BlockQ2_K*>(dst), n);
    case TensorType::kQ3_K:
      return QuantizeQ3_K(src, static_cast<BlockQ3_K*>(dst), n);
    case TensorType::kQ5_K:
      return QuantizeQ5_K(src, static_cast<BlockQ5_K*>(dst), n);
    default:
      std::abort();  // callers check CanQuantize first; anything else is a programming error
  }
}

void QuantizeActivations(TensorType type, const float* x, void* dst, int64_t n) {
  switch (ActivationFormat(type)) {
    case ActFormat::kF32:
      std::memcpy(dst, x, static_cast<size_t>(n) * sizeof(float));
      return;
    case ActFormat::kQ8_32:
      return QuantizeActQ8_32(x, static_cast<ActQ8_32*>(dst), n);
    case ActFormat::kQ8_K:
      return QuantizeActQ8_K(x, static_cast<ActQ8_K*>(dst), n);
  }
}

}  // namespace zen::kernels
