// Seeded random Qwen3/Llama GGUF models of real shapes, for benchmarks and tests without
// downloads. Weights are random; the tokenizer can be copied from a vocabulary GGUF.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace zen::node {

class GgufFile;

// Shape and weight types of a synthetic model.
struct SynthSpec {
  std::string arch = "qwen3";  // "qwen3" or "llama"
  int n_layers = 4;
  int n_embd = 256;
  int n_head = 8;
  int n_head_kv = 2;
  int head_dim = 64;
  int n_ff = 512;
  int n_vocab = 4352;  // replaced by the vocabulary file's size when one is given
  int context_length = 40960;
  float rope_theta = 1e6f;
  bool tied_output = true;
  std::string type = "q4_k_m";  // a mix (q4_k_m) or one type name for every matrix
  uint64_t seed = 1;
};

// The spec of a named shape: qwen3-0.6b, qwen3-1.7b, qwen3-4b, qwen3-8b, tiny.
absl::StatusOr<SynthSpec> SynthPreset(std::string_view like);

// Type names --type accepts.
std::vector<std::string> SynthTypeNames();

// Writes the model to `out`. `vocab` (may be null) supplies tokenizer.* metadata.
absl::Status WriteSyntheticModel(const SynthSpec& spec, const GgufFile* vocab,
                                 const std::string& out);

}  // namespace zen::node
