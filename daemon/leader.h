// The leader's side of membership: who is in the cluster, whether they are alive, and
// which plan they run. One thread heartbeats the members and re-plans when membership
// changes; Join only records and wakes it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "daemon/planner.h"
#include "daemon/stage.h"
#include "zen/node/v1/node.grpc.pb.h"
#include "zen/v1/zen.pb.h"

namespace zen::daemon {

class NodeDaemon;

// Membership, heartbeats and planning; lives only in the leader's process.
class Leader {
 public:
  explicit Leader(NodeDaemon* self);
  // Stops and joins the membership thread.
  ~Leader();

  // Adds the leader itself and starts the membership thread.
  void Start();
  void Stop();

  // Admits a member (or re-admits one that restarted). FailedPrecondition, naming the node,
  // for a protocol or model mismatch.
  absl::StatusOr<pb::JoinResponse> Join(const pb::Capabilities& capabilities);

  // The cluster as `zen status` shows it.
  ::zen::v1::ClusterStatus Status();
  // The current plan with its figures, or why there is none.
  ::zen::v1::PlanResponse PlanInfo();

 private:
  struct Member {
    pb::Capabilities capabilities;
    pb::NodeState state = pb::NODE_STATE_JOINED;
    pb::NodeStatus status;
    std::shared_ptr<pb::Node::Stub>
        stub;  // nullptr for the leader itself; shared with calls in flight
    int misses = 0;
    std::string error;  // why it is not serving, when it is not
  };

  // The answer to an admitted Join.
  pb::JoinResponse Welcome() const;
  void Loop();
  void HeartbeatMembers();
  // Plans over the live members and assigns every slice; sets dirty_ again on failure.
  void Replan();

  NodeDaemon* const self_;
  ModelProfile profile_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool dirty_ = true;            // membership changed since the last plan
  bool formed_ = false;          // a plan has been assigned once
  std::vector<Member> members_;  // join order; the leader first
  Plan plan_;
  pb::Plan plan_proto_;
  bool has_plan_ = false;
  std::string plan_error_ = "waiting for nodes";
  uint64_t next_plan_id_;
  std::thread thread_;
};

}  // namespace zen::daemon
