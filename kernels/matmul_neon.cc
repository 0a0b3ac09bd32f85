// NEON path for aarch64 without the dotprod extension (Cortex-A53/A72: Raspberry Pi 3/4).
#include <arm_neon.h>

#include <cmath>

#include "kernels/kernel_paths.h"
#include "kernels/simd_neon.h"

namespace zen::kernels {
namespace {

inline float32x4_t LoadHalf4(const uint16_t* p) {
  return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}

float DotF32(const void* w, const void* x, int64_t n) {
  const float* a = static_cast<const float*>(w);
  const float* b = static_cast<const float*>(x);
  float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    acc0 = vfmaq_f32(acc0, vld1q_f32(a + i), vld1q_f32(b + i));
    acc1 = vfmaq_f32(acc1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
  }
  float sum = vaddvq_f32(vaddq_f32(acc0, acc1));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

float DotF16(const void* w, const void* x, int64_t n) {
  const uint16_t* a = static_cast<const uint16_t*>(w);
  const float* b = static_cast<const float*>(x);
  float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    acc0 = vfmaq_f32(acc0, LoadHalf4(a + i), vld1q_f32(b + i));
    acc1 = vfmaq_f32(acc1, LoadHalf4(a + i + 4), vld1q_f32(b + i + 4));
  }
  float sum = vaddvq_f32(vaddq_f32(acc0, acc1));
  for (; i < n; ++i) sum += neon::Half(a[i]) * b[i];
  return sum;
}

void DequantF16(const void* src, float* dst, int64_t n) {
  const uint16_t* s = static_cast<const uint16_t*>(src);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(dst + i, LoadHalf4(s + i));
  for (; i < n; ++i) dst[i] = neon::Half(s[i]);
}

float DotF32Plain(const float* a, const float* b, int64_t n) {
  return DotF32(a, b, n);
}

void AxpyF32(float a, const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
  for (; i < n; ++i) y[i] += a * x[i];
}

void ScaleF32(float a, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vmulq_n_f32(vld1q_f32(y + i), a));
  for (; i < n; ++i) y[i] *= a;
}

}  // namespace

void FillNeonPackedDots(KernelPath* path);  // matmul_packed_neon.cc

KernelPath MakeNeonPath() {
  KernelPath p;
  p.name = "neon";
  auto set = [&](TensorType t, RowDotFn fn) { p.dot[static_cast<int>(t)] = fn; };
  set(TensorType::kF32, DotF32);
  set(TensorType::kF16, DotF16);
  set(TensorType::kQ4_0, neon::DotQ4_0<neon::MullDot>);
  set(TensorType::kQ8_0, neon::DotQ8_0<neon::MullDot>);
  set(TensorType::kQ4_K, neon::DotQ4K<neon::MullDot>);
  set(TensorType::kQ6_K, neon::DotQ6K<neon::MullDot>);
  p.dequant[static_cast<int>(TensorType::kF16)] = DequantF16;
  FillNeonPackedDots(&p);
  p.dot_f32 = DotF32Plain;
  p.axpy_f32 = AxpyF32;
  p.scale_f32 = ScaleF32;
  return p;
}

}  // namespace zen::kernels
