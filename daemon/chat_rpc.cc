#include "daemon/chat_rpc.h"

#include <chrono>
#include <optional>

#include "absl/strings/str_cat.h"
#include "daemon/http/generation_runner.h"
#include "daemon/http/request_preparation.h"
#include "daemon/sampling_wire.h"

namespace zen::daemon {
namespace {

using Clock = std::chrono::steady_clock;

absl::Status BadField(const std::string& field, const std::string& problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

absl::Status ConvertMessages(const ::zen::v1::ChatRequest& in, http::ChatRequest* out) {
  if (in.messages().empty()) return BadField("messages", "must not be empty");
  for (int i = 0; i < in.messages_size(); ++i) {
    const ::zen::v1::ChatMessage& m = in.messages(i);
    node::ChatMessage message;
    message.role = m.role();
    message.content = m.content();
    if (!m.reasoning_content().empty()) message.reasoning_content = m.reasoning_content();
    message.tool_call_id = m.tool_call_id();
    for (const ::zen::v1::ToolCall& call : m.tool_calls()) {
      node::ChatToolCall parsed;
      parsed.id = call.id();
      parsed.name = call.name();
      if (!call.arguments_json().empty()) {
        parsed.arguments = http::ToolArgumentsFromText(call.arguments_json());
      }
      message.tool_calls.push_back(std::move(parsed));
    }
    if (auto error = http::CheckChatMessage(absl::StrCat("messages[", i, "]"), message)) {
      return http::StatusFromApiError(*error);
    }
    out->messages.push_back(std::move(message));
  }
  return absl::OkStatus();
}

// OpenAI's tool shape, which the chat template renders: type first, then the function with
// name, description and parameters in that order.
absl::Status ConvertTools(const ::zen::v1::ChatRequest& in, http::ChatRequest* out) {
  for (int i = 0; i < in.tools_size(); ++i) {
    const ::zen::v1::Tool& tool = in.tools(i);
    const std::string path = absl::StrCat("tools[", i, "]");
    if (tool.name().empty()) return BadField(path + ".name", "is required");
    http::Json function = http::Json::object();
    function["name"] = tool.name();
    if (!tool.description().empty()) function["description"] = tool.description();
    if (!tool.parameters_json().empty()) {
      http::Json parameters =
          http::Json::parse(tool.parameters_json(), nullptr, /*allow_exceptions=*/false);
      if (parameters.is_discarded() || !parameters.is_object()) {
        return BadField(path + ".parameters_json", "must be a JSON object (a JSON Schema)");
      }
      function["parameters"] = std::move(parameters);
    }
    out->tools.push_back(http::Json::object({{"type", "function"}, {"function", function}}));
  }
  out->tool_choice = in.no_tools() ? http::ToolChoice::kNone : http::ToolChoice::kAuto;
  return absl::OkStatus();
}

absl::Status ConvertSampling(const ::zen::v1::ChatRequest& in, http::CommonRequest* common) {
  if (in.max_tokens() < 0) return BadField("max_tokens", "must not be negative");
  if (in.max_tokens() > 0) common->max_tokens = in.max_tokens();
  common->stop.assign(in.stop().begin(), in.stop().end());
  if (!in.has_sampling()) return absl::OkStatus();  // the thinking mode's defaults
  const ::zen::v1::SamplingParams& api = in.sampling();
  if (api.temperature() < 0) return BadField("sampling.temperature", "must not be negative");
  if (api.top_k() < 0) return BadField("sampling.top_k", "must not be negative");
  if (api.top_p() < 0 || api.top_p() > 1) return BadField("sampling.top_p", "must be in [0, 1]");
  if (api.min_p() < 0 || api.min_p() > 1) return BadField("sampling.min_p", "must be in [0, 1]");
  const node::SamplingParams s = FromApi(api);
  common->temperature = s.temperature;
  common->top_k = s.top_k;
  common->top_p = s.top_p;
  common->min_p = s.min_p;
  common->presence_penalty = s.presence_penalty;
  common->frequency_penalty = s.frequency_penalty;
  common->repetition_penalty = s.repetition_penalty;
  common->seed = s.seed;
  return absl::OkStatus();
}

void AddToolCall(const node::ParsedToolCall& call, ::zen::v1::ChatResponse* out) {
  ::zen::v1::ToolCall* proto = out->add_tool_calls();
  proto->set_id(http::RandomId("call_"));
  proto->set_name(call.name);
  proto->set_arguments_json(call.arguments.is_string() ? call.arguments.get<std::string>()
                                                       : http::DumpJson(call.arguments));
}

double MsBetween(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

}  // namespace

absl::Status ChatRequestFromProto(const ::zen::v1::ChatRequest& in, http::ChatRequest* out) {
  out->common.model = in.model();
  if (absl::Status s = ConvertMessages(in, out); !s.ok()) return s;
  if (absl::Status s = ConvertTools(in, out); !s.ok()) return s;
  if (in.thinking() != ::zen::v1::THINKING_AUTO) {
    out->enable_thinking = in.thinking() == ::zen::v1::THINKING_ON;
  }
  return ConvertSampling(in, &out->common);
}

absl::Status RunChat(http::InferenceBackend& backend, const ::zen::v1::ChatRequest& request,
                     const std::string& request_id, http::CancelToken& cancel,
                     const ChatWriter& write) {
  const auto start = Clock::now();
  http::ChatRequest chat;
  if (absl::Status s = ChatRequestFromProto(request, &chat); !s.ok()) return s;
  http::PreparedGeneration prepared;
  if (auto error = http::PrepareChat(backend, chat, prepared)) {
    return http::StatusFromApiError(*error);
  }
  prepared.id = request_id;
  prepared.request.request_id = request_id;
  ::zen::v1::ChatResponse first;
  first.set_request_id(request_id);
  if (!write(first)) return absl::CancelledError("the client went away");

  std::optional<Clock::time_point> first_delta;
  const http::GenerationOutcome outcome =
      http::RunGeneration(backend, prepared, cancel, [&](const node::ChatOutputDelta& delta) {
        if (!first_delta) first_delta = Clock::now();
        ::zen::v1::ChatResponse out;
        out.set_reasoning(delta.reasoning);
        out.set_content(delta.content);
        for (const node::ParsedToolCall& call : delta.tool_calls) AddToolCall(call, &out);
        for (const std::string& error : delta.errors) out.add_warnings(error);
        return write(out);
      });
  if (outcome.client_gone) return absl::CancelledError("the client went away");

  ::zen::v1::ChatResponse last;
  if (outcome.finish == http::FinishReason::kError ||
      outcome.finish == http::FinishReason::kCancelled) {
    if (!cancel.cancelled()) {
      if (!outcome.failure.ok()) return outcome.failure;
      return http::StatusFromApiError(
          outcome.error.value_or(http::ApiError{500, "generation failed", "", ""}));
    }
    last.set_finish_reason(::zen::v1::FINISH_REASON_CANCELLED);
  } else if (outcome.finish == http::FinishReason::kLength) {
    last.set_finish_reason(::zen::v1::FINISH_REASON_LENGTH);
  } else {
    last.set_finish_reason(outcome.tool_calls > 0 ? ::zen::v1::FINISH_REASON_TOOL_CALLS
                                                  : ::zen::v1::FINISH_REASON_STOP);
  }
  const auto end = Clock::now();
  ::zen::v1::Usage* usage = last.mutable_usage();
  usage->set_prompt_tokens(outcome.usage.prompt_tokens);
  usage->set_completion_tokens(outcome.usage.completion_tokens);
  usage->set_prefill_ms(MsBetween(start, first_delta.value_or(end)));
  usage->set_decode_ms(first_delta ? MsBetween(*first_delta, end) : 0);
  if (!write(last)) return absl::CancelledError("the client went away");
  return absl::OkStatus();
}

}  // namespace zen::daemon
