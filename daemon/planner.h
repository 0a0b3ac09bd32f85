// The planner: which node runs which contiguous slice of layers. Pure logic, no I/O, so
// it is deterministic and testable on tables of hypothetical households.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace zen::daemon {

// The model's figures, from the GGUF tensor table and config.
struct ModelProfile {
  std::vector<int64_t> layer_weight_bytes;  // one entry per layer (blk.N.*)
  int64_t embedding_bytes = 0;              // token_embd: mapped by the first slice
  int64_t output_bytes = 0;  // output_norm + LM head (token_embd when tied): last slice
  bool tied_output = false;  // the LM head is token_embd: one copy when first == last
  int64_t kv_bytes_per_token_per_layer = 0;
  int64_t buffer_bytes = 0;         // working buffers of any slice
  int64_t output_buffer_bytes = 0;  // extra buffers of the last slice (logits rows)

  int n_layers() const { return static_cast<int>(layer_weight_bytes.size()); }
};

// A candidate node as the planner sees it.
struct PlannerNode {
  std::string name;
  int64_t memory_budget_bytes = 0;
  double weight_bytes_per_second = 0;  // measured decode speed: weight bytes streamed per second
  int max_layers = 0;                  // 0: no cap
};

// Cluster-wide planning settings.
struct PlannerOptions {
  int64_t context_tokens = 4096;  // KV is reserved for this many tokens per slice
  double hop_ms = 1.0;            // one network hop, per token
  // A model that fits on one node stays there (DESIGN.md) unless a split is estimated at
  // least this much faster: the estimate ignores what splitting costs (more machines that can
  // fail, their memory taken, jitter on every hop).
  double split_margin = 0.10;
};

// One node's part of a plan.
struct PlannedSlice {
  int node_index = 0;  // into the planner's input
  std::string node_name;
  int first_layer = 0;
  int last_layer = 0;  // inclusive
  int64_t weight_bytes = 0;
  int64_t kv_bytes = 0;
  int64_t buffer_bytes = 0;
  double ms_per_token = 0;
};

// A node that got no slice, and why.
struct LeftOut {
  int node_index = 0;
  std::string node_name;
  std::string reason;
};

// The planner's answer.
struct Plan {
  std::vector<PlannedSlice> slices;  // pipeline order, covering every layer
  std::vector<LeftOut> left_out;
  double ms_per_token = 0;  // sum of slice times + hop_ms per boundary
  std::string summary;
};

// Splits the model over the nodes: contiguous ranges, every slice within its node's budget,
// lowest estimated per-token latency (a single node preferred within split_margin), ties
// broken by fewer nodes, then by the smallest bottleneck slice, then by input order.
// ResourceExhausted when no assignment fits, with every node's budget and the model's needs in the
// message.
absl::StatusOr<Plan> MakePlan(const ModelProfile& model, const std::vector<PlannerNode>& nodes,
                              const PlannerOptions& options);

// The bytes node memory must hold for layers [first, last] of the model.
int64_t SliceMemoryBytes(const ModelProfile& model, int first, int last, int64_t context_tokens);

}  // namespace zen::daemon
