// The sampling settings' conversions: the last node samples exactly as node::Sampler does
// locally, with the wire's "zero means off" conventions.
#include "daemon/sampling_wire.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <vector>

namespace zen::daemon {
namespace {

std::vector<float> RandomLogits(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0, 3);
  std::vector<float> logits(n);
  for (float& l : logits) l = dist(rng);
  return logits;
}

TEST(SamplingWire, ZeroWireFieldsMeanOffAndPenaltiesSeeTheWholeSequence) {
  const node::SamplingParams s = FromWire(::zen::node::v1::SamplingParams());
  EXPECT_EQ(s.temperature, 0);
  EXPECT_EQ(s.top_k, 0);
  EXPECT_EQ(s.top_p, 1.0f);
  EXPECT_EQ(s.min_p, 0);
  EXPECT_EQ(s.repetition_penalty, 1.0f);
  EXPECT_EQ(s.penalty_last_n, -1);
  ASSERT_TRUE(s.seed.has_value());
}

TEST(SamplingWire, RoundTripKeepsEverySetting) {
  node::SamplingParams p;
  p.temperature = 0.8f;
  p.top_k = 40;
  p.top_p = 0.9f;
  p.min_p = 0.05f;
  p.presence_penalty = 0.5f;
  p.frequency_penalty = 0.25f;
  p.repetition_penalty = 1.1f;
  p.seed = 1234;
  const node::SamplingParams q = FromWire(ToWire(p));
  EXPECT_EQ(q.temperature, p.temperature);
  EXPECT_EQ(q.top_k, p.top_k);
  EXPECT_EQ(q.top_p, p.top_p);
  EXPECT_EQ(q.min_p, p.min_p);
  EXPECT_EQ(q.presence_penalty, p.presence_penalty);
  EXPECT_EQ(q.frequency_penalty, p.frequency_penalty);
  EXPECT_EQ(q.repetition_penalty, p.repetition_penalty);
  EXPECT_EQ(q.seed, p.seed);
}

TEST(SamplingWire, UnsetSeedBecomesARandomOne) {
  node::SamplingParams p;
  p.seed.reset();
  std::set<uint64_t> seeds;
  for (int i = 0; i < 4; ++i) seeds.insert(ToWire(p).seed());
  EXPECT_GT(seeds.size(), 1u);
}

TEST(SamplingWire, ApiZeroIsGreedyAndSeededApiSamplingMatchesALocalSampler) {
  const int n_vocab = 500;
  ::zen::v1::SamplingParams api;
  node::Sampler greedy(FromWire(ToWire(FromApi(api))), n_vocab);
  const std::vector<float> logits = RandomLogits(n_vocab, 7);
  const int32_t best =
      static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  EXPECT_EQ(greedy.Sample(logits), best);

  api.set_temperature(1.0f);
  api.set_top_k(50);
  api.set_seed(99);
  node::Sampler remote(FromWire(ToWire(FromApi(api))), n_vocab);
  node::SamplingParams local_params = node::SamplingParams::Greedy();
  local_params.temperature = 1.0f;
  local_params.top_k = 50;
  local_params.seed = 99;
  node::Sampler local(local_params, n_vocab);
  for (int step = 0; step < 20; ++step) {
    const std::vector<float> row = RandomLogits(n_vocab, 100 + step);
    const int32_t a = remote.Sample(row);
    EXPECT_EQ(a, local.Sample(row)) << "step " << step;
    remote.Accept(a);
    local.Accept(a);
  }
}

}  // namespace
}  // namespace zen::daemon
