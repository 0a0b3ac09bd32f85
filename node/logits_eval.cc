#include "node/logits_eval.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace zen::node {

int32_t ArgMax(std::span<const float> values) {
  return static_cast<int32_t>(std::max_element(values.begin(), values.end()) - values.begin());
}

absl::StatusOr<std::vector<float>> ComputeAllLogits(LayerRange& model,
                                                    std::span<const int32_t> tokens, int64_t chunk,
                                                    uint64_t seq_id) {
  if (!model.is_first() || !model.is_last()) {
    return absl::FailedPreconditionError("logits need a model holding every layer");
  }
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int64_t n_vocab = model.config().n_vocab;
  if (chunk <= 0) chunk = n;
  std::vector<float> logits(static_cast<size_t>(n * n_vocab));
  std::vector<BatchRow> rows;
  model.ReleaseSequence(seq_id);
  for (int64_t start = 0; start < n; start += chunk) {
    const int64_t end = std::min(n, start + chunk);
    rows.clear();
    for (int64_t i = start; i < end; ++i) rows.push_back({seq_id, i, tokens[i], true});
    absl::Status s = model.Forward(rows, nullptr, nullptr, logits.data() + start * n_vocab);
    if (!s.ok()) {
      model.ReleaseSequence(seq_id);
      return s;
    }
  }
  model.ReleaseSequence(seq_id);
  return logits;
}

absl::StatusOr<std::vector<int32_t>> GreedyContinuation(LayerRange& model,
                                                        std::span<const int32_t> prompt, int n,
                                                        uint64_t seq_id) {
  if (prompt.empty()) return absl::InvalidArgumentError("empty prompt");
  const int64_t n_vocab = model.config().n_vocab;
  std::vector<float> logits(static_cast<size_t>(n_vocab));
  std::vector<BatchRow> rows;
  model.ReleaseSequence(seq_id);
  for (size_t i = 0; i < prompt.size(); ++i) {
    rows.push_back({seq_id, static_cast<int64_t>(i), prompt[i], i + 1 == prompt.size()});
  }
  std::vector<int32_t> out;
  absl::Status s = model.Forward(rows, nullptr, nullptr, logits.data());
  int64_t pos = static_cast<int64_t>(prompt.size());
  while (s.ok() && static_cast<int>(out.size()) < n) {
    out.push_back(ArgMax(logits));
    if (static_cast<int>(out.size()) == n) break;
    const BatchRow row{seq_id, pos++, out.back(), true};
    s = model.Forward({&row, 1}, nullptr, nullptr, logits.data());
  }
  model.ReleaseSequence(seq_id);
  if (!s.ok()) return s;
  return out;
}

}  // namespace zen::node
