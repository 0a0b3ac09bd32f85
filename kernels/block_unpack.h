// Scalar unpacking of quantized blocks into plain integers. The reference dot products and
// dequantization are written on top of these, so every format's bit layout lives in one
// place; SIMD paths use them only for the rarely used formats.
#pragma once

// Functions here are `static`: this header is compiled into files built with different
// instruction-set flags, and a shared inline copy could hand AVX-512 code to an AVX2 CPU.

#include <cstdint>
#include <cstring>

#include "kernels/fp16.h"
#include "kernels/quant_blocks.h"
#include "kernels/quant_types.h"

namespace zen::kernels {

// One 32-element block: value[j] = d * (q[j] - offset) + m.
struct Unpacked32 {
  uint8_t q[32];
  float d;
  float m;
  int offset;
};

// One 256-element K-quant block:
// value[e] = d * scale[e/16] * (q[e] - offset) - dmin * min[e/16].
struct UnpackedK {
  uint8_t q[256];
  int8_t scale[16];
  uint8_t min[16];
  float d;
  float dmin;
  int offset;
};

static inline void UnpackNibbles32(const uint8_t* qs, uint8_t* q) {
  for (int j = 0; j < 16; ++j) {
    q[j] = qs[j] & 0xF;
    q[j + 16] = qs[j] >> 4;
  }
}

static inline void AddFifthBits32(const uint8_t* qh_bytes, uint8_t* q) {
  uint32_t qh;
  std::memcpy(&qh, qh_bytes, 4);
  for (int j = 0; j < 32; ++j) q[j] |= static_cast<uint8_t>(((qh >> j) & 1) << 4);
}

// Unpacks block `index` of a Q4_0, Q4_1, Q5_0 or Q5_1 row.
static inline void Unpack32(TensorType type, const void* row, int64_t index, Unpacked32* out) {
  switch (type) {
    case TensorType::kQ4_0: {
      const BlockQ4_0& b = static_cast<const BlockQ4_0*>(row)[index];
      UnpackNibbles32(b.qs, out->q);
      out->d = F16ToF32(b.d);
      out->m = 0.0f;
      out->offset = 8;
      break;
    }
    case TensorType::kQ4_1: {
      const BlockQ4_1& b = static_cast<const BlockQ4_1*>(row)[index];
      UnpackNibbles32(b.qs, out->q);
      out->d = F16ToF32(b.d);
      out->m = F16ToF32(b.m);
      out->offset = 0;
      break;
    }
    case TensorType::kQ5_0: {
      const BlockQ5_0& b = static_cast<const BlockQ5_0*>(row)[index];
      UnpackNibbles32(b.qs, out->q);
      AddFifthBits32(b.qh, out->q);
      out->d = F16ToF32(b.d);
      out->m = 0.0f;
      out->offset = 16;
      break;
    }
    default: {  // kQ5_1
      const BlockQ5_1& b = static_cast<const BlockQ5_1*>(row)[index];
      UnpackNibbles32(b.qs, out->q);
      AddFifthBits32(b.qh, out->q);
      out->d = F16ToF32(b.d);
      out->m = F16ToF32(b.m);
      out->offset = 0;
      break;
    }
  }
}

static inline void UnpackQ2K(const BlockQ2_K& b, UnpackedK* out) {
  for (int i = 0; i < 16; ++i) {
    out->scale[i] = static_cast<int8_t>(b.scales[i] & 0xF);
    out->min[i] = b.scales[i] >> 4;
  }
  for (int h = 0; h < 2; ++h) {
    const uint8_t* q = b.qs + 32 * h;
    for (int j = 0; j < 4; ++j) {
      for (int l = 0; l < 32; ++l) out->q[128 * h + 32 * j + l] = (q[l] >> (2 * j)) & 3;
    }
  }
  out->d = F16ToF32(b.d);
  out->dmin = F16ToF32(b.dmin);
  out->offset = 0;
}

static inline void UnpackQ3K(const BlockQ3_K& b, UnpackedK* out) {
  UnpackQ3KScales(b.scales, out->scale);
  std::memset(out->min, 0, sizeof out->min);
  for (int h = 0; h < 2; ++h) {
    const uint8_t* q = b.qs + 32 * h;
    for (int j = 0; j < 4; ++j) {
      const uint8_t mask = static_cast<uint8_t>(1u << (4 * h + j));
      for (int l = 0; l < 32; ++l) {
        out->q[128 * h + 32 * j + l] =
            static_cast<uint8_t>(((q[l] >> (2 * j)) & 3) + ((b.hmask[l] & mask) ? 4 : 0));
      }
    }
  }
  out->d = F16ToF32(b.d);
  out->dmin = 0.0f;
  out->offset = 4;
}

static inline void UnpackQ4KScales(const uint8_t* scales, UnpackedK* out) {
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    GetScaleMinK4(j, scales, &sc, &m);
    out->scale[2 * j] = out->scale[2 * j + 1] = static_cast<int8_t>(sc);
    out->min[2 * j] = out->min[2 * j + 1] = m;
  }
}

static inline void UnpackQ4K(const BlockQ4_K& b, UnpackedK* out) {
  UnpackQ4KScales(b.scales, out);
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      out->q[64 * c + l] = b.qs[32 * c + l] & 0xF;
      out->q[64 * c + 32 + l] = b.qs[32 * c + l] >> 4;
    }
  }
  out->d = F16ToF32(b.d);
  out->dmin = F16ToF32(b.dmin);
  out->offset = 0;
}

static inline void UnpackQ5K(const BlockQ5_K& b, UnpackedK* out) {
  UnpackQ4KScales(b.scales, out);
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      out->q[64 * c + l] =
          static_cast<uint8_t>((b.qs[32 * c + l] & 0xF) | (((b.qh[l] >> (2 * c)) & 1) << 4));
      out->q[64 * c + 32 + l] =
          static_cast<uint8_t>((b.qs[32 * c + l] >> 4) | (((b.qh[l] >> (2 * c + 1)) & 1) << 4));
    }
  }
  out->d = F16ToF32(b.d);
  out->dmin = F16ToF32(b.dmin);
  out->offset = 0;
}

static inline void UnpackQ6K(const BlockQ6_K& b, UnpackedK* out) {
  std::memcpy(out->scale, b.scales, 16);
  std::memset(out->min, 0, sizeof out->min);
  for (int h = 0; h < 2; ++h) {
    const uint8_t* ql = b.ql + 64 * h;
    const uint8_t* qh = b.qh + 32 * h;
    uint8_t* q = out->q + 128 * h;
    for (int l = 0; l < 32; ++l) {
      q[l] = static_cast<uint8_t>((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4));
      q[l + 32] = static_cast<uint8_t>((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4));
      q[l + 64] = static_cast<uint8_t>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
      q[l + 96] = static_cast<uint8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
    }
  }
  out->d = F16ToF32(b.d);
  out->dmin = 0.0f;
  out->offset = 32;
}

// Unpacks block `index` of a Q2_K..Q6_K row.
static inline void UnpackK(TensorType type, const void* row, int64_t index, UnpackedK* out) {
  switch (type) {
    case TensorType::kQ2_K:
      UnpackQ2K(static_cast<const BlockQ2_K*>(row)[index], out);
      break;
    case TensorType::kQ3_K:
      UnpackQ3K(static_cast<const BlockQ3_K*>(row)[index], out);
      break;
    case TensorType::kQ4_K:
      UnpackQ4K(static_cast<const BlockQ4_K*>(row)[index], out);
      break;
    case TensorType::kQ5_K:
      UnpackQ5K(static_cast<const BlockQ5_K*>(row)[index], out);
      break;
    default:
      UnpackQ6K(static_cast<const BlockQ6_K*>(row)[index], out);
      break;
  }
}

static inline bool IsLegacy32(TensorType t) {
  return t == TensorType::kQ4_0 || t == TensorType::kQ4_1 || t == TensorType::kQ5_0 ||
         t == TensorType::kQ5_1;
}

static inline bool IsKQuant(TensorType t) {
  return t == TensorType::kQ2_K || t == TensorType::kQ3_K || t == TensorType::kQ4_K ||
         t == TensorType::kQ5_K || t == TensorType::kQ6_K;
}

}  // namespace zen::kernels
