// The C++ client of a Zen Engine cluster: talks to any zend over the public zen.v1 API.
// Depends on proto/ alone; the `zen` CLI's --host forms and apps use it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "zen/v1/zen.pb.h"

namespace grpc {
class ClientContext;
}  // namespace grpc

namespace zen::client {

// How to pick tokens; zero top_p / repetition_penalty mean off, temperature 0 greedy.
struct Sampling {
  float temperature = 0;
  int top_k = 0;
  float top_p = 0;
  float min_p = 0;
  float presence_penalty = 0;
  float frequency_penalty = 0;
  float repetition_penalty = 0;
  uint64_t seed = 0;
};

// What to generate and how to sample it (all zero: greedy).
struct GenerateOptions {
  std::string prompt;           // text, tokenized by the entry node
  std::vector<int32_t> tokens;  // or token ids (used when non-empty)
  bool chat = false;            // wrap the prompt as one user turn of the chat template
  bool enable_thinking = true;
  int max_tokens = 0;  // 0: until end of generation or the context is full
  Sampling sampling;   // all zero: greedy
  std::vector<std::string> stop;
  bool ignore_eos = false;
  std::string model;  // empty: the model the cluster serves
};

// The whole answer, when the stream has ended.
struct GenerateResult {
  std::string request_id;  // what Cancel takes
  std::vector<int32_t> tokens;
  std::string text;
  std::string finish_reason;  // "stop", "length" or "cancelled"
  int prompt_tokens = 0;
  int completion_tokens = 0;
  double prefill_ms = 0;
  double decode_ms = 0;
};

// Called for every streamed piece: new text and the tokens behind it.
using PieceCallback = std::function<void(std::string_view text, std::span<const int32_t> tokens)>;

// A function call the assistant made (or makes, in a streamed answer).
struct ToolCall {
  std::string id;
  std::string name;
  std::string arguments_json;  // a JSON object, serialized
};

// A function the model may call.
struct Tool {
  std::string name;
  std::string description;
  std::string parameters_json;  // JSON Schema of the arguments; empty: none
};

// One turn of a conversation.
struct ChatMessage {
  std::string role;  // "system", "user", "assistant" or "tool"
  std::string content;
  std::optional<std::string> reasoning_content;  // assistant: its earlier thinking
  std::vector<ToolCall> tool_calls;              // assistant: the calls it made
  std::string tool_call_id;                      // tool: the call this result answers
};

// A message of just a role and its text.
ChatMessage TextMessage(std::string role, std::string content);

// A conversation to answer.
struct ChatOptions {
  std::string model;  // empty: the model the cluster serves
  std::vector<ChatMessage> messages;
  std::vector<Tool> tools;
  bool no_tools = false;                // hide `tools` from the model
  std::optional<bool> enable_thinking;  // unset: /think and /no_think in messages decide
  int max_tokens = 0;                   // 0: until the answer ends or the context is full
  std::optional<Sampling> sampling;     // unset: Qwen3's recommended thinking-mode sampling
  std::vector<std::string> stop;
  int timeout_ms = 0;  // > 0: the call's gRPC deadline
};

// One streamed piece of the answer. The first carries only request_id.
struct ChatDelta {
  std::string request_id;
  std::string reasoning;
  std::string content;
  std::vector<ToolCall> tool_calls;
  std::vector<std::string> warnings;  // malformed <tool_call> blocks shown as content
};

// The whole assistant message, when the stream has ended.
struct ChatResult {
  std::string request_id;
  std::string reasoning;
  std::string content;
  std::vector<ToolCall> tool_calls;
  std::vector<std::string> warnings;
  std::string finish_reason;  // "stop", "length", "tool_calls" or "cancelled"
  int prompt_tokens = 0;
  int completion_tokens = 0;
  double prefill_ms = 0;  // to the first delta
  double decode_ms = 0;
};

// Called for every streamed piece; returning false abandons the call (the server then
// stops and frees the request's memory), and Chat returns CANCELLED.
using ChatCallback = std::function<bool(const ChatDelta& delta)>;

// What Tokenize returns.
struct TokenizeResult {
  std::vector<int32_t> ids;
  std::vector<std::string> pieces;  // with_pieces: the bytes of each token
};

// Prefill and decode speed measured through the cluster.
struct BenchResult {
  int prompt_tokens = 0;
  int generated_tokens = 0;
  double prefill_tokens_per_second = 0;
  double decode_tokens_per_second = 0;
};

// A connection to one zend (the entry for this client's requests).
class Client {
 public:
  // `address` is host:port; no connection is made until the first call. `api_key` is sent
  // with every call (a zend whose client API listens beyond loopback requires one); empty:
  // the ZEN_API_KEY environment variable, if set (as the openai SDKs read OPENAI_API_KEY).
  explicit Client(const std::string& address, std::string api_key = "");
  ~Client();

  // Generates and streams; errors carry the cluster's status (UNAVAILABLE names the node).
  absl::StatusOr<GenerateResult> Generate(const GenerateOptions& options,
                                          const PieceCallback& on_piece = nullptr);
  // Logits [tokens.size()][*n_vocab] for every position, fed `chunk` tokens per pass.
  absl::StatusOr<std::vector<float>> Logits(std::span<const int32_t> tokens, int chunk,
                                            int* n_vocab);
  // Sends a prompt of prompt_tokens ids and decodes generate_tokens past end-of-generation.
  absl::StatusOr<BenchResult> Bench(int prompt_tokens, int generate_tokens);
  // Answers a conversation with the model's chat template, streaming reasoning, answer and
  // tool calls apart.
  absl::StatusOr<ChatResult> Chat(const ChatOptions& options,
                                  const ChatCallback& on_delta = nullptr);
  // Text to token ids with the model's tokenizer (special-token text such as <|im_start|>
  // parsed unless no_special).
  absl::StatusOr<TokenizeResult> Tokenize(const std::string& text, bool no_special = false,
                                          bool with_pieces = false);
  // Token ids to text.
  absl::StatusOr<std::string> Detokenize(std::span<const int32_t> ids);
  // The models the cluster serves.
  absl::StatusOr<std::vector<::zen::v1::ModelInfo>> ListModels();
  // Stops a running Generate or Chat by the id its first message carried.
  absl::Status Cancel(const std::string& request_id);
  absl::StatusOr<::zen::v1::ClusterStatus> Status();
  absl::StatusOr<::zen::v1::PlanResponse> Plan();

 private:
  // Adds the API key to a call.
  void Authorize(grpc::ClientContext& context) const;
  struct Stubs;
  // One Tokenize call, for both directions.
  absl::StatusOr<::zen::v1::TokenizeResponse> CallTokenize(
      const ::zen::v1::TokenizeRequest& request);

  std::string address_;
  std::string api_key_;
  std::unique_ptr<Stubs> stubs_;
};

// "stop", "length", "tool_calls", "cancelled" or "" (not finished).
std::string FinishReasonName(::zen::v1::FinishReason reason);

// Human-readable tables for `zen plan` and `zen status`.
std::string FormatPlan(const ::zen::v1::PlanResponse& plan);
std::string FormatStatus(const ::zen::v1::ClusterStatus& status);

}  // namespace zen::client
