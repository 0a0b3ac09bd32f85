#include "daemon/admin_service.h"

#include <chrono>

#include <grpcpp/grpcpp.h>

#include "daemon/leader.h"
#include "daemon/node_daemon.h"

namespace zen::daemon {
namespace {

// Non-leaders answer Admin calls by asking the leader on its node port (as a cluster
// peer: the leader's client API may be loopback-only or need a key this node lacks).
template <typename Request, typename Response, typename Call>
grpc::Status AskLeader(NodeDaemon* daemon, const Request& request, Response* response, Call call) {
  auto stub = pb::Node::NewStub(daemon->PeerChannel(daemon->config().join));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::Status status = call(stub.get(), &context, request, response);
  if (!status.ok()) {
    return grpc::Status(status.error_code(), "asking the leader at " + daemon->config().join +
                                                 ": " + status.error_message());
  }
  return status;
}

}  // namespace

grpc::Status AdminService::GetStatus(grpc::ServerContext* context,
                                     const ::zen::v1::StatusRequest* request,
                                     ::zen::v1::ClusterStatus* response) {
  if (authorize_) {
    if (grpc::Status s = authorize_(*context); !s.ok()) return s;
  }
  if (daemon_->leader() != nullptr) {
    *response = daemon_->leader()->Status();
    return grpc::Status::OK;
  }
  return AskLeader(daemon_, *request, response,
                   [](auto* stub, auto* context, const auto& req, auto* resp) {
                     return stub->ClusterStatus(context, req, resp);
                   });
}

grpc::Status AdminService::GetPlan(grpc::ServerContext* context,
                                   const ::zen::v1::PlanRequest* request,
                                   ::zen::v1::PlanResponse* response) {
  if (authorize_) {
    if (grpc::Status s = authorize_(*context); !s.ok()) return s;
  }
  if (daemon_->leader() != nullptr) {
    *response = daemon_->leader()->PlanInfo();
    return grpc::Status::OK;
  }
  return AskLeader(daemon_, *request, response,
                   [](auto* stub, auto* context, const auto& req, auto* resp) {
                     return stub->ClusterPlan(context, req, resp);
                   });
}

}  // namespace zen::daemon
