// The contract between the OpenAI-compatible HTTP server and whatever generates text (the
// zend pipeline coordinator, or a fake in tests). The HTTP layer renders chat messages into
// a prompt, tokenizes it through the backend, enforces stop strings and parses <think> and
// <tool_call> output itself, so a backend only has to turn prompt tokens into text.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "node/chat_template.h"
#include "node/sampler.h"

namespace zen::http {

// One machine of the cluster as /health reports it.
struct NodeStatus {
  std::string name;
  std::string address;
  std::string state;     // free text, e.g. "ready", "loading", "unreachable"
  int first_layer = -1;  // -1: holds no slice
  int last_layer = -1;
};

// Whether the backend can take requests now, and the machines behind it.
struct BackendStatus {
  bool ready = false;
  std::string detail;  // why not ready, or a short summary; shown to clients
  std::vector<NodeStatus> nodes;
};

// A model the backend serves; `id` is what clients put in the "model" field.
struct ModelInfo {
  std::string id;
  int64_t created = 0;  // unix seconds (e.g. the file's mtime); 0 when unknown
  std::string owned_by = "zen";
  int context_length = 0;
};

// Sampling settings (node::Sampler's), already validated and defaulted by the HTTP layer.
using SamplingParams = node::SamplingParams;

// What to generate from. The HTTP layer always fills prompt_tokens (it tokenizes through
// Backend::Tokenize to check the context length); prompt_text is kept for logging.
struct GenerateRequest {
  std::string model;  // a ModelInfo::id
  std::vector<int32_t> prompt_tokens;
  std::string prompt_text;
  std::string request_id;  // names the request in the daemon's logs
  SamplingParams sampling;
  // Upper bound on generated tokens; the HTTP layer guarantees
  // prompt_tokens.size() + max_tokens <= ContextLength().
  int max_tokens = 0;
};

// Why generation ended.
enum class FinishReason {
  kNone,       // not finished (every event but the last)
  kStop,       // an end-of-generation token
  kLength,     // max_tokens or the context filled up
  kCancelled,  // on_event returned false or the CancelToken fired
  kError,      // failed mid-way; GenerateEvent::error says why
};

// Token counts so far for one request.
struct TokenUsage {
  int prompt_tokens = 0;
  int completion_tokens = 0;
};

// One step of a generation as the backend reports it.
struct GenerateEvent {
  // Newly generated text: whole UTF-8 characters only (node::TokenStreamDecoder gives
  // that), special tokens such as <|im_end|> left out. May be empty.
  std::string text;
  FinishReason finish = FinishReason::kNone;  // != kNone on the last event only
  std::string error;                          // with kError: a message for the client
  // With kError: the failure's status code (UNAVAILABLE for a lost node), which the gRPC
  // API passes on; HTTP answers 500 whatever it is.
  absl::StatusCode error_code = absl::StatusCode::kInternal;
  TokenUsage usage;  // running totals, including this event
};

// Set by the HTTP layer to ask a running generation to stop (server shutdown, or the
// client went away while no event was being written). Thread-safe.
class CancelToken {
 public:
  // Asks the generation to stop; idempotent.
  void Cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  // True once Cancel() was called or the probe says so; backends poll it between steps (per
  // prefill chunk and per decoded token).
  bool cancelled() const {
    return cancelled_.load(std::memory_order_relaxed) || (probe_ && probe_());
  }
  // An extra condition cancelled() checks, such as a gRPC call's deadline or disconnect;
  // set it before the generation starts. The probe must be thread-safe.
  void SetProbe(std::function<bool()> probe) { probe_ = std::move(probe); }

 private:
  std::atomic<bool> cancelled_{false};
  std::function<bool()> probe_;
};

// Called for each GenerateEvent; returning false means "stop now": the client disconnected,
// a stop string matched, or the server is shutting down.
using GenerateCallback = std::function<bool(const GenerateEvent&)>;

// What the daemon implements so the HTTP server can serve it. Every method is called
// concurrently from the server's worker threads and must be thread-safe.
class InferenceBackend {
 public:
  virtual ~InferenceBackend() = default;

  // Readiness and the machines behind it; cheap, called by /health and before each
  // generation.
  virtual BackendStatus Health() = 0;
  // The models clients may name (usually one); never empty when Health().ready.
  virtual std::vector<ModelInfo> Models() = 0;
  // Tokens a sequence may hold (prompt + generated) for `model`.
  virtual int ContextLength(const std::string& model) = 0;
  // The chat format of `model` (node::ChatTemplate::FromGguf of its file).
  virtual node::ChatTemplate ChatTemplateFor(const std::string& model) = 0;
  // Prompt text to token ids with special tokens (<|im_start|>) parsed, no BOS added
  // unless the model's vocabulary asks for one.
  virtual absl::StatusOr<std::vector<int32_t>> Tokenize(const std::string& model,
                                                        std::string_view text) = 0;

  // Runs one request to completion, blocking the calling thread.
  //
  // Calls on_event sequentially (never concurrently for one request, from any thread,
  // never after returning): zero or more events with finish == kNone, then exactly one
  // with finish != kNone carrying the final usage.
  //
  // Cancellation: when on_event returns false, or `cancel.cancelled()` becomes true, the
  // backend must stop generating promptly (within one decode step), release the
  // sequence's KV-cache on every node, call on_event no more, and return. This is how a
  // client that disconnects mid-stream frees the cluster's memory.
  //
  // Returns a non-OK status only when the request could not start (no event was sent):
  // InvalidArgument (bad prompt), OutOfRange (longer than the context), Unavailable (not
  // ready), ResourceExhausted (no KV room). Failures after the first event are reported by
  // a final event with kError.
  virtual absl::Status Generate(const GenerateRequest& request, const GenerateCallback& on_event,
                                CancelToken& cancel) = 0;
};

}  // namespace zen::http
