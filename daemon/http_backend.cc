#include "daemon/http_backend.h"

#include <chrono>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "daemon/generation.h"
#include "daemon/sampling_wire.h"

namespace zen::daemon {

DaemonHttpBackend::DaemonHttpBackend(NodeDaemon* daemon) : daemon_(daemon) {
  const std::filesystem::path path(daemon_->config().model_path);
  model_id_ = path.stem().string();
  std::error_code ec;
  const auto mtime = std::filesystem::last_write_time(path, ec);
  if (!ec) {
    const auto sys = std::chrono::file_clock::to_sys(mtime);
    created_ = std::chrono::duration_cast<std::chrono::seconds>(sys.time_since_epoch()).count();
  }
}

http::BackendStatus DaemonHttpBackend::Health() {
  http::BackendStatus status;
  auto view = daemon_->pipeline();
  if (!view.ok()) {
    status.detail = std::string(view.status().message());
    return status;
  }
  status.ready = true;
  const pb::Plan& plan = (*view)->plan;
  status.detail = plan.summary();
  for (const pb::Slice& slice : plan.slices()) {
    status.nodes.push_back({slice.node_name(), slice.node_address(), "ready", slice.first_layer(),
                            slice.last_layer()});
  }
  for (const pb::Plan::LeftOut& left : plan.left_out()) {
    status.nodes.push_back({left.node_name(), "", absl::StrCat("idle: ", left.reason()), -1, -1});
  }
  return status;
}

std::vector<http::ModelInfo> DaemonHttpBackend::Models() {
  http::ModelInfo info;
  info.id = model_id_;
  info.created = created_;
  info.context_length = ContextLength(model_id_);
  return {info};
}

int DaemonHttpBackend::ContextLength(const std::string&) {
  // The plan's context once there is one; before that, what this node was told to reserve.
  auto view = daemon_->pipeline();
  const int64_t tokens = view.ok() ? (*view)->max_context : daemon_->config().context_tokens;
  return static_cast<int>(tokens);
}

node::ChatTemplate DaemonHttpBackend::ChatTemplateFor(const std::string&) {
  return daemon_->text().chat_template();
}

absl::StatusOr<std::vector<int32_t>> DaemonHttpBackend::Tokenize(const std::string&,
                                                                 std::string_view text) {
  return daemon_->text().Tokenize(text);
}

absl::Status DaemonHttpBackend::Generate(const http::GenerateRequest& request,
                                         const http::GenerateCallback& on_event,
                                         http::CancelToken& cancel) {
  auto view = daemon_->pipeline();
  if (!view.ok()) return absl::UnavailableError(view.status().message());
  if (absl::Status s = CheckPromptTokens(request.prompt_tokens, (*view)->n_vocab); !s.ok()) {
    return s;
  }
  const int64_t prompt_size = static_cast<int64_t>(request.prompt_tokens.size());
  if (prompt_size >= (*view)->max_context) {
    return absl::OutOfRangeError(absl::StrCat("the prompt has ", prompt_size,
                                              " tokens; the cluster's context holds ",
                                              (*view)->max_context));
  }
  GenerationSpec spec;
  spec.prompt = request.prompt_tokens;
  spec.sampling = ToWire(request.sampling);
  spec.cancelled = [&cancel] { return cancel.cancelled(); };
  spec.request_id = request.request_id;
  spec.max_new_tokens = (*view)->max_context - prompt_size;
  if (request.max_tokens > 0) {
    spec.max_new_tokens = std::min<int64_t>(spec.max_new_tokens, request.max_tokens);
  }
  http::TokenUsage usage;
  usage.prompt_tokens = static_cast<int>(prompt_size);
  bool stopped_by_caller = false;
  auto on_piece = [&](const GeneratedPiece& piece) {
    usage.completion_tokens++;
    if (cancel.cancelled()) {
      stopped_by_caller = true;
      return false;
    }
    // The final event carries the finish reason; an end-of-generation token alone is
    // reported there rather than as an empty event.
    if (piece.end_of_generation && piece.text.empty()) return true;
    http::GenerateEvent event;
    event.text = piece.text;
    event.usage = usage;
    if (!on_event(event)) stopped_by_caller = true;
    return !stopped_by_caller;
  };
  GenerationOutcome outcome;
  const absl::Status status = RunGeneration(*daemon_, *view, spec, on_piece, &outcome);
  // No more events after a refusal or a cancel (even one that came during the prefill).
  if (stopped_by_caller ||
      (status.ok() && outcome.finish == GenerationOutcome::Finish::kCancelled)) {
    return absl::OkStatus();
  }
  if (!status.ok() && outcome.completion_tokens == 0) return status;
  http::GenerateEvent last;
  last.usage = usage;
  if (!status.ok()) {
    last.finish = http::FinishReason::kError;
    last.error_code = status.code();
    last.error = std::string(status.message());
  } else {
    last.finish = outcome.finish == GenerationOutcome::Finish::kStop ? http::FinishReason::kStop
                                                                     : http::FinishReason::kLength;
  }
  on_event(last);
  return absl::OkStatus();
}

}  // namespace zen::daemon
