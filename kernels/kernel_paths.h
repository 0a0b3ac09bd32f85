// The per-instruction-set tables behind MatMul, DequantizeRow and Attention. Each path
// (scalar, avx2, avx512, neon, neon_dotprod) fills the entries it accelerates; missing
// entries fall back to the scalar reference. Exposed so tests can run every path the CPU
// supports against the scalar one, not just the one the dispatcher picked.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "kernels/ops.h"
#include "kernels/quant_types.h"

namespace zen::kernels {

class ThreadPool;

// How MatMul prepares activations for a weight type.
enum class ActFormat {
  kF32,    // float weights: activations used as they are
  kQ8_32,  // 32-element weight blocks: ActQ8_32
  kQ8_K,   // K-quants: ActQ8_K
};

// The activation format MatMul uses for weights of `type`.
ActFormat ActivationFormat(TensorType type);

// Bytes of one prepared activation row of n elements for weights of `type`.
size_t ActivationRowBytes(TensorType type, int64_t n);

// Prepares one activation row for weights of `type` (a copy for float weights). The same
// quantizer serves every path, so paths differ only in their dot products.
void QuantizeActivations(TensorType type, const float* x, void* dst, int64_t n);

// dot(weight row of n elements, one prepared activation row).
using RowDotFn = float (*)(const void* w_row, const void* act_row, int64_t n);
// Computes out[k] = dot(w_row, act rows k) for k < n_act, act rows act_stride bytes apart.
// Lets a path unpack a weight block once for several activation rows (prefill).
using MultiDotFn = void (*)(const void* w_row, const void* act, size_t act_stride, int n_act,
                            int64_t n, float* out);
// Converts n elements of a row to float.
using DequantFn = void (*)(const void* src, float* dst, int64_t n);

inline constexpr int kTypeSlots = 31;  // TensorType values are < 31

// One instruction-set implementation of the inner loops, indexed by TensorType value.
struct KernelPath {
  std::string_view name;
  RowDotFn dot[kTypeSlots] = {};
  MultiDotFn multi_dot[kTypeSlots] = {};
  DequantFn dequant[kTypeSlots] = {};
  // Packed weights (packed_matmul.h): for one group of kPackedGroupRows interleaved rows,
  // out[k * 8 + r] = dot(row r, activation row k) for k < n_act (1..4).
  MultiDotFn packed_dot[kTypeSlots] = {};
  float (*dot_f32)(const float* a, const float* b, int64_t n) = nullptr;
  void (*axpy_f32)(float a, const float* x, float* y, int64_t n) = nullptr;  // y += a * x
  void (*scale_f32)(float a, float* y, int64_t n) = nullptr;                 // y *= a
  // Optional blocked attention kernels; when null, attention loops over dot_f32 / axpy_f32.
  // scores[r * ld + j] = dot(q row r, key row j) for r < n_rows, j < n_keys (rows hd apart).
  void (*attn_scores)(const float* q, int64_t n_rows, const float* keys, int64_t n_keys, int hd,
                      float* scores, int64_t ld) = nullptr;
  // acc[d] += sum_j p[j] * values[j * hd + d] for j < n_keys, d < hd.
  void (*attn_accumulate)(const float* p, int64_t n_keys, const float* values, int hd,
                          float* acc) = nullptr;
  // x[i] = exp(x[i] - max) for i < n; returns the sum of the new x.
  float (*exp_sum_f32)(float* x, int64_t n, float max) = nullptr;
};

// Every path this CPU can run, complete (no null entries), scalar first, best last.
std::span<const KernelPath* const> AvailablePaths();

// The scalar reference path.
const KernelPath& ScalarPath();

// The path chosen at start-up (ZEN_FORCE_SCALAR=1 selects the scalar one).
const KernelPath& ActiveKernelPath();

// MatMul (see matmul.h) through a given path.
void MatMulWithPath(const KernelPath& path, TensorType type, const void* weights, int64_t n_rows,
                    int64_t n_cols, const float* x, int64_t n_x, float* y, int64_t y_stride,
                    ThreadPool* pool);

// MatMulPacked (see packed_matmul.h) through a given path.
void MatMulPackedWithPath(const KernelPath& path, TensorType type, const void* packed,
                          int64_t n_rows, int64_t n_cols, const float* x, int64_t n_x, float* y,
                          int64_t y_stride, ThreadPool* pool);

// Quantizes n_x activation rows of n_cols for weights of `type` into scratch owned by the
// calling thread (valid until its next call); float weights get x itself back.
const uint8_t* PrepareActivations(TensorType type, const float* x, int64_t n_x, int64_t n_cols,
                                  ThreadPool* pool);

// Attention (see ops.h) through a given path.
void AttentionWithPath(const KernelPath& path, const float* q, const int64_t* q_pos, int64_t n_q,
                       const KvView& kv, int n_head, int n_head_kv, int head_dim, float scale,
                       float* out, ThreadPool* pool);

// Partial tables filled by each instruction-set file (nullptr entries = use scalar).
KernelPath MakeScalarPath();
#if defined(ZEN_HAVE_X86)
KernelPath MakeAvx2Path();
KernelPath MakeAvx512Path();
#endif
#if defined(ZEN_HAVE_NEON)
KernelPath MakeNeonPath();
KernelPath MakeNeonDotprodPath();
#endif

}  // namespace zen::kernels
