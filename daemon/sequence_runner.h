// The entry's handle on one sequence in the pipeline: submits its rows, waits for results
// with a bound, and releases its KV-cache on every node when it goes away.
#pragma once

#include <cstdint>
#include <future>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "daemon/node_daemon.h"

namespace zen::daemon {

// One sequence's traffic through a fixed plan.
class SequenceRunner {
 public:
  SequenceRunner(std::shared_ptr<const PipelineView> view, uint64_t seq_id,
                 pb::SequenceOptions options, int timeout_ms);
  // Releases the sequence on every node.
  ~SequenceRunner();

  // Sends tokens at positions [next_position, next_position + n) in batches of at most
  // max_batch_rows. want_all: a result for every row, else for the last row only.
  // Returns the futures in order; nothing waits here.
  std::vector<std::future<pb::ForwardResponse>> Feed(std::span<const int32_t> tokens,
                                                     bool want_all);
  // Waits for one result within the timeout; an error status in it becomes the Status.
  absl::StatusOr<pb::ForwardResponse> Wait(std::future<pb::ForwardResponse>& future);

  int64_t next_position() const { return next_position_; }
  uint64_t seq_id() const { return seq_id_; }

 private:
  std::shared_ptr<const PipelineView> view_;
  uint64_t seq_id_;
  pb::SequenceOptions options_;
  int timeout_ms_;
  int64_t next_position_ = 0;
  uint64_t next_batch_ = 1;
};

}  // namespace zen::daemon
