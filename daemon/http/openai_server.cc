// The only file that includes httplib.h: routes, authentication, error shapes, and the glue
// between httplib's responses and generation_runner's request logic.
#include "daemon/http/openai_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "daemon/http/generation_runner.h"
#include "daemon/http/openai_request.h"
#include "daemon/http/request_preparation.h"
#include "spdlog/spdlog.h"

namespace zen::http {
namespace {

constexpr char kJsonType[] = "application/json";

void SendJson(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(DumpJson(body), kJsonType);
}

void SendError(httplib::Response& res, const ApiError& error) {
  if (error.http_status == 401) res.set_header("WWW-Authenticate", "Bearer");
  SendJson(res, error.http_status, ErrorBody(error));
}

// The default message for errors httplib raises itself (no route, body too large...).
std::string DefaultErrorMessage(const httplib::Request& req, int status, size_t max_body) {
  switch (status) {
    case 404:
      return absl::StrCat("no route for ", req.method, " ", req.path,
                          "; see GET /v1/models, POST /v1/chat/completions, POST "
                          "/v1/completions, GET /health");
    case 413:
      return absl::StrCat("request body is larger than ", max_body, " bytes");
    case 400:
      return "malformed HTTP request";
    default:
      return absl::StrCat("HTTP error ", status);
  }
}

Json NodeJson(const NodeStatus& node) {
  Json json = Json::object();
  json["name"] = node.name;
  json["address"] = node.address;
  json["state"] = node.state;
  if (node.first_layer >= 0) {
    json["layers"] = Json::array({node.first_layer, node.last_layer});
  } else {
    json["layers"] = nullptr;
  }
  return json;
}

Json ModelJson(const ModelInfo& model) {
  Json json = Json::object();
  json["id"] = model.id;
  json["object"] = "model";
  json["created"] = model.created;
  json["owned_by"] = model.owned_by;
  if (model.context_length > 0) json["context_length"] = model.context_length;
  return json;
}

// httplib listens with a backlog of 5, compiled into Debian's library. A burst of clients
// (32 browser tabs, a load test) overflows that, and the dropped handshakes stall for a TCP
// retransmission, long enough for httplib to give up on the connection.
class WideBacklogServer : public httplib::Server {
 public:
  // Re-listens on the bound socket; Linux then applies the new backlog.
  bool WidenBacklog(int backlog) { return ::listen(svr_sock_.load(), backlog) == 0; }
};

constexpr int kListenBacklog = 512;

}  // namespace

absl::StatusOr<std::pair<std::string, int>> ParseListenAddress(std::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("--http \"", std::string(text),
                                                   "\": expected ADDR:PORT, e.g. 127.0.0.1:8080"));
  }
  std::string host(text.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "127.0.0.1";
  const std::string_view port_text = text.substr(colon + 1);
  int port = -1;
  auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (error != std::errc() || end != port_text.data() + port_text.size() || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--http \"", std::string(text), "\": port must be a number from 0 to 65535"));
  }
  return std::make_pair(std::move(host), port);
}

class OpenAiHttpServer::Impl {
 public:
  Impl(const OpenAiServerOptions& options, InferenceBackend& backend)
      : options_(options), backend_(backend) {}

  absl::Status Start();
  void Stop();
  int port() const { return port_; }

 private:
  // Registers a request's CancelToken so Stop() can end it; one per generation.
  class ActiveRequest {
   public:
    explicit ActiveRequest(Impl& impl) : impl_(impl) {
      std::lock_guard lock(impl_.mutex_);
      if (impl_.stopping_) token_.Cancel();
      impl_.active_.insert(&token_);
    }
    ~ActiveRequest() {
      std::lock_guard lock(impl_.mutex_);
      impl_.active_.erase(&token_);
    }
    CancelToken& token() { return token_; }

   private:
    Impl& impl_;
    CancelToken token_;
  };

  void InstallRoutes();
  httplib::Server::HandlerResponse Authenticate(const httplib::Request& req,
                                                httplib::Response& res);
  void HandleHealth(httplib::Response& res);
  void HandleModels(const httplib::Request& req, httplib::Response& res);
  void HandleGeneration(const httplib::Request& req, httplib::Response& res, bool chat);

  const OpenAiServerOptions options_;
  InferenceBackend& backend_;
  WideBacklogServer server_;
  std::thread listener_;
  int port_ = 0;

  std::mutex mutex_;
  bool stopping_ = false;          // guarded by mutex_
  std::set<CancelToken*> active_;  // guarded by mutex_
};

absl::Status OpenAiHttpServer::Impl::Start() {
  const size_t threads = static_cast<size_t>(std::max(2, options_.threads));
  // httplib takes ownership of the queue it gets from this factory and deletes it.
  server_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server_.set_payload_max_length(options_.max_body_bytes);
  server_.set_keep_alive_timeout(std::max(1, options_.keep_alive_seconds));
  // httplib's default sets SO_REUSEPORT, which lets a second zend bind the same port and
  // silently share it; SO_REUSEADDR alone still allows a quick restart.
  server_.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  InstallRoutes();

  if (options_.port == 0) {
    port_ = server_.bind_to_any_port(options_.bind_address);
  } else {
    port_ = server_.bind_to_port(options_.bind_address, options_.port) ? options_.port : -1;
  }
  if (port_ <= 0) {
    port_ = 0;
    return absl::UnavailableError(absl::StrCat("HTTP: cannot listen on ", options_.bind_address,
                                               ":", options_.port,
                                               " (address in use or not local?)"));
  }
  if (!server_.WidenBacklog(kListenBacklog)) {
    spdlog::warn("HTTP: could not widen the listen backlog; bursts of clients may stall");
  }
  listener_ = std::thread([this] { server_.listen_after_bind(); });
  // httplib's stop() does nothing until the listener has marked itself running, so Stop()
  // right after Start() would otherwise leave the listener (and join) hanging.
  while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return absl::OkStatus();
}

void OpenAiHttpServer::Impl::Stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    for (CancelToken* token : active_) token->Cancel();
  }
  server_.stop();
  if (listener_.joinable()) listener_.join();
}

void OpenAiHttpServer::Impl::InstallRoutes() {
  server_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    return Authenticate(req, res);
  });
  server_.set_error_handler(httplib::Server::HandlerWithResponse(
      [this](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        ApiError error;
        error.http_status = res.status;
        error.message = DefaultErrorMessage(req, res.status, options_.max_body_bytes);
        SendError(res, error);
        return httplib::Server::HandlerResponse::Handled;
      }));
  server_.set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr thrown) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(thrown);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        spdlog::error("HTTP {} {}: internal error: {}", req.method, req.path, what);
        SendError(res, ApiError{500, "internal error: " + what, "", ""});
      });

  server_.Get("/health",
              [this](const httplib::Request&, httplib::Response& res) { HandleHealth(res); });
  server_.Get("/v1/models", [this](const httplib::Request& req, httplib::Response& res) {
    HandleModels(req, res);
  });
  server_.Get("/v1/models/(.+)", [this](const httplib::Request& req, httplib::Response& res) {
    HandleModels(req, res);
  });
  server_.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    HandleGeneration(req, res, /*chat=*/true);
  });
  server_.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
    HandleGeneration(req, res, /*chat=*/false);
  });

  // Known paths with the wrong method get 405 rather than httplib's 404.
  auto method_not_allowed = [](const char* allowed) {
    return [allowed](const httplib::Request& req, httplib::Response& res) {
      res.set_header("Allow", allowed);
      SendError(res, ApiError{405,
                              absl::StrCat(req.method, " is not allowed on ", req.path, "; use ",
                                           allowed),
                              "", "method_not_allowed"});
    };
  };
  for (const char* path : {"/v1/chat/completions", "/v1/completions"}) {
    server_.Get(path, method_not_allowed("POST"));
    server_.Put(path, method_not_allowed("POST"));
    server_.Patch(path, method_not_allowed("POST"));
    server_.Delete(path, method_not_allowed("POST"));
  }
  for (const char* path : {"/health", "/v1/models"}) {
    server_.Post(path, method_not_allowed("GET"));
    server_.Put(path, method_not_allowed("GET"));
    server_.Patch(path, method_not_allowed("GET"));
    server_.Delete(path, method_not_allowed("GET"));
  }
}

httplib::Server::HandlerResponse OpenAiHttpServer::Impl::Authenticate(const httplib::Request& req,
                                                                      httplib::Response& res) {
  if (!options_.api_key_verifier) return httplib::Server::HandlerResponse::Unhandled;
  const std::string header = req.get_header_value("Authorization");
  constexpr std::string_view kScheme = "bearer ";
  std::string_view token;
  if (header.size() > kScheme.size() &&
      absl::AsciiStrToLower(header.substr(0, kScheme.size())) == kScheme) {
    token = std::string_view(header).substr(kScheme.size());
    const size_t first = token.find_first_not_of(" \t");
    token = first == std::string_view::npos
                ? std::string_view()
                : token.substr(first, token.find_last_not_of(" \t") - first + 1);
  }
  if (!token.empty() && options_.api_key_verifier(token)) {
    return httplib::Server::HandlerResponse::Unhandled;
  }
  SendError(res, ApiError{401,
                          token.empty() ? "missing API key: send \"Authorization: Bearer KEY\" "
                                          "(create one with `zend apikey create`)"
                                        : "invalid API key",
                          "", "invalid_api_key"});
  return httplib::Server::HandlerResponse::Handled;
}

void OpenAiHttpServer::Impl::HandleHealth(httplib::Response& res) {
  const BackendStatus status = backend_.Health();
  Json body = Json::object();
  body["status"] = status.ready ? "ok" : "unavailable";
  body["ready"] = status.ready;
  body["detail"] = status.detail;
  Json nodes = Json::array();
  for (const NodeStatus& node : status.nodes) nodes.push_back(NodeJson(node));
  body["nodes"] = std::move(nodes);
  SendJson(res, status.ready ? 200 : 503, body);
}

void OpenAiHttpServer::Impl::HandleModels(const httplib::Request& req, httplib::Response& res) {
  const std::vector<ModelInfo> models = backend_.Models();
  if (req.matches.size() > 1) {
    const std::string wanted = req.matches[1].str();
    for (const ModelInfo& model : models) {
      if (model.id == wanted) return SendJson(res, 200, ModelJson(model));
    }
    return SendError(res, ApiError{404, absl::StrCat("model \"", wanted, "\" does not exist"),
                                   "model", "model_not_found"});
  }
  Json data = Json::array();
  for (const ModelInfo& model : models) data.push_back(ModelJson(model));
  SendJson(res, 200, Json::object({{"object", "list"}, {"data", std::move(data)}}));
}

void OpenAiHttpServer::Impl::HandleGeneration(const httplib::Request& req, httplib::Response& res,
                                              bool chat) {
  Json body;
  if (auto error = ParseJsonBody(req.body, body)) return SendError(res, *error);
  auto prepared = std::make_shared<PreparedGeneration>();
  bool stream = false;
  if (chat) {
    ChatRequest request;
    if (auto error = ParseChatRequest(body, request)) return SendError(res, *error);
    if (auto error = PrepareChat(backend_, request, *prepared)) return SendError(res, *error);
    stream = request.common.stream;
  } else {
    CompletionRequest request;
    if (auto error = ParseCompletionRequest(body, request)) return SendError(res, *error);
    if (auto error = PrepareCompletion(backend_, request, *prepared)) return SendError(res, *error);
    stream = request.common.stream;
  }

  if (!stream) {
    ActiveRequest active(*this);
    auto result = CompleteGeneration(backend_, *prepared, active.token());
    if (auto* error = std::get_if<ApiError>(&result)) return SendError(res, *error);
    return SendJson(res, 200, std::get<Json>(result));
  }

  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");  // proxies must not hold SSE back
  // Exactly "text/event-stream": httplib never compresses that type, so every event is
  // flushed as it is written.
  res.set_chunked_content_provider(
      "text/event-stream", [this, prepared](size_t /*offset*/, httplib::DataSink& sink) {
        ActiveRequest active(*this);
        // A failed write means the client closed the connection; StreamGeneration then
        // returns false from the backend's callback, which cancels and frees the KV-cache.
        const bool delivered = StreamGeneration(
            backend_, *prepared, active.token(),
            [&sink](std::string_view bytes) { return sink.write(bytes.data(), bytes.size()); });
        if (delivered) sink.done();
        return delivered;
      });
}

OpenAiHttpServer::OpenAiHttpServer() = default;

OpenAiHttpServer::~OpenAiHttpServer() {
  Stop();
}

absl::Status OpenAiHttpServer::Start(const OpenAiServerOptions& options,
                                     InferenceBackend& backend) {
  if (impl_ != nullptr) return absl::FailedPreconditionError("HTTP server already started");
  auto impl = std::make_unique<Impl>(options, backend);
  if (absl::Status status = impl->Start(); !status.ok()) return status;
  impl_ = std::move(impl);
  spdlog::info("OpenAI-compatible HTTP API on http://{}:{}", options.bind_address, impl_->port());
  return absl::OkStatus();
}

void OpenAiHttpServer::Stop() {
  if (impl_ != nullptr) impl_->Stop();
}

int OpenAiHttpServer::port() const {
  return impl_ == nullptr ? 0 : impl_->port();
}

}  // namespace zen::http
