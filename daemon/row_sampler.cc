#include "daemon/row_sampler.h"

#include <algorithm>
#include <cmath>

namespace zen::daemon {

RowSampler::RowSampler(const node::v1::SamplingParams& params)
    : params_(params), rng_(params.seed()) {}

void RowSampler::Observe(int32_t token) {
  ++counts_[token];
}

int32_t RowSampler::Sample(std::span<float> logits) {
  if (logits.empty()) return 0;
  // Penalties as llama.cpp applies them: repetition divides positive logits (multiplies
  // negative ones), presence and frequency subtract.
  const float rep = params_.repetition_penalty();
  for (const auto& [token, count] : counts_) {
    if (token < 0 || static_cast<size_t>(token) >= logits.size()) continue;
    float& l = logits[token];
    if (rep > 0 && rep != 1) l = l > 0 ? l / rep : l * rep;
    l -= params_.presence_penalty() + params_.frequency_penalty() * static_cast<float>(count);
  }
  const auto argmax = [&] {
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  };
  if (params_.temperature() <= 0) return argmax();

  candidates_.clear();
  for (size_t i = 0; i < logits.size(); ++i) {
    candidates_.emplace_back(logits[i] / params_.temperature(), static_cast<int32_t>(i));
  }
  std::sort(candidates_.begin(), candidates_.end(), [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  });
  size_t keep = candidates_.size();
  if (params_.top_k() > 0) keep = std::min(keep, static_cast<size_t>(params_.top_k()));
  const float top = candidates_[0].first;
  double sum = 0;
  std::vector<double> probs(keep);
  for (size_t i = 0; i < keep; ++i) {
    probs[i] = std::exp(static_cast<double>(candidates_[i].first - top));
    sum += probs[i];
  }
  // min-p keeps tokens at least min_p times as likely as the best; top-p the smallest
  // prefix whose mass reaches top_p.
  size_t cut = keep;
  if (params_.min_p() > 0) {
    for (size_t i = 1; i < keep; ++i) {
      if (probs[i] < params_.min_p() * probs[0]) {
        cut = i;
        break;
      }
    }
  }
  if (params_.top_p() > 0 && params_.top_p() < 1) {
    double mass = 0;
    for (size_t i = 0; i < cut; ++i) {
      mass += probs[i] / sum;
      if (mass >= params_.top_p()) {
        cut = i + 1;
        break;
      }
    }
  }
  double total = 0;
  for (size_t i = 0; i < cut; ++i) total += probs[i];
  double u = std::uniform_real_distribution<double>(0, total)(rng_);
  for (size_t i = 0; i < cut; ++i) {
    u -= probs[i];
    if (u <= 0) return candidates_[i].second;
  }
  return candidates_[cut - 1].second;
}

}  // namespace zen::daemon
