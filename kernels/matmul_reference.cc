// The scalar reference path: integer dot products on the unpacked blocks (exact in the
// integer part, so every SIMD path must agree up to float summation order).
#include <cmath>

#include "kernels/block_unpack.h"
#include "kernels/kernel_paths.h"

namespace zen::kernels {

void FillScalarDequant(KernelPath* path);
void FillScalarPacked(KernelPath* path);

namespace {

float DotF32(const void* w, const void* x, int64_t n) {
  const float* a = static_cast<const float*>(w);
  const float* b = static_cast<const float*>(x);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

float DotF16(const void* w, const void* x, int64_t n) {
  const uint16_t* a = static_cast<const uint16_t*>(w);
  const float* b = static_cast<const float*>(x);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += F16ToF32(a[i]) * b[i];
  return sum;
}

float DotBf16(const void* w, const void* x, int64_t n) {
  const uint16_t* a = static_cast<const uint16_t*>(w);
  const float* b = static_cast<const float*>(x);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += Bf16ToF32(a[i]) * b[i];
  return sum;
}

float DotQ8_0(const void* w, const void* x, int64_t n) {
  const BlockQ8_0* wb = static_cast<const BlockQ8_0*>(w);
  const ActQ8_32* xb = static_cast<const ActQ8_32*>(x);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK32; ++b) {
    int32_t isum = 0;
    for (int j = 0; j < kQK32; ++j) isum += wb[b].qs[j] * xb[b].qs[j];
    sum += F16ToF32(wb[b].d) * xb[b].d * static_cast<float>(isum);
  }
  return sum;
}

template <TensorType kType>
float DotLegacy(const void* w, const void* x, int64_t n) {
  const ActQ8_32* xb = static_cast<const ActQ8_32*>(x);
  float sum = 0.0f;
  Unpacked32 u;
  for (int64_t b = 0; b < n / kQK32; ++b) {
    Unpack32(kType, w, b, &u);
    int32_t isum = 0;
    for (int j = 0; j < kQK32; ++j) isum += u.q[j] * xb[b].qs[j];
    // Integer part exact; the offset and min go through s = d_x * sum(x_q).
    sum += u.d * (xb[b].d * static_cast<float>(isum) - static_cast<float>(u.offset) * xb[b].s) +
           u.m * xb[b].s;
  }
  return sum;
}

template <TensorType kType>
float DotK(const void* w, const void* x, int64_t n) {
  const ActQ8_K* xb = static_cast<const ActQ8_K*>(x);
  float sum = 0.0f;
  UnpackedK u;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    UnpackK(kType, w, b, &u);
    int32_t sumi = 0, summ = 0;
    for (int s = 0; s < 16; ++s) {
      int32_t part = 0;
      for (int l = 0; l < 16; ++l) part += u.q[16 * s + l] * xb[b].qs[16 * s + l];
      part -= u.offset * xb[b].bsums[s];
      sumi += u.scale[s] * part;
      summ += u.min[s] * xb[b].bsums[s];
    }
    sum += u.d * xb[b].d * static_cast<float>(sumi) - u.dmin * xb[b].d * static_cast<float>(summ);
  }
  return sum;
}

float DotF32Plain(const float* a, const float* b, int64_t n) {
  return DotF32(a, b, n);
}

void AxpyF32(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

void ScaleF32(float a, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] *= a;
}

float ExpSumF32(float* x, int64_t n, float max) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  return sum;
}

}  // namespace

KernelPath MakeScalarPath() {
  KernelPath p;
  p.name = "scalar";
  auto set = [&](TensorType t, RowDotFn fn) { p.dot[static_cast<int>(t)] = fn; };
  set(TensorType::kF32, DotF32);
  set(TensorType::kF16, DotF16);
  set(TensorType::kBF16, DotBf16);
  set(TensorType::kQ8_0, DotQ8_0);
  set(TensorType::kQ4_0, DotLegacy<TensorType::kQ4_0>);
  set(TensorType::kQ4_1, DotLegacy<TensorType::kQ4_1>);
  set(TensorType::kQ5_0, DotLegacy<TensorType::kQ5_0>);
  set(TensorType::kQ5_1, DotLegacy<TensorType::kQ5_1>);
  set(TensorType::kQ2_K, DotK<TensorType::kQ2_K>);
  set(TensorType::kQ3_K, DotK<TensorType::kQ3_K>);
  set(TensorType::kQ4_K, DotK<TensorType::kQ4_K>);
  set(TensorType::kQ5_K, DotK<TensorType::kQ5_K>);
  set(TensorType::kQ6_K, DotK<TensorType::kQ6_K>);
  FillScalarDequant(&p);
  FillScalarPacked(&p);
  p.dot_f32 = DotF32Plain;
  p.axpy_f32 = AxpyF32;
  p.scale_f32 = ScaleF32;
  p.exp_sum_f32 = ExpSumF32;
  return p;
}

}  // namespace zen::kernels
