// Element-wise and attention operations of a transformer layer, in float32.
#pragma once

#include <cstdint>

#include "kernels/quant_types.h"

namespace zen::kernels {

class ThreadPool;

// y = x / sqrt(mean(x^2) + eps) * w, over n elements (sum accumulated in double). y may be x.
void RmsNorm(const float* x, const float* w, float* y, int64_t n, float eps);

// Rotary embedding parameters, including YaRN (ggml rope_yarn semantics).
struct RopeParams {
  int n_dims = 128;  // rotated dimensions per head (= head_dim for Qwen3)
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;  // 1/factor
  float ext_factor = 0.0f;  // 1 for YaRN, 0 otherwise
  float attn_factor = 1.0f;
  float beta_fast = 32.0f;
  float beta_slow = 1.0f;
  int n_ctx_orig = 0;  // YaRN original context
  bool neox = true;    // true: pairs (i, i + n_dims/2); false: adjacent pairs (2i, 2i+1)
};

// Rotates n_heads heads of head_dim floats each (contiguous) in place for position pos.
void ApplyRope(float* x, int n_heads, int head_dim, int64_t pos, const RopeParams& params);

// In-place numerically stable softmax over n elements.
void Softmax(float* x, int64_t n);

// out[i] = silu(gate[i]) * up[i]. out may alias gate.
void SwiGlu(const float* gate, const float* up, float* out, int64_t n);

// x[i] += y[i].
void AddInPlace(float* x, const float* y, int64_t n);

// One layer's keys and values for one sequence, stored in fixed-size pages: token t lives in
// page t / page_tokens at row t % page_tokens; a row is n_head_kv * head_dim elements of
// `type` (F16, BF16 or Q8_0), K and V in separate pages.
struct KvView {
  TensorType type = TensorType::kF16;
  const void* const* k_pages = nullptr;
  const void* const* v_pages = nullptr;
  int64_t page_tokens = 0;
  int64_t row_bytes = 0;  // bytes of one token's row in a page
};

// Causal grouped-query attention for n_q new query rows of one sequence.
// q: [n_q][n_head * head_dim]; row i attends to cache positions 0..q_pos[i] inclusive
// (its own key must already be in the cache). Query head h uses KV head h / (n_head / n_head_kv).
// out: [n_q][n_head * head_dim]. pool may be nullptr.
void Attention(const float* q, const int64_t* q_pos, int64_t n_q, const KvView& kv, int n_head,
               int n_head_kv, int head_dim, float scale, float* out, ThreadPool* pool);

}  // namespace zen::kernels
