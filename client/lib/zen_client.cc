#include "client/lib/zen_client.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "zen/v1/zen.grpc.pb.h"

namespace zen::client {
namespace {

absl::Status FromGrpc(const grpc::Status& s, const std::string& address) {
  if (s.ok()) return absl::OkStatus();
  std::string message = s.error_message();
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE &&
      message.find("node") == std::string::npos) {
    message = absl::StrCat("zend at ", address, " is unreachable: ", message);
  }
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), message);
}

std::string Bytes(int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  return u == 0 ? absl::StrCat(bytes, " B") : absl::StrFormat("%.2f %s", v, units[u]);
}

std::string Layers(int first, int last) {
  return first < 0 ? "-" : absl::StrCat(first, "..", last);
}

::zen::v1::SamplingParams ToProto(const Sampling& s) {
  ::zen::v1::SamplingParams out;
  out.set_temperature(s.temperature);
  out.set_top_k(s.top_k);
  out.set_top_p(s.top_p);
  out.set_min_p(s.min_p);
  out.set_presence_penalty(s.presence_penalty);
  out.set_frequency_penalty(s.frequency_penalty);
  out.set_repetition_penalty(s.repetition_penalty);
  out.set_seed(s.seed);
  return out;
}

::zen::v1::ToolCall ToProto(const ToolCall& call) {
  ::zen::v1::ToolCall out;
  out.set_id(call.id);
  out.set_name(call.name);
  out.set_arguments_json(call.arguments_json);
  return out;
}

ToolCall FromProto(const ::zen::v1::ToolCall& call) {
  return ToolCall{call.id(), call.name(), call.arguments_json()};
}

::zen::v1::ChatRequest ToProto(const ChatOptions& o) {
  ::zen::v1::ChatRequest request;
  request.set_model(o.model);
  for (const ChatMessage& m : o.messages) {
    ::zen::v1::ChatMessage* message = request.add_messages();
    message->set_role(m.role);
    message->set_content(m.content);
    if (m.reasoning_content) message->set_reasoning_content(*m.reasoning_content);
    for (const ToolCall& call : m.tool_calls) *message->add_tool_calls() = ToProto(call);
    message->set_tool_call_id(m.tool_call_id);
  }
  for (const Tool& t : o.tools) {
    ::zen::v1::Tool* tool = request.add_tools();
    tool->set_name(t.name);
    tool->set_description(t.description);
    tool->set_parameters_json(t.parameters_json);
  }
  request.set_no_tools(o.no_tools);
  if (o.enable_thinking) {
    request.set_thinking(*o.enable_thinking ? ::zen::v1::THINKING_ON : ::zen::v1::THINKING_OFF);
  }
  request.set_max_tokens(o.max_tokens);
  if (o.sampling) *request.mutable_sampling() = ToProto(*o.sampling);
  for (const std::string& stop : o.stop) request.add_stop(stop);
  return request;
}

// Copies the finish reason and usage that the last message of a stream carries.
template <typename Response, typename Result>
void TakeFinish(const Response& piece, Result* result) {
  if (piece.finish_reason() == ::zen::v1::FINISH_REASON_UNSPECIFIED) return;
  result->finish_reason = FinishReasonName(piece.finish_reason());
  result->prompt_tokens = piece.usage().prompt_tokens();
  result->completion_tokens = piece.usage().completion_tokens();
  result->prefill_ms = piece.usage().prefill_ms();
  result->decode_ms = piece.usage().decode_ms();
}

void SetDeadline(grpc::ClientContext& context, int timeout_ms) {
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
}

}  // namespace

ChatMessage TextMessage(std::string role, std::string content) {
  ChatMessage message;
  message.role = std::move(role);
  message.content = std::move(content);
  return message;
}

std::string FinishReasonName(::zen::v1::FinishReason reason) {
  switch (reason) {
    case ::zen::v1::FINISH_REASON_STOP:
      return "stop";
    case ::zen::v1::FINISH_REASON_LENGTH:
      return "length";
    case ::zen::v1::FINISH_REASON_TOOL_CALLS:
      return "tool_calls";
    case ::zen::v1::FINISH_REASON_CANCELLED:
      return "cancelled";
    default:
      return "";
  }
}

struct Client::Stubs {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<::zen::v1::Inference::Stub> inference;
  std::unique_ptr<::zen::v1::Admin::Stub> admin;
};

Client::Client(const std::string& address, std::string api_key)
    : address_(address), api_key_(std::move(api_key)), stubs_(std::make_unique<Stubs>()) {
  if (api_key_.empty()) {
    const char* env = std::getenv("ZEN_API_KEY");
    if (env != nullptr) api_key_ = env;
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  stubs_->channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  stubs_->inference = ::zen::v1::Inference::NewStub(stubs_->channel);
  stubs_->admin = ::zen::v1::Admin::NewStub(stubs_->channel);
}

Client::~Client() = default;

void Client::Authorize(grpc::ClientContext& context) const {
  if (!api_key_.empty()) context.AddMetadata("authorization", "Bearer " + api_key_);
}

absl::StatusOr<GenerateResult> Client::Generate(const GenerateOptions& o,
                                                const PieceCallback& on_piece) {
  ::zen::v1::GenerateRequest request;
  if (!o.tokens.empty()) {
    request.mutable_tokens()->mutable_ids()->Add(o.tokens.begin(), o.tokens.end());
  } else {
    request.set_prompt(o.prompt);
  }
  request.set_chat(o.chat);
  request.set_enable_thinking(o.enable_thinking);
  request.set_max_tokens(o.max_tokens);
  request.set_ignore_eos(o.ignore_eos);
  *request.mutable_sampling() = ToProto(o.sampling);
  for (const std::string& stop : o.stop) request.add_stop(stop);
  request.set_model(o.model);

  grpc::ClientContext context;
  Authorize(context);
  auto reader = stubs_->inference->Generate(&context, request);
  GenerateResult result;
  ::zen::v1::GenerateResponse piece;
  while (reader->Read(&piece)) {
    if (!piece.request_id().empty()) result.request_id = piece.request_id();
    result.tokens.insert(result.tokens.end(), piece.tokens().begin(), piece.tokens().end());
    result.text += piece.text();
    if (on_piece && (!piece.text().empty() || piece.tokens_size() > 0)) {
      on_piece(piece.text(), std::span<const int32_t>(piece.tokens().data(), piece.tokens_size()));
    }
    TakeFinish(piece, &result);
  }
  if (absl::Status st = FromGrpc(reader->Finish(), address_); !st.ok()) return st;
  return result;
}

absl::StatusOr<std::vector<float>> Client::Logits(std::span<const int32_t> tokens, int chunk,
                                                  int* n_vocab) {
  ::zen::v1::LogitsRequest request;
  request.mutable_tokens()->Add(tokens.begin(), tokens.end());
  request.set_chunk(chunk);
  grpc::ClientContext context;
  Authorize(context);
  auto reader = stubs_->inference->Logits(&context, request);
  std::vector<float> logits;
  ::zen::v1::LogitsChunk piece;
  *n_vocab = 0;
  while (reader->Read(&piece)) {
    *n_vocab = piece.n_vocab();
    const size_t start = logits.size();
    logits.resize(start + piece.logits().size() / sizeof(float));
    std::memcpy(logits.data() + start, piece.logits().data(),
                piece.logits().size() / sizeof(float) * sizeof(float));
  }
  if (absl::Status st = FromGrpc(reader->Finish(), address_); !st.ok()) return st;
  if (*n_vocab <= 0 || logits.size() != tokens.size() * static_cast<size_t>(*n_vocab)) {
    return absl::InternalError(absl::StrCat("zend at ", address_, " returned ", logits.size(),
                                            " logits for ", tokens.size(), " tokens"));
  }
  return logits;
}

absl::StatusOr<BenchResult> Client::Bench(int prompt_tokens, int generate_tokens) {
  GenerateOptions o;
  // Plain ids below any special token; the content does not matter for speed.
  for (int i = 0; i < prompt_tokens; ++i) o.tokens.push_back(100 + (i * 37) % 900);
  o.max_tokens = generate_tokens;
  o.ignore_eos = true;
  auto r = Generate(o);
  if (!r.ok()) return r.status();
  BenchResult b;
  b.prompt_tokens = r->prompt_tokens;
  b.generated_tokens = r->completion_tokens;
  // The first token comes out of the prefill pass; the rest are decode steps.
  if (r->prefill_ms > 0) b.prefill_tokens_per_second = r->prompt_tokens / (r->prefill_ms / 1000);
  if (r->decode_ms > 0 && r->completion_tokens > 1) {
    b.decode_tokens_per_second = (r->completion_tokens - 1) / (r->decode_ms / 1000);
  }
  return b;
}

absl::StatusOr<ChatResult> Client::Chat(const ChatOptions& options, const ChatCallback& on_delta) {
  const ::zen::v1::ChatRequest request = ToProto(options);
  grpc::ClientContext context;
  Authorize(context);
  if (options.timeout_ms > 0) SetDeadline(context, options.timeout_ms);
  auto reader = stubs_->inference->Chat(&context, request);
  ChatResult result;
  ::zen::v1::ChatResponse piece;
  bool abandoned = false;
  while (reader->Read(&piece)) {
    ChatDelta delta;
    delta.request_id = piece.request_id();
    delta.reasoning = piece.reasoning();
    delta.content = piece.content();
    for (const auto& call : piece.tool_calls()) delta.tool_calls.push_back(FromProto(call));
    delta.warnings.assign(piece.warnings().begin(), piece.warnings().end());
    if (!delta.request_id.empty()) result.request_id = delta.request_id;
    result.reasoning += delta.reasoning;
    result.content += delta.content;
    result.tool_calls.insert(result.tool_calls.end(), delta.tool_calls.begin(),
                             delta.tool_calls.end());
    result.warnings.insert(result.warnings.end(), delta.warnings.begin(), delta.warnings.end());
    TakeFinish(piece, &result);
    if (on_delta && !on_delta(delta)) {
      abandoned = true;
      context.TryCancel();
      break;
    }
  }
  if (abandoned) {
    while (reader->Read(&piece)) {
    }
    reader->Finish();
    return absl::CancelledError("the chat was abandoned by the caller");
  }
  if (absl::Status st = FromGrpc(reader->Finish(), address_); !st.ok()) return st;
  return result;
}

absl::StatusOr<::zen::v1::TokenizeResponse> Client::CallTokenize(
    const ::zen::v1::TokenizeRequest& request) {
  grpc::ClientContext context;
  Authorize(context);
  SetDeadline(context, 10000);
  ::zen::v1::TokenizeResponse response;
  if (absl::Status st =
          FromGrpc(stubs_->inference->Tokenize(&context, request, &response), address_);
      !st.ok()) {
    return st;
  }
  return response;
}

absl::StatusOr<TokenizeResult> Client::Tokenize(const std::string& text, bool no_special,
                                                bool with_pieces) {
  ::zen::v1::TokenizeRequest request;
  request.set_text(text);
  request.set_no_special(no_special);
  request.set_with_pieces(with_pieces);
  auto response = CallTokenize(request);
  if (!response.ok()) return response.status();
  TokenizeResult result;
  result.ids.assign(response->ids().begin(), response->ids().end());
  result.pieces.assign(response->pieces().begin(), response->pieces().end());
  return result;
}

absl::StatusOr<std::string> Client::Detokenize(std::span<const int32_t> ids) {
  ::zen::v1::TokenizeRequest request;
  request.mutable_ids()->mutable_ids()->Add(ids.begin(), ids.end());
  auto response = CallTokenize(request);
  if (!response.ok()) return response.status();
  return response->text();
}

absl::StatusOr<std::vector<::zen::v1::ModelInfo>> Client::ListModels() {
  grpc::ClientContext context;
  Authorize(context);
  SetDeadline(context, 10000);
  ::zen::v1::ListModelsResponse response;
  if (absl::Status st = FromGrpc(stubs_->inference->ListModels(&context, {}, &response), address_);
      !st.ok()) {
    return st;
  }
  return std::vector<::zen::v1::ModelInfo>(response.models().begin(), response.models().end());
}

absl::Status Client::Cancel(const std::string& request_id) {
  ::zen::v1::CancelRequest request;
  request.set_request_id(request_id);
  grpc::ClientContext context;
  Authorize(context);
  SetDeadline(context, 10000);
  ::zen::v1::CancelResponse response;
  return FromGrpc(stubs_->inference->Cancel(&context, request, &response), address_);
}

absl::StatusOr<::zen::v1::ClusterStatus> Client::Status() {
  grpc::ClientContext context;
  Authorize(context);
  SetDeadline(context, 10000);
  ::zen::v1::ClusterStatus status;
  if (absl::Status st = FromGrpc(stubs_->admin->GetStatus(&context, {}, &status), address_);
      !st.ok()) {
    return st;
  }
  return status;
}

absl::StatusOr<::zen::v1::PlanResponse> Client::Plan() {
  grpc::ClientContext context;
  Authorize(context);
  SetDeadline(context, 10000);
  ::zen::v1::PlanResponse plan;
  if (absl::Status st = FromGrpc(stubs_->admin->GetPlan(&context, {}, &plan), address_); !st.ok()) {
    return st;
  }
  return plan;
}

std::string FormatPlan(const ::zen::v1::PlanResponse& plan) {
  if (!plan.has_plan()) return absl::StrCat("no plan: ", plan.error(), "\n");
  std::string out =
      absl::StrFormat("%-16s %-22s %-8s %12s %12s %12s %12s %10s\n", "node", "address", "layers",
                      "weights", "kv-cache", "buffers", "budget", "ms/token");
  for (const auto& s : plan.slices()) {
    absl::StrAppend(
        &out, absl::StrFormat("%-16s %-22s %-8s %12s %12s %12s %12s %10.2f\n", s.node_name(),
                              s.node_address(), Layers(s.first_layer(), s.last_layer()),
                              Bytes(s.weight_bytes()), Bytes(s.kv_bytes()), Bytes(s.buffer_bytes()),
                              Bytes(s.memory_budget_bytes()), s.ms_per_token()));
  }
  absl::StrAppend(
      &out, absl::StrFormat("%d layers, %d slice(s), %.2f ms/token estimated (%.2f ms per hop), "
                            "context %d tokens, hidden rows as %s\n",
                            plan.n_layers(), plan.slices_size(), plan.ms_per_token(), plan.hop_ms(),
                            plan.context_tokens(), plan.hidden_dtype()));
  absl::StrAppend(&out, plan.summary(), "\n");
  for (const auto& l : plan.left_out()) {
    absl::StrAppend(&out, "left out: ", l.node_name(), ": ", l.reason(), "\n");
  }
  return out;
}

std::string FormatStatus(const ::zen::v1::ClusterStatus& status) {
  std::string out = absl::StrCat("cluster ", status.ready() ? "ready" : "not ready",
                                 status.message().empty() ? "" : ": " + status.message(),
                                 "; leader ", status.leader(), "; model ", status.model(), "\n");
  absl::StrAppend(
      &out, absl::StrFormat("%-16s %-22s %-10s %12s %12s %-8s %10s\n", "node", "address", "state",
                            "memory", "budget", "layers", "tokens/s"));
  for (const auto& n : status.nodes()) {
    absl::StrAppend(
        &out, absl::StrFormat("%-16s %-22s %-10s %12s %12s %-8s %10.1f\n",
                              n.name() + (n.leader() ? "*" : ""), n.address(), n.state(),
                              Bytes(n.memory_used_bytes()), Bytes(n.memory_budget_bytes()),
                              Layers(n.first_layer(), n.last_layer()), n.tokens_per_second()));
  }
  return out;
}

}  // namespace zen::client
