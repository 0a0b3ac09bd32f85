// Quantized weights times float activations: dequantize, quantize, matrix-vector and
// matrix-matrix products for every weight type in quant_types.h. The best path for this
// CPU (AVX-512, AVX2, NEON or scalar) is chosen once at start-up.
#pragma once

#include <cstdint>
#include <string_view>

#include "kernels/quant_types.h"

namespace zen::kernels {

class ThreadPool;

// Which instruction-set path the dispatcher picked ("avx512", "avx2", "neon", "scalar").
// ZEN_FORCE_SCALAR=1 in the environment forces "scalar".
std::string_view ActivePath();

// Converts n elements of a row of `type` to float. n is a multiple of the block size.
void DequantizeRow(TensorType type, const void* src, float* dst, int64_t n);

// Whether QuantizeRow supports `type` (every weight type: F32, F16, BF16, Q4_0..Q8_0, Q2_K..Q6_K).
bool CanQuantize(TensorType type);

// Converts n floats into a row of `type`; n is a multiple of the block size.
void QuantizeRow(TensorType type, const float* src, void* dst, int64_t n);

// y[i][r] = dot(W row r, x[i]) for i < n_x, r < n_rows.
// W: n_rows rows of n_cols elements of `type` (each row RowBytes(type, n_cols) bytes).
// x: n_x rows of n_cols floats (stride n_cols); y: n_x rows with stride y_stride (>= n_rows).
// pool may be nullptr (single thread). Scratch for quantized activations is per-thread and
// reused across calls, so steady-state decoding allocates nothing.
void MatMul(TensorType type, const void* weights, int64_t n_rows, int64_t n_cols, const float* x,
            int64_t n_x, float* y, int64_t y_stride, ThreadPool* pool);

// The scalar reference of MatMul, always available; tests compare every path with it.
void MatMulReference(TensorType type, const void* weights, int64_t n_rows, int64_t n_cols,
                     const float* x, int64_t n_x, float* y, int64_t y_stride);

}  // namespace zen::kernels
