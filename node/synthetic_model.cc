#include "node/synthetic_model.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/matmul.h"
#include "kernels/quant_types.h"
#include "kernels/thread_pool.h"
#include "node/gguf.h"

namespace zen::node {
namespace {

using kernels::TensorType;

// Deterministic per-tensor random numbers (splitmix64), independent of write order.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [-1, 1).
  float Uniform() { return static_cast<float>((Next() >> 40) * (1.0 / (1ull << 23)) - 1.0); }

 private:
  uint64_t state_;
};

uint64_t HashName(std::string_view name, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h;
}

// llama.cpp's Q4_K_M recipe spends more bits on some layers' attn_v and ffn_down.
bool UseMoreBits(int layer, int n_layers) {
  return layer < n_layers / 8 || layer >= 7 * n_layers / 8 || (layer - n_layers / 8) % 3 == 2;
}

// The type of a matrix under the spec's mix.
absl::StatusOr<TensorType> MatrixType(const SynthSpec& spec, std::string_view role, int layer) {
  if (spec.type == "q4_k_m") {
    if (role == "output" || (role == "token_embd" && spec.tied_output)) return TensorType::kQ6_K;
    if ((role == "attn_v" || role == "ffn_down") && UseMoreBits(layer, spec.n_layers)) {
      return TensorType::kQ6_K;
    }
    return TensorType::kQ4_K;
  }
  const kernels::TypeTraits* t = kernels::FindTypeTraitsByName(spec.type);
  if (t == nullptr || !t->weight_type) {
    return absl::InvalidArgumentError(absl::StrCat("unknown weight type '", spec.type, "'"));
  }
  return t->type;
}

}  // namespace

std::vector<std::string> SynthTypeNames() {
  return {"q4_k_m", "f32",  "f16",  "bf16", "q8_0", "q4_0", "q4_1",
          "q5_0",   "q5_1", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k"};
}

absl::StatusOr<SynthSpec> SynthPreset(std::string_view like) {
  SynthSpec s;
  s.head_dim = 128;
  s.n_head_kv = 8;
  s.n_vocab = 151936;
  if (like == "qwen3-0.6b") {
    s.n_layers = 28, s.n_embd = 1024, s.n_head = 16, s.n_ff = 3072;
  } else if (like == "qwen3-1.7b") {
    s.n_layers = 28, s.n_embd = 2048, s.n_head = 16, s.n_ff = 6144;
  } else if (like == "qwen3-4b") {
    s.n_layers = 36, s.n_embd = 2560, s.n_head = 32, s.n_ff = 9728;
  } else if (like == "qwen3-8b") {
    s.n_layers = 36, s.n_embd = 4096, s.n_head = 32, s.n_ff = 12288, s.tied_output = false;
  } else if (like == "tiny") {
    s = SynthSpec{};
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown shape '", std::string(like),
                     "' (qwen3-0.6b, qwen3-1.7b, qwen3-4b, qwen3-8b, tiny)"));
  }
  return s;
}

absl::Status WriteSyntheticModel(const SynthSpec& spec, const GgufFile* vocab,
                                 const std::string& out) {
  if (spec.arch != "qwen3" && spec.arch != "llama") {
    return absl::InvalidArgumentError(absl::StrCat("unsupported architecture '", spec.arch, "'"));
  }
  SynthSpec s = spec;
  GgufWriter w;
  const std::string a = s.arch + ".";
  w.SetString("general.architecture", s.arch);
  w.SetString("general.name", absl::StrCat("zen synthetic ", s.arch, " (random weights)"));
  w.SetUint32("general.quantization_version", 2);
  w.SetUint32(a + "block_count", s.n_layers);
  w.SetUint32(a + "context_length", s.context_length);
  w.SetUint32(a + "embedding_length", s.n_embd);
  w.SetUint32(a + "feed_forward_length", s.n_ff);
  w.SetUint32(a + "attention.head_count", s.n_head);
  w.SetUint32(a + "attention.head_count_kv", s.n_head_kv);
  w.SetUint32(a + "attention.key_length", s.head_dim);
  w.SetUint32(a + "attention.value_length", s.head_dim);
  w.SetFloat32(a + "rope.freq_base", s.rope_theta);
  w.SetFloat32(a + "attention.layer_norm_rms_epsilon", 1e-6f);
  if (s.arch == "llama") w.SetUint32(a + "rope.dimension_count", s.head_dim);
  if (vocab != nullptr) {
    const std::vector<std::string>* tokens = vocab->FindStringArray("tokenizer.ggml.tokens");
    if (tokens == nullptr || tokens->empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(vocab->path(), ": no tokenizer.ggml.tokens to copy"));
    }
    s.n_vocab = static_cast<int>(tokens->size());
    w.CopyMetadata(*vocab, "tokenizer.");
  }

  kernels::ThreadPool pool(2);
  // Every matrix is filled row by row with uniform weights scaled so that a product with a
  // unit-variance input keeps unit variance, then quantized to its type.
  auto add_matrix = [&](const std::string& name, std::string_view role, int layer, int64_t cols,
                        int64_t rows) -> absl::Status {
    absl::StatusOr<TensorType> type = MatrixType(s, role, layer);
    if (!type.ok()) return type.status();
    const TensorType t = *type;
    if (!kernels::CanQuantize(t)) {
      return absl::UnimplementedError(
          absl::StrCat("cannot quantize to ", std::string(kernels::GetTypeTraits(t).name)));
    }
    if (cols % kernels::GetTypeTraits(t).block_elements != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": ", cols, " columns is not a multiple of the ",
                       std::string(kernels::GetTypeTraits(t).name), " block"));
    }
    const uint64_t seed = HashName(name, s.seed);
    const float scale = std::sqrt(3.0f / static_cast<float>(cols));
    w.AddTensor(name, {cols, rows}, t, [=, &pool](std::span<uint8_t> dst) {
      const size_t row_bytes = kernels::RowBytes(t, cols);
      pool.ParallelFor(rows, 16, [&](int64_t begin, int64_t end) {
        std::vector<float> row(static_cast<size_t>(cols));
        for (int64_t r = begin; r < end; ++r) {
          Rng rng(seed + static_cast<uint64_t>(r) * 0x632be59bd9b4e019ull);
          for (float& x : row) x = rng.Uniform() * scale;
          kernels::QuantizeRow(t, row.data(), dst.data() + r * row_bytes, cols);
        }
      });
    });
    return absl::OkStatus();
  };
  auto add_norm = [&](const std::string& name, int64_t n) {
    const uint64_t seed = HashName(name, s.seed);
    w.AddTensor(name, {n}, TensorType::kF32, [=](std::span<uint8_t> dst) {
      Rng rng(seed);
      auto* f = reinterpret_cast<float*>(dst.data());
      for (int64_t i = 0; i < n; ++i) f[i] = 1.0f + 0.25f * rng.Uniform();
    });
  };

  const int64_t q_width = int64_t{s.n_head} * s.head_dim;
  const int64_t kv_width = int64_t{s.n_head_kv} * s.head_dim;
  absl::Status st = add_matrix("token_embd.weight", "token_embd", 0, s.n_embd, s.n_vocab);
  if (!st.ok()) return st;
  for (int l = 0; l < s.n_layers; ++l) {
    const std::string p = absl::StrCat("blk.", l, ".");
    add_norm(p + "attn_norm.weight", s.n_embd);
    for (absl::Status m :
         {add_matrix(p + "attn_q.weight", "attn_q", l, s.n_embd, q_width),
          add_matrix(p + "attn_k.weight", "attn_k", l, s.n_embd, kv_width),
          add_matrix(p + "attn_v.weight", "attn_v", l, s.n_embd, kv_width),
          add_matrix(p + "attn_output.weight", "attn_output", l, q_width, s.n_embd)}) {
      if (!m.ok()) return m;
    }
    if (s.arch == "qwen3") {
      add_norm(p + "attn_q_norm.weight", s.head_dim);
      add_norm(p + "attn_k_norm.weight", s.head_dim);
    }
    add_norm(p + "ffn_norm.weight", s.n_embd);
    for (absl::Status m : {add_matrix(p + "ffn_gate.weight", "ffn_gate", l, s.n_embd, s.n_ff),
                           add_matrix(p + "ffn_up.weight", "ffn_up", l, s.n_embd, s.n_ff),
                           add_matrix(p + "ffn_down.weight", "ffn_down", l, s.n_ff, s.n_embd)}) {
      if (!m.ok()) return m;
    }
  }
  add_norm("output_norm.weight", s.n_embd);
  if (!s.tied_output) {
    st = add_matrix("output.weight", "output", 0, s.n_embd, s.n_vocab);
    if (!st.ok()) return st;
  }
  return w.Write(out);
}

}  // namespace zen::node
