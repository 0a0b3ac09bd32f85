#include "node/generator.h"

#include <algorithm>
#include <chrono>

#include "node/utf8_stream.h"

namespace zen::node {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

absl::StatusOr<GenerateResult> Generate(LayerRange& model, const BpeTokenizer& tokenizer,
                                        std::span<const TokenId> prompt,
                                        const GenerateOptions& options,
                                        const std::function<bool(std::string_view)>& on_text,
                                        uint64_t seq_id) {
  if (!model.is_first() || !model.is_last()) {
    return absl::FailedPreconditionError("generation needs a model holding every layer");
  }
  if (prompt.empty()) return absl::InvalidArgumentError("the prompt has no tokens");
  const int64_t n_vocab = model.config().n_vocab;
  GenerateResult result;
  result.prompt_tokens = static_cast<int>(prompt.size());

  std::vector<float> logits(static_cast<size_t>(n_vocab));
  std::vector<BatchRow> rows;
  model.ReleaseSequence(seq_id);
  const auto prefill_start = std::chrono::steady_clock::now();
  const int64_t chunk = std::max<int64_t>(1, options.prefill_chunk);
  const int64_t n_prompt = static_cast<int64_t>(prompt.size());
  for (int64_t begin = 0; begin < n_prompt; begin += chunk) {
    const int64_t end = std::min(n_prompt, begin + chunk);
    rows.clear();
    for (int64_t i = begin; i < end; ++i) rows.push_back({seq_id, i, prompt[i], i + 1 == n_prompt});
    absl::Status s = model.Forward(rows, nullptr, nullptr, logits.data());
    if (!s.ok()) {
      model.ReleaseSequence(seq_id);
      return s;
    }
  }
  result.prefill_seconds = SecondsSince(prefill_start);

  Sampler sampler(options.sampling, static_cast<int>(n_vocab));
  for (TokenId t : prompt) sampler.Accept(t);
  TokenStreamDecoder decoder(tokenizer);
  StopStringMatcher stops(options.stop);
  const auto decode_start = std::chrono::steady_clock::now();
  int64_t pos = n_prompt;
  result.finish_reason = "length";
  auto emit = [&](const std::string& text) { return text.empty() || on_text(text); };
  while (result.completion_tokens < options.max_tokens) {
    const TokenId token = sampler.Sample(logits);
    sampler.Accept(token);
    ++result.completion_tokens;
    if (options.stop_at_eog && tokenizer.IsEog(token)) {
      result.finish_reason = "stop";
      break;
    }
    const StopStringMatcher::Result piece = stops.Feed(decoder.Feed(token));
    if (!emit(piece.text)) {
      result.finish_reason = "cancelled";
      break;
    }
    if (piece.stopped) {
      result.finish_reason = "stop";
      break;
    }
    if (result.completion_tokens == options.max_tokens) break;
    if (pos >= model.max_context()) break;  // the context is full: finish as "length"
    const BatchRow row{seq_id, pos++, token, true};
    absl::Status s = model.Forward({&row, 1}, nullptr, nullptr, logits.data());
    if (!s.ok()) {
      model.ReleaseSequence(seq_id);
      return s;
    }
  }
  if (result.finish_reason != "cancelled" && stops.matched() == nullptr) {
    const StopStringMatcher::Result tail = stops.Feed(decoder.Flush());
    emit(tail.text + (tail.stopped ? "" : stops.Flush()));
  }
  result.decode_seconds = SecondsSince(decode_start);
  model.ReleaseSequence(seq_id);
  return result;
}

}  // namespace zen::node
