// The public zen.v1 Inference service of a daemon: runs requests as this node's entry.
#pragma once

#include <functional>
#include <memory>

#include "daemon/request_registry.h"
#include "zen/v1/zen.grpc.pb.h"

namespace zen::daemon {

class NodeDaemon;
class DaemonHttpBackend;

// Checks a client call before a public handler runs (API keys when the client API listens
// beyond loopback); a non-OK status is returned to the caller as is. Empty: allow all.
using RequestAuthorizer = std::function<grpc::Status(const grpc::ServerContextBase&)>;

// Generate, Chat, Tokenize, ListModels, Cancel and Logits over the current plan. Chat goes
// through the same preparation and output parsing as the OpenAI-compatible HTTP API.
// Generate and Chat stop, and free their KV-cache on every node, when their deadline
// passes, their client goes away or a Cancel call names them.
class InferenceService final : public ::zen::v1::Inference::Service {
 public:
  explicit InferenceService(NodeDaemon* daemon, RequestAuthorizer authorize = nullptr);
  ~InferenceService() override;

  grpc::Status Generate(grpc::ServerContext* context, const ::zen::v1::GenerateRequest* request,
                        grpc::ServerWriter<::zen::v1::GenerateResponse>* writer) override;
  grpc::Status Chat(grpc::ServerContext* context, const ::zen::v1::ChatRequest* request,
                    grpc::ServerWriter<::zen::v1::ChatResponse>* writer) override;
  grpc::Status Tokenize(grpc::ServerContext* context, const ::zen::v1::TokenizeRequest* request,
                        ::zen::v1::TokenizeResponse* response) override;
  grpc::Status ListModels(grpc::ServerContext* context, const ::zen::v1::ListModelsRequest* request,
                          ::zen::v1::ListModelsResponse* response) override;
  grpc::Status Cancel(grpc::ServerContext* context, const ::zen::v1::CancelRequest* request,
                      ::zen::v1::CancelResponse* response) override;
  grpc::Status Logits(grpc::ServerContext* context, const ::zen::v1::LogitsRequest* request,
                      grpc::ServerWriter<::zen::v1::LogitsChunk>* writer) override;

 private:
  // Registers a Generate or Chat call; its token also fires on the call's deadline or
  // disconnect.
  std::unique_ptr<RequestRegistry::Entry> Register(grpc::ServerContext* context);

  NodeDaemon* const daemon_;
  RequestAuthorizer authorize_;
  std::unique_ptr<DaemonHttpBackend> backend_;
  RequestRegistry requests_;
};

}  // namespace zen::daemon
