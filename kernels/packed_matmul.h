// Weights repacked once at load time into a layout the active path multiplies faster than
// GGUF's row-after-row blocks: eight rows interleaved, so one vector load feeds eight output
// rows and one broadcast activation word serves all of them. Callers that own their weights
// (node/layer_range.cc) pack them and call MatMulPacked instead of MatMul.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/quant_types.h"

namespace zen::kernels {

class ThreadPool;

// Rows interleaved per packed group.
inline constexpr int kPackedGroupRows = 8;

// Whether `type` has a packed layout that the active path multiplies faster than the plain
// one (false where the active path has only the scalar packed kernel for it, e.g. Q6_K on
// NEON, and on the scalar path itself).
bool ShouldPackWeights(TensorType type);

// Whether `type` has a packed layout at all (any path; the scalar path always runs it).
bool HasPackedLayout(TensorType type);

// Bytes of the packed form of n_rows x n_cols weights (rows padded to a multiple of 8).
size_t PackedWeightBytes(TensorType type, int64_t n_rows, int64_t n_cols);

// Rearranges n_rows rows of `type` (RowBytes(type, n_cols) each) into dst, which holds
// PackedWeightBytes bytes; padding rows are zero. pool may be nullptr.
void PackWeights(TensorType type, const void* src, int64_t n_rows, int64_t n_cols, void* dst,
                 ThreadPool* pool);

// Row `row` of packed weights as n_cols floats (for embedding lookups in a packed matrix).
void DequantizePackedRow(TensorType type, const void* packed, int64_t row, int64_t n_cols,
                         float* dst);

// MatMul (matmul.h, same contract and results up to float summation order) on packed weights.
void MatMulPacked(TensorType type, const void* packed, int64_t n_rows, int64_t n_cols,
                  const float* x, int64_t n_x, float* y, int64_t y_stride, ThreadPool* pool);

}  // namespace zen::kernels
