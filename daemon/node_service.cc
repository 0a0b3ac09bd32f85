#include "daemon/node_service.h"

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "daemon/leader.h"
#include "daemon/node_daemon.h"
#include "daemon/node_identity.h"
#include "daemon/security/grpc_auth.h"

namespace zen::daemon {
namespace {

// The upstream side of one Forward stream as pipeline threads see it: they may answer
// after the handler returned, so writes go through this shared object, which refuses them
// once the stream is closed.
class UpstreamWriter {
 public:
  explicit UpstreamWriter(grpc::ServerReaderWriter<pb::ForwardResponse, pb::ForwardRequest>* s)
      : stream_(s) {}

  void Begin() {
    std::lock_guard<std::mutex> lock(mu_);
    ++in_flight_;
  }
  // Writes a result and counts its batch as answered.
  void Answer(const pb::ForwardResponse& response) {
    std::lock_guard<std::mutex> lock(mu_);
    if (stream_ != nullptr) stream_->Write(response);
    if (--in_flight_ == 0) idle_.notify_all();
  }
  // Writes an error that answers no counted batch.
  void Reject(const pb::ForwardResponse& response) {
    std::lock_guard<std::mutex> lock(mu_);
    if (stream_ != nullptr) stream_->Write(response);
  }
  // Waits for answers to every batch (bounded; gives up when the peer went away).
  void Drain(grpc::ServerContext* context, std::chrono::milliseconds limit) {
    std::unique_lock<std::mutex> lock(mu_);
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (in_flight_ > 0 && !context->IsCancelled() &&
           std::chrono::steady_clock::now() < deadline) {
      idle_.wait_for(lock, std::chrono::milliseconds(50));
    }
    stream_ = nullptr;
  }

 private:
  std::mutex mu_;
  std::condition_variable idle_;
  grpc::ServerReaderWriter<pb::ForwardResponse, pb::ForwardRequest>* stream_;
  int in_flight_ = 0;
};

}  // namespace

grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

grpc::Status NodeService::CheckPeer(const grpc::ServerContext& context) const {
  return security::AuthorizeClusterPeer(context,
                                        {.allow_public = daemon_->config().allow_public_peers,
                                         .require_certificate = daemon_->identity() != nullptr});
}

grpc::Status NodeService::RequireLeader(const char* what) const {
  if (daemon_->leader() != nullptr) return grpc::Status::OK;
  return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                      absl::StrCat("node ", daemon_->capabilities().name(), " is not the leader; ",
                                   what, " the node started without --join"));
}

grpc::Status NodeService::Join(grpc::ServerContext* context, const pb::JoinRequest* request,
                               pb::JoinResponse* response) {
  const security::ClusterIdentity* identity = daemon_->identity();
  if (identity != nullptr && !security::PeerNodeName(*context).has_value()) {
    // A caller without a certificate may only enroll: a valid join token gets it one.
    if (grpc::Status s = security::AuthorizeClusterPeer(
            *context,
            {.allow_public = daemon_->config().allow_public_peers, .require_certificate = false});
        !s.ok()) {
      return s;
    }
    if (grpc::Status s = RequireLeader("enroll with"); !s.ok()) return s;
    auto enrolled = EnrollNode(daemon_->config(), *identity, *request);
    if (!enrolled.ok()) return ToGrpc(enrolled.status());
    *response = *enrolled;
    response->set_leader_name(daemon_->capabilities().name());
    return grpc::Status::OK;
  }
  if (grpc::Status s = CheckPeer(*context); !s.ok()) return s;
  if (grpc::Status s = RequireLeader("join"); !s.ok()) return s;
  if (identity != nullptr) {
    // A member cannot take another member's place: its name is the one it enrolled with.
    const std::string certified = security::PeerNodeName(*context).value_or("");
    const std::string& name = request->capabilities().name();
    if (certified != CertificateName(name)) {
      return grpc::Status(
          grpc::StatusCode::PERMISSION_DENIED,
          absl::StrCat("node ", name, " presents the certificate of node ", certified,
                       "; start it with the --name it enrolled with, or enroll it anew (empty "
                       "--state-dir, --token)"));
    }
  }
  auto joined = daemon_->leader()->Join(request->capabilities());
  if (!joined.ok()) return ToGrpc(joined.status());
  *response = *joined;
  return grpc::Status::OK;
}

grpc::Status NodeService::Assign(grpc::ServerContext* context, const pb::AssignRequest* request,
                                 pb::AssignResponse* response) {
  if (grpc::Status s = CheckPeer(*context); !s.ok()) return s;
  auto assigned = daemon_->ApplyAssign(*request);
  if (!assigned.ok()) return ToGrpc(assigned.status());
  *response = *assigned;
  return grpc::Status::OK;
}

grpc::Status NodeService::Heartbeat(grpc::ServerContext* context, const pb::HeartbeatRequest*,
                                    pb::HeartbeatResponse* response) {
  if (grpc::Status s = CheckPeer(*context); !s.ok()) return s;
  daemon_->NoteHeartbeat();
  *response->mutable_status() = daemon_->LocalStatus();
  return grpc::Status::OK;
}

grpc::Status NodeService::Forward(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<pb::ForwardResponse, pb::ForwardRequest>* stream) {
  if (grpc::Status s = CheckPeer(*context); !s.ok()) return s;
  auto writer = std::make_shared<UpstreamWriter>(stream);
  pb::ForwardRequest request;
  while (stream->Read(&request)) {
    std::shared_ptr<SliceExecutor> executor = daemon_->executor();
    if (request.has_batch()) {
      const uint64_t id = request.batch().batch_id();
      if (executor == nullptr) {
        writer->Reject(ErrorResponse(
            id, static_cast<int>(grpc::StatusCode::FAILED_PRECONDITION),
            absl::StrCat("node ", daemon_->capabilities().name(), " holds no slice")));
        continue;
      }
      writer->Begin();
      executor->Submit(std::move(*request.mutable_batch()),
                       [writer](pb::ForwardResponse response) { writer->Answer(response); });
    } else if (request.has_control()) {
      if (executor != nullptr) executor->SendControl(std::move(*request.mutable_control()));
    } else {
      writer->Reject(ErrorResponse(0, static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT),
                                   "a Forward message must carry a batch or a control"));
    }
  }
  writer->Drain(context, std::chrono::milliseconds(daemon_->config().request_timeout_ms));
  return grpc::Status::OK;
}

grpc::Status NodeService::ClusterStatus(grpc::ServerContext* context,
                                        const ::zen::v1::StatusRequest*,
                                        ::zen::v1::ClusterStatus* response) {
  if (grpc::Status s = CheckPeer(*context); !s.ok()) return s;
  if (grpc::Status s = RequireLeader("ask"); !s.ok()) return s;
  *response = daemon_->leader()->Status();
  return grpc::Status::OK;
}

grpc::Status NodeService::ClusterPlan(grpc::ServerContext* context, const ::zen::v1::PlanRequest*,
                                      ::zen::v1::PlanResponse* response) {
  if (grpc::Status s = CheckPeer(*context); !s.ok()) return s;
  if (grpc::Status s = RequireLeader("ask"); !s.ok()) return s;
  *response = daemon_->leader()->PlanInfo();
  return grpc::Status::OK;
}

}  // namespace zen::daemon
