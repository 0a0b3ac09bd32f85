// The engine every node runs: layers [first, last] of one model, with their KV-cache.
// The first slice also embeds tokens; the last also applies the final norm and LM head.
// A single machine is the range covering every layer.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/quant_types.h"
#include "node/model_config.h"

namespace zen::kernels {
class ThreadPool;
}

namespace zen::node {

class GgufFile;
class KvCache;

// How a node runs its slice.
struct LayerRangeOptions {
  int first_layer = 0;
  int last_layer = -1;  // -1: the model's last layer
  int n_threads = 2;
  kernels::TensorType kv_type = kernels::TensorType::kF16;  // F16, BF16 or Q8_0
  int64_t kv_budget_bytes = 0;   // 0: room for max_context tokens of one sequence
  int64_t max_context = 0;       // 0: the model's training context
  int64_t max_batch_rows = 512;  // rows per Forward call (buffers are sized once for this)
};

// One row of a batch: which sequence, which position, and (first slice) which token.
struct BatchRow {
  uint64_t seq_id = 0;
  int64_t pos = 0;
  int32_t token = 0;         // used by the first slice only
  bool want_logits = false;  // last slice: produce a logits row for this row
};

// Holds and runs a contiguous slice of layers.
class LayerRange {
 public:
  // Loads the slice's tensors from `file` (which must outlive this object).
  static absl::StatusOr<std::unique_ptr<LayerRange>> Create(const GgufFile& file,
                                                            const ModelConfig& config,
                                                            const LayerRangeOptions& options);
  ~LayerRange();

  const ModelConfig& config() const { return config_; }
  int first_layer() const { return first_layer_; }
  int last_layer() const { return last_layer_; }
  bool is_first() const { return first_layer_ == 0; }
  bool is_last() const { return last_layer_ == config_.n_layers - 1; }

  // Runs one batch. Rows of a sequence must come in position order and continue its cache
  // (pos == current length). hidden_in: [rows][n_embd] unless is_first(). When !is_last(),
  // hidden_out receives [rows][n_embd]; when is_last(), logits_out receives one
  // [n_vocab] row per row with want_logits, in row order. Invalid rows fail the whole call
  // with InvalidArgument before any cache is touched.
  absl::Status Forward(std::span<const BatchRow> rows, const float* hidden_in, float* hidden_out,
                       float* logits_out);

  // Drops a sequence's cache.
  void ReleaseSequence(uint64_t seq_id);
  // Keeps the first n_keep positions of a sequence's cache.
  absl::Status TruncateSequence(uint64_t seq_id, int64_t n_keep);
  // Cached positions of a sequence (0 when unknown).
  int64_t SequenceLength(uint64_t seq_id) const;

  // Longest sequence this slice accepts (positions 0 .. max_context-1).
  int64_t max_context() const;

  // Bytes of weights this slice maps, and of its KV budget.
  int64_t weight_bytes() const { return weight_bytes_; }
  int64_t kv_budget_bytes() const;

 private:
  struct Impl;
  LayerRange() = default;
  ModelConfig config_;
  int first_layer_ = 0;
  int last_layer_ = 0;
  int64_t weight_bytes_ = 0;
  std::unique_ptr<Impl> impl_;
};

}  // namespace zen::node
