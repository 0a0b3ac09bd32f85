// Attention over a paged cache against a naive float attention on the dequantized cache.
#include <gtest/gtest.h>

#include <cmath>

#include "kernel_test_util.h"
#include "kernels/kernel_paths.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "kernels/thread_pool.h"

namespace zen::kernels {
namespace {

struct PagedCache {
  std::vector<std::vector<uint8_t>> k_storage, v_storage;
  std::vector<const void*> k_pages, v_pages;
  std::vector<float> k_float, v_float;  // [n_ctx][n_head_kv * head_dim], dequantized
  KvView view;
};

PagedCache MakeCache(std::mt19937& rng, TensorType type, int64_t n_ctx, int64_t page_tokens,
                     int n_head_kv, int head_dim) {
  PagedCache c;
  const int64_t row = static_cast<int64_t>(n_head_kv) * head_dim;
  const size_t row_bytes = RowBytes(type, row);
  const int64_t n_pages = (n_ctx + page_tokens - 1) / page_tokens;
  c.k_float.resize(static_cast<size_t>(n_ctx * row));
  c.v_float.resize(c.k_float.size());
  for (int64_t p = 0; p < n_pages; ++p) {
    // Pages are separate allocations, as in the real cache.
    c.k_storage.emplace_back(row_bytes * page_tokens);
    c.v_storage.emplace_back(row_bytes * page_tokens);
  }
  for (int64_t t = 0; t < n_ctx; ++t) {
    const std::vector<float> k = testing::RandomFloats(rng, row, 2.0f);
    const std::vector<float> v = testing::RandomFloats(rng, row);
    uint8_t* kd = c.k_storage[t / page_tokens].data() + (t % page_tokens) * row_bytes;
    uint8_t* vd = c.v_storage[t / page_tokens].data() + (t % page_tokens) * row_bytes;
    QuantizeRow(type, k.data(), kd, row);
    QuantizeRow(type, v.data(), vd, row);
    DequantizeRow(type, kd, c.k_float.data() + t * row, row);
    DequantizeRow(type, vd, c.v_float.data() + t * row, row);
  }
  for (auto& s : c.k_storage) c.k_pages.push_back(s.data());
  for (auto& s : c.v_storage) c.v_pages.push_back(s.data());
  c.view.type = type;
  c.view.k_pages = c.k_pages.data();
  c.view.v_pages = c.v_pages.data();
  c.view.page_tokens = page_tokens;
  c.view.row_bytes = static_cast<int64_t>(row_bytes);
  return c;
}

std::vector<float> NaiveAttention(const PagedCache& c, const std::vector<float>& q,
                                  const std::vector<int64_t>& pos, int n_head, int n_head_kv,
                                  int hd, float scale) {
  const int64_t n_q = static_cast<int64_t>(pos.size());
  std::vector<float> out(q.size());
  const int group = n_head / n_head_kv;
  for (int64_t i = 0; i < n_q; ++i) {
    for (int h = 0; h < n_head; ++h) {
      const int kvh = h / group;
      const float* qh = q.data() + (i * n_head + h) * hd;
      std::vector<double> s(static_cast<size_t>(pos[i] + 1));
      double max = -INFINITY;
      for (int64_t t = 0; t <= pos[i]; ++t) {
        const float* k = c.k_float.data() + (t * n_head_kv + kvh) * hd;
        double dot = 0;
        for (int d = 0; d < hd; ++d) dot += static_cast<double>(qh[d]) * k[d];
        s[t] = dot * scale;
        max = std::max(max, s[t]);
      }
      double sum = 0;
      for (double& v : s) sum += (v = std::exp(v - max));
      for (int d = 0; d < hd; ++d) {
        double acc = 0;
        for (int64_t t = 0; t <= pos[i]; ++t) {
          acc += s[t] * c.v_float[(t * n_head_kv + kvh) * hd + d];
        }
        out[(i * n_head + h) * hd + d] = static_cast<float>(acc / sum);
      }
    }
  }
  return out;
}

struct AttnCase {
  TensorType type;
  int n_head, n_head_kv;
  int64_t n_ctx, page_tokens;
  std::vector<int64_t> q_pos;
};

void CheckAttention(const AttnCase& a) {
  std::mt19937 rng(static_cast<unsigned>(a.n_ctx * 31 + a.n_head));
  const int hd = 64;
  const PagedCache cache = MakeCache(rng, a.type, a.n_ctx, a.page_tokens, a.n_head_kv, hd);
  const int64_t n_q = static_cast<int64_t>(a.q_pos.size());
  const std::vector<float> q = testing::RandomFloats(rng, n_q * a.n_head * hd);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const std::vector<float> want =
      NaiveAttention(cache, q, a.q_pos, a.n_head, a.n_head_kv, hd, scale);
  ThreadPool pool(2);
  for (const KernelPath* path : AvailablePaths()) {
    for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
      std::vector<float> out(want.size(), NAN);
      AttentionWithPath(*path, q.data(), a.q_pos.data(), n_q, cache.view, a.n_head, a.n_head_kv, hd,
                        scale, out.data(), p);
      for (size_t i = 0; i < out.size(); ++i) {
        ASSERT_NEAR(out[i], want[i], 2e-5 + 2e-5 * std::fabs(want[i]))
            << path->name << " " << GetTypeTraits(a.type).name << " heads " << a.n_head << "/"
            << a.n_head_kv << " ctx " << a.n_ctx << " element " << i << (p ? " pooled" : "");
      }
    }
  }
}

TEST(AttentionTest, MatchesNaiveAttentionForEveryCacheTypeAndGqaRatio) {
  for (TensorType type : {TensorType::kF16, TensorType::kBF16, TensorType::kQ8_0}) {
    for (int ratio : {1, 2, 4}) {
      const int n_head_kv = 2;
      // Decode: one query at the end of a multi-page cache.
      CheckAttention({type, n_head_kv * ratio, n_head_kv, 150, 16, {149}});
      // Prefill of 5 rows in the middle of the cache: later keys must be ignored.
      CheckAttention({type, n_head_kv * ratio, n_head_kv, 90, 7, {60, 61, 62, 63, 64}});
      if (HasFatalFailure()) return;
    }
  }
}

TEST(AttentionTest, ManyQueriesWithArbitraryPositions) {
  // 37 queries span several query chunks; positions need not be sorted or contiguous.
  std::vector<int64_t> pos;
  for (int i = 0; i < 37; ++i) pos.push_back((i * 53) % 200);
  CheckAttention({TensorType::kF16, 8, 2, 200, 32, pos});
  CheckAttention({TensorType::kQ8_0, 4, 1, 200, 200, pos});
}

TEST(AttentionTest, FirstTokenAttendsOnlyToItself) {
  // With one key, the output is exactly that key's value row, whatever the query.
  CheckAttention({TensorType::kF16, 4, 2, 1, 4, {0}});
}

}  // namespace
}  // namespace zen::kernels
