// zend's InferenceBackend: serves the OpenAI-compatible HTTP API from this node as the
// pipeline's entry, through the same generation loop as the gRPC Inference service.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/http/inference_backend.h"
#include "daemon/node_daemon.h"

namespace zen::daemon {

// The daemon as an http::InferenceBackend; `daemon` must outlive it.
class DaemonHttpBackend final : public http::InferenceBackend {
 public:
  explicit DaemonHttpBackend(NodeDaemon* daemon);

  http::BackendStatus Health() override;
  std::vector<http::ModelInfo> Models() override;
  int ContextLength(const std::string& model) override;
  node::ChatTemplate ChatTemplateFor(const std::string& model) override;
  absl::StatusOr<std::vector<int32_t>> Tokenize(const std::string& model,
                                                std::string_view text) override;
  absl::Status Generate(const http::GenerateRequest& request,
                        const http::GenerateCallback& on_event, http::CancelToken& cancel) override;

  // The model id clients name: the GGUF file name without its extension.
  const std::string& model_id() const { return model_id_; }

 private:
  NodeDaemon* const daemon_;
  std::string model_id_;
  int64_t created_ = 0;
};

}  // namespace zen::daemon
