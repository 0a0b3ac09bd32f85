// The hyperparameters of a Qwen3 or Llama model, read from GGUF metadata.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "kernels/ops.h"

namespace zen::node {

class GgufFile;

// Everything the forward pass needs to know about the model's shape.
struct ModelConfig {
  std::string arch;  // "qwen3" or "llama"
  int n_layers = 0;
  int n_embd = 0;
  int n_head = 0;
  int n_head_kv = 0;
  int head_dim = 0;  // read from <arch>.attention.key_length, never derived when present
  int n_ff = 0;
  int n_vocab = 0;
  int n_ctx_train = 0;
  float rms_eps = 1e-6f;
  bool qk_norm = false;     // qwen3: RMSNorm on q and k heads before RoPE
  bool tied_output = true;  // no output.weight: the embedding doubles as LM head
  kernels::RopeParams rope;

  // Bytes of one token's K+V for one layer at the given cache element type.
  int64_t KvBytesPerTokenPerLayer(kernels::TensorType kv_type) const;
};

// Reads and checks the config; errors name the missing or inconsistent key.
absl::StatusOr<ModelConfig> ReadModelConfig(const GgufFile& file);

// Overrides RoPE scaling with YaRN (factor, original context), as --rope-scaling yarn does.
void EnableYarn(ModelConfig& config, float factor, int original_context);

}  // namespace zen::node
