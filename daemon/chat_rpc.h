// The gRPC Chat call without the gRPC plumbing: a zen.v1.ChatRequest becomes the same
// http::ChatRequest the OpenAI-compatible API builds, goes through the shared preparation
// (template, thinking, sampling, context check) and generation runner (stop strings,
// <think> / <tool_call> parsing), and comes back as zen.v1.ChatResponse messages.
#pragma once

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "daemon/http/inference_backend.h"
#include "daemon/http/openai_request.h"
#include "zen/v1/zen.pb.h"

namespace zen::daemon {

// Validates and converts a Chat request; InvalidArgument naming the field at fault.
absl::Status ChatRequestFromProto(const ::zen::v1::ChatRequest& in, http::ChatRequest* out);

// Sends one response message; false when the client is gone.
using ChatWriter = std::function<bool(const ::zen::v1::ChatResponse&)>;

// Runs one Chat call over `backend`. Messages written: {request_id} once the request is
// accepted, then deltas as they become certain, then finish_reason and usage (CANCELLED
// when `cancel` fired). A non-OK status means the request was refused (nothing written:
// InvalidArgument, NotFound for an unknown model, OutOfRange for a prompt longer than the
// context, Unavailable) or failed mid-way, or the client went away (Cancelled).
absl::Status RunChat(http::InferenceBackend& backend, const ::zen::v1::ChatRequest& request,
                     const std::string& request_id, http::CancelToken& cancel,
                     const ChatWriter& write);

}  // namespace zen::daemon
