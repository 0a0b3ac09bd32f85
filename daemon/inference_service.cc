#include "daemon/inference_service.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "daemon/generation.h"
#include "daemon/hop_client.h"
#include "daemon/leader.h"
#include "daemon/node_daemon.h"
#include "daemon/node_service.h"
#include "daemon/sequence_runner.h"
#include "daemon/text_side.h"

namespace zen::daemon {
namespace {

pb::SamplingParams ToNode(const ::zen::v1::SamplingParams& s) {
  pb::SamplingParams out;
  out.set_temperature(s.temperature());
  out.set_top_k(s.top_k());
  out.set_top_p(s.top_p());
  out.set_min_p(s.min_p());
  out.set_presence_penalty(s.presence_penalty());
  out.set_frequency_penalty(s.frequency_penalty());
  out.set_repetition_penalty(s.repetition_penalty());
  out.set_seed(s.seed());
  return out;
}

}  // namespace

grpc::Status InferenceService::Generate(grpc::ServerContext* context,
                                        const ::zen::v1::GenerateRequest* request,
                                        grpc::ServerWriter<::zen::v1::GenerateResponse>* writer) {
  if (authorize_) {
    if (grpc::Status s = authorize_(*context); !s.ok()) return s;
  }
  auto view = daemon_->pipeline();
  if (!view.ok()) return ToGrpc(view.status());
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

  GenerationSpec spec;
  spec.prompt = std::move(prompt);
  spec.sampling = ToNode(request->sampling());
  spec.max_new_tokens = max_new;
  spec.stop.assign(request->stop().begin(), request->stop().end());
  spec.ignore_eos = request->ignore_eos();
  bool client_gone = false;
  auto on_piece = [&](const GeneratedPiece& piece) {
    // An end-of-generation token with no text left to show is not worth a message.
    if (piece.end_of_generation && piece.text.empty()) return true;
    ::zen::v1::GenerateResponse out;
    out.add_tokens(piece.token);
    out.set_text(piece.text);
    client_gone = !writer->Write(out) || context->IsCancelled();
    return !client_gone;
  };
  GenerationOutcome outcome;
  if (absl::Status s = RunGeneration(*daemon_, *view, spec, on_piece, &outcome); !s.ok()) {
    return ToGrpc(s);
  }
  if (client_gone) return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
  ::zen::v1::Usage usage;
  usage.set_prompt_tokens(static_cast<int32_t>(spec.prompt.size()));
  usage.set_completion_tokens(outcome.completion_tokens);
  usage.set_prefill_ms(outcome.prefill_ms);
  usage.set_decode_ms(outcome.decode_ms);
  ::zen::v1::GenerateResponse last;
  last.set_finish_reason(outcome.finish == GenerationOutcome::Finish::kStop
                             ? ::zen::v1::FINISH_REASON_STOP
                             : ::zen::v1::FINISH_REASON_LENGTH);
  *last.mutable_usage() = usage;
  writer->Write(last);
  return grpc::Status::OK;
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
