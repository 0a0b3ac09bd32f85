#include "daemon/admin_service.h"

#include <chrono>

#include <grpcpp/grpcpp.h>

#include "daemon/leader.h"
#include "daemon/node_daemon.h"

namespace zen::daemon {
namespace {

// Non-leaders answer Admin calls by asking the leader on its node port (as a cluster
// peer: the leader's client API may be loopback-only or need a key this node lacks).
template <typename Request, typename Response, typename StubCall>
grpc::Status AskLeader(NodeDaemon* daemon, const Request& request, Response* response,
                       StubCall call) {
  auto stub = pb::Node::NewStub(daemon->PeerChannel(daemon->config().join));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::Status status = ((*stub).*call)(&context, request, response);
  if (!status.ok()) {
    return grpc::Status(status.error_code(), "asking the leader at " + daemon->config().join +
                                                 ": " + status.error_message());
  }
  return status;
}

}  // namespace

template <typename Request, typename Response, typename LeaderCall, typename StubCall>
grpc::Status AdminService::Answer(grpc::ServerContext* context, const Request& request,
                                  Response* response, LeaderCall from_leader, StubCall ask_leader) {
  if (authorize_) {
    if (grpc::Status s = authorize_(*context); !s.ok()) return s;
  }
  if (Leader* leader = daemon_->leader(); leader != nullptr) {
    *response = (leader->*from_leader)();
    return grpc::Status::OK;
  }
  return AskLeader(daemon_, request, response, ask_leader);
}

grpc::Status AdminService::GetStatus(grpc::ServerContext* context,
                                     const ::zen::v1::StatusRequest* request,
                                     ::zen::v1::ClusterStatus* response) {
  return Answer(context, *request, response, &Leader::Status, &pb::Node::Stub::ClusterStatus);
}

grpc::Status AdminService::GetPlan(grpc::ServerContext* context,
                                   const ::zen::v1::PlanRequest* request,
                                   ::zen::v1::PlanResponse* response) {
  return Answer(context, *request, response, &Leader::PlanInfo, &pb::Node::Stub::ClusterPlan);
}

}  // namespace zen::daemon
