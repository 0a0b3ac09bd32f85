// Choosing the next token from a logits row, with llama.cpp's semantics and order:
// penalties -> top-k -> top-p -> min-p -> temperature -> random draw. Built for a
// 151,936-entry vocabulary: no full sort per token and no allocation after construction.
// Also a helper that stops a text stream on stop strings without showing their start.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace zen::node {

using TokenId = int32_t;

// How to sample. Defaults are Qwen3's recommended thinking-mode settings.
struct SamplingParams {
  float temperature = 0.6f;         // <= 0: greedy (argmax after penalties)
  int top_k = 20;                   // <= 0: no limit
  float top_p = 0.95f;              // >= 1: off
  float min_p = 0.0f;               // <= 0: off; keeps tokens with p >= min_p * p_max
  float repetition_penalty = 1.0f;  // 1: off; divides positive logits, multiplies negative
  float presence_penalty = 0.0f;    // subtracted once from every token seen
  float frequency_penalty = 0.0f;   // subtracted per occurrence
  int penalty_last_n = 64;          // how many recent tokens the penalties look at
  std::optional<uint64_t> seed;     // unset: a random seed

  // Qwen3 thinking mode (enable_thinking=true): 0.6 / top-p 0.95 / top-k 20 / min-p 0.
  static SamplingParams QwenThinking();
  // Qwen3 non-thinking mode: 0.7 / top-p 0.8 / top-k 20 / min-p 0.
  static SamplingParams QwenNonThinking();
  // Always the most likely token.
  static SamplingParams Greedy();
};

// Samples tokens for one sequence. Not thread-safe; one per sequence.
class Sampler {
 public:
  // `n_vocab` sizes the work buffers once.
  Sampler(const SamplingParams& params, int n_vocab);

  // Picks a token from `logits` (n_vocab entries). Does not record it: call Accept.
  TokenId Sample(std::span<const float> logits);
  // Records a token (generated, or from the prompt) for the penalties' window.
  void Accept(TokenId token);
  // Forgets the penalty history (the random state continues).
  void ResetHistory();

  // Applies the repetition/presence/frequency penalties for the current history to
  // `logits` in place (what Sample does first; exposed for tests and logprob reporting).
  void ApplyPenalties(std::span<float> logits) const;

  const SamplingParams& params() const { return params_; }

 private:
  struct Candidate {
    float logit;
    TokenId id;
  };

  TokenId Argmax(std::span<const float> logits) const;
  float MaxLogit() const;
  void SelectTopK(std::span<const float> logits, int k);
  void KeepTopP();
  void KeepMinP();
  void SortCandidatesPrefix(size_t needed);

  SamplingParams params_;
  int n_vocab_;
  std::mt19937_64 rng_;
  std::vector<float> penalized_;       // logits after penalties
  std::vector<Candidate> candidates_;  // the surviving tokens
  size_t sorted_prefix_ = 0;           // candidates_[0, sorted_prefix_) are sorted, highest first
  std::vector<TokenId> history_;       // ring buffer of the last penalty_last_n tokens
  size_t history_next_ = 0;
  mutable std::vector<TokenId> counting_;  // scratch for penalty counts
  std::vector<double> weights_;
};

// Watches generated text for stop strings. Text that might be the beginning of a stop
// string is held back until it is clear, so a client never sees part of one.
class StopStringMatcher {
 public:
  // Empty strings in `stops` are ignored.
  explicit StopStringMatcher(std::vector<std::string> stops);

  // What is safe to show after a Feed.
  struct Result {
    std::string text;      // to emit now
    bool stopped = false;  // a stop string was found; `text` ends right before it
  };
  // Adds newly generated text (complete UTF-8 characters). After a stop, returns nothing.
  Result Feed(std::string_view text);
  // The held-back text, when generation ends without a stop.
  std::string Flush();
  // The stop string that matched, or nullptr.
  const std::string* matched() const { return matched_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  const std::string* matched_ = nullptr;
};

}  // namespace zen::node
