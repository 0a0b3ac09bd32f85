// Whole-prompt evaluation on a full-model LayerRange: logits at every position and greedy
// continuations. Used by `zen logits`, the conformance tests and `zen bench`.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "node/layer_range.h"

namespace zen::node {

// Logits [tokens.size()][n_vocab] for every position, feeding `chunk` tokens per forward call
// (chunk <= 0: all at once). The sequence is released afterwards.
absl::StatusOr<std::vector<float>> ComputeAllLogits(LayerRange& model,
                                                    std::span<const int32_t> tokens, int64_t chunk,
                                                    uint64_t seq_id = 1);

// Index of the largest value (the first one on ties).
int32_t ArgMax(std::span<const float> values);

// Feeds the prompt, then picks n tokens greedily one at a time. The sequence is released.
absl::StatusOr<std::vector<int32_t>> GreedyContinuation(LayerRange& model,
                                                        std::span<const int32_t> prompt, int n,
                                                        uint64_t seq_id = 1);

}  // namespace zen::node
