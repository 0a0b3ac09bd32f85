// The C++ client of a Zen Engine cluster: talks to any zend over the public zen.v1 API.
// Depends on proto/ alone; the `zen` CLI's --host forms and apps use it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "zen/v1/zen.pb.h"

namespace zen::client {

// What to generate and how to sample it (all zero: greedy).
struct GenerateOptions {
  std::string prompt;           // text, tokenized by the entry node
  std::vector<int32_t> tokens;  // or token ids (used when non-empty)
  bool chat = false;            // wrap the prompt as one user turn of the chat template
  bool enable_thinking = true;
  int max_tokens = 0;  // 0: until end of generation or the context is full
  float temperature = 0;
  int top_k = 0;
  float top_p = 0;
  float min_p = 0;
  float presence_penalty = 0;
  float frequency_penalty = 0;
  float repetition_penalty = 0;
  uint64_t seed = 0;
  std::vector<std::string> stop;
  bool ignore_eos = false;
};

// The whole answer, when the stream has ended.
struct GenerateResult {
  std::vector<int32_t> tokens;
  std::string text;
  std::string finish_reason;  // "stop" or "length"
  int prompt_tokens = 0;
  int completion_tokens = 0;
  double prefill_ms = 0;
  double decode_ms = 0;
};

// Called for every streamed piece: new text and the tokens behind it.
using PieceCallback = std::function<void(std::string_view text, std::span<const int32_t> tokens)>;

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
  // `address` is host:port; no connection is made until the first call.
  explicit Client(const std::string& address);
  ~Client();

  // Generates and streams; errors carry the cluster's status (UNAVAILABLE names the node).
  absl::StatusOr<GenerateResult> Generate(const GenerateOptions& options,
                                          const PieceCallback& on_piece = nullptr);
  // Logits [tokens.size()][*n_vocab] for every position, fed `chunk` tokens per pass.
  absl::StatusOr<std::vector<float>> Logits(std::span<const int32_t> tokens, int chunk,
                                            int* n_vocab);
  // Sends a prompt of prompt_tokens ids and decodes generate_tokens past end-of-generation.
  absl::StatusOr<BenchResult> Bench(int prompt_tokens, int generate_tokens);
  absl::StatusOr<::zen::v1::ClusterStatus> Status();
  absl::StatusOr<::zen::v1::PlanResponse> Plan();

 private:
  struct Stubs;
  std::string address_;
  std::unique_ptr<Stubs> stubs_;
};

// Human-readable tables for `zen plan` and `zen status`.
std::string FormatPlan(const ::zen::v1::PlanResponse& plan);
std::string FormatStatus(const ::zen::v1::ClusterStatus& status);

}  // namespace zen::client
