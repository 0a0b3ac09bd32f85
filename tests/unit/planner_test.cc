// The planner on tables of hypothetical households, checked against an exhaustive search.
#include "daemon/planner.h"
#include "daemon/units.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace zen::daemon {
namespace {

constexpr int64_t kMiB = 1024 * 1024;
constexpr int64_t kGiB = 1024 * kMiB;

int64_t Q4K(int64_t elements) {
  return elements / 256 * 144;
}
int64_t Q6K(int64_t elements) {
  return elements / 256 * 210;
}

// Qwen3-4B Q4_K_M as llama.cpp quantizes it: Q4_K everywhere except attn_v and ffn_down in
// half the layers (Q6_K) and a Q6_K token embedding shared with the LM head.
ModelProfile Qwen3_4B_Q4KM() {
  const int64_t embd = 2560, q = 4096, kv = 1024, ff = 9728, vocab = 151936;
  ModelProfile m;
  for (int i = 0; i < 36; ++i) {
    const bool heavy = i % 2 == 0;
    int64_t bytes = Q4K(embd * q) * 2 + Q4K(embd * kv) + Q4K(embd * ff) * 2;
    bytes += heavy ? Q6K(embd * kv) + Q6K(ff * embd) : Q4K(embd * kv) + Q4K(ff * embd);
    bytes += (2 * embd + 2 * 128) * 4;
    m.layer_weight_bytes.push_back(bytes);
  }
  m.embedding_bytes = Q6K(embd * vocab);
  m.output_bytes = m.embedding_bytes + embd * 4;
  m.tied_output = true;
  m.kv_bytes_per_token_per_layer = 2 * 8 * 128 * 2;  // K and V, 8 KV heads, head_dim 128, F16
  m.buffer_bytes = 64 * kMiB;
  m.output_buffer_bytes = 32 * vocab * 4;
  return m;
}

// A small model with uniform layers, for exhaustive cross-checks.
ModelProfile Uniform(int n_layers, int64_t layer_bytes) {
  ModelProfile m;
  m.layer_weight_bytes.assign(n_layers, layer_bytes);
  m.embedding_bytes = layer_bytes / 2;
  m.output_bytes = layer_bytes / 2;
  m.tied_output = true;
  m.kv_bytes_per_token_per_layer = 1024;
  m.buffer_bytes = 1 * kMiB;
  m.output_buffer_bytes = 1 * kMiB;
  return m;
}

PlannerNode Node(std::string name, int64_t budget, double gb_per_s, int max_layers = 0) {
  return PlannerNode{std::move(name), budget, gb_per_s * 1e9, max_layers};
}

// The household of the issue: an 8 GiB laptop, a 4 GiB Pi and a 2 GiB Pi.
std::vector<PlannerNode> Household(int64_t laptop_budget) {
  return {Node("laptop", laptop_budget, 20), Node("pi-4g", 4 * kGiB, 4),
          Node("pi-2g", 2 * kGiB, 2)};
}

// Checks the structural promises every plan must keep.
void ExpectValid(const Plan& plan, const ModelProfile& model, const std::vector<PlannerNode>& nodes,
                 const PlannerOptions& options) {
  ASSERT_FALSE(plan.slices.empty());
  EXPECT_EQ(plan.slices.front().first_layer, 0);
  EXPECT_EQ(plan.slices.back().last_layer, model.n_layers() - 1);
  std::vector<bool> used(nodes.size(), false);
  double sum = 0;
  for (size_t i = 0; i < plan.slices.size(); ++i) {
    const PlannedSlice& s = plan.slices[i];
    if (i > 0) {
      EXPECT_EQ(s.first_layer, plan.slices[i - 1].last_layer + 1);
    }
    EXPECT_LE(s.first_layer, s.last_layer);
    EXPECT_FALSE(used[s.node_index]) << "node used twice";
    used[s.node_index] = true;
    const PlannerNode& node = nodes[s.node_index];
    EXPECT_LE(SliceMemoryBytes(model, s.first_layer, s.last_layer, options.context_tokens),
              node.memory_budget_bytes)
        << s.node_name;
    EXPECT_EQ(s.weight_bytes + s.kv_bytes + s.buffer_bytes,
              SliceMemoryBytes(model, s.first_layer, s.last_layer, options.context_tokens));
    if (node.max_layers > 0) {
      EXPECT_LE(s.last_layer - s.first_layer + 1, node.max_layers);
    }
    sum += s.ms_per_token;
  }
  sum += options.hop_ms * static_cast<double>(plan.slices.size() - 1);
  EXPECT_NEAR(plan.ms_per_token, sum, 1e-6 * sum);
  EXPECT_EQ(plan.slices.size() + plan.left_out.size(), nodes.size());
  for (const LeftOut& l : plan.left_out) {
    EXPECT_FALSE(used[l.node_index]);
    EXPECT_FALSE(l.reason.empty()) << l.node_name;
  }
}

TEST(PlannerTest, LaptopHoldsQwen3_4BAloneAndPisAreExplained) {
  const ModelProfile model = Qwen3_4B_Q4KM();
  const auto nodes = Household(8 * kGiB);
  PlannerOptions options;
  options.context_tokens = 8192;
  options.hop_ms = 2;
  auto plan = MakePlan(model, nodes, options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ExpectValid(*plan, model, nodes, options);
  ASSERT_EQ(plan->slices.size(), 1u);
  EXPECT_EQ(plan->slices[0].node_name, "laptop");
  // 2.3 GiB of weights at 20 GB/s: about 125 ms per token.
  EXPECT_NEAR(plan->ms_per_token, 124, 6);
  ASSERT_EQ(plan->left_out.size(), 2u);
  EXPECT_NE(plan->left_out[0].reason.find("laptop"), std::string::npos) << plan->left_out[0].reason;
  EXPECT_NE(plan->summary.find("alone"), std::string::npos);
}

TEST(PlannerTest, BusyLaptopSplitsWithTheBigPiAndLeavesTheSmallPiOut) {
  const ModelProfile model = Qwen3_4B_Q4KM();
  const auto nodes = Household(3 * kGiB / 2);
  PlannerOptions options;
  options.context_tokens = 4096;
  options.hop_ms = 2;
  auto plan = MakePlan(model, nodes, options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ExpectValid(*plan, model, nodes, options);
  ASSERT_EQ(plan->slices.size(), 2u);
  std::vector<std::string> names = {plan->slices[0].node_name, plan->slices[1].node_name};
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"laptop", "pi-4g"}));
  // The laptop is 5x faster: it must carry as much as its budget allows, i.e. adding one
  // more layer to it would not fit.
  const PlannedSlice& laptop =
      plan->slices[0].node_name == "laptop" ? plan->slices[0] : plan->slices[1];
  const int grow_first = laptop.first_layer == 0 ? 0 : laptop.first_layer - 1;
  const int grow_last = laptop.first_layer == 0 ? laptop.last_layer + 1 : laptop.last_layer;
  EXPECT_GT(SliceMemoryBytes(model, grow_first, grow_last, options.context_tokens), 3 * kGiB / 2);
  // The Pi could hold everything alone but would be far slower.
  const double pi_alone_ms =
      static_cast<double>(std::accumulate(model.layer_weight_bytes.begin(),
                                          model.layer_weight_bytes.end(), int64_t{0}) +
                          model.output_bytes) /
      4e9 * 1000;
  EXPECT_LT(plan->ms_per_token, pi_alone_ms * 0.9);
  ASSERT_EQ(plan->left_out.size(), 1u);
  EXPECT_EQ(plan->left_out[0].node_name, "pi-2g");
  EXPECT_NE(plan->left_out[0].reason.find("latency"), std::string::npos)
      << plan->left_out[0].reason;
}

TEST(PlannerTest, NothingFitsIsAClearError) {
  const ModelProfile model = Qwen3_4B_Q4KM();
  const std::vector<PlannerNode> nodes = {Node("pi-a", 512 * kMiB, 2), Node("pi-b", 768 * kMiB, 2)};
  auto plan = MakePlan(model, nodes, PlannerOptions{});
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kResourceExhausted);
  const std::string message(plan.status().message());
  EXPECT_NE(message.find("pi-a 512.00 MiB"), std::string::npos) << message;
  EXPECT_NE(message.find("pi-b"), std::string::npos) << message;
  EXPECT_NE(message.find("--memory-budget"), std::string::npos) << message;
}

TEST(PlannerTest, TooSmallNodeIsLeftOutWithItsBudgetNamed) {
  const ModelProfile model = Uniform(8, 100 * kMiB);
  const std::vector<PlannerNode> nodes = {Node("a", 600 * kMiB, 10), Node("b", 600 * kMiB, 10),
                                          Node("tiny", 50 * kMiB, 50)};
  auto plan = MakePlan(model, nodes, PlannerOptions{});
  ASSERT_TRUE(plan.ok()) << plan.status();
  ExpectValid(*plan, model, nodes, PlannerOptions{});
  ASSERT_EQ(plan->left_out.size(), 1u);
  EXPECT_EQ(plan->left_out[0].node_name, "tiny");
  EXPECT_NE(plan->left_out[0].reason.find("below"), std::string::npos) << plan->left_out[0].reason;
}

TEST(PlannerTest, MaxLayersForcesSplitsOfATinyModel) {
  // Four layers, every node could hold all of them, but each takes at most one.
  const ModelProfile model = Uniform(4, 1 * kMiB);
  std::vector<PlannerNode> nodes;
  for (const char* name : {"n0", "n1", "n2", "n3"}) nodes.push_back(Node(name, kGiB, 1, 1));
  auto plan = MakePlan(model, nodes, PlannerOptions{});
  ASSERT_TRUE(plan.ok()) << plan.status();
  ExpectValid(*plan, model, nodes, PlannerOptions{});
  ASSERT_EQ(plan->slices.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(plan->slices[i].first_layer, i);
    EXPECT_EQ(plan->slices[i].last_layer, i);
  }
  // With a cap of 2, two nodes suffice and the other two only add hops.
  for (auto& n : nodes) n.max_layers = 2;
  plan = MakePlan(model, nodes, PlannerOptions{});
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->slices.size(), 2u);
  EXPECT_EQ(plan->left_out.size(), 2u);
  // A cap of 1 on only three nodes cannot cover four layers.
  nodes.pop_back();
  for (auto& n : nodes) n.max_layers = 1;
  plan = MakePlan(model, nodes, PlannerOptions{});
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("--max-layers 1"), std::string::npos) << plan.status();
}

TEST(PlannerTest, IdenticalNodesSplitEvenlyInInputOrder) {
  const ModelProfile model = Uniform(6, 100 * kMiB);
  const std::vector<PlannerNode> nodes = {Node("first", 500 * kMiB, 10),
                                          Node("second", 500 * kMiB, 10)};
  auto plan = MakePlan(model, nodes, PlannerOptions{});
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->slices.size(), 2u);
  EXPECT_EQ(plan->slices[0].node_name, "first");
  // Latency ties for every split point; the smallest bottleneck keeps the output layer's
  // extra work in mind: the last slice takes one layer fewer.
  EXPECT_EQ(plan->slices[0].last_layer, 2);
}

TEST(PlannerTest, SameInputSamePlan) {
  const ModelProfile model = Qwen3_4B_Q4KM();
  const auto nodes = Household(3 * kGiB / 2);
  auto a = MakePlan(model, nodes, PlannerOptions{});
  auto b = MakePlan(model, nodes, PlannerOptions{});
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->slices.size(), b->slices.size());
  for (size_t i = 0; i < a->slices.size(); ++i) {
    EXPECT_EQ(a->slices[i].node_index, b->slices[i].node_index);
    EXPECT_EQ(a->slices[i].first_layer, b->slices[i].first_layer);
    EXPECT_EQ(a->slices[i].last_layer, b->slices[i].last_layer);
  }
  EXPECT_EQ(a->ms_per_token, b->ms_per_token);
}

TEST(PlannerTest, FasterNodeThatHoldsEverythingWins) {
  const ModelProfile model = Uniform(8, 100 * kMiB);
  const std::vector<PlannerNode> nodes = {Node("slow", 4 * kGiB, 2), Node("fast", 4 * kGiB, 20)};
  auto plan = MakePlan(model, nodes, PlannerOptions{});
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->slices.size(), 1u);
  EXPECT_EQ(plan->slices[0].node_name, "fast");
  EXPECT_NE(plan->left_out[0].reason.find("faster"), std::string::npos);
}

// Every ordered choice of nodes and cut points, for small cases.
double BruteForceBest(const ModelProfile& model, const std::vector<PlannerNode>& nodes,
                      const PlannerOptions& options) {
  const int n = model.n_layers();
  double best = std::numeric_limits<double>::infinity();
  std::vector<int> order(nodes.size());
  std::iota(order.begin(), order.end(), 0);
  auto ms = [&](int node, int first, int last) {
    int64_t bytes = 0;
    for (int i = first; i <= last; ++i) bytes += model.layer_weight_bytes[i];
    if (last == n - 1) bytes += model.output_bytes;
    return static_cast<double>(bytes) / nodes[node].weight_bytes_per_second * 1000;
  };
  auto fits = [&](int node, int first, int last) {
    if (nodes[node].max_layers > 0 && last - first + 1 > nodes[node].max_layers) return false;
    return SliceMemoryBytes(model, first, last, options.context_tokens) <=
           nodes[node].memory_budget_bytes;
  };
  // Recursively assign [first, n) to order[k..].
  std::function<void(size_t, int, double)> go = [&](size_t k, int first, double acc) {
    if (first == n) {
      best = std::min(best, acc);
      return;
    }
    if (k == order.size()) return;
    for (int last = first; last < n; ++last) {
      if (!fits(order[k], first, last)) continue;
      go(k + 1, last + 1, acc + ms(order[k], first, last) + (first > 0 ? options.hop_ms : 0));
    }
  };
  do {
    go(0, 0, 0);
  } while (std::next_permutation(order.begin(), order.end()));
  return best;
}

TEST(PlannerTest, MatchesExhaustiveSearchOnRandomHouseholds) {
  std::mt19937 rng(1234);
  int compared = 0;
  for (int trial = 0; trial < 60; ++trial) {
    const int n_layers = 3 + static_cast<int>(rng() % 6);
    ModelProfile model = Uniform(n_layers, 0);
    for (auto& b : model.layer_weight_bytes) b = (20 + static_cast<int64_t>(rng() % 80)) * kMiB;
    std::vector<PlannerNode> nodes;
    const int n_nodes = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < n_nodes; ++i) {
      // absl::StrCat rather than std::string operator+, which trips GCC 12's -Wrestrict
      // false positive (GCC bug 105329) once inlined here.
      nodes.push_back(Node(absl::StrCat("n", i), (100 + static_cast<int64_t>(rng() % 500)) * kMiB,
                           1 + static_cast<double>(rng() % 20), static_cast<int>(rng() % 3)));
    }
    PlannerOptions options;
    options.hop_ms = static_cast<double>(rng() % 5);
    options.split_margin = 0;
    const double best = BruteForceBest(model, nodes, options);
    auto plan = MakePlan(model, nodes, options);
    if (!std::isfinite(best)) {
      EXPECT_FALSE(plan.ok()) << "trial " << trial;
      continue;
    }
    ASSERT_TRUE(plan.ok()) << "trial " << trial << ": " << plan.status();
    ExpectValid(*plan, model, nodes, options);
    EXPECT_NEAR(plan->ms_per_token, best, 1e-6 * best) << "trial " << trial;
    ++compared;
  }
  EXPECT_GT(compared, 20);
}

}  // namespace
}  // namespace zen::daemon

namespace zen::daemon {
namespace {

TEST(UnitsTest, ParsesMemoryBudgetFlags) {
  EXPECT_EQ(*ParseBytes("3GiB"), 3 * kGiB);
  EXPECT_EQ(*ParseBytes("512MiB"), 512 * kMiB);
  EXPECT_EQ(*ParseBytes("1.5G"), 3 * kGiB / 2);
  EXPECT_EQ(*ParseBytes("2GB"), 2000000000);
  EXPECT_EQ(*ParseBytes("4096"), 4096);
  EXPECT_FALSE(ParseBytes("lots").ok());
  EXPECT_FALSE(ParseBytes("3 parsecs").ok());
  EXPECT_EQ(FormatBytes(3 * kGiB / 2), "1.50 GiB");
}

}  // namespace
}  // namespace zen::daemon
