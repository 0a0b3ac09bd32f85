// From a validated API request to a PreparedGeneration: model resolution, chat rendering,
// thinking and sampling defaults, tokenization and the context check. Protocol-neutral: the
// HTTP server and the gRPC Chat service both prepare requests here, so a conversation gets
// the same prompt, the same limits and the same errors through either API.
#pragma once

#include <optional>
#include <string>

#include "daemon/http/generation_runner.h"
#include "daemon/http/inference_backend.h"
#include "daemon/http/openai_request.h"

namespace zen::http {

// `requested` (empty: the first model) as a ModelInfo id; 503 when the backend is not ready,
// 404 naming the models there are when it is unknown.
std::optional<ApiError> ResolveModel(InferenceBackend& backend, const std::string& requested,
                                     std::string& model);

// Renders the conversation, decides thinking, resolves sampling, tokenizes and checks the
// context. 400 for a conversation the template cannot render, 413 for a prompt that does
// not leave room for one generated token.
std::optional<ApiError> PrepareChat(InferenceBackend& backend, const ChatRequest& chat,
                                    PreparedGeneration& out);

// The same for a plain completion (text or token ids, no template, no output parsing).
std::optional<ApiError> PrepareCompletion(InferenceBackend& backend,
                                          const CompletionRequest& completion,
                                          PreparedGeneration& out);

}  // namespace zen::http
