// Parsing and validation of OpenAI-style request bodies into plain structs. Every rejection
// names the offending field, so a client can fix its request from the message alone.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/http/inference_backend.h"
#include "node/chat_template.h"

namespace zen::http {

using Json = nlohmann::ordered_json;

// An error in OpenAI's shape: {"error": {"message", "type", "param", "code"}}.
struct ApiError {
  int http_status = 400;
  std::string message;
  std::string param;  // the request field at fault; empty when none
  std::string code;   // machine-readable, e.g. "model_not_found"; empty when none
};

// OpenAI's error "type" for an HTTP status ("invalid_request_error", "server_error"...).
std::string ErrorTypeForStatus(int http_status);
// The JSON body for an error.
Json ErrorBody(const ApiError& error);
// Maps a backend status to the HTTP error a client should see (OutOfRange → 413,
// Unavailable → 503, InvalidArgument → 400, NotFound → 404, others → 500).
ApiError ApiErrorFromStatus(const absl::Status& status);

// Settings shared by /v1/chat/completions and /v1/completions.
struct CommonRequest {
  std::string model;  // empty: the backend's first model
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  // Sampling fields the client set; the rest are filled with mode defaults later.
  std::optional<float> temperature, top_p, min_p;
  std::optional<int> top_k;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  float repetition_penalty = 1.0f;
  std::optional<uint64_t> seed;
  std::optional<int> max_tokens;  // max_tokens or max_completion_tokens
  std::vector<std::string> stop;
};

// What the client asked of tool use.
enum class ToolChoice { kAuto, kNone, kRequired, kNamed };

// A validated /v1/chat/completions body.
struct ChatRequest {
  CommonRequest common;
  std::vector<node::ChatMessage> messages;
  Json tools = Json::array();  // as received, in the client's key order
  ToolChoice tool_choice = ToolChoice::kAuto;
  std::string tool_choice_name;         // with kNamed
  std::optional<bool> enable_thinking;  // chat_template_kwargs.enable_thinking
};

// A validated /v1/completions body: either text or token ids.
struct CompletionRequest {
  CommonRequest common;
  std::string prompt;
  std::vector<int32_t> prompt_tokens;  // non-empty when the client sent ids
};

// The inverse mapping, for the gRPC API: 400 → InvalidArgument, 404 → NotFound, 413 →
// OutOfRange, 503 → Unavailable, 429 → ResourceExhausted, 401 → Unauthenticated.
absl::Status StatusFromApiError(const ApiError& error);

// A tool call's serialized arguments as the chat template wants them: the JSON object, or
// the text itself when it is not JSON.
Json ToolArgumentsFromText(const std::string& text);
// Checks one message of a conversation (`path` names it, e.g. "messages[2]"): a known role
// ("developer" becomes "system"), tool calls (even an empty list, when `tool_calls_given`)
// only on assistant messages, each with a name.
std::optional<ApiError> CheckChatMessage(const std::string& path, node::ChatMessage& message,
                                         bool tool_calls_given = false);

// Parses a request body (bytes) into JSON; 400 with the parser's position on failure.
std::optional<ApiError> ParseJsonBody(const std::string& body, Json& out);
// Validates a chat body; returns the first problem, or nullopt with `out` filled.
std::optional<ApiError> ParseChatRequest(const Json& body, ChatRequest& out);
// Validates a completions body; returns the first problem, or nullopt with `out` filled.
std::optional<ApiError> ParseCompletionRequest(const Json& body, CompletionRequest& out);

// Whether the answer should think: chat_template_kwargs.enable_thinking=false always wins;
// otherwise the last /think or /no_think soft switch in a system or user message decides,
// as Qwen3 documents; otherwise thinking is on.
bool DecideThinking(const ChatRequest& request);

// Qwen3's recommended sampling (thinking: T 0.6, top-p 0.95; otherwise T 0.7, top-p 0.8;
// both top-k 20, min-p 0) overridden by whatever the client set.
SamplingParams ResolveSampling(const CommonRequest& request, bool thinking);

}  // namespace zen::http
