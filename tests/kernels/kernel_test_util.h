// Random inputs for the kernel tests: float data and well-formed quantized rows of every type.
#pragma once

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/fp16.h"
#include "kernels/quant_types.h"

namespace zen::kernels::testing {

// The weight types MatMul supports.
inline const std::vector<TensorType>& AllWeightTypes() {
  static const std::vector<TensorType> types = {
      TensorType::kF32,  TensorType::kF16,  TensorType::kBF16, TensorType::kQ4_0, TensorType::kQ4_1,
      TensorType::kQ5_0, TensorType::kQ5_1, TensorType::kQ8_0, TensorType::kQ2_K, TensorType::kQ3_K,
      TensorType::kQ4_K, TensorType::kQ5_K, TensorType::kQ6_K};
  return types;
}

inline std::vector<float> RandomFloats(std::mt19937& rng, int64_t n, float scale = 1.0f) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

// Byte offsets of the half-precision scale fields in one block, which random bytes must not
// turn into inf/NaN.
inline std::vector<int> HalfFieldOffsets(TensorType type) {
  switch (type) {
    case TensorType::kQ4_0:
    case TensorType::kQ5_0:
    case TensorType::kQ8_0:
      return {0};
    case TensorType::kQ4_1:
    case TensorType::kQ5_1:
    case TensorType::kQ4_K:
    case TensorType::kQ5_K:
      return {0, 2};
    case TensorType::kQ2_K:
      return {80, 82};
    case TensorType::kQ3_K:
      return {108};
    case TensorType::kQ6_K:
      return {208};
    default:
      return {};
  }
}

// n_rows random rows of `type`: every quant bit random, scale fields finite and moderate.
inline std::vector<uint8_t> RandomRows(std::mt19937& rng, TensorType type, int64_t n_rows,
                                       int64_t n_cols) {
  const size_t row_bytes = RowBytes(type, n_cols);
  std::vector<uint8_t> data(row_bytes * static_cast<size_t>(n_rows));
  const TypeTraits& traits = GetTypeTraits(type);
  if (traits.block_elements == 1) {
    std::vector<float> f = RandomFloats(rng, n_cols * n_rows);
    for (size_t i = 0; i < f.size(); ++i) {
      if (type == TensorType::kF32) {
        std::memcpy(&data[i * 4], &f[i], 4);
      } else {
        const uint16_t h = type == TensorType::kF16 ? F32ToF16(f[i]) : F32ToBf16(f[i]);
        std::memcpy(&data[i * 2], &h, 2);
      }
    }
    return data;
  }
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> scale(0.001f, 0.05f);
  for (uint8_t& b : data) b = static_cast<uint8_t>(byte(rng));
  const size_t n_blocks = data.size() / static_cast<size_t>(traits.block_bytes);
  for (size_t b = 0; b < n_blocks; ++b) {
    for (int off : HalfFieldOffsets(type)) {
      const uint16_t h = F32ToF16(scale(rng));
      std::memcpy(&data[b * static_cast<size_t>(traits.block_bytes) + off], &h, 2);
    }
  }
  return data;
}

}  // namespace zen::kernels::testing
