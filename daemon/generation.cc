#include "daemon/generation.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "daemon/sequence_runner.h"
#include "daemon/text_side.h"
#include "spdlog/spdlog.h"

namespace zen::daemon {
namespace {

using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// Counts only, never text: operators (and tests) see that a request stopped early.
void LogEarlyStop(const GenerationSpec& spec, const GenerationOutcome& outcome) {
  spdlog::info(
      "request {}: stopped early after {} generated tokens (cancelled, deadline "
      "passed, client gone or stop string); its KV-cache is released",
      spec.request_id, outcome.completion_tokens);
}

}  // namespace

absl::Status CheckPromptTokens(const std::vector<int32_t>& tokens, int n_vocab) {
  if (tokens.empty()) return absl::InvalidArgumentError("the prompt is empty");
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= n_vocab) {
      return absl::InvalidArgumentError(absl::StrCat(
          "token ", tokens[i], " at index ", i, " is outside the vocabulary [0, ", n_vocab, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status RunGeneration(NodeDaemon& daemon, std::shared_ptr<const PipelineView> view,
                           const GenerationSpec& spec, const PieceCallback& on_piece,
                           GenerationOutcome* outcome) {
  *outcome = GenerationOutcome{};
  pb::SequenceOptions options;
  *options.mutable_sampling() = spec.sampling;
  // The runner's destructor releases the sequence on every node, so every return below
  // (cancellation included) frees the cluster's KV-cache.
  SequenceRunner runner(std::move(view), daemon.NewSequenceId(), options,
                        daemon.config().request_timeout_ms);
  const TextSide& text = daemon.text();
  const bool log_text = daemon.config().log_prompts;
  if (log_text) {
    auto prompt_text = text.Detokenize(spec.prompt);
    spdlog::info("request {}: prompt ({} tokens): {}", spec.request_id, spec.prompt.size(),
                 prompt_text.ok() ? *prompt_text : std::string(prompt_text.status().message()));
  }
  const auto is_cancelled = [&] { return spec.cancelled && spec.cancelled(); };
  const auto start = Clock::now();
  auto futures = runner.Feed(spec.prompt, /*want_all=*/false);
  absl::StatusOr<pb::ForwardResponse> result;
  for (auto& f : futures) {
    // Batches already sent finish on their own; the release queued behind them by the
    // runner's destructor then frees what they filled.
    if (is_cancelled()) {
      outcome->finish = GenerationOutcome::Finish::kCancelled;
      LogEarlyStop(spec, *outcome);
      return absl::OkStatus();
    }
    result = runner.Wait(f);
    if (!result.ok()) return result.status();
  }
  outcome->prefill_ms = MsSince(start);
  std::string answer;  // kept only for the log
  const auto decode_start = Clock::now();
  TextStream stream(text.NewStream(spec.stop));
  for (int64_t n = 0; n < spec.max_new_tokens; ++n) {
    if (result->results_size() != 1) {
      return absl::InternalError(
          absl::StrCat("the last node returned ", result->results_size(), " results for one row"));
    }
    const int32_t token = result->results(0).token();
    ++outcome->completion_tokens;
    const bool eog = !spec.ignore_eos && text.IsEndOfGeneration(token);
    GeneratedPiece piece{token, "", eog};
    bool stop_hit = false;
    if (!eog) piece.text = stream.Add(token, &stop_hit);
    const bool last = eog || stop_hit || n + 1 == spec.max_new_tokens;
    if (last && !eog && !stop_hit) piece.text += stream.Flush();
    if (eog || stop_hit) outcome->finish = GenerationOutcome::Finish::kStop;
    if (log_text) answer += piece.text;
    if (!on_piece(piece) || (!last && is_cancelled())) {
      outcome->finish = GenerationOutcome::Finish::kCancelled;
      break;
    }
    if (last) break;
    const int32_t next[] = {token};
    auto next_future = runner.Feed(next, false);
    result = runner.Wait(next_future[0]);
    if (!result.ok()) return result.status();
  }
  outcome->decode_ms = MsSince(decode_start);
  if (outcome->finish == GenerationOutcome::Finish::kCancelled) LogEarlyStop(spec, *outcome);
  if (log_text) {
    spdlog::info("request {}: answer ({} tokens): {}", spec.request_id, outcome->completion_tokens,
                 answer);
  }
  return absl::OkStatus();
}

}  // namespace zen::daemon
