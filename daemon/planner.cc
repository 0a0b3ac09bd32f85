#include "daemon/planner.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "daemon/units.h"

namespace zen::daemon {
namespace {

// The exact search is over subsets of nodes; past this many the slowest are not considered.
constexpr int kMaxPlannedNodes = 12;

bool Close(double a, double b) {
  return std::fabs(a - b) <= 1e-9 * std::max({1.0, std::fabs(a), std::fabs(b)});
}

// Prefix sums of per-layer weights, so a slice's bytes are one subtraction.
class LayerTable {
 public:
  explicit LayerTable(const ModelProfile& model) : model_(model) {
    prefix_.push_back(0);
    for (int64_t b : model.layer_weight_bytes) prefix_.push_back(prefix_.back() + b);
  }
  int n_layers() const { return model_.n_layers(); }
  int64_t LayerBytes(int first, int last) const { return prefix_[last + 1] - prefix_[first]; }
  // Bytes one token streams through this slice (the embedding lookup reads one row).
  int64_t ComputeBytes(int first, int last) const {
    return LayerBytes(first, last) + (last == n_layers() - 1 ? model_.output_bytes : 0);
  }
  int64_t WeightBytes(int first, int last) const {
    const bool is_first = first == 0;
    const bool is_last = last == n_layers() - 1;
    int64_t bytes = LayerBytes(first, last);
    if (is_first) bytes += model_.embedding_bytes;
    if (is_last) bytes += model_.output_bytes;
    // A tied LM head is token_embd itself: a single node maps it once.
    if (is_first && is_last && model_.tied_output) bytes -= model_.embedding_bytes;
    return bytes;
  }
  int64_t KvBytes(int first, int last, int64_t context) const {
    return model_.kv_bytes_per_token_per_layer * (last - first + 1) * context;
  }
  int64_t BufferBytes(int last) const {
    return model_.buffer_bytes + (last == n_layers() - 1 ? model_.output_buffer_bytes : 0);
  }

 private:
  const ModelProfile& model_;
  std::vector<int64_t> prefix_;
};

double SliceMs(const LayerTable& table, const PlannerNode& node, int first, int last) {
  const double speed = std::max(node.weight_bytes_per_second, 1.0);
  return static_cast<double>(table.ComputeBytes(first, last)) / speed * 1000.0;
}

int64_t MemoryBytes(const LayerTable& table, int first, int last, int64_t context) {
  return table.WeightBytes(first, last) + table.KvBytes(first, last, context) +
         table.BufferBytes(last);
}

bool Fits(const LayerTable& table, const PlannerNode& node, int first, int last, int64_t context) {
  if (node.max_layers > 0 && last - first + 1 > node.max_layers) return false;
  return MemoryBytes(table, first, last, context) <= node.memory_budget_bytes;
}

// One DP state: layers [0, l) covered by the nodes in `mask`.
struct State {
  bool valid = false;
  double sum_ms = 0;  // compute + hops so far
  double max_ms = 0;  // slowest slice so far
  int prev_l = 0;
  int node = -1;  // the node holding [prev_l, l)
};

// True when (sum, max) is strictly better than the state's.
bool Better(double sum, double max, const State& s) {
  if (!s.valid) return true;
  if (!Close(sum, s.sum_ms)) return sum < s.sum_ms;
  return !Close(max, s.max_ms) && max < s.max_ms;
}

// Lexicographic order of the node indices in two masks (earlier input nodes first).
bool MaskBefore(uint32_t a, uint32_t b) {
  while (a != 0 && b != 0) {
    const int ia = std::countr_zero(a), ib = std::countr_zero(b);
    if (ia != ib) return ia < ib;
    a &= a - 1;
    b &= b - 1;
  }
  return a == 0 && b != 0;
}

PlannedSlice MakeSlice(const LayerTable& table, const std::vector<PlannerNode>& nodes, int index,
                       int first, int last, int64_t context) {
  PlannedSlice s;
  s.node_index = index;
  s.node_name = nodes[index].name;
  s.first_layer = first;
  s.last_layer = last;
  s.weight_bytes = table.WeightBytes(first, last);
  s.kv_bytes = table.KvBytes(first, last, context);
  s.buffer_bytes = table.BufferBytes(last);
  s.ms_per_token = SliceMs(table, nodes[index], first, last);
  return s;
}

std::string NothingFitsMessage(const LayerTable& table, const std::vector<PlannerNode>& nodes,
                               int64_t context) {
  const int n = table.n_layers();
  std::vector<std::string> budgets;
  for (const PlannerNode& node : nodes) {
    int most = 0;
    for (int len = 1; len <= n; ++len) {
      bool any = false;
      for (int first = 0; first + len <= n && !any; ++first) {
        any = Fits(table, node, first, first + len - 1, context);
      }
      if (!any) break;
      most = len;
    }
    budgets.push_back(absl::StrCat(
        node.name, " ", FormatBytes(node.memory_budget_bytes), " (at most ", most, " layer",
        most == 1 ? "" : "s",
        node.max_layers > 0 ? absl::StrCat(", --max-layers ", node.max_layers) : "", ")"));
  }
  return absl::StrCat(
      "no assignment of the ", n, " layers fits the nodes' memory: the model needs ",
      FormatBytes(table.WeightBytes(0, n - 1)), " of weights + ",
      FormatBytes(table.KvBytes(0, n - 1, context)), " of KV-cache for ", context,
      " tokens + buffers; budgets: ", absl::StrJoin(budgets, ", "),
      ". Add a node, raise --memory-budget, lower the context, or use a smaller quantization");
}

}  // namespace

int64_t SliceMemoryBytes(const ModelProfile& model, int first, int last, int64_t context_tokens) {
  const LayerTable table(model);
  return MemoryBytes(table, first, last, context_tokens);
}

absl::StatusOr<Plan> MakePlan(const ModelProfile& model, const std::vector<PlannerNode>& nodes,
                              const PlannerOptions& options) {
  const int n_layers = model.n_layers();
  if (n_layers <= 0) return absl::InvalidArgumentError("the model has no layers to plan");
  if (nodes.empty()) return absl::FailedPreconditionError("no nodes to plan over");
  if (options.context_tokens <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("context must be positive, got ", options.context_tokens));
  }
  const LayerTable table(model);
  const int64_t context = options.context_tokens;

  // The exact search covers the fastest kMaxPlannedNodes (stable: input order breaks ties).
  std::vector<int> considered(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) considered[i] = static_cast<int>(i);
  std::stable_sort(considered.begin(), considered.end(), [&](int a, int b) {
    return nodes[a].weight_bytes_per_second > nodes[b].weight_bytes_per_second;
  });
  std::vector<int> skipped;
  if (considered.size() > kMaxPlannedNodes) {
    skipped.assign(considered.begin() + kMaxPlannedNodes, considered.end());
    considered.resize(kMaxPlannedNodes);
  }
  std::sort(considered.begin(), considered.end());
  const int m = static_cast<int>(considered.size());

  Plan plan;
  auto finish_left_out = [&](auto reason_for) {
    std::vector<bool> used(nodes.size(), false);
    for (const PlannedSlice& s : plan.slices) used[s.node_index] = true;
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (used[i]) continue;
      plan.left_out.push_back(
          {static_cast<int>(i), nodes[i].name, reason_for(static_cast<int>(i))});
    }
  };

  // dp[mask][l]: the best way to cover layers [0, l) with exactly the nodes of mask.
  const uint32_t n_masks = 1u << m;
  std::vector<State> dp(static_cast<size_t>(n_masks) * (n_layers + 1));
  auto at = [&](uint32_t mask, int l) -> State& { return dp[mask * (n_layers + 1) + l]; };
  at(0, 0).valid = true;
  for (int l = 0; l < n_layers; ++l) {
    for (uint32_t mask = 0; mask < n_masks; ++mask) {
      const State& from = at(mask, l);
      if (!from.valid) continue;
      for (int j = 0; j < m; ++j) {
        if (mask & (1u << j)) continue;
        const PlannerNode& node = nodes[considered[j]];
        for (int last = l; last < n_layers; ++last) {
          if (!Fits(table, node, l, last, context)) continue;
          const double ms = SliceMs(table, node, l, last);
          const double sum = from.sum_ms + ms + (l > 0 ? options.hop_ms : 0.0);
          const double mx = std::max(from.max_ms, ms);
          State& to = at(mask | (1u << j), last + 1);
          if (Better(sum, mx, to)) to = State{true, sum, mx, l, j};
        }
      }
    }
  }

  // The best full plan, and the best that includes each node (to explain leaving it out).
  uint32_t best_mask = 0;
  std::vector<double> best_with(m, std::numeric_limits<double>::infinity());
  for (uint32_t mask = 1; mask < n_masks; ++mask) {
    const State& s = at(mask, n_layers);
    if (!s.valid) continue;
    for (int j = 0; j < m; ++j) {
      if (mask & (1u << j)) best_with[j] = std::min(best_with[j], s.sum_ms);
    }
    if (best_mask == 0) {
      best_mask = mask;
      continue;
    }
    const State& b = at(best_mask, n_layers);
    bool take;
    if (!Close(s.sum_ms, b.sum_ms)) {
      take = s.sum_ms < b.sum_ms;
    } else if (std::popcount(mask) != std::popcount(best_mask)) {
      take = std::popcount(mask) < std::popcount(best_mask);
    } else if (!Close(s.max_ms, b.max_ms)) {
      take = s.max_ms < b.max_ms;
    } else {
      take = MaskBefore(mask, best_mask);
    }
    if (take) best_mask = mask;
  }
  if (best_mask == 0) {
    return absl::ResourceExhaustedError(NothingFitsMessage(table, nodes, context));
  }
  // The best single-node plan wins unless a split beats it by the margin.
  uint32_t best_single = 0;
  for (int j = 0; j < m; ++j) {
    const State& s = at(1u << j, n_layers);
    if (s.valid && (best_single == 0 || Better(s.sum_ms, s.max_ms, at(best_single, n_layers)))) {
      best_single = 1u << j;
    }
  }
  const double best_split_ms = at(best_mask, n_layers).sum_ms;
  if (best_single != 0 &&
      at(best_single, n_layers).sum_ms <= best_split_ms * (1.0 + options.split_margin)) {
    best_mask = best_single;
  }

  uint32_t mask = best_mask;
  int l = n_layers;
  while (l > 0) {
    const State& s = at(mask, l);
    plan.slices.push_back(MakeSlice(table, nodes, considered[s.node], s.prev_l, l - 1, context));
    mask &= ~(1u << s.node);
    l = s.prev_l;
  }
  std::reverse(plan.slices.begin(), plan.slices.end());
  plan.ms_per_token = at(best_mask, n_layers).sum_ms;
  const bool single = plan.slices.size() == 1;
  const std::string& chosen = plan.slices[0].node_name;
  plan.summary = single ? absl::StrCat("the model fits on ", chosen,
                                       " alone; splitting it would only add network hops")
                        : absl::StrCat("no single node holds the model fast enough; split over ",
                                       plan.slices.size(), " nodes");

  // Smallest single-layer slice any node could take: below it a node can never help.
  int64_t one_layer = std::numeric_limits<int64_t>::max();
  for (int i = 0; i < n_layers; ++i)
    one_layer = std::min(one_layer, MemoryBytes(table, i, i, context));
  finish_left_out([&](int i) -> std::string {
    if (std::find(skipped.begin(), skipped.end(), i) != skipped.end()) {
      return absl::StrCat("only the ", kMaxPlannedNodes, " fastest nodes are considered");
    }
    if (nodes[i].memory_budget_bytes < one_layer) {
      return absl::StrCat("its budget ", FormatBytes(nodes[i].memory_budget_bytes),
                          " is below the ", FormatBytes(one_layer),
                          " one layer needs (weights + KV for ", context, " tokens + buffers)");
    }
    const int j =
        static_cast<int>(std::find(considered.begin(), considered.end(), i) - considered.begin());
    if (single && at(1u << j, n_layers).valid) {
      return absl::StrFormat("the model fits on %s, which is faster (%.1f vs %.1f ms/token)",
                             chosen, plan.ms_per_token, at(1u << j, n_layers).sum_ms);
    }
    if (!std::isfinite(best_with[j])) return std::string("no assignment that fits includes it");
    if (best_with[j] < plan.ms_per_token) {
      return absl::StrFormat(
          "a split including it saves only %.1f%% (%.1f -> %.1f ms/token), less than the %.0f%% "
          "that justifies more hops",
          100.0 * (1.0 - best_with[j] / plan.ms_per_token), plan.ms_per_token, best_with[j],
          100.0 * options.split_margin);
    }
    return absl::StrFormat(
        "including it would raise the estimated latency from %.1f to %.1f ms/token",
        plan.ms_per_token, best_with[j]);
  });
  return plan;
}

}  // namespace zen::daemon
