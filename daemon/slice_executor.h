// Runs this node's slice of the model for the whole cluster: one compute thread takes the
// batches of every upstream stream in order, merges what is waiting into one forward pass
// (continuous batching), and passes hidden rows downstream or, on the last slice, samples.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "absl/status/statusor.h"
#include "daemon/stage.h"
#include "node/gguf.h"
#include "node/layer_range.h"
#include "node/model_config.h"
#include "node/sampler.h"

namespace zen::daemon {

// How a node runs its slice.
struct SliceOptions {
  std::string node_name;  // for error messages
  int first_layer = 0;
  int last_layer = 0;
  int n_threads = 2;
  int64_t max_context = 4096;
  int max_batch_rows = 256;
  uint64_t plan_id = 0;
  pb::HiddenDType hidden_dtype = pb::HIDDEN_DTYPE_F16;  // what this slice sends downstream
};

// Recent activity, for heartbeats and `zen status`.
struct SliceStats {
  double rows_per_second = 0;
  int active_sequences = 0;
  int64_t weight_bytes = 0;
  int64_t kv_budget_bytes = 0;
};

// A local pipeline stage: this node's layers plus whatever is downstream of it.
class SliceExecutor : public Stage {
 public:
  // Loads the slice from `file` (which must outlive the executor). `downstream` is the next
  // hop, or nullptr on the last slice.
  static absl::StatusOr<std::unique_ptr<SliceExecutor>> Create(const node::GgufFile& file,
                                                               const node::ModelConfig& config,
                                                               const SliceOptions& options,
                                                               std::shared_ptr<Stage> downstream);
  // Fails whatever is still queued with UNAVAILABLE and joins the compute thread.
  ~SliceExecutor() override;

  void Submit(pb::Batch batch, BatchDone done) override;
  void SendControl(pb::Control control) override;

  const SliceOptions& options() const { return options_; }
  SliceStats Stats();

 private:
  struct Item {
    bool is_control = false;
    pb::Control control;
    pb::Batch batch;  // rows' metadata; hidden moved into `hidden`
    std::vector<node::BatchRow> rows;
    std::vector<float> hidden;
    BatchDone done;
  };

  SliceExecutor(const node::ModelConfig& config, const SliceOptions& options,
                std::shared_ptr<Stage> downstream);
  absl::Status Validate(const pb::Batch& batch) const;
  void Loop();
  void ApplyControl(const pb::Control& control);
  // Runs items as one forward pass; false when it failed with InvalidArgument (the items
  // are then retried alone so one malformed batch cannot fail the others).
  bool RunMerged(std::vector<Item>& items, bool report_invalid);
  void Finish(Item& item, const float* hidden_out, float* logits, int64_t* logits_row);
  void RecordRows(int64_t rows);

  const node::ModelConfig config_;
  const SliceOptions options_;
  const std::shared_ptr<Stage> downstream_;
  std::unique_ptr<node::LayerRange> range_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  bool stop_ = false;
  std::deque<std::pair<double, int64_t>> recent_rows_;  // (seconds, rows) of recent passes
  int active_sequences_ = 0;

  // Touched only by the compute thread.
  std::unordered_map<uint64_t, node::Sampler> samplers_;
  std::unordered_set<uint64_t> sequences_;
  std::vector<node::BatchRow> merged_rows_;
  std::vector<float> merged_hidden_, hidden_out_, logits_;
  std::thread thread_;
};

}  // namespace zen::daemon
