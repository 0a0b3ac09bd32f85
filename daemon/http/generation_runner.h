// Runs one validated request against the backend and turns its text into OpenAI responses:
// SSE chunks for streams, one JSON object otherwise. Knows nothing of HTTP sockets; the
// server hands it a write function that reports whether the client is still there.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "daemon/http/inference_backend.h"
#include "daemon/http/openai_request.h"
#include "node/chat_output_parser.h"

namespace zen::http {

// Everything needed to run and answer one request, decided before generation starts.
struct PreparedGeneration {
  GenerateRequest request;
  bool chat = true;  // chat.completion(.chunk) shapes and output parsing; else text_completion
  bool include_usage = false;  // stream_options.include_usage
  bool starts_in_reasoning = false;
  std::vector<std::string> stop;
  std::string id;  // "chatcmpl-..." or "cmpl-..."
  int64_t created = 0;
};

// How a run ended.
struct GenerationOutcome {
  FinishReason finish = FinishReason::kNone;
  TokenUsage usage;
  std::optional<ApiError> error;  // set when finish is kError
  absl::Status failure;           // a backend failure mid-way, with its own status code
  int tool_calls = 0;
  bool client_gone = false;  // a piece could not be delivered
};

// Receives the parsed output as it becomes certain; returns false when the client is gone.
using PieceCallback = std::function<bool(const node::ChatOutputDelta&)>;

// Drives backend.Generate: applies stop strings, splits reasoning / content / tool calls
// (chat only; completions put everything in `content`), and cancels the backend when
// `on_piece` returns false, a stop string matches or `cancel` fires.
GenerationOutcome RunGeneration(InferenceBackend& backend, const PreparedGeneration& prepared,
                                CancelToken& cancel, const PieceCallback& on_piece);

// Writes raw bytes to the client; returns false when the client is gone.
using WriteCallback = std::function<bool(std::string_view)>;

// Runs the request as Server-Sent Events: `data: {chunk}\n\n` per piece, a finish chunk, an
// optional usage chunk and `data: [DONE]\n\n`. Returns false when the client went away.
bool StreamGeneration(InferenceBackend& backend, const PreparedGeneration& prepared,
                      CancelToken& cancel, const WriteCallback& write);

// Runs the request to the end and returns the whole chat.completion / text_completion
// object, or the error to send instead.
std::variant<Json, ApiError> CompleteGeneration(InferenceBackend& backend,
                                                const PreparedGeneration& prepared,
                                                CancelToken& cancel);

// A fresh random identifier: `prefix` followed by 24 hex digits ("chatcmpl-", "call_").
std::string RandomId(std::string_view prefix);

// JSON text as sent on the wire; invalid UTF-8 (never expected) becomes U+FFFD, not a throw.
std::string DumpJson(const Json& value);

}  // namespace zen::http
