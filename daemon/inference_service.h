// The public zen.v1 Inference service of a daemon: runs requests as this node's entry.
#pragma once

#include <functional>

#include "zen/v1/zen.grpc.pb.h"

namespace zen::daemon {

class NodeDaemon;

// Checks a client call before a public handler runs (API keys when the client API listens
// beyond loopback); a non-OK status is returned to the caller as is. Empty: allow all.
using RequestAuthorizer = std::function<grpc::Status(const grpc::ServerContextBase&)>;

// Generate and Logits over the current plan.
class InferenceService final : public ::zen::v1::Inference::Service {
 public:
  explicit InferenceService(NodeDaemon* daemon, RequestAuthorizer authorize = nullptr)
      : daemon_(daemon), authorize_(std::move(authorize)) {}

  grpc::Status Generate(grpc::ServerContext* context, const ::zen::v1::GenerateRequest* request,
                        grpc::ServerWriter<::zen::v1::GenerateResponse>* writer) override;
  grpc::Status Logits(grpc::ServerContext* context, const ::zen::v1::LogitsRequest* request,
                      grpc::ServerWriter<::zen::v1::LogitsChunk>* writer) override;

 private:
  NodeDaemon* const daemon_;
  RequestAuthorizer authorize_;
};

}  // namespace zen::daemon
