#include "daemon/sequence_runner.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"

namespace zen::daemon {

SequenceRunner::SequenceRunner(std::shared_ptr<const PipelineView> view, uint64_t seq_id,
                               pb::SequenceOptions options, int timeout_ms)
    : view_(std::move(view)),
      seq_id_(seq_id),
      options_(std::move(options)),
      timeout_ms_(timeout_ms) {
  options_.set_seq_id(seq_id);
}

SequenceRunner::~SequenceRunner() {
  pb::Control release;
  release.set_kind(pb::Control::KIND_RELEASE);
  release.set_seq_id(seq_id_);
  view_->first_stage->SendControl(release);
}

std::vector<std::future<pb::ForwardResponse>> SequenceRunner::Feed(std::span<const int32_t> tokens,
                                                                   bool want_all) {
  std::vector<std::future<pb::ForwardResponse>> futures;
  const size_t step = static_cast<size_t>(std::max(1, view_->max_batch_rows));
  for (size_t start = 0; start < tokens.size(); start += step) {
    const size_t end = std::min(tokens.size(), start + step);
    pb::Batch batch;
    batch.set_batch_id(next_batch_++);
    batch.set_plan_id(view_->plan.plan_id());
    for (size_t i = start; i < end; ++i) {
      batch.add_seq_ids(seq_id_);
      batch.add_positions(next_position_++);
      batch.add_tokens(tokens[i]);
      batch.add_want_output(want_all || i + 1 == tokens.size());
    }
    *batch.add_options() = options_;
    auto promise = std::make_shared<std::promise<pb::ForwardResponse>>();
    futures.push_back(promise->get_future());
    view_->first_stage->Submit(std::move(batch), [promise](pb::ForwardResponse response) {
      promise->set_value(std::move(response));
    });
  }
  return futures;
}

absl::StatusOr<pb::ForwardResponse> SequenceRunner::Wait(std::future<pb::ForwardResponse>& future) {
  if (future.wait_for(std::chrono::milliseconds(timeout_ms_)) != std::future_status::ready) {
    return absl::DeadlineExceededError(absl::StrCat(
        "the pipeline did not answer within ", timeout_ms_, " ms (plan ", view_->plan.plan_id(),
        ", first node ", view_->plan.slices(0).node_name(), ")"));
  }
  pb::ForwardResponse response = future.get();
  if (response.status_code() != 0) {
    return absl::Status(static_cast<absl::StatusCode>(response.status_code()),
                        response.status_message());
  }
  return response;
}

}  // namespace zen::daemon
