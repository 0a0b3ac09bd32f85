// Sampling: greedy paths, seeded determinism, the filters' effect on the drawn distribution,
// llama.cpp's penalty arithmetic, and stop strings split across tokens.
#include <chrono>
#include <cmath>
#include <map>
#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "node/sampler.h"

namespace zen::node {
namespace {

using ::testing::IsEmpty;

constexpr int kQwenVocab = 151936;

std::vector<float> RandomLogits(int n, uint64_t seed, float scale = 3.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> logits(n);
  for (float& l : logits) l = normal(rng);
  return logits;
}

// Logits whose softmax is exactly `probs`.
std::vector<float> LogitsFor(const std::vector<double>& probs) {
  std::vector<float> logits;
  for (double p : probs) logits.push_back(static_cast<float>(std::log(p)));
  return logits;
}

std::map<TokenId, int> Histogram(Sampler& sampler, const std::vector<float>& logits, int draws) {
  std::map<TokenId, int> counts;
  for (int i = 0; i < draws; ++i) ++counts[sampler.Sample(logits)];
  return counts;
}

SamplingParams Plain(uint64_t seed) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = seed;
  return p;
}

TEST(SamplerTest, GreedyIsArgmax) {
  const auto logits = RandomLogits(kQwenVocab, 1);
  const TokenId argmax =
      static_cast<TokenId>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  Sampler greedy(SamplingParams::Greedy(), kQwenVocab);
  EXPECT_EQ(greedy.Sample(logits), argmax);

  SamplingParams zero_temp = SamplingParams::QwenThinking();
  zero_temp.temperature = 0.0f;
  zero_temp.seed = 5;
  Sampler cold(zero_temp, kQwenVocab);
  SamplingParams top1 = Plain(9);
  top1.top_k = 1;
  Sampler one(top1, kQwenVocab);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(cold.Sample(logits), argmax);
    EXPECT_EQ(one.Sample(logits), argmax);
  }
}

TEST(SamplerTest, SameSeedSameTokensDifferentSeedDifferentTokens) {
  const auto logits = RandomLogits(kQwenVocab, 2, 1.0f);
  SamplingParams params = SamplingParams::QwenNonThinking();
  params.seed = 1234;
  Sampler a(params, kQwenVocab);
  Sampler b(params, kQwenVocab);
  params.seed = 4321;
  Sampler c(params, kQwenVocab);
  std::vector<TokenId> seq_a, seq_b, seq_c;
  for (int i = 0; i < 200; ++i) {
    seq_a.push_back(a.Sample(logits));
    seq_b.push_back(b.Sample(logits));
    seq_c.push_back(c.Sample(logits));
  }
  EXPECT_EQ(seq_a, seq_b);
  EXPECT_NE(seq_a, seq_c);
}

TEST(SamplerTest, TemperatureOneFollowsTheSoftmax) {
  Sampler sampler(Plain(7), 4);
  const auto counts = Histogram(sampler, LogitsFor({0.4, 0.3, 0.2, 0.1}), 20000);
  EXPECT_NEAR(counts.at(0) / 20000.0, 0.4, 0.02);
  EXPECT_NEAR(counts.at(1) / 20000.0, 0.3, 0.02);
  EXPECT_NEAR(counts.at(2) / 20000.0, 0.2, 0.02);
  EXPECT_NEAR(counts.at(3) / 20000.0, 0.1, 0.02);
}

TEST(SamplerTest, LowTemperatureSharpens) {
  SamplingParams params = Plain(8);
  params.temperature = 0.25f;
  Sampler sampler(params, 4);
  // p^4 normalized: 0.4^4 / (0.4^4 + 0.3^4 + 0.2^4 + 0.1^4) = 0.7256.
  const auto counts = Histogram(sampler, LogitsFor({0.4, 0.3, 0.2, 0.1}), 20000);
  EXPECT_NEAR(counts.at(0) / 20000.0, 0.7256, 0.02);
}

TEST(SamplerTest, TopKTopPAndMinPCutTheTail) {
  const auto logits = LogitsFor({0.4, 0.3, 0.2, 0.1});
  SamplingParams top_k = Plain(10);
  top_k.top_k = 2;
  Sampler k_sampler(top_k, 4);
  auto counts = Histogram(k_sampler, logits, 10000);
  EXPECT_EQ(counts.size(), 2u);
  EXPECT_NEAR(counts[0] / 10000.0, 0.4 / 0.7, 0.02);

  SamplingParams top_p = Plain(11);
  top_p.top_p = 0.5f;  // 0.4 < 0.5 <= 0.4 + 0.3: tokens 0 and 1
  Sampler p_sampler(top_p, 4);
  counts = Histogram(p_sampler, logits, 10000);
  EXPECT_EQ(counts.size(), 2u);
  EXPECT_EQ(counts.count(2) + counts.count(3), 0u);

  SamplingParams min_p = Plain(12);
  min_p.min_p = 0.3f;  // keeps p >= 0.12: tokens 0, 1, 2
  Sampler m_sampler(min_p, 4);
  counts = Histogram(m_sampler, logits, 10000);
  EXPECT_EQ(counts.size(), 3u);
  EXPECT_EQ(counts.count(3), 0u);
  EXPECT_NEAR(counts[2] / 10000.0, 0.2 / 0.9, 0.02);
}

TEST(SamplerTest, TopPOverTheFullVocabularyKeepsOnlyTheNucleus) {
  const auto logits = RandomLogits(kQwenVocab, 3, 4.0f);
  SamplingParams params = Plain(13);
  params.top_p = 0.9f;
  Sampler sampler(params, kQwenVocab);
  // The nucleus, computed the slow way.
  std::vector<TokenId> order(kQwenVocab);
  for (int i = 0; i < kQwenVocab; ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](TokenId a, TokenId b) { return logits[a] > logits[b]; });
  double total = 0;
  for (float l : logits) total += std::exp(static_cast<double>(l) - logits[order[0]]);
  std::vector<bool> in_nucleus(kQwenVocab, false);
  double cumulative = 0;
  for (TokenId id : order) {
    in_nucleus[id] = true;
    cumulative += std::exp(static_cast<double>(logits[id]) - logits[order[0]]);
    if (cumulative >= 0.9 * total) break;
  }
  int outside = 0;
  for (int i = 0; i < 100; ++i) {
    if (!in_nucleus[sampler.Sample(logits)]) ++outside;
  }
  EXPECT_EQ(outside, 0);
}

TEST(SamplerTest, PenaltiesFollowLlamaCppArithmetic) {
  SamplingParams params = Plain(14);
  params.repetition_penalty = 2.0f;
  params.frequency_penalty = 0.5f;
  params.presence_penalty = 1.0f;
  params.penalty_last_n = 4;
  Sampler sampler(params, 6);
  for (TokenId t : {5, 1, 1, 1, 2}) sampler.Accept(t);  // window of 4: 5 drops out
  std::vector<float> logits = {0.0f, 3.0f, -1.0f, 2.0f, 1.0f, 4.0f};
  sampler.ApplyPenalties(logits);
  EXPECT_FLOAT_EQ(logits[0], 0.0f);
  EXPECT_FLOAT_EQ(logits[1], 3.0f / 2 - 3 * 0.5f - 1.0f);  // count 3
  EXPECT_FLOAT_EQ(logits[2], -1.0f * 2 - 0.5f - 1.0f);     // negative: multiplied
  EXPECT_FLOAT_EQ(logits[3], 2.0f);
  EXPECT_FLOAT_EQ(logits[5], 4.0f);  // outside the window

  // Greedy decoding sees the penalties too.
  SamplingParams greedy = SamplingParams::Greedy();
  greedy.presence_penalty = 2.0f;
  Sampler g(greedy, 3);
  const std::vector<float> row = {1.0f, 2.5f, 2.0f};
  EXPECT_EQ(g.Sample(row), 1);
  g.Accept(1);
  EXPECT_EQ(g.Sample(row), 2);
  g.ResetHistory();
  EXPECT_EQ(g.Sample(row), 1);
}

TEST(SamplerTest, QwenPresets) {
  const SamplingParams thinking = SamplingParams::QwenThinking();
  EXPECT_FLOAT_EQ(thinking.temperature, 0.6f);
  EXPECT_FLOAT_EQ(thinking.top_p, 0.95f);
  EXPECT_EQ(thinking.top_k, 20);
  EXPECT_FLOAT_EQ(thinking.min_p, 0.0f);
  const SamplingParams fast = SamplingParams::QwenNonThinking();
  EXPECT_FLOAT_EQ(fast.temperature, 0.7f);
  EXPECT_FLOAT_EQ(fast.top_p, 0.8f);
  EXPECT_EQ(fast.top_k, 20);
}

TEST(SamplerTest, SamplesFullVocabularyQuickly) {
  const auto logits = RandomLogits(kQwenVocab, 4);
  for (const auto& [name, params] : {std::pair{"qwen-thinking", SamplingParams::QwenThinking()},
                                     std::pair{"top-p-only", Plain(1)}}) {
    SamplingParams p = params;
    p.seed = 1;
    if (std::string(name) == "top-p-only") p.top_p = 0.9f;
    p.presence_penalty = 0.5f;
    Sampler sampler(p, kQwenVocab);
    for (int i = 0; i < 64; ++i) sampler.Accept(i * 7);
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 50; ++i) ASSERT_GE(sampler.Sample(logits), 0);
    const double us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
            .count() /
        50;
    std::printf("[ info ] %s: %.0f us per token over %d logits\n", name, us, kQwenVocab);
  }
}

TEST(StopStringMatcherTest, StopsOnStringsSplitAcrossTokens) {
  StopStringMatcher matcher({"</answer>", "STOP"});
  EXPECT_EQ(matcher.Feed("Hello ").text, "Hello ");
  auto r = matcher.Feed("world </ans");
  EXPECT_EQ(r.text, "world ");  // "</ans" might be a stop string: held back
  EXPECT_FALSE(r.stopped);
  r = matcher.Feed("wer> more");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "");
  ASSERT_NE(matcher.matched(), nullptr);
  EXPECT_EQ(*matcher.matched(), "</answer>");
  EXPECT_TRUE(matcher.Feed("after").text.empty());
}

TEST(StopStringMatcherTest, ReleasesHeldTextWhenItIsNotAStop) {
  StopStringMatcher matcher({"STOP", ""});
  auto r = matcher.Feed("ST");
  EXPECT_EQ(r.text, "");
  r = matcher.Feed("ART ");
  EXPECT_EQ(r.text, "START ");
  r = matcher.Feed("S");
  EXPECT_EQ(r.text, "");
  EXPECT_EQ(matcher.Flush(), "S");
  EXPECT_EQ(matcher.matched(), nullptr);

  StopStringMatcher earliest({"cd", "b"});
  r = earliest.Feed("abcd");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "a");
  StopStringMatcher none({});
  EXPECT_EQ(none.Feed("text").text, "text");
  EXPECT_THAT(none.Flush(), IsEmpty());
}

}  // namespace
}  // namespace zen::node
