// Test support for the HTTP API tests: a scripted InferenceBackend, a server fixture on an
// ephemeral loopback port, SSE splitting and a raw-socket client that can hang up mid-way.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "daemon/http/inference_backend.h"
#include "daemon/http/openai_server.h"
#include "node/chat_template.h"

namespace zen::http::testing {

using Json = nlohmann::ordered_json;

// Generates a fixed script of text pieces, one "token" each; tokenizes one token per byte
// of the prompt. Records every request and how each generation ended.
class FakeBackend : public InferenceBackend {
 public:
  std::atomic<bool> ready{true};
  std::atomic<int> context_length{4096};
  std::atomic<int> token_delay_ms{0};
  std::atomic<bool> endless{false};  // repeat the script until cancelled
  std::string model_id = "zen-test-model";

  std::atomic<int> started{0};
  std::atomic<int> cancelled{0};  // stopped by on_event returning false or the token
  std::atomic<int> finished{0};   // sent a final event
  std::atomic<int> running{0};

  void SetScript(std::vector<std::string> script, FinishReason last = FinishReason::kStop) {
    std::lock_guard lock(mutex_);
    script_ = std::move(script);
    last_ = last;
  }
  // Generate() returns this before any event when not OK.
  void SetStartError(absl::Status status) {
    std::lock_guard lock(mutex_);
    start_error_ = std::move(status);
  }
  std::vector<GenerateRequest> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  GenerateRequest last_request() {
    std::lock_guard lock(mutex_);
    return requests_.empty() ? GenerateRequest{} : requests_.back();
  }

  BackendStatus Health() override {
    BackendStatus status;
    status.ready = ready.load();
    status.detail = status.ready ? "1 node" : "loading slices";
    status.nodes.push_back(NodeStatus{"laptop", "127.0.0.1:7070", "ready", 0, 27});
    return status;
  }
  std::vector<ModelInfo> Models() override {
    return {ModelInfo{model_id, 1700000000, "zen", context_length.load()}};
  }
  int ContextLength(const std::string&) override { return context_length.load(); }
  node::ChatTemplate ChatTemplateFor(const std::string&) override {
    return node::ChatTemplate(node::ChatFamily::kQwen3);
  }
  absl::StatusOr<std::vector<int32_t>> Tokenize(const std::string&,
                                                std::string_view text) override {
    return std::vector<int32_t>(text.begin(), text.end());
  }

  absl::Status Generate(const GenerateRequest& request, const GenerateCallback& on_event,
                        CancelToken& cancel) override {
    std::vector<std::string> script;
    FinishReason last;
    {
      std::lock_guard lock(mutex_);
      if (!start_error_.ok()) return start_error_;
      requests_.push_back(request);
      script = script_;
      last = last_;
    }
    ++started;
    ++running;
    struct Leave {
      std::atomic<int>& running;
      ~Leave() { --running; }
    } leave{running};
    GenerateEvent event;
    event.usage.prompt_tokens = static_cast<int>(request.prompt_tokens.size());
    for (size_t i = 0; endless.load() || i < script.size(); ++i) {
      if (token_delay_ms > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(token_delay_ms.load()));
      }
      if (cancel.cancelled()) {
        ++cancelled;
        return absl::OkStatus();
      }
      if (event.usage.completion_tokens >= request.max_tokens) {
        last = FinishReason::kLength;
        break;
      }
      event.text = script.empty() ? "x" : script[i % script.size()];
      ++event.usage.completion_tokens;
      if (!on_event(event)) {
        ++cancelled;
        return absl::OkStatus();
      }
    }
    event.text.clear();
    event.finish = last;
    if (last == FinishReason::kError) {
      event.error = "node desktop stopped answering";
      event.error_code = absl::StatusCode::kUnavailable;
    }
    on_event(event);
    ++finished;
    return absl::OkStatus();
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> script_ = {"Hello", ",", " world", "!"};
  FinishReason last_ = FinishReason::kStop;
  absl::Status start_error_;
  std::vector<GenerateRequest> requests_;
};

// Starts a server over a FakeBackend on 127.0.0.1 with an ephemeral port.
class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(OpenAiServerOptions{}); }
  void TearDown() override { server_.reset(); }

  void StartServer(OpenAiServerOptions options) {
    server_.reset();
    options.bind_address = "127.0.0.1";
    options.port = 0;
    options.keep_alive_seconds = 1;
    server_ = std::make_unique<OpenAiHttpServer>();
    ASSERT_TRUE(server_->Start(options, backend_).ok());
    ASSERT_GT(server_->port(), 0);
  }

  httplib::Client Client() {
    httplib::Client client("127.0.0.1", server_->port());
    client.set_read_timeout(std::chrono::seconds(20));
    return client;
  }

  httplib::Result PostJson(const std::string& path, const Json& body,
                           const httplib::Headers& headers = {}) {
    return Client().Post(path, headers, body.dump(), "application/json");
  }

  // A chat request body with one user message.
  static Json ChatBody(const std::string& user_text, bool stream = false) {
    return Json{{"model", "zen-test-model"},
                {"messages", Json::array({Json{{"role", "user"}, {"content", user_text}}})},
                {"stream", stream}};
  }

  FakeBackend backend_;
  std::unique_ptr<OpenAiHttpServer> server_;
};

// Splits an SSE body into its `data:` payloads, asserting the exact framing: every event is
// one "data: ..." line followed by a blank line, and nothing else is in the body.
inline std::vector<std::string> SplitSse(const std::string& body) {
  std::vector<std::string> payloads;
  size_t at = 0;
  while (at < body.size()) {
    const size_t end = body.find("\n\n", at);
    EXPECT_NE(end, std::string::npos) << "unterminated event at byte " << at;
    if (end == std::string::npos) break;
    const std::string event = body.substr(at, end - at);
    EXPECT_EQ(event.rfind("data: ", 0), 0u) << "event without data: prefix: " << event;
    EXPECT_EQ(event.find('\n'), std::string::npos) << "multi-line event: " << event;
    payloads.push_back(event.substr(6));
    at = end + 2;
  }
  return payloads;
}

// The JSON chunks of an SSE body, checking it ends with exactly one [DONE].
inline std::vector<Json> SseChunks(const std::string& body) {
  std::vector<std::string> payloads = SplitSse(body);
  EXPECT_FALSE(payloads.empty());
  if (payloads.empty()) return {};
  EXPECT_EQ(payloads.back(), "[DONE]");
  std::vector<Json> chunks;
  for (size_t i = 0; i + 1 < payloads.size(); ++i) {
    EXPECT_NE(payloads[i], "[DONE]") << "[DONE] before the end";
    chunks.push_back(Json::parse(payloads[i]));
  }
  return chunks;
}

// A connected loopback TCP socket, closed on destruction.
class RawConnection {
 public:
  explicit RawConnection(int port) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  }
  ~RawConnection() { Close(); }
  bool connected() const { return connected_; }
  bool Send(const std::string& bytes) {
    return send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }
  // Reads until `needle` was seen (or EOF / 30 s, room for valgrind); returns everything read.
  std::string ReadUntil(const std::string& needle) {
    std::string data;
    timeval timeout{30, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    char buffer[4096];
    while (data.find(needle) == std::string::npos) {
      const ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
      if (n <= 0) break;
      data.append(buffer, static_cast<size_t>(n));
    }
    return data;
  }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
  bool connected_ = false;
};

// Polls `condition` every 5 ms for up to 30 s.
template <typename Condition>
bool WaitFor(Condition condition) {
  for (int i = 0; i < 6000; ++i) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return condition();
}

}  // namespace zen::http::testing
