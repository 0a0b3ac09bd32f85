#include "daemon/http/request_preparation.h"

#include <algorithm>
#include <ctime>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace zen::http {
namespace {

// Tokenizes (unless tokens are given), checks the context and sets max_tokens.
std::optional<ApiError> PreparePrompt(InferenceBackend& backend, const CommonRequest& common,
                                      PreparedGeneration& out) {
  GenerateRequest& request = out.request;
  if (request.prompt_tokens.empty()) {
    auto tokens = backend.Tokenize(request.model, request.prompt_text);
    if (!tokens.ok()) return ApiErrorFromStatus(tokens.status());
    request.prompt_tokens = *std::move(tokens);
  }
  if (request.prompt_tokens.empty())
    return ApiError{400, "prompt: must not be empty", "prompt", ""};
  const int context = backend.ContextLength(request.model);
  const int prompt_length = static_cast<int>(request.prompt_tokens.size());
  if (prompt_length >= context) {
    return ApiError{
        413,
        absl::StrCat("the prompt is ", prompt_length, " tokens but the model's context ", "holds ",
                     context, " (prompt plus answer); shorten the prompt"),
        out.chat ? "messages" : "prompt", "context_length_exceeded"};
  }
  // Asking for more than fits is not an error: the answer ends with finish_reason "length".
  request.max_tokens = std::min(common.max_tokens.value_or(context), context - prompt_length);
  out.stop = common.stop;
  out.include_usage = common.include_usage;
  out.created = static_cast<int64_t>(std::time(nullptr));
  out.id = RandomId(out.chat ? "chatcmpl-" : "cmpl-");
  request.request_id = out.id;
  return std::nullopt;
}

}  // namespace

std::optional<ApiError> ResolveModel(InferenceBackend& backend, const std::string& requested,
                                     std::string& model) {
  const BackendStatus status = backend.Health();
  if (!status.ready) {
    return ApiError{
        503,
        absl::StrCat("the cluster is not ready", status.detail.empty() ? "" : ": ", status.detail),
        "", "service_unavailable"};
  }
  const std::vector<ModelInfo> models = backend.Models();
  if (models.empty()) return ApiError{503, "no model is loaded", "", "service_unavailable"};
  if (requested.empty()) {
    model = models.front().id;
    return std::nullopt;
  }
  std::vector<std::string> ids;
  for (const ModelInfo& info : models) {
    if (info.id == requested) {
      model = info.id;
      return std::nullopt;
    }
    ids.push_back(info.id);
  }
  return ApiError{404,
                  absl::StrCat("model \"", requested,
                               "\" does not exist; this server has: ", absl::StrJoin(ids, ", ")),
                  "model", "model_not_found"};
}

std::optional<ApiError> PrepareChat(InferenceBackend& backend, const ChatRequest& chat,
                                    PreparedGeneration& out) {
  out.chat = true;
  if (auto error = ResolveModel(backend, chat.common.model, out.request.model)) return error;
  const node::ChatTemplate chat_template = backend.ChatTemplateFor(out.request.model);
  const bool thinking = DecideThinking(chat);
  node::ChatRenderOptions render;
  render.enable_thinking = thinking;
  // tool_choice "none" hides the tools from the model; "required" and a named function are
  // passed as "auto" (no constrained decoding), see docs/http-api.md.
  if (chat.tool_choice != ToolChoice::kNone) render.tools = chat.tools;
  auto prompt = chat_template.Render(chat.messages, render);
  if (!prompt.ok()) return ApiError{400, std::string(prompt.status().message()), "messages", ""};
  out.request.prompt_text = *std::move(prompt);
  out.request.sampling = ResolveSampling(chat.common, thinking);
  out.starts_in_reasoning = thinking && chat_template.generation_opens_think();
  return PreparePrompt(backend, chat.common, out);
}

std::optional<ApiError> PrepareCompletion(InferenceBackend& backend,
                                          const CompletionRequest& completion,
                                          PreparedGeneration& out) {
  out.chat = false;
  if (auto error = ResolveModel(backend, completion.common.model, out.request.model)) return error;
  out.request.prompt_text = completion.prompt;
  out.request.prompt_tokens = completion.prompt_tokens;
  out.request.sampling = ResolveSampling(completion.common, /*thinking=*/false);
  return PreparePrompt(backend, completion.common, out);
}

}  // namespace zen::http
