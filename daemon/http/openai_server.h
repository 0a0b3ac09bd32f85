// The OpenAI-compatible HTTP API of zend: /v1/chat/completions, /v1/completions, /v1/models
// and /health over cpp-httplib, serving any InferenceBackend. See docs/http-api.md.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "daemon/http/inference_backend.h"

namespace zen::http {

// How the HTTP server listens and whom it lets in.
struct OpenAiServerOptions {
  std::string bind_address = "127.0.0.1";
  int port = 8080;  // 0: any free port (tests read it back with port())
  // Checks the token of "Authorization: Bearer TOKEN"; empty: no authentication. When set,
  // every route (including /health) answers 401 without a token it accepts. The daemon
  // passes its hashed key store's constant-time check here.
  std::function<bool(std::string_view token)> api_key_verifier;
  size_t max_body_bytes = 8 << 20;  // larger bodies get 413
  // Worker threads. A streaming request holds one for its whole duration, so this bounds
  // concurrent streams (minus a few for /health and short requests).
  int threads = 64;
  int keep_alive_seconds = 5;  // idle keep-alive connections also hold a worker
};

// Parses the --http flag: "ADDR:PORT", "[v6addr]:PORT" or ":PORT" (loopback).
absl::StatusOr<std::pair<std::string, int>> ParseListenAddress(std::string_view text);

// Serves the OpenAI-compatible API on its own threads until Stop() or destruction.
class OpenAiHttpServer {
 public:
  OpenAiHttpServer();
  ~OpenAiHttpServer();  // Stop()s
  OpenAiHttpServer(const OpenAiHttpServer&) = delete;
  OpenAiHttpServer& operator=(const OpenAiHttpServer&) = delete;

  // Binds and starts serving `backend`, which must outlive the server (or Stop()).
  // FailedPrecondition when already started; Unavailable when the address cannot be bound.
  absl::Status Start(const OpenAiServerOptions& options, InferenceBackend& backend);
  // Cancels in-flight generations, stops accepting, joins every thread. Idempotent.
  void Stop();
  // The bound port (the real one when options.port was 0); 0 before Start().
  int port() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace zen::http
