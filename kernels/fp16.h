// Portable scalar conversions between float and the 16-bit float formats (IEEE half and
// bfloat16) used by weights, activations and the KV cache.
#pragma once

// Functions here are `static`: this header is compiled into files built with different
// instruction-set flags, and a shared inline copy could hand AVX-512 code to an AVX2 CPU.

#include <cmath>
#include <cstdint>
#include <cstring>

namespace zen::kernels {

static inline float BitsToF32(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

static inline uint32_t F32ToBits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

// IEEE half -> float, exact for every input including subnormals, inf and NaN.
// Normal halves are re-biased with one multiply; subnormals are built as (magic + m) - magic
// so no branch on the exponent is needed beyond the final select.
static inline float F16ToF32(uint16_t h) {
  const uint32_t w = static_cast<uint32_t>(h) << 16;
  const uint32_t sign = w & 0x80000000u;
  const uint32_t two_w = w + w;
  const float normalized = BitsToF32((two_w >> 4) + (0xE0u << 23)) * 0x1.0p-112f;
  const float denormalized = BitsToF32((two_w >> 17) | (126u << 23)) - 0.5f;
  const uint32_t result =
      sign | (two_w < (1u << 27) ? F32ToBits(denormalized) : F32ToBits(normalized));
  return BitsToF32(result);
}

// float -> IEEE half with round-to-nearest-even; overflow gives inf, NaN stays NaN.
static inline uint16_t F32ToF16(float f) {
  float base = (std::fabs(f) * 0x1.0p+112f) * 0x1.0p-110f;
  const uint32_t w = F32ToBits(f);
  const uint32_t shl1_w = w + w;
  const uint32_t sign = w & 0x80000000u;
  uint32_t bias = shl1_w & 0xFF000000u;
  if (bias < 0x71000000u) bias = 0x71000000u;
  base = BitsToF32((bias >> 1) + 0x07800000u) + base;
  const uint32_t bits = F32ToBits(base);
  const uint32_t exp_bits = (bits >> 13) & 0x00007C00u;
  const uint32_t mantissa_bits = bits & 0x00000FFFu;
  const uint32_t nonsign = exp_bits + mantissa_bits;
  return static_cast<uint16_t>((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

// bfloat16 -> float is the top half of the float's bits.
static inline float Bf16ToF32(uint16_t h) {
  return BitsToF32(static_cast<uint32_t>(h) << 16);
}

// float -> bfloat16 with round-to-nearest-even; NaN is kept quiet.
static inline uint16_t F32ToBf16(float f) {
  const uint32_t u = F32ToBits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 64);
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

}  // namespace zen::kernels
