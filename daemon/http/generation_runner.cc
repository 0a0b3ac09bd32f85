#include "daemon/http/generation_runner.h"

#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace zen::http {
namespace {

std::string FinishReasonText(const GenerationOutcome& outcome) {
  if (outcome.finish == FinishReason::kLength) return "length";
  return outcome.tool_calls > 0 ? "tool_calls" : "stop";
}

Json UsageJson(const TokenUsage& usage) {
  Json json = Json::object();
  json["prompt_tokens"] = usage.prompt_tokens;
  json["completion_tokens"] = usage.completion_tokens;
  json["total_tokens"] = usage.prompt_tokens + usage.completion_tokens;
  return json;
}

// OpenAI sends arguments as a JSON-encoded string.
Json ToolCallJson(const node::ParsedToolCall& call, int index, bool with_index) {
  Json function = Json::object();
  function["name"] = call.name;
  function["arguments"] =
      call.arguments.is_string() ? call.arguments.get<std::string>() : DumpJson(call.arguments);
  Json json = Json::object();
  if (with_index) json["index"] = index;
  json["id"] = RandomId("call_");
  json["type"] = "function";
  json["function"] = std::move(function);
  return json;
}

// The envelope every response and chunk shares.
Json Envelope(const PreparedGeneration& prepared, bool chunk) {
  Json json = Json::object();
  json["id"] = prepared.id;
  json["object"] =
      prepared.chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion";
  json["created"] = prepared.created;
  json["model"] = prepared.request.model;
  return json;
}

// A stream chunk with one choice; `payload` is the chat delta or the completion text.
Json ChoiceChunk(const PreparedGeneration& prepared, Json payload, const Json& finish_reason) {
  Json choice = Json::object();
  choice["index"] = 0;
  if (prepared.chat) {
    choice["delta"] = std::move(payload);
  } else {
    choice["text"] = std::move(payload);
  }
  choice["logprobs"] = nullptr;
  choice["finish_reason"] = finish_reason;
  Json chunk = Envelope(prepared, /*chunk=*/true);
  chunk["choices"] = Json::array({std::move(choice)});
  if (prepared.include_usage) chunk["usage"] = nullptr;
  return chunk;
}

std::string SseEvent(const Json& json) {
  return absl::StrCat("data: ", DumpJson(json), "\n\n");
}

ApiError CancelledError() {
  ApiError error;
  error.http_status = 503;
  error.message =
      "generation was cancelled: the server is shutting down or the request was cancelled";
  return error;
}

}  // namespace

std::string DumpJson(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string RandomId(std::string_view prefix) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string id(prefix);
  for (int i = 0; i < 24; ++i) id.push_back(kDigits[rng() % 16]);
  return id;
}

GenerationOutcome RunGeneration(InferenceBackend& backend, const PreparedGeneration& prepared,
                                CancelToken& cancel, const PieceCallback& on_piece) {
  GenerationOutcome outcome;
  outcome.usage.prompt_tokens = static_cast<int>(prepared.request.prompt_tokens.size());
  node::StopStringMatcher stop(prepared.stop);
  std::optional<node::ChatOutputParser> parser;
  if (prepared.chat) parser.emplace(prepared.starts_in_reasoning);
  bool finished = false;

  auto deliver = [&](std::string_view text, bool final) {
    node::ChatOutputDelta delta;
    if (parser) {
      delta = parser->Feed(text);
      if (final) delta.Append(parser->Finish());
    } else {
      delta.content = std::string(text);
    }
    if (!delta.errors.empty()) {
      // Text stays out of the logs (privacy); the client sees it as content.
      spdlog::warn("{}: {} malformed <tool_call> block(s) returned as content", prepared.id,
                   delta.errors.size());
    }
    outcome.tool_calls += static_cast<int>(delta.tool_calls.size());
    if (delta.empty() || on_piece(delta)) return true;
    outcome.client_gone = true;
    return false;
  };

  auto on_event = [&](const GenerateEvent& event) {
    if (finished || outcome.client_gone) return false;
    if (event.usage.prompt_tokens > 0) outcome.usage.prompt_tokens = event.usage.prompt_tokens;
    outcome.usage.completion_tokens = event.usage.completion_tokens;
    node::StopStringMatcher::Result fed = stop.Feed(event.text);
    std::string shown = std::move(fed.text);
    if (fed.stopped) {
      finished = true;
      outcome.finish = FinishReason::kStop;
      deliver(shown, /*final=*/true);
      return false;  // ends the backend's work: the answer is complete
    }
    if (event.finish != FinishReason::kNone) {
      finished = true;
      outcome.finish = event.finish;
      if (event.finish == FinishReason::kError) {
        outcome.failure =
            absl::Status(event.error_code == absl::StatusCode::kOk ? absl::StatusCode::kInternal
                                                                   : event.error_code,
                         event.error.empty() ? "generation failed" : event.error);
        outcome.error =
            ApiError{500, event.error.empty() ? "generation failed" : event.error, "", ""};
      }
      shown += stop.Flush();
      deliver(shown, /*final=*/true);
      return true;
    }
    return deliver(shown, /*final=*/false) && !cancel.cancelled();
  };

  const absl::Status status = backend.Generate(prepared.request, on_event, cancel);
  if (finished) {
    if (outcome.finish == FinishReason::kCancelled && !outcome.client_gone) {
      outcome.finish = FinishReason::kError;
      outcome.error = CancelledError();
    }
    return outcome;
  }
  if (outcome.client_gone) {
    outcome.finish = FinishReason::kCancelled;
  } else if (!status.ok()) {
    outcome.finish = FinishReason::kError;
    outcome.error = ApiErrorFromStatus(status);
  } else {
    outcome.finish = FinishReason::kError;
    outcome.error =
        cancel.cancelled()
            ? CancelledError()
            : ApiError{500, "the backend ended the generation without a finish event", "", ""};
  }
  return outcome;
}

bool StreamGeneration(InferenceBackend& backend, const PreparedGeneration& prepared,
                      CancelToken& cancel, const WriteCallback& write) {
  if (prepared.chat) {
    // OpenAI opens every stream with the role, before any text.
    Json role = Json::object({{"role", "assistant"}, {"content", ""}});
    if (!write(SseEvent(ChoiceChunk(prepared, std::move(role), nullptr)))) return false;
  }
  int tool_index = 0;
  auto on_piece = [&](const node::ChatOutputDelta& delta) {
    std::string events;
    if (!prepared.chat) {
      events = SseEvent(ChoiceChunk(prepared, delta.content, nullptr));
      return write(events);
    }
    if (!delta.reasoning.empty()) {
      events += SseEvent(
          ChoiceChunk(prepared, Json::object({{"reasoning_content", delta.reasoning}}), nullptr));
    }
    if (!delta.content.empty()) {
      events +=
          SseEvent(ChoiceChunk(prepared, Json::object({{"content", delta.content}}), nullptr));
    }
    for (const node::ParsedToolCall& call : delta.tool_calls) {
      Json calls = Json::array({ToolCallJson(call, tool_index++, /*with_index=*/true)});
      events += SseEvent(ChoiceChunk(prepared, Json::object({{"tool_calls", calls}}), nullptr));
    }
    return events.empty() || write(events);
  };

  const GenerationOutcome outcome = RunGeneration(backend, prepared, cancel, on_piece);
  if (outcome.client_gone) return false;
  std::string tail;
  if (outcome.error) {
    // Headers (200) are already out; OpenAI's clients read an error object from the stream.
    tail += SseEvent(ErrorBody(*outcome.error));
  } else {
    const Json empty = prepared.chat ? Json::object() : Json("");
    tail += SseEvent(ChoiceChunk(prepared, empty, FinishReasonText(outcome)));
    if (prepared.include_usage) {
      Json chunk = Envelope(prepared, /*chunk=*/true);
      chunk["choices"] = Json::array();
      chunk["usage"] = UsageJson(outcome.usage);
      tail += SseEvent(chunk);
    }
  }
  tail += "data: [DONE]\n\n";
  return write(tail);
}

std::variant<Json, ApiError> CompleteGeneration(InferenceBackend& backend,
                                                const PreparedGeneration& prepared,
                                                CancelToken& cancel) {
  node::ChatOutputDelta all;
  const GenerationOutcome outcome =
      RunGeneration(backend, prepared, cancel, [&](const node::ChatOutputDelta& delta) {
        all.Append(delta);
        return true;
      });
  if (outcome.error) return *outcome.error;

  Json choice = Json::object();
  choice["index"] = 0;
  if (prepared.chat) {
    Json message = Json::object();
    message["role"] = "assistant";
    // OpenAI sends null content next to tool calls when the model said nothing else.
    message["content"] =
        all.content.empty() && !all.tool_calls.empty() ? Json(nullptr) : Json(all.content);
    if (!all.reasoning.empty()) message["reasoning_content"] = all.reasoning;
    if (!all.tool_calls.empty()) {
      Json calls = Json::array();
      for (const node::ParsedToolCall& call : all.tool_calls) {
        calls.push_back(ToolCallJson(call, 0, /*with_index=*/false));
      }
      message["tool_calls"] = std::move(calls);
    }
    choice["message"] = std::move(message);
  } else {
    choice["text"] = all.content;
  }
  choice["logprobs"] = nullptr;
  choice["finish_reason"] = FinishReasonText(outcome);

  Json response = Envelope(prepared, /*chunk=*/false);
  response["choices"] = Json::array({std::move(choice)});
  response["usage"] = UsageJson(outcome.usage);
  return response;
}

}  // namespace zen::http
