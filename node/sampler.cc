#include "node/sampler.h"

#include <algorithm>
#include <cmath>

#include "node/utf8_stream.h"

namespace zen::node {
namespace {

// Above this k a heap scan loses to nth_element.
constexpr int kHeapTopKLimit = 512;

}  // namespace

SamplingParams SamplingParams::QwenThinking() {
  SamplingParams p;
  p.temperature = 0.6f;
  p.top_p = 0.95f;
  p.top_k = 20;
  p.min_p = 0.0f;
  return p;
}

SamplingParams SamplingParams::QwenNonThinking() {
  SamplingParams p;
  p.temperature = 0.7f;
  p.top_p = 0.8f;
  p.top_k = 20;
  p.min_p = 0.0f;
  return p;
}

SamplingParams SamplingParams::Greedy() {
  SamplingParams p;
  p.temperature = 0.0f;
  p.top_k = 1;
  p.top_p = 1.0f;
  return p;
}

Sampler::Sampler(const SamplingParams& params, int n_vocab)
    : params_(params),
      n_vocab_(n_vocab),
      rng_(params.seed.has_value() ? *params.seed : std::random_device{}()) {
  penalized_.resize(n_vocab_);
  candidates_.reserve(n_vocab_);
  weights_.reserve(n_vocab_);
  if (params_.penalty_last_n > 0) history_.reserve(params_.penalty_last_n);
}

void Sampler::Accept(TokenId token) {
  const int window = params_.penalty_last_n;
  if (window == 0) return;
  if (window < 0 || history_.size() < static_cast<size_t>(window)) {
    history_.push_back(token);
    return;
  }
  history_[history_next_] = token;
  history_next_ = (history_next_ + 1) % history_.size();
}

void Sampler::ResetHistory() {
  history_.clear();
  history_next_ = 0;
}

void Sampler::ApplyPenalties(std::span<float> logits) const {
  const float repeat = params_.repetition_penalty;
  const float frequency = params_.frequency_penalty;
  const float presence = params_.presence_penalty;
  if (history_.empty() || (repeat == 1.0f && frequency == 0.0f && presence == 0.0f)) return;
  counting_.assign(history_.begin(), history_.end());
  std::sort(counting_.begin(), counting_.end());
  for (size_t i = 0; i < counting_.size();) {
    const TokenId id = counting_[i];
    size_t count = 0;
    while (i < counting_.size() && counting_[i] == id) ++i, ++count;
    if (id < 0 || static_cast<size_t>(id) >= logits.size()) continue;
    float& logit = logits[id];
    // llama.cpp's rule: the repeat penalty always pushes the logit towards "less likely",
    // whatever its sign; presence and frequency are OpenAI's additive penalties.
    if (repeat != 1.0f) logit = logit <= 0.0f ? logit * repeat : logit / repeat;
    logit -= static_cast<float>(count) * frequency + presence;
  }
}

TokenId Sampler::Argmax(std::span<const float> logits) const {
  return static_cast<TokenId>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

void Sampler::SelectTopK(std::span<const float> logits, int k) {
  candidates_.clear();
  const auto higher = [](const Candidate& a, const Candidate& b) { return a.logit > b.logit; };
  if (k <= kHeapTopKLimit) {
    // A min-heap of the best k seen: one pass, and after the first few hundred logits almost
    // every entry is rejected by a single comparison.
    for (size_t i = 0; i < logits.size(); ++i) {
      if (candidates_.size() < static_cast<size_t>(k)) {
        candidates_.push_back({logits[i], static_cast<TokenId>(i)});
        std::push_heap(candidates_.begin(), candidates_.end(), higher);
      } else if (logits[i] > candidates_.front().logit) {
        std::pop_heap(candidates_.begin(), candidates_.end(), higher);
        candidates_.back() = {logits[i], static_cast<TokenId>(i)};
        std::push_heap(candidates_.begin(), candidates_.end(), higher);
      }
    }
    std::sort_heap(candidates_.begin(), candidates_.end(), higher);
  } else {
    for (size_t i = 0; i < logits.size(); ++i) {
      candidates_.push_back({logits[i], static_cast<TokenId>(i)});
    }
    std::nth_element(candidates_.begin(), candidates_.begin() + k, candidates_.end(), higher);
    candidates_.resize(k);
    std::sort(candidates_.begin(), candidates_.end(), higher);
  }
  sorted_prefix_ = candidates_.size();
}

void Sampler::SortCandidatesPrefix(size_t needed) {
  needed = std::min(needed, candidates_.size());
  if (needed <= sorted_prefix_) return;
  const auto higher = [](const Candidate& a, const Candidate& b) { return a.logit > b.logit; };
  // The sorted prefix already holds the best entries, so only the rest needs selecting.
  auto begin = candidates_.begin() + sorted_prefix_;
  auto middle = candidates_.begin() + needed;
  if (middle != candidates_.end()) std::nth_element(begin, middle, candidates_.end(), higher);
  std::sort(begin, middle, higher);
  sorted_prefix_ = needed;
}

float Sampler::MaxLogit() const {
  if (sorted_prefix_ > 0) return candidates_[0].logit;
  float max_logit = candidates_[0].logit;
  for (const Candidate& c : candidates_) max_logit = std::max(max_logit, c.logit);
  return max_logit;
}

void Sampler::KeepTopP() {
  if (params_.top_p >= 1.0f || candidates_.size() <= 1) return;
  const float max_logit = MaxLogit();

  if (sorted_prefix_ < candidates_.size()) {
    // Unsorted (no top-k before): bucket the probability mass by logit, find the bucket where
    // the running mass crosses top_p, and sort only that bucket. Everything above it is in
    // the nucleus, everything below is out: O(n) instead of sorting the vocabulary.
    constexpr int kBuckets = 1024;
    float min_logit = max_logit;
    for (const Candidate& c : candidates_) min_logit = std::min(min_logit, c.logit);
    const float range = max_logit - min_logit;
    const float scale = range > 0.0f ? (kBuckets - 1) / range : 0.0f;
    auto bucket_of = [&](float logit) {
      return std::min(kBuckets - 1, static_cast<int>((max_logit - logit) * scale));
    };
    double mass[kBuckets] = {};
    double total = 0.0;
    for (const Candidate& c : candidates_) {
      const double p = std::exp(c.logit - max_logit);
      mass[bucket_of(c.logit)] += p;
      total += p;
    }
    const double target = params_.top_p * total;
    double above = 0.0;
    int cut = 0;
    while (cut < kBuckets - 1 && above + mass[cut] < target) above += mass[cut++];
    auto middle = std::partition(candidates_.begin(), candidates_.end(),
                                 [&](const Candidate& c) { return bucket_of(c.logit) < cut; });
    auto end = std::partition(middle, candidates_.end(),
                              [&](const Candidate& c) { return bucket_of(c.logit) == cut; });
    std::sort(middle, end,
              [](const Candidate& a, const Candidate& b) { return a.logit > b.logit; });
    auto keep = middle;
    double cumulative = above;
    while (keep != end && cumulative < target) cumulative += std::exp((keep++)->logit - max_logit);
    candidates_.erase(keep, candidates_.end());
    sorted_prefix_ = middle == candidates_.begin() ? candidates_.size() : 0;
    return;
  }
  double total = 0.0;
  for (const Candidate& c : candidates_) total += std::exp(c.logit - max_logit);
  const double target = params_.top_p * total;
  double cumulative = 0.0;
  size_t kept = 0;
  while (kept < candidates_.size()) {
    if (kept == sorted_prefix_) SortCandidatesPrefix(std::max<size_t>(64, sorted_prefix_ * 4));
    cumulative += std::exp(candidates_[kept].logit - max_logit);
    ++kept;
    if (cumulative >= target) break;
  }
  candidates_.resize(kept);
  sorted_prefix_ = std::min(sorted_prefix_, kept);
}

void Sampler::KeepMinP() {
  if (params_.min_p <= 0.0f || candidates_.size() <= 1) return;
  // p >= min_p * p_max  <=>  logit >= max_logit + log(min_p), without a softmax.
  const float threshold = MaxLogit() + std::log(params_.min_p);
  size_t kept_sorted = 0;
  while (kept_sorted < sorted_prefix_ && candidates_[kept_sorted].logit >= threshold) {
    ++kept_sorted;
  }
  if (kept_sorted < sorted_prefix_) {
    // The sorted prefix holds the best tokens, so nothing after the cut can pass either.
    candidates_.resize(kept_sorted);
  } else {
    auto tail = std::remove_if(candidates_.begin() + sorted_prefix_, candidates_.end(),
                               [&](const Candidate& c) { return c.logit < threshold; });
    candidates_.erase(tail, candidates_.end());
  }
  sorted_prefix_ = std::min(sorted_prefix_, candidates_.size());
}

TokenId Sampler::Sample(std::span<const float> logits) {
  if (logits.empty()) return -1;
  std::span<const float> row = logits;
  const bool penalize =
      !history_.empty() && (params_.repetition_penalty != 1.0f ||
                            params_.frequency_penalty != 0.0f || params_.presence_penalty != 0.0f);
  if (penalize) {
    penalized_.assign(logits.begin(), logits.end());
    ApplyPenalties(penalized_);
    row = penalized_;
  }
  if (params_.temperature <= 0.0f || params_.top_k == 1) return Argmax(row);

  if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < row.size()) {
    SelectTopK(row, params_.top_k);
  } else {
    candidates_.clear();
    for (size_t i = 0; i < row.size(); ++i) {
      candidates_.push_back({row[i], static_cast<TokenId>(i)});
    }
    sorted_prefix_ = 0;
  }
  KeepTopP();
  KeepMinP();

  // Temperature last, as llama.cpp orders it: the filters above see untempered logits.
  const float max_logit = MaxLogit();
  const double inv_temperature = 1.0 / params_.temperature;
  weights_.clear();
  double total = 0.0;
  for (const Candidate& c : candidates_) {
    const double w = std::exp((static_cast<double>(c.logit) - max_logit) * inv_temperature);
    weights_.push_back(w);
    total += w;
  }
  // 53 random bits -> a double in [0, 1): the same draw on every platform for a given seed.
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53 * total;
  double cumulative = 0.0;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    cumulative += weights_[i];
    if (u < cumulative) return candidates_[i].id;
  }
  return candidates_.back().id;
}

StopStringMatcher::StopStringMatcher(std::vector<std::string> stops) {
  for (std::string& stop : stops) {
    if (!stop.empty()) stops_.push_back(std::move(stop));
  }
}

StopStringMatcher::Result StopStringMatcher::Feed(std::string_view text) {
  Result result;
  if (matched_ != nullptr) return result;
  pending_.append(text);
  size_t first = std::string::npos;
  for (const std::string& stop : stops_) {
    const size_t at = pending_.find(stop);
    if (at < first) {
      first = at;
      matched_ = &stop;
    }
  }
  if (matched_ != nullptr) {
    result.text = pending_.substr(0, first);
    result.stopped = true;
    pending_.clear();
    return result;
  }
  size_t hold = 0;
  for (const std::string& stop : stops_) hold = std::max(hold, PartialSuffixLength(pending_, stop));
  result.text = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return result;
}

std::string StopStringMatcher::Flush() {
  std::string out;
  out.swap(pending_);
  return out;
}

}  // namespace zen::node
