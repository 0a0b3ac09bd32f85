// Picks the next token from one logits row on the last node, with per-sequence state
// (seeded random stream, token counts for penalties).
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <unordered_map>
#include <vector>

#include "zen/node/v1/node.pb.h"

namespace zen::daemon {

// The sampling state of one sequence.
class RowSampler {
 public:
  explicit RowSampler(const node::v1::SamplingParams& params);

  // Records a token of the sequence (prompt or generated) for the penalties.
  void Observe(int32_t token);
  // Picks a token from `logits` (modified in place by penalties and temperature).
  int32_t Sample(std::span<float> logits);

 private:
  node::v1::SamplingParams params_;
  std::mt19937_64 rng_;
  std::unordered_map<int32_t, int> counts_;
  std::vector<std::pair<float, int32_t>> candidates_;
};

}  // namespace zen::daemon
