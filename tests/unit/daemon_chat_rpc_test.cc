// RunChat: the gRPC Chat call over the shared HTTP preparation and output parsing, against a
// scripted backend: the message sequence, the reasoning / content / tool-call split, finish
// reasons, every refusal and cancellation.
#include "daemon/chat_rpc.h"

#include <gtest/gtest.h>

#include <thread>

#include "tests/unit/http_test_support.h"

namespace zen::daemon {
namespace {

using http::testing::FakeBackend;

::zen::v1::ChatRequest UserAsks(const std::string& text) {
  ::zen::v1::ChatRequest request;
  ::zen::v1::ChatMessage* m = request.add_messages();
  m->set_role("user");
  m->set_content(text);
  return request;
}

struct ChatRun {
  absl::Status status;
  std::vector<::zen::v1::ChatResponse> messages;
};

ChatRun RunOnce(FakeBackend& backend, const ::zen::v1::ChatRequest& request,
                http::CancelToken* cancel = nullptr, int accept_writes = 1 << 30) {
  http::CancelToken own;
  ChatRun run;
  run.status = RunChat(backend, request, "req-test", cancel ? *cancel : own,
                       [&](const ::zen::v1::ChatResponse& out) {
                         if (static_cast<int>(run.messages.size()) >= accept_writes) return false;
                         run.messages.push_back(out);
                         return true;
                       });
  return run;
}

TEST(ChatRpc, StreamsRequestIdThenReasoningContentAndToolCallsApart) {
  FakeBackend backend;
  backend.SetScript({"<think>", "\nweighing", " it up\n", "</think>", "\n\nLet me ", "check.",
                     "\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
                     "\"Paris\"}}\n</tool_call>"});
  ::zen::v1::ChatRequest request = UserAsks("Weather in Paris?");
  ::zen::v1::Tool* tool = request.add_tools();
  tool->set_name("get_weather");
  tool->set_parameters_json(R"({"type": "object", "properties": {"city": {"type": "string"}}})");
  const ChatRun run = RunOnce(backend, request);
  ASSERT_TRUE(run.status.ok()) << run.status;
  ASSERT_GE(run.messages.size(), 3u);
  EXPECT_EQ(run.messages.front().request_id(), "req-test");
  EXPECT_TRUE(run.messages.front().content().empty());
  std::string reasoning, content;
  std::vector<::zen::v1::ToolCall> calls;
  for (size_t i = 1; i < run.messages.size(); ++i) {
    EXPECT_TRUE(run.messages[i].request_id().empty());
    reasoning += run.messages[i].reasoning();
    content += run.messages[i].content();
    calls.insert(calls.end(), run.messages[i].tool_calls().begin(),
                 run.messages[i].tool_calls().end());
  }
  EXPECT_EQ(reasoning, "weighing it up");
  EXPECT_EQ(content, "Let me check.");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].name(), "get_weather");
  EXPECT_EQ(calls[0].arguments_json(), R"({"city":"Paris"})");
  EXPECT_EQ(calls[0].id().rfind("call_", 0), 0u);
  const ::zen::v1::ChatResponse& last = run.messages.back();
  EXPECT_EQ(last.finish_reason(), ::zen::v1::FINISH_REASON_TOOL_CALLS);
  EXPECT_EQ(last.usage().completion_tokens(), 7);
  // The tool definition reached the prompt in OpenAI's shape.
  const std::string prompt = backend.last_request().prompt_text;
  EXPECT_NE(prompt.find(R"({"type": "function", "function": {"name": "get_weather", )"
                        R"("parameters": {"type": "object")"),
            std::string::npos)
      << prompt;
}

TEST(ChatRpc, MalformedToolCallBecomesContentWithAWarning) {
  FakeBackend backend;
  backend.SetScript({"<tool_call>\n{not json\n</tool_call>"});
  ::zen::v1::ChatRequest request = UserAsks("hi");
  request.set_thinking(::zen::v1::THINKING_OFF);
  const ChatRun run = RunOnce(backend, request);
  ASSERT_TRUE(run.status.ok()) << run.status;
  std::string content;
  int warnings = 0;
  for (const auto& m : run.messages) {
    content += m.content();
    warnings += m.warnings_size();
    EXPECT_EQ(m.tool_calls_size(), 0);
  }
  EXPECT_NE(content.find("{not json"), std::string::npos) << content;
  EXPECT_EQ(warnings, 1);
  EXPECT_EQ(run.messages.back().finish_reason(), ::zen::v1::FINISH_REASON_STOP);
}

TEST(ChatRpc, ThinkingSwitchAndHistoryReachTheTemplate) {
  FakeBackend backend;
  ::zen::v1::ChatRequest request;
  auto add = [&](const char* role, const char* content) {
    ::zen::v1::ChatMessage* m = request.add_messages();
    m->set_role(role);
    m->set_content(content);
    return m;
  };
  add("system", "Be brief.");
  add("user", "Hi");
  ::zen::v1::ChatMessage* answer = add("assistant", "");
  ::zen::v1::ToolCall* call = answer->add_tool_calls();
  call->set_name("lookup");
  call->set_arguments_json(R"({"q": "x"})");
  add("tool", "42")->set_tool_call_id("call_1");
  add("developer", "Answer now. /no_think");
  ASSERT_TRUE(RunOnce(backend, request).status.ok());
  const std::string prompt = backend.last_request().prompt_text;
  EXPECT_NE(prompt.find("<|im_start|>system\nBe brief."), std::string::npos) << prompt;
  EXPECT_NE(prompt.find("<tool_call>\n{\"name\": \"lookup\", \"arguments\": {\"q\": \"x\"}}"),
            std::string::npos)
      << prompt;
  EXPECT_NE(prompt.find("<tool_response>\n42\n</tool_response>"), std::string::npos) << prompt;
  // /no_think in the last system message turns thinking off: the empty think block.
  EXPECT_NE(prompt.rfind("<|im_start|>assistant\n<think>\n\n</think>\n\n"), std::string::npos)
      << prompt;
  // Thinking off without explicit sampling: Qwen3's non-thinking defaults.
  EXPECT_FLOAT_EQ(backend.last_request().sampling.temperature, 0.7f);
}

TEST(ChatRpc, ExplicitSamplingIsUsedAsGiven) {
  FakeBackend backend;
  ::zen::v1::ChatRequest request = UserAsks("hi");
  request.mutable_sampling()->set_seed(5);  // everything else zero: greedy
  request.set_max_tokens(2);
  const ChatRun run = RunOnce(backend, request);
  ASSERT_TRUE(run.status.ok()) << run.status;
  const http::GenerateRequest sent = backend.last_request();
  EXPECT_EQ(sent.sampling.temperature, 0);
  EXPECT_EQ(sent.sampling.top_p, 1.0f);
  EXPECT_EQ(sent.sampling.seed, 5u);
  EXPECT_EQ(sent.max_tokens, 2);
  EXPECT_EQ(run.messages.back().finish_reason(), ::zen::v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(run.messages.back().usage().completion_tokens(), 2);
}

TEST(ChatRpc, RefusalsNameTheFieldAndWriteNothing) {
  FakeBackend backend;
  struct Case {
    std::function<void(::zen::v1::ChatRequest&)> edit;
    absl::StatusCode code;
    std::string in_message;
  };
  const std::vector<Case> cases = {
      {[](auto& r) { r.clear_messages(); }, absl::StatusCode::kInvalidArgument, "messages"},
      {[](auto& r) { r.mutable_messages(0)->set_role("robot"); },
       absl::StatusCode::kInvalidArgument, "messages[0].role"},
      {[](auto& r) { r.mutable_messages(0)->add_tool_calls()->set_name("f"); },
       absl::StatusCode::kInvalidArgument, "messages[0].tool_calls"},
      {[](auto& r) { r.add_tools()->set_description("no name"); },
       absl::StatusCode::kInvalidArgument, "tools[0].name"},
      {[](auto& r) {
         auto* t = r.add_tools();
         t->set_name("f");
         t->set_parameters_json("[1,");
       },
       absl::StatusCode::kInvalidArgument, "tools[0].parameters_json"},
      {[](auto& r) { r.mutable_sampling()->set_top_p(2); }, absl::StatusCode::kInvalidArgument,
       "sampling.top_p"},
      {[](auto& r) { r.set_max_tokens(-1); }, absl::StatusCode::kInvalidArgument, "max_tokens"},
      {[](auto& r) { r.set_model("gpt-4"); }, absl::StatusCode::kNotFound, "zen-test-model"},
      {[](auto& r) { r.mutable_messages(0)->set_content(std::string(5000, 'x')); },
       absl::StatusCode::kOutOfRange, "context"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    ::zen::v1::ChatRequest request = UserAsks("hi");
    cases[i].edit(request);
    const ChatRun run = RunOnce(backend, request);
    EXPECT_EQ(run.status.code(), cases[i].code) << "case " << i << ": " << run.status;
    EXPECT_NE(run.status.message().find(cases[i].in_message), std::string::npos)
        << "case " << i << ": " << run.status;
    EXPECT_TRUE(run.messages.empty()) << "case " << i;
  }
  EXPECT_EQ(backend.started.load(), 0);
  backend.ready = false;
  EXPECT_EQ(RunOnce(backend, UserAsks("hi")).status.code(), absl::StatusCode::kUnavailable);
}

TEST(ChatRpc, CancelEndsTheStreamWithCancelledAndStopsTheBackend) {
  FakeBackend backend;
  backend.endless = true;
  backend.token_delay_ms = 2;
  http::CancelToken cancel;
  int seen = 0;
  ChatRun run;
  run.status = RunChat(backend, UserAsks("go on forever"), "req-test", cancel,
                       [&](const ::zen::v1::ChatResponse& out) {
                         run.messages.push_back(out);
                         if (++seen == 5) cancel.Cancel();
                         return true;
                       });
  ASSERT_TRUE(run.status.ok()) << run.status;
  EXPECT_EQ(run.messages.back().finish_reason(), ::zen::v1::FINISH_REASON_CANCELLED);
  EXPECT_GT(run.messages.back().usage().completion_tokens(), 0);
  EXPECT_EQ(backend.cancelled.load(), 1);
  EXPECT_EQ(backend.running.load(), 0);
}

TEST(ChatRpc, ClientThatGoesAwayStopsTheBackend) {
  FakeBackend backend;
  backend.endless = true;
  const ChatRun run = RunOnce(backend, UserAsks("hi"), nullptr, /*accept_writes=*/3);
  EXPECT_EQ(run.status.code(), absl::StatusCode::kCancelled) << run.status;
  EXPECT_EQ(backend.cancelled.load(), 1);
  EXPECT_EQ(backend.running.load(), 0);
}

TEST(ChatRpc, FailureMidStreamIsAnErrorStatus) {
  FakeBackend backend;
  backend.SetScript({"partial"}, http::FinishReason::kError);
  const ChatRun run = RunOnce(backend, UserAsks("hi"));
  // The node's own status (a lost node: UNAVAILABLE), as Generate reports it.
  EXPECT_EQ(run.status.code(), absl::StatusCode::kUnavailable) << run.status;
  EXPECT_NE(run.status.message().find("desktop"), std::string::npos) << run.status;
}

}  // namespace
}  // namespace zen::daemon
