#include "daemon/admin_service.h"

#include <chrono>

#include <grpcpp/grpcpp.h>

#include "daemon/hop_client.h"
#include "daemon/leader.h"
#include "daemon/node_daemon.h"

namespace zen::daemon {
namespace {

// Non-leaders answer Admin calls by asking the leader.
template <typename Request, typename Response, typename Call>
grpc::Status AskLeader(NodeDaemon* daemon, const Request& request, Response* response, Call call) {
  auto channel = grpc::CreateCustomChannel(
      daemon->config().join, grpc::InsecureChannelCredentials(), PeerChannelArguments());
  auto stub = ::zen::v1::Admin::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  return call(stub.get(), &context, request, response);
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
                     return stub->GetStatus(context, req, resp);
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
                     return stub->GetPlan(context, req, resp);
                   });
}

}  // namespace zen::daemon
