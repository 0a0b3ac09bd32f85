#include "node/model_config.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "node/gguf.h"

namespace zen::node {
namespace {

// Reads a required positive integer key `<arch>.<suffix>`.
absl::StatusOr<int> RequiredInt(const GgufFile& file, const std::string& key) {
  absl::StatusOr<uint64_t> v = file.GetUint(key);
  if (!v.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file.path(), ": required key ", key, ": ", v.status().message()));
  }
  if (*v == 0 || *v > (1u << 30)) {
    return absl::InvalidArgumentError(
        absl::StrCat(file.path(), ": key ", key, " has implausible value ", *v));
  }
  return static_cast<int>(*v);
}

}  // namespace

int64_t ModelConfig::KvBytesPerTokenPerLayer(kernels::TensorType kv_type) const {
  return 2 * static_cast<int64_t>(kernels::RowBytes(kv_type, int64_t{n_head_kv} * head_dim));
}

absl::StatusOr<ModelConfig> ReadModelConfig(const GgufFile& file) {
  ModelConfig c;
  absl::StatusOr<std::string> arch = file.GetString("general.architecture");
  if (!arch.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file.path(), ": missing general.architecture: ", arch.status().message()));
  }
  c.arch = *arch;
  if (c.arch != "qwen3" && c.arch != "llama") {
    return absl::InvalidArgumentError(
        absl::StrCat(file.path(), ": architecture '", c.arch, "' is not supported (qwen3, llama)"));
  }
  const std::string p = c.arch + ".";
  absl::StatusOr<int> v = RequiredInt(file, p + "block_count");
  if (!v.ok()) return v.status();
  c.n_layers = *v;
  if (!(v = RequiredInt(file, p + "embedding_length")).ok()) return v.status();
  c.n_embd = *v;
  if (!(v = RequiredInt(file, p + "feed_forward_length")).ok()) return v.status();
  c.n_ff = *v;
  if (!(v = RequiredInt(file, p + "attention.head_count")).ok()) return v.status();
  c.n_head = *v;
  c.n_head_kv = c.n_head;
  if (file.Find(p + "attention.head_count_kv") != nullptr) {
    if (!(v = RequiredInt(file, p + "attention.head_count_kv")).ok()) return v.status();
    c.n_head_kv = *v;
  }
  if (file.Find(p + "attention.key_length") != nullptr) {
    if (!(v = RequiredInt(file, p + "attention.key_length")).ok()) return v.status();
    c.head_dim = *v;
  } else if (c.arch == "qwen3") {
    return absl::InvalidArgumentError(
        absl::StrCat(file.path(), ": required key ", p,
                     "attention.key_length is missing (qwen3 head_dim "
                     "cannot be derived from the hidden size)"));
  } else {
    c.head_dim = c.n_embd / c.n_head;
  }
  if (file.Find(p + "attention.value_length") != nullptr) {
    absl::StatusOr<uint64_t> vl = file.GetUint(p + "attention.value_length");
    if (!vl.ok() || static_cast<int>(*vl) != c.head_dim) {
      return absl::InvalidArgumentError(absl::StrCat(
          file.path(), ": ", p, "attention.value_length must equal key_length (", c.head_dim, ")"));
    }
  }
  if (c.n_head % c.n_head_kv != 0) {
    return absl::InvalidArgumentError(absl::StrCat(file.path(), ": head_count ", c.n_head,
                                                   " is not a multiple of head_count_kv ",
                                                   c.n_head_kv));
  }
  if (c.head_dim % 2 != 0 || c.head_dim > 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat(file.path(), ": unsupported head_dim ", c.head_dim));
  }
  c.n_ctx_train = 4096;
  if (file.Find(p + "context_length") != nullptr) {
    if (!(v = RequiredInt(file, p + "context_length")).ok()) return v.status();
    c.n_ctx_train = *v;
  }
  absl::StatusOr<double> eps = file.GetFloat(p + "attention.layer_norm_rms_epsilon");
  if (!eps.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file.path(), ": required key ", p,
                     "attention.layer_norm_rms_epsilon: ", eps.status().message()));
  }
  c.rms_eps = static_cast<float>(*eps);

  const GgufTensorInfo* embd = file.FindTensor("token_embd.weight");
  if (embd == nullptr || embd->dims.size() != 2 || embd->dims[0] != c.n_embd) {
    return absl::InvalidArgumentError(absl::StrCat(
        file.path(), ": token_embd.weight missing or not of shape {", c.n_embd, ", n_vocab}"));
  }
  c.n_vocab = static_cast<int>(embd->dims[1]);
  c.tied_output = file.FindTensor("output.weight") == nullptr;
  c.qk_norm = c.arch == "qwen3";

  c.rope.n_dims = c.head_dim;
  if (file.Find(p + "rope.dimension_count") != nullptr) {
    if (!(v = RequiredInt(file, p + "rope.dimension_count")).ok()) return v.status();
    if (*v != c.head_dim) {
      return absl::InvalidArgumentError(absl::StrCat(file.path(), ": partial rotary (", p,
                                                     "rope.dimension_count ", *v, " != head_dim ",
                                                     c.head_dim, ") is not supported"));
    }
  }
  c.rope.freq_base = static_cast<float>(file.GetFloat(p + "rope.freq_base").value_or(10000.0));
  c.rope.neox = c.arch == "qwen3";
  c.rope.n_ctx_orig = c.n_ctx_train;
  absl::StatusOr<std::string> scaling = file.GetString(p + "rope.scaling.type");
  if (scaling.ok() && *scaling == "yarn") {
    const double factor = file.GetFloat(p + "rope.scaling.factor").value_or(1.0);
    const int64_t orig =
        file.GetInt(p + "rope.scaling.original_context_length").value_or(c.n_ctx_train);
    if (factor > 1.0) EnableYarn(c, static_cast<float>(factor), static_cast<int>(orig));
  } else if (scaling.ok() && *scaling != "none" && *scaling != "linear") {
    return absl::InvalidArgumentError(
        absl::StrCat(file.path(), ": rope scaling '", *scaling, "' is not supported"));
  }
  return c;
}

void EnableYarn(ModelConfig& config, float factor, int original_context) {
  config.rope.freq_scale = 1.0f / factor;
  config.rope.ext_factor = 1.0f;
  config.rope.attn_factor = 1.0f;
  config.rope.n_ctx_orig = original_context;
  const int64_t extended = static_cast<int64_t>(std::lround(original_context * factor));
  if (extended > config.n_ctx_train) config.n_ctx_train = static_cast<int>(extended);
}

}  // namespace zen::node
