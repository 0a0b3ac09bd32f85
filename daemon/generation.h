// The entry side of one generation: prefill the prompt, then decode token by token through
// the pipeline, turning tokens into text. Shared by the gRPC Inference service and the HTTP
// backend so both run exactly the same loop.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "daemon/node_daemon.h"

namespace zen::daemon {

// What one generation is asked to do; the caller has checked prompt and context.
struct GenerationSpec {
  std::vector<int32_t> prompt;
  pb::SamplingParams sampling;
  int64_t max_new_tokens = 0;  // > 0
  std::vector<std::string> stop;
  bool ignore_eos = false;
  // Polled between pipeline passes (prefill chunks and decode steps); true stops the
  // generation, which then ends as kCancelled. Empty: only on_piece can stop it.
  std::function<bool()> cancelled;
  std::string request_id;  // names the request in logs
};

// One generated token and the text that became safe to show with it (may be empty).
struct GeneratedPiece {
  int32_t token = -1;
  std::string text;
  bool end_of_generation = false;  // `token` is an end-of-generation token (text is empty)
};

// How a generation ended.
struct GenerationOutcome {
  enum class Finish { kStop, kLength, kCancelled };
  Finish finish = Finish::kLength;
  int completion_tokens = 0;
  double prefill_ms = 0;
  double decode_ms = 0;
};

// Called once per piece; returning false cancels the generation.
using PieceCallback = std::function<bool(const GeneratedPiece&)>;

// Runs `spec` over `view`. The sequence's KV-cache is released on every node before this
// returns, however it ends. With DaemonConfig::log_prompts the prompt and the answer text
// are logged at info level; otherwise no text of the request reaches the log. A non-OK status after
// pieces were delivered means the pipeline failed mid-way (outcome->completion_tokens tells how far
// it got).
absl::Status RunGeneration(NodeDaemon& daemon, std::shared_ptr<const PipelineView> view,
                           const GenerationSpec& spec, const PieceCallback& on_piece,
                           GenerationOutcome* outcome);

// Checks that a prompt is non-empty and every id is in [0, n_vocab).
absl::Status CheckPromptTokens(const std::vector<int32_t>& tokens, int n_vocab);

}  // namespace zen::daemon
