#include "node/layer_range.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "kernels/packed_matmul.h"
#include "kernels/thread_pool.h"
#include "node/gguf.h"
#include "node/kv_cache.h"
#include "node/packed_weights.h"

namespace zen::node {
namespace {

using kernels::TensorType;

// A weight matrix: n_rows output rows of n_cols inputs, borrowed from the mapped file, or
// repacked at load for the kernels (packed, then data points into a kernels::HugePageBuffer).
struct Matrix {
  const void* data = nullptr;
  TensorType type = TensorType::kF32;
  int64_t n_rows = 0;
  int64_t n_cols = 0;
  bool packed = false;
};

// y = W x for n_x rows of x, whichever layout W is in.
void Multiply(const Matrix& w, const float* x, int64_t n_x, float* y, int64_t y_stride,
              kernels::ThreadPool* pool) {
  if (w.packed) {
    kernels::MatMulPacked(w.type, w.data, w.n_rows, w.n_cols, x, n_x, y, y_stride, pool);
  } else {
    kernels::MatMul(w.type, w.data, w.n_rows, w.n_cols, x, n_x, y, y_stride, pool);
  }
}

// Whether to repack weights at load (ZEN_PACK_WEIGHTS=0 keeps the file's layout, to compare).
bool PackingEnabled() {
  const char* v = std::getenv("ZEN_PACK_WEIGHTS");
  return v == nullptr || std::strcmp(v, "0") != 0;
}

// One transformer block's weights.
struct LayerWeights {
  std::vector<float> attn_norm, q_norm, k_norm, ffn_norm;
  Matrix wq, wk, wv, wo, w_gate, w_up, w_down;
};

// Looks up a 2-D weight and checks its shape {n_cols, n_rows}.
absl::StatusOr<Matrix> LoadMatrix(const GgufFile& file, const std::string& name, int64_t n_cols,
                                  int64_t n_rows) {
  const GgufTensorInfo* t = file.FindTensor(name);
  if (t == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(file.path(), ": missing tensor ", name));
  }
  if (t->dims.size() != 2 || t->dims[0] != n_cols || t->dims[1] != n_rows) {
    std::string got;
    for (int64_t d : t->dims) absl::StrAppend(&got, got.empty() ? "" : ", ", d);
    return absl::InvalidArgumentError(absl::StrCat(file.path(), ": tensor ", name, " has shape {",
                                                   got, "}, expected {", n_cols, ", ", n_rows,
                                                   "}"));
  }
  if (!kernels::GetTypeTraits(t->type).weight_type) {
    return absl::InvalidArgumentError(absl::StrCat(
        file.path(), ": tensor ", name, " has type ",
        std::string(kernels::GetTypeTraits(t->type).name), ", which cannot be a weight"));
  }
  return Matrix{file.TensorData(*t).data(), t->type, n_rows, n_cols};
}

// Loads a 1-D weight of n elements as floats (norm weights are small; any float type works).
absl::StatusOr<std::vector<float>> LoadVector(const GgufFile& file, const std::string& name,
                                              int64_t n) {
  const GgufTensorInfo* t = file.FindTensor(name);
  if (t == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(file.path(), ": missing tensor ", name));
  }
  if (t->dims.size() != 1 || t->dims[0] != n) {
    return absl::InvalidArgumentError(
        absl::StrCat(file.path(), ": tensor ", name, " must have shape {", n, "}"));
  }
  std::vector<float> out(static_cast<size_t>(n));
  kernels::DequantizeRow(t->type, file.TensorData(*t).data(), out.data(), n);
  return out;
}

}  // namespace

// Working buffers, sized for the largest batch seen so far and then reused.
struct Buffers {
  int64_t rows = 0;
  std::vector<float> x, xb, q, k, v, att, ffn_gate, ffn_up, out_rows;
  std::vector<const void*> page_scratch;
  std::vector<uint8_t> q_cache_type;  // one query row in the KV-cache element type
  std::vector<int64_t> positions;

  void Ensure(int64_t n, const ModelConfig& c) {
    if (n <= rows) return;
    rows = n;
    const auto sz = [n](int64_t width) { return static_cast<size_t>(n * width); };
    const int64_t q_width = int64_t{c.n_head} * c.head_dim;
    const int64_t kv_width = int64_t{c.n_head_kv} * c.head_dim;
    x.resize(sz(c.n_embd));
    xb.resize(sz(std::max<int64_t>(c.n_embd, q_width)));
    q.resize(sz(q_width));
    k.resize(sz(kv_width));
    v.resize(sz(kv_width));
    att.resize(sz(q_width));
    ffn_gate.resize(sz(c.n_ff));
    ffn_up.resize(sz(c.n_ff));
    out_rows.resize(sz(c.n_embd));
    positions.resize(static_cast<size_t>(n));
  }

  // Sizes the buffers that do not depend on the batch.
  void Init(const ModelConfig& c, kernels::TensorType kv_type) {
    q_cache_type.resize(kernels::RowBytes(kv_type, int64_t{c.n_head} * c.head_dim));
  }
};

struct LayerRange::Impl {
  const GgufFile* file = nullptr;
  LayerRangeOptions options;
  std::vector<LayerWeights> layers;  // layers [first, last]
  Matrix token_embd;                 // first slice (and tied LM head)
  std::vector<float> output_norm;    // last slice
  Matrix output;                     // last slice
  std::unique_ptr<KvCache> kv;
  std::unique_ptr<kernels::ThreadPool> pool;
  std::unique_ptr<kernels::HugePageBuffer> packed;  // owner of every packed matrix
  Buffers buf;

  // Repacks the matrices the kernels multiply faster packed; the others, and all of them if
  // memory for the copies ran out, keep the file's layout (which still works).
  void Pack(std::span<Matrix* const> matrices) {
    std::vector<PackRequest> requests;
    std::vector<Matrix*> packing;
    for (Matrix* m : matrices) {
      if (m->packed || !kernels::ShouldPackWeights(m->type)) continue;
      requests.push_back({m->type, m->data, m->n_rows, m->n_cols, &m->data});
      packing.push_back(m);
    }
    packed = PackAndReleaseSources(requests, pool.get());
    if (packed == nullptr) return;
    for (Matrix* m : packing) m->packed = true;
  }
};

LayerRange::~LayerRange() = default;

int64_t LayerRange::kv_budget_bytes() const {
  return impl_->kv->budget_bytes();
}

int64_t LayerRange::max_context() const {
  return impl_->options.max_context;
}

absl::StatusOr<std::unique_ptr<LayerRange>> LayerRange::Create(const GgufFile& file,
                                                               const ModelConfig& config,
                                                               const LayerRangeOptions& options) {
  std::unique_ptr<LayerRange> range(new LayerRange());
  range->config_ = config;
  range->first_layer_ = options.first_layer;
  range->last_layer_ = options.last_layer < 0 ? config.n_layers - 1 : options.last_layer;
  if (range->first_layer_ < 0 || range->first_layer_ > range->last_layer_ ||
      range->last_layer_ >= config.n_layers) {
    return absl::InvalidArgumentError(absl::StrCat("invalid layer range [", options.first_layer,
                                                   ", ", options.last_layer, "] for a model of ",
                                                   config.n_layers, " layers"));
  }
  const TensorType kv_type = options.kv_type;
  if (kv_type != TensorType::kF16 && kv_type != TensorType::kBF16 && kv_type != TensorType::kQ8_0) {
    return absl::InvalidArgumentError("KV-cache type must be f16, bf16 or q8_0");
  }
  const int64_t kv_width = int64_t{config.n_head_kv} * config.head_dim;
  if (kv_width % kernels::GetTypeTraits(kv_type).block_elements != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("KV row of ", kv_width, " elements is not a multiple of the ",
                     std::string(kernels::GetTypeTraits(kv_type).name), " block size"));
  }
  if ((int64_t{config.n_head} * config.head_dim) % kernels::GetTypeTraits(kv_type).block_elements !=
      0) {
    return absl::InvalidArgumentError("query row is not a multiple of the KV-cache block size");
  }
  if (options.max_batch_rows < 1) {
    return absl::InvalidArgumentError("max_batch_rows must be at least 1");
  }
  auto impl = std::make_unique<Impl>();
  impl->file = &file;
  impl->options = options;
  impl->options.last_layer = range->last_layer_;
  if (impl->options.max_context <= 0) impl->options.max_context = config.n_ctx_train;

  const int64_t q_width = int64_t{config.n_head} * config.head_dim;
  int64_t weight_bytes = 0;
  for (const GgufTensorInfo* t :
       file.SliceTensors(range->first_layer_, range->last_layer_, config.n_layers)) {
    weight_bytes += static_cast<int64_t>(t->n_bytes);
  }
  for (int l = range->first_layer_; l <= range->last_layer_; ++l) {
    const std::string p = absl::StrCat("blk.", l, ".");
    LayerWeights w;
    auto vec = [&](const std::string& name, int64_t n, std::vector<float>& dst) -> absl::Status {
      absl::StatusOr<std::vector<float>> v = LoadVector(file, p + name, n);
      if (!v.ok()) return v.status();
      dst = std::move(*v);
      return absl::OkStatus();
    };
    auto mat = [&](const std::string& name, int64_t cols, int64_t rows,
                   Matrix& dst) -> absl::Status {
      absl::StatusOr<Matrix> m = LoadMatrix(file, p + name, cols, rows);
      if (!m.ok()) return m.status();
      dst = *m;
      return absl::OkStatus();
    };
    for (absl::Status s : {vec("attn_norm.weight", config.n_embd, w.attn_norm),
                           vec("ffn_norm.weight", config.n_embd, w.ffn_norm),
                           mat("attn_q.weight", config.n_embd, q_width, w.wq),
                           mat("attn_k.weight", config.n_embd, kv_width, w.wk),
                           mat("attn_v.weight", config.n_embd, kv_width, w.wv),
                           mat("attn_output.weight", q_width, config.n_embd, w.wo),
                           mat("ffn_gate.weight", config.n_embd, config.n_ff, w.w_gate),
                           mat("ffn_up.weight", config.n_embd, config.n_ff, w.w_up),
                           mat("ffn_down.weight", config.n_ff, config.n_embd, w.w_down)}) {
      if (!s.ok()) return s;
    }
    if (config.qk_norm) {
      for (absl::Status s : {vec("attn_q_norm.weight", config.head_dim, w.q_norm),
                             vec("attn_k_norm.weight", config.head_dim, w.k_norm)}) {
        if (!s.ok()) return s;
      }
    }
    for (const char* bias : {"attn_q.bias", "attn_k.bias", "attn_v.bias", "attn_output.bias"}) {
      if (file.FindTensor(p + bias) != nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(file.path(), ": tensor ", p, bias,
                                                       " (attention biases) is not supported"));
      }
    }
    impl->layers.push_back(std::move(w));
  }
  if (file.FindTensor("rope_freqs.weight") != nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(file.path(),
                     ": rope_freqs.weight (llama3 RoPE frequency factors) is not "
                     "supported"));
  }
  const bool first = range->first_layer_ == 0;
  const bool last = range->last_layer_ == config.n_layers - 1;
  if (first || (last && config.tied_output)) {
    absl::StatusOr<Matrix> m = LoadMatrix(file, "token_embd.weight", config.n_embd, config.n_vocab);
    if (!m.ok()) return m.status();
    impl->token_embd = *m;
  }
  if (last) {
    absl::StatusOr<std::vector<float>> v = LoadVector(file, "output_norm.weight", config.n_embd);
    if (!v.ok()) return v.status();
    impl->output_norm = std::move(*v);
    if (config.tied_output) {
      impl->output = impl->token_embd;
    } else {
      absl::StatusOr<Matrix> m = LoadMatrix(file, "output.weight", config.n_embd, config.n_vocab);
      if (!m.ok()) return m.status();
      impl->output = *m;
    }
  }

  KvCacheShape shape;
  shape.n_layers = range->last_layer_ - range->first_layer_ + 1;
  shape.row_elements = kv_width;
  shape.type = kv_type;
  shape.page_tokens = 128;
  int64_t budget = options.kv_budget_bytes;
  if (budget <= 0) {
    const int64_t pages = (impl->options.max_context + shape.page_tokens - 1) / shape.page_tokens;
    budget = pages * 2 * shape.n_layers * shape.page_tokens *
             static_cast<int64_t>(kernels::RowBytes(kv_type, kv_width));
  }
  impl->kv = std::make_unique<KvCache>(shape, budget);
  if (impl->kv->budget_bytes() == 0) {
    return absl::InvalidArgumentError(absl::StrCat("KV-cache budget of ", budget,
                                                   " bytes is smaller than one page (",
                                                   impl->kv->page_bytes(), " bytes)"));
  }
  impl->pool = std::make_unique<kernels::ThreadPool>(std::max(1, options.n_threads));
  if (PackingEnabled()) {
    std::vector<Matrix*> matrices;
    for (LayerWeights& w : impl->layers) {
      for (Matrix* mat : {&w.wq, &w.wk, &w.wv, &w.wo, &w.w_gate, &w.w_up, &w.w_down}) {
        matrices.push_back(mat);
      }
    }
    // A tied LM head shares the embedding's packed copy; embedding alone (first slice only)
    // reads a few rows per token and stays in the file's layout.
    if (last) matrices.push_back(&impl->output);
    impl->Pack(matrices);
    if (last && config.tied_output) impl->token_embd = impl->output;
  }
  impl->buf.Init(config, kv_type);
  range->weight_bytes_ = weight_bytes;
  range->impl_ = std::move(impl);
  return range;
}

absl::Status LayerRange::Forward(std::span<const BatchRow> rows, const float* hidden_in,
                                 float* hidden_out, float* logits_out) {
  Impl& m = *impl_;
  const ModelConfig& c = config_;
  const int64_t n = static_cast<int64_t>(rows.size());
  if (n == 0) return absl::OkStatus();
  if (n > m.options.max_batch_rows) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch of ", n, " rows exceeds the limit of ", m.options.max_batch_rows));
  }
  if (!is_first() && hidden_in == nullptr) {
    return absl::InvalidArgumentError("hidden rows are required by a slice that does not embed");
  }

  // Validate every row and the cache room before touching any state, so a bad row leaves
  // every sequence as it was.
  std::unordered_map<uint64_t, int64_t> next_pos;
  for (int64_t i = 0; i < n; ++i) {
    const BatchRow& r = rows[i];
    auto [it, inserted] = next_pos.try_emplace(r.seq_id, m.kv->Length(r.seq_id));
    if (r.pos != it->second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "row ", i, ": sequence ", r.seq_id, " expects position ", it->second, ", got ", r.pos));
    }
    if (r.pos >= m.options.max_context) {
      return absl::InvalidArgumentError(absl::StrCat("row ", i, ": position ", r.pos,
                                                     " is beyond the context length ",
                                                     m.options.max_context));
    }
    if (is_first() && (r.token < 0 || r.token >= c.n_vocab)) {
      return absl::InvalidArgumentError(
          absl::StrCat("row ", i, ": token id ", r.token, " outside [0, ", c.n_vocab, ")"));
    }
    ++it->second;
  }
  int64_t pages = 0;
  for (const auto& [seq, end] : next_pos) pages += m.kv->PagesNeeded(seq, end);
  if (pages > m.kv->FreePages()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("KV-cache budget exhausted: the batch needs ", pages, " pages, ",
                     m.kv->FreePages(), " free of ", m.kv->budget_bytes() / m.kv->page_bytes()));
  }
  for (const auto& [seq, end] : next_pos) {
    absl::Status s = m.kv->Reserve(seq, end);
    if (!s.ok()) return s;
  }

  Buffers& b = m.buf;
  b.Ensure(n, c);
  kernels::ThreadPool* pool = m.pool.get();
  const int64_t n_embd = c.n_embd;
  const int64_t q_width = int64_t{c.n_head} * c.head_dim;
  const int64_t kv_width = int64_t{c.n_head_kv} * c.head_dim;
  for (int64_t i = 0; i < n; ++i) b.positions[i] = rows[i].pos;

  if (is_first()) {
    const size_t row_bytes = kernels::RowBytes(m.token_embd.type, n_embd);
    const auto* embd = static_cast<const uint8_t*>(m.token_embd.data);
    for (int64_t i = 0; i < n; ++i) {
      float* dst = b.x.data() + i * n_embd;
      if (m.token_embd.packed) {
        kernels::DequantizePackedRow(m.token_embd.type, embd, rows[i].token, n_embd, dst);
      } else {
        kernels::DequantizeRow(m.token_embd.type, embd + rows[i].token * row_bytes, dst, n_embd);
      }
    }
  } else {
    std::memcpy(b.x.data(), hidden_in, sizeof(float) * n * n_embd);
  }

  const float attn_scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  for (size_t li = 0; li < m.layers.size(); ++li) {
    const LayerWeights& w = m.layers[li];
    const int layer = static_cast<int>(li);
    for (int64_t i = 0; i < n; ++i) {
      kernels::RmsNorm(b.x.data() + i * n_embd, w.attn_norm.data(), b.xb.data() + i * n_embd,
                       n_embd, c.rms_eps);
    }
    Multiply(w.wq, b.xb.data(), n, b.q.data(), q_width, pool);
    Multiply(w.wk, b.xb.data(), n, b.k.data(), kv_width, pool);
    Multiply(w.wv, b.xb.data(), n, b.v.data(), kv_width, pool);
    for (int64_t i = 0; i < n; ++i) {
      float* q = b.q.data() + i * q_width;
      float* k = b.k.data() + i * kv_width;
      if (c.qk_norm) {
        for (int h = 0; h < c.n_head; ++h) {
          kernels::RmsNorm(q + h * c.head_dim, w.q_norm.data(), q + h * c.head_dim, c.head_dim,
                           c.rms_eps);
        }
        for (int h = 0; h < c.n_head_kv; ++h) {
          kernels::RmsNorm(k + h * c.head_dim, w.k_norm.data(), k + h * c.head_dim, c.head_dim,
                           c.rms_eps);
        }
      }
      kernels::ApplyRope(q, c.n_head, c.head_dim, rows[i].pos, c.rope);
      kernels::ApplyRope(k, c.n_head_kv, c.head_dim, rows[i].pos, c.rope);
      // q.k is taken at the cache's precision, as engines that multiply an f16 (or q8_0)
      // cache with a converted query do; the fixtures' reference engine is one of them.
      kernels::QuantizeRow(m.kv->shape().type, q, b.q_cache_type.data(), q_width);
      kernels::DequantizeRow(m.kv->shape().type, b.q_cache_type.data(), q, q_width);
      kernels::QuantizeRow(m.kv->shape().type, k, m.kv->KeyRow(rows[i].seq_id, layer, rows[i].pos),
                           kv_width);
      kernels::QuantizeRow(m.kv->shape().type, b.v.data() + i * kv_width,
                           m.kv->ValueRow(rows[i].seq_id, layer, rows[i].pos), kv_width);
    }
    // Attention runs per run of consecutive rows of one sequence.
    for (int64_t start = 0; start < n;) {
      int64_t end = start + 1;
      while (end < n && rows[end].seq_id == rows[start].seq_id) ++end;
      const kernels::KvView view = m.kv->View(rows[start].seq_id, layer, b.page_scratch);
      kernels::Attention(b.q.data() + start * q_width, b.positions.data() + start, end - start,
                         view, c.n_head, c.n_head_kv, c.head_dim, attn_scale,
                         b.att.data() + start * q_width, pool);
      start = end;
    }
    Multiply(w.wo, b.att.data(), n, b.out_rows.data(), n_embd, pool);
    kernels::AddInPlace(b.x.data(), b.out_rows.data(), n * n_embd);

    for (int64_t i = 0; i < n; ++i) {
      kernels::RmsNorm(b.x.data() + i * n_embd, w.ffn_norm.data(), b.xb.data() + i * n_embd, n_embd,
                       c.rms_eps);
    }
    Multiply(w.w_gate, b.xb.data(), n, b.ffn_gate.data(), c.n_ff, pool);
    Multiply(w.w_up, b.xb.data(), n, b.ffn_up.data(), c.n_ff, pool);
    kernels::SwiGlu(b.ffn_gate.data(), b.ffn_up.data(), b.ffn_gate.data(), n * c.n_ff);
    Multiply(w.w_down, b.ffn_gate.data(), n, b.out_rows.data(), n_embd, pool);
    kernels::AddInPlace(b.x.data(), b.out_rows.data(), n * n_embd);
  }
  for (const auto& [seq, end] : next_pos) m.kv->SetLength(seq, end);

  if (!is_last()) {
    if (hidden_out != nullptr) std::memcpy(hidden_out, b.x.data(), sizeof(float) * n * n_embd);
    return absl::OkStatus();
  }
  // Only rows that want logits go through the final norm and the LM head.
  int64_t n_out = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (!rows[i].want_logits) continue;
    kernels::RmsNorm(b.x.data() + i * n_embd, m.output_norm.data(), b.xb.data() + n_out * n_embd,
                     n_embd, c.rms_eps);
    ++n_out;
  }
  if (n_out > 0 && logits_out != nullptr) {
    Multiply(m.output, b.xb.data(), n_out, logits_out, c.n_vocab, pool);
  }
  return absl::OkStatus();
}

void LayerRange::ReleaseSequence(uint64_t seq_id) {
  impl_->kv->Release(seq_id);
}

absl::Status LayerRange::TruncateSequence(uint64_t seq_id, int64_t n_keep) {
  return impl_->kv->Truncate(seq_id, n_keep);
}

int64_t LayerRange::SequenceLength(uint64_t seq_id) const {
  return impl_->kv->Length(seq_id);
}

}  // namespace zen::node
