// Causal grouped-query attention over a paged KV cache, one pass over the keys per KV head
// with an online softmax (no scores buffer proportional to the context).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "kernels/kernel_paths.h"
#include "kernels/ops.h"
#include "kernels/thread_pool.h"

namespace zen::kernels {
namespace {

// Keys converted to float and scored together; small enough that the block's K and V rows
// stay in L1 while every query row of the group uses them.
constexpr int64_t kKeyBlock = 64;

struct Scratch {
  std::vector<float> keys;     // [kKeyBlock][head_dim]
  std::vector<float> values;   // [kKeyBlock][head_dim]
  std::vector<float> queries;  // [rows][head_dim], pre-scaled
  std::vector<float> scores;   // [rows][kKeyBlock]
  std::vector<float> acc;      // [rows][head_dim]
  std::vector<float> max;      // [rows]
  std::vector<float> sum;      // [rows]
};

Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

template <typename T>
T* Sized(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

struct Job {
  const KernelPath* path;
  const float* q;
  const int64_t* q_pos;
  int64_t n_q;
  const KvView* kv;
  int n_head;
  int n_head_kv;
  int head_dim;
  float scale;
  float* out;
  int64_t q_chunk;
};

const uint8_t* RowOf(const void* const* pages, const KvView& kv, int64_t t, size_t head_offset) {
  const uint8_t* page = static_cast<const uint8_t*>(pages[t / kv.page_tokens]);
  return page + (t % kv.page_tokens) * kv.row_bytes + head_offset;
}

// Attention of the query rows [q0, q1) for the query heads sharing KV head `kv_head`.
void RunUnit(const Job& job, int kv_head, int64_t q0, int64_t q1) {
  const KernelPath& path = *job.path;
  const KvView& kv = *job.kv;
  const int hd = job.head_dim;
  const int group = job.n_head / job.n_head_kv;
  const int64_t n_rows = (q1 - q0) * group;
  const DequantFn dequant = path.dequant[static_cast<int>(kv.type)];
  const size_t head_offset = RowBytes(kv.type, static_cast<int64_t>(kv_head) * hd);

  Scratch& s = ThreadScratch();
  float* keys = Sized(s.keys, kKeyBlock * hd);
  float* values = Sized(s.values, kKeyBlock * hd);
  float* queries = Sized(s.queries, n_rows * hd);
  float* scores = Sized(s.scores, n_rows * kKeyBlock);
  float* acc = Sized(s.acc, n_rows * hd);
  float* row_max = Sized(s.max, n_rows);
  float* row_sum = Sized(s.sum, n_rows);

  int64_t last_pos = -1;
  for (int64_t i = q0; i < q1; ++i) {
    last_pos = std::max(last_pos, job.q_pos[i]);
    for (int g = 0; g < group; ++g) {
      const int64_t r = (i - q0) * group + g;
      const int head = kv_head * group + g;
      const float* src = job.q + i * job.n_head * hd + static_cast<int64_t>(head) * hd;
      for (int d = 0; d < hd; ++d) queries[r * hd + d] = src[d] * job.scale;
      row_max[r] = -INFINITY;
      row_sum[r] = 0.0f;
    }
  }
  std::fill(acc, acc + n_rows * hd, 0.0f);

  for (int64_t t0 = 0; t0 <= last_pos; t0 += kKeyBlock) {
    const int64_t nb = std::min(kKeyBlock, last_pos + 1 - t0);
    for (int64_t j = 0; j < nb; ++j)
      dequant(RowOf(kv.k_pages, kv, t0 + j, head_offset), keys + j * hd, hd);
    for (int64_t j = 0; j < nb; ++j)
      dequant(RowOf(kv.v_pages, kv, t0 + j, head_offset), values + j * hd, hd);
    if (path.attn_scores != nullptr) {
      path.attn_scores(queries, n_rows, keys, nb, hd, scores, kKeyBlock);
    } else {
      for (int64_t r = 0; r < n_rows; ++r) {
        for (int64_t j = 0; j < nb; ++j) {
          scores[r * kKeyBlock + j] = path.dot_f32(queries + r * hd, keys + j * hd, hd);
        }
      }
    }
    for (int64_t r = 0; r < n_rows; ++r) {
      const int64_t pos = job.q_pos[q0 + r / group];
      const int64_t valid = std::min(nb, pos + 1 - t0);
      if (valid <= 0) continue;
      float* sc = scores + r * kKeyBlock;
      float block_max = -INFINITY;
      for (int64_t j = 0; j < valid; ++j) block_max = std::max(block_max, sc[j]);
      const float new_max = std::max(row_max[r], block_max);
      const float correction = std::exp(row_max[r] - new_max);  // 0 on the first block
      const float block_sum = path.exp_sum_f32(sc, valid, new_max);
      row_sum[r] = row_sum[r] * correction + block_sum;
      row_max[r] = new_max;
      float* a = acc + r * hd;
      if (correction != 1.0f) path.scale_f32(correction, a, hd);
      if (path.attn_accumulate != nullptr) {
        path.attn_accumulate(sc, valid, values, hd, a);
      } else {
        for (int64_t j = 0; j < valid; ++j) path.axpy_f32(sc[j], values + j * hd, a, hd);
      }
    }
  }

  for (int64_t r = 0; r < n_rows; ++r) {
    const int64_t i = q0 + r / group;
    const int head = kv_head * group + static_cast<int>(r % group);
    float* dst = job.out + i * job.n_head * hd + static_cast<int64_t>(head) * hd;
    const float inv = row_sum[r] > 0.0f ? 1.0f / row_sum[r] : 0.0f;
    for (int d = 0; d < hd; ++d) dst[d] = acc[r * hd + d] * inv;
  }
}

}  // namespace

// Attention through a given kernel path (tests run every path against the scalar one).
void AttentionWithPath(const KernelPath& path, const float* q, const int64_t* q_pos, int64_t n_q,
                       const KvView& kv, int n_head, int n_head_kv, int head_dim, float scale,
                       float* out, ThreadPool* pool) {
  if (n_q <= 0) return;
  if (n_head_kv <= 0 || n_head % n_head_kv != 0) std::abort();  // the model config is validated
  // Query chunks small enough that each unit's scratch stays in L2, large enough to reuse
  // every converted key block across several queries.
  const int64_t q_chunk = std::min<int64_t>(n_q, 16);
  const int64_t n_chunks = (n_q + q_chunk - 1) / q_chunk;
  const Job job{&path, q, q_pos, n_q, &kv, n_head, n_head_kv, head_dim, scale, out, q_chunk};
  auto units = [&](int64_t begin, int64_t end) {
    for (int64_t u = begin; u < end; ++u) {
      const int kv_head = static_cast<int>(u % n_head_kv);
      const int64_t chunk = u / n_head_kv;
      RunUnit(job, kv_head, chunk * q_chunk, std::min(n_q, (chunk + 1) * q_chunk));
    }
  };
  const int64_t n_units = n_chunks * n_head_kv;
  if (pool != nullptr && pool->size() > 1) {
    pool->ParallelFor(n_units, 1, units);
  } else {
    units(0, n_units);
  }
}

void Attention(const float* q, const int64_t* q_pos, int64_t n_q, const KvView& kv, int n_head,
               int n_head_kv, int head_dim, float scale, float* out, ThreadPool* pool) {
  AttentionWithPath(ActiveKernelPath(), q, q_pos, n_q, kv, n_head, n_head_kv, head_dim, scale, out,
                    pool);
}

}  // namespace zen::kernels
