// Text generation on one machine: prompt in, streamed UTF-8 text out, on a LayerRange that
// holds every layer. The cluster's entry node runs the same loop over the pipeline instead.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "node/bpe_tokenizer.h"
#include "node/layer_range.h"
#include "node/sampler.h"

namespace zen::node {

// What to generate and when to stop.
struct GenerateOptions {
  int max_tokens = 256;
  SamplingParams sampling;
  std::vector<std::string> stop;  // stop strings (not emitted)
  bool stop_at_eog = true;        // end on the tokenizer's end-of-generation tokens
  int64_t prefill_chunk = 512;    // prompt tokens per forward call
};

// Counts and timings of one generation.
struct GenerateResult {
  int prompt_tokens = 0;
  int completion_tokens = 0;
  std::string finish_reason;  // "stop", "length" or "cancelled"
  double prefill_seconds = 0;
  double decode_seconds = 0;
};

// Generates after `prompt`, calling on_text with each new piece of complete UTF-8 text;
// on_text returning false cancels. The sequence's cache is released at the end.
absl::StatusOr<GenerateResult> Generate(LayerRange& model, const BpeTokenizer& tokenizer,
                                        std::span<const TokenId> prompt,
                                        const GenerateOptions& options,
                                        const std::function<bool(std::string_view)>& on_text,
                                        uint64_t seq_id = 1);

}  // namespace zen::node
