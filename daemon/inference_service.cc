#include "daemon/inference_service.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "daemon/chat_rpc.h"
#include "daemon/generation.h"
#include "daemon/http/request_preparation.h"
#include "daemon/http_backend.h"
#include "daemon/node_daemon.h"
#include "daemon/node_service.h"
#include "daemon/sampling_wire.h"
#include "daemon/sequence_runner.h"
#include "daemon/text_side.h"

namespace zen::daemon {
namespace {

// Refuses an unknown model (NotFound) or a cluster that cannot serve yet (Unavailable).
grpc::Status CheckModel(http::InferenceBackend& backend, const std::string& requested) {
  std::string model;
  if (auto error = http::ResolveModel(backend, requested, model)) {
    return ToGrpc(http::StatusFromApiError(*error));
  }
  return grpc::Status::OK;
}

::zen::v1::FinishReason ToApi(GenerationOutcome::Finish finish) {
  switch (finish) {
    case GenerationOutcome::Finish::kStop:
      return ::zen::v1::FINISH_REASON_STOP;
    case GenerationOutcome::Finish::kLength:
      return ::zen::v1::FINISH_REASON_LENGTH;
    case GenerationOutcome::Finish::kCancelled:
      return ::zen::v1::FINISH_REASON_CANCELLED;
  }
  return ::zen::v1::FINISH_REASON_UNSPECIFIED;
}

}  // namespace

InferenceService::InferenceService(NodeDaemon* daemon, RequestAuthorizer authorize)
    : daemon_(daemon),
      authorize_(std::move(authorize)),
      backend_(std::make_unique<DaemonHttpBackend>(daemon)) {}

InferenceService::~InferenceService() = default;

std::unique_ptr<RequestRegistry::Entry> InferenceService::Register(grpc::ServerContext* context) {
  auto entry = requests_.Register();
  // IsCancelled is true once the deadline passed or the client went away.
  entry->token().SetProbe([context] { return context->IsCancelled(); });
  return entry;
}

grpc::Status InferenceService::Generate(grpc::ServerContext* context,
                                        const ::zen::v1::GenerateRequest* request,
                                        grpc::ServerWriter<::zen::v1::GenerateResponse>* writer) {
  if (authorize_) {
    if (grpc::Status s = authorize_(*context); !s.ok()) return s;
  }
  auto view = daemon_->pipeline();
  if (!view.ok()) return ToGrpc(view.status());
  if (grpc::Status s = CheckModel(*backend_, request->model()); !s.ok()) return s;
  const TextSide& text = daemon_->text();
  std::vector<int32_t> prompt;
  if (request->has_tokens()) {
    prompt.assign(request->tokens().ids().begin(), request->tokens().ids().end());
  } else {
    auto encoded =
        text.EncodePrompt(request->prompt(), request->chat(), request->enable_thinking());
    if (!encoded.ok()) return ToGrpc(encoded.status());
    prompt = std::move(*encoded);
  }
  if (absl::Status s = CheckPromptTokens(prompt, (*view)->n_vocab); !s.ok()) return ToGrpc(s);
  const int64_t context_tokens = (*view)->max_context;
  if (static_cast<int64_t>(prompt.size()) >= context_tokens) {
    return grpc::Status(grpc::StatusCode::OUT_OF_RANGE,
                        absl::StrCat("the prompt has ", prompt.size(),
                                     " tokens; the cluster's context holds ", context_tokens));
  }
  int64_t max_new = context_tokens - static_cast<int64_t>(prompt.size());
  if (request->max_tokens() > 0) max_new = std::min<int64_t>(max_new, request->max_tokens());

  auto entry = Register(context);
  ::zen::v1::GenerateResponse first;
  first.set_request_id(entry->id());
  if (!writer->Write(first))
    return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");

  GenerationSpec spec;
  spec.prompt = std::move(prompt);
  spec.sampling = ToWire(FromApi(request->sampling()));
  spec.max_new_tokens = max_new;
  spec.stop.assign(request->stop().begin(), request->stop().end());
  spec.ignore_eos = request->ignore_eos();
  spec.request_id = entry->id();
  http::CancelToken& cancel = entry->token();
  spec.cancelled = [&cancel] { return cancel.cancelled(); };
  bool client_gone = false;
  auto on_piece = [&](const GeneratedPiece& piece) {
    // An end-of-generation token with no text left to show is not worth a message.
    if (piece.end_of_generation && piece.text.empty()) return true;
    ::zen::v1::GenerateResponse out;
    out.add_tokens(piece.token);
    out.set_text(piece.text);
    client_gone = !writer->Write(out);
    return !client_gone;
  };
  GenerationOutcome outcome;
  if (absl::Status s = RunGeneration(*daemon_, *view, spec, on_piece, &outcome); !s.ok()) {
    return ToGrpc(s);
  }
  if (client_gone || context->IsCancelled()) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
  }
  ::zen::v1::GenerateResponse last;
  last.set_finish_reason(ToApi(outcome.finish));
  ::zen::v1::Usage* usage = last.mutable_usage();
  usage->set_prompt_tokens(static_cast<int32_t>(spec.prompt.size()));
  usage->set_completion_tokens(outcome.completion_tokens);
  usage->set_prefill_ms(outcome.prefill_ms);
  usage->set_decode_ms(outcome.decode_ms);
  writer->Write(last);
  return grpc::Status::OK;
}

grpc::Status InferenceService::Chat(grpc::ServerContext* context,
                                    const ::zen::v1::ChatRequest* request,
                                    grpc::ServerWriter<::zen::v1::ChatResponse>* writer) {
  if (authorize_) {
    if (grpc::Status s = authorize_(*context); !s.ok()) return s;
  }
  auto entry = Register(context);
  const absl::Status status =
      RunChat(*backend_, *request, entry->id(), entry->token(),
              [writer](const ::zen::v1::ChatResponse& out) { return writer->Write(out); });
  return ToGrpc(status);
}

grpc::Status InferenceService::Tokenize(grpc::ServerContext* context,
                                        const ::zen::v1::TokenizeRequest* request,
                                        ::zen::v1::TokenizeResponse* response) {
  if (authorize_) {
    if (grpc::Status s = authorize_(*context); !s.ok()) return s;
  }
  if (grpc::Status s = CheckModel(*backend_, request->model()); !s.ok()) return s;
  const TextSide& text = daemon_->text();
  std::vector<int32_t> ids;
  if (request->has_ids()) {
    ids.assign(request->ids().ids().begin(), request->ids().ids().end());
    auto decoded = text.Detokenize(ids);
    if (!decoded.ok()) return ToGrpc(decoded.status());
    response->set_text(*decoded);
  } else {
    auto encoded = text.Tokenize(request->text(), request->add_special(), !request->no_special());
    if (!encoded.ok()) return ToGrpc(encoded.status());
    ids = std::move(*encoded);
  }
  response->set_count(static_cast<int32_t>(ids.size()));
  if (request->count_only()) return grpc::Status::OK;
  if (!request->has_ids()) response->mutable_ids()->Add(ids.begin(), ids.end());
  if (request->with_pieces()) {
    for (int32_t id : ids) {
      auto piece = text.TokenBytes(id);
      if (!piece.ok()) return ToGrpc(piece.status());
      response->add_pieces(*piece);
    }
  }
  return grpc::Status::OK;
}

grpc::Status InferenceService::ListModels(grpc::ServerContext* context,
                                          const ::zen::v1::ListModelsRequest*,
                                          ::zen::v1::ListModelsResponse* response) {
  if (authorize_) {
    if (grpc::Status s = authorize_(*context); !s.ok()) return s;
  }
  const bool ready = backend_->Health().ready;
  auto view = daemon_->pipeline();
  for (const http::ModelInfo& info : backend_->Models()) {
    ::zen::v1::ModelInfo* model = response->add_models();
    model->set_id(info.id);
    model->set_created(info.created);
    model->set_owned_by(info.owned_by);
    model->set_context_length(info.context_length);
    if (view.ok()) model->set_n_vocab((*view)->n_vocab);
    model->set_chat_format(
        std::string(node::ChatFamilyName(daemon_->text().chat_template().family())));
    model->set_ready(ready);
  }
  return grpc::Status::OK;
}

grpc::Status InferenceService::Cancel(grpc::ServerContext* context,
                                      const ::zen::v1::CancelRequest* request,
                                      ::zen::v1::CancelResponse*) {
  if (authorize_) {
    if (grpc::Status s = authorize_(*context); !s.ok()) return s;
  }
  if (request->request_id().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "request_id: required (the first message of a Generate or Chat stream "
                        "carries it)");
  }
  return ToGrpc(requests_.Cancel(request->request_id()));
}

grpc::Status InferenceService::Logits(grpc::ServerContext* context,
                                      const ::zen::v1::LogitsRequest* request,
                                      grpc::ServerWriter<::zen::v1::LogitsChunk>* writer) {
  if (authorize_) {
    if (grpc::Status s = authorize_(*context); !s.ok()) return s;
  }
  auto view = daemon_->pipeline();
  if (!view.ok()) return ToGrpc(view.status());
  const std::vector<int32_t> tokens(request->tokens().begin(), request->tokens().end());
  if (absl::Status s = CheckPromptTokens(tokens, (*view)->n_vocab); !s.ok()) return ToGrpc(s);
  if (static_cast<int64_t>(tokens.size()) > (*view)->max_context) {
    return grpc::Status(grpc::StatusCode::OUT_OF_RANGE,
                        absl::StrCat(tokens.size(), " tokens exceed the cluster's context of ",
                                     (*view)->max_context));
  }
  pb::SequenceOptions options;
  options.set_return_logits(true);
  SequenceRunner runner(*view, daemon_->NewSequenceId(), options,
                        daemon_->config().request_timeout_ms);
  const int chunk = request->chunk() > 0 ? request->chunk() : static_cast<int>(tokens.size());
  std::vector<std::future<pb::ForwardResponse>> futures;
  for (size_t start = 0; start < tokens.size(); start += chunk) {
    const size_t n = std::min(tokens.size() - start, static_cast<size_t>(chunk));
    auto more = runner.Feed(std::span<const int32_t>(tokens).subspan(start, n), true);
    for (auto& f : more) futures.push_back(std::move(f));
  }
  int64_t position = 0;
  for (auto& f : futures) {
    auto result = runner.Wait(f);
    if (!result.ok()) return ToGrpc(result.status());
    ::zen::v1::LogitsChunk out;
    out.set_first_position(position);
    out.set_n_vocab((*view)->n_vocab);
    for (const pb::RowResult& row : result->results()) {
      out.mutable_logits()->append(row.logits());
      ++position;
    }
    if (!writer->Write(out) || context->IsCancelled()) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
    }
  }
  return grpc::Status::OK;
}

}  // namespace zen::daemon
