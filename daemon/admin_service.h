// The public zen.v1 Admin service: reports the cluster (answered by the leader; other
// nodes ask it).
#pragma once

#include "daemon/inference_service.h"
#include "zen/v1/zen.grpc.pb.h"

namespace zen::daemon {

class NodeDaemon;

// Cluster status and plan.
class AdminService final : public ::zen::v1::Admin::Service {
 public:
  explicit AdminService(NodeDaemon* daemon, RequestAuthorizer authorize = nullptr)
      : daemon_(daemon), authorize_(std::move(authorize)) {}

  grpc::Status GetStatus(grpc::ServerContext* context, const ::zen::v1::StatusRequest* request,
                         ::zen::v1::ClusterStatus* response) override;
  grpc::Status GetPlan(grpc::ServerContext* context, const ::zen::v1::PlanRequest* request,
                       ::zen::v1::PlanResponse* response) override;

 private:
  // The shared shape of every Admin call: authorize, then the leader answers from its
  // own state and a member asks the leader over the node port.
  template <typename Request, typename Response, typename LeaderCall, typename StubCall>
  grpc::Status Answer(grpc::ServerContext* context, const Request& request, Response* response,
                      LeaderCall from_leader, StubCall ask_leader);

  NodeDaemon* const daemon_;
  RequestAuthorizer authorize_;
};

}  // namespace zen::daemon
