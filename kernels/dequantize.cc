// Scalar dequantization of every weight type (the reference the SIMD paths must match) and
// the public DequantizeRow, which goes through the active path.
#include "kernels/block_unpack.h"
#include "kernels/kernel_paths.h"
#include "kernels/matmul.h"

namespace zen::kernels {
namespace {

void DequantF32(const void* src, float* dst, int64_t n) {
  std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}

void DequantF16(const void* src, float* dst, int64_t n) {
  const uint16_t* s = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = F16ToF32(s[i]);
}

void DequantBf16(const void* src, float* dst, int64_t n) {
  const uint16_t* s = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = Bf16ToF32(s[i]);
}

void DequantQ8_0(const void* src, float* dst, int64_t n) {
  const BlockQ8_0* b = static_cast<const BlockQ8_0*>(src);
  for (int64_t i = 0; i < n / kQK32; ++i) {
    const float d = F16ToF32(b[i].d);
    for (int j = 0; j < kQK32; ++j) dst[i * kQK32 + j] = b[i].qs[j] * d;
  }
}

template <TensorType kType>
void DequantLegacy(const void* src, float* dst, int64_t n) {
  Unpacked32 u;
  for (int64_t i = 0; i < n / kQK32; ++i) {
    Unpack32(kType, src, i, &u);
    for (int j = 0; j < kQK32; ++j) dst[i * kQK32 + j] = (u.q[j] - u.offset) * u.d + u.m;
  }
}

template <TensorType kType>
void DequantK(const void* src, float* dst, int64_t n) {
  UnpackedK u;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    UnpackK(kType, src, i, &u);
    float* y = dst + i * kQK_K;
    for (int s = 0; s < 16; ++s) {
      // ggml's order: dl = d * scale, ml = dmin * min, y = dl * q - ml.
      const float dl = u.d * u.scale[s];
      const float ml = u.dmin * u.min[s];
      for (int l = 0; l < 16; ++l) y[16 * s + l] = dl * (u.q[16 * s + l] - u.offset) - ml;
    }
  }
}

}  // namespace

void FillScalarDequant(KernelPath* path) {
  auto set = [&](TensorType t, DequantFn fn) { path->dequant[static_cast<int>(t)] = fn; };
  set(TensorType::kF32, DequantF32);
  set(TensorType::kF16, DequantF16);
  set(TensorType::kBF16, DequantBf16);
  set(TensorType::kQ8_0, DequantQ8_0);
  set(TensorType::kQ4_0, DequantLegacy<TensorType::kQ4_0>);
  set(TensorType::kQ4_1, DequantLegacy<TensorType::kQ4_1>);
  set(TensorType::kQ5_0, DequantLegacy<TensorType::kQ5_0>);
  set(TensorType::kQ5_1, DequantLegacy<TensorType::kQ5_1>);
  set(TensorType::kQ2_K, DequantK<TensorType::kQ2_K>);
  set(TensorType::kQ3_K, DequantK<TensorType::kQ3_K>);
  set(TensorType::kQ4_K, DequantK<TensorType::kQ4_K>);
  set(TensorType::kQ5_K, DequantK<TensorType::kQ5_K>);
  set(TensorType::kQ6_K, DequantK<TensorType::kQ6_K>);
}

void DequantizeRow(TensorType type, const void* src, float* dst, int64_t n) {
  ActiveKernelPath().dequant[static_cast<int>(type)](src, dst, n);
}

}  // namespace zen::kernels
