// A pipeline stage as seen from upstream: something that takes a batch and, later, calls
// back with the pipeline's answer. A local slice and a network hop both look like this.
#pragma once

#include <functional>
#include <string>

#include "zen/node/v1/node.pb.h"

namespace zen::daemon {

namespace pb = ::zen::node::v1;

// Called exactly once per submitted batch, from some pipeline thread; must not block long.
using BatchDone = std::function<void(pb::ForwardResponse)>;

// Takes batches and controls, in order, for the rest of the pipeline.
class Stage {
 public:
  virtual ~Stage() = default;
  // Queues a batch; `done` receives the result of the last slice (or an error).
  virtual void Submit(pb::Batch batch, BatchDone done) = 0;
  // Queues a control; it applies after every batch submitted before it.
  virtual void SendControl(pb::Control control) = 0;
};

// A response carrying only an error for `batch_id`.
inline pb::ForwardResponse ErrorResponse(uint64_t batch_id, int code, std::string message) {
  pb::ForwardResponse r;
  r.set_batch_id(batch_id);
  r.set_status_code(code);
  r.set_status_message(std::move(message));
  return r;
}

}  // namespace zen::daemon
