// Request validation and mapping of the HTTP API without sockets: the corners of field
// parsing, thinking decisions and error mapping that the end-to-end tests do not reach.
#include <gtest/gtest.h>

#include "daemon/http/openai_request.h"

namespace zen::http {
namespace {

ChatRequest ParseChatOk(const char* text) {
  ChatRequest request;
  const auto error = ParseChatRequest(Json::parse(text), request);
  EXPECT_FALSE(error.has_value()) << (error ? error->message : "");
  return request;
}

ApiError ParseChatError(const char* text) {
  ChatRequest request;
  const auto error = ParseChatRequest(Json::parse(text), request);
  EXPECT_TRUE(error.has_value()) << text;
  return error.value_or(ApiError{});
}

TEST(HttpRequestTest, IntegerFieldsAcceptWholeFloatsOnly) {
  const ChatRequest request = ParseChatOk(
      R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 12.0, "top_k": 5})");
  EXPECT_EQ(request.common.max_tokens, 12);
  EXPECT_EQ(request.common.top_k, 5);
  const ApiError error =
      ParseChatError(R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 12.5})");
  EXPECT_EQ(error.http_status, 400);
  EXPECT_EQ(error.param, "max_tokens");
  EXPECT_EQ(ParseChatError(R"({"messages": [{"role": "user", "content": "x"}],
                               "seed": 18446744073709551615})")
                .param,
            "seed");
}

TEST(HttpRequestTest, NullMeansUnset) {
  const ChatRequest request = ParseChatOk(
      R"({"messages": [{"role": "user", "content": "x"}], "temperature": null, "stop": null,
          "tools": null, "tool_choice": null, "stream_options": null, "n": null})");
  EXPECT_FALSE(request.common.temperature.has_value());
  EXPECT_TRUE(request.common.stop.empty());
  EXPECT_TRUE(request.tools.empty());
}

TEST(HttpRequestTest, ToolCallArgumentsStringBecomesObject) {
  const ChatRequest request = ParseChatOk(R"({"messages": [
      {"role": "assistant", "content": null, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "f", "arguments": "{\"a\": 1}"}},
        {"id": "call_2", "type": "function",
         "function": {"name": "g", "arguments": "not json"}}]}]})");
  ASSERT_EQ(request.messages.size(), 1u);
  ASSERT_EQ(request.messages[0].tool_calls.size(), 2u);
  EXPECT_EQ(request.messages[0].tool_calls[0].arguments, Json::parse(R"({"a": 1})"));
  EXPECT_EQ(request.messages[0].tool_calls[0].id, "call_1");
  // Unparseable arguments are kept verbatim; the template prints strings as they are.
  EXPECT_EQ(request.messages[0].tool_calls[1].arguments, Json("not json"));
  EXPECT_EQ(ParseChatError(R"({"messages": [{"role": "user", "content": "x",
                               "tool_calls": []}]})")
                .param,
            "messages[0].tool_calls");
  EXPECT_EQ(ParseChatError(R"({"messages": [{"role": "assistant",
                               "tool_calls": [{"function": {"arguments": "{}"}}]}]})")
                .param,
            "messages[0].tool_calls[0].function.name");
}

TEST(HttpRequestTest, ToolChoiceForms) {
  EXPECT_EQ(ParseChatOk(R"({"messages": [{"role": "user", "content": "x"}],
                            "tool_choice": "required"})")
                .tool_choice,
            ToolChoice::kRequired);
  const ChatRequest named = ParseChatOk(R"({"messages": [{"role": "user", "content": "x"}],
      "tool_choice": {"type": "function", "function": {"name": "get_weather"}}})");
  EXPECT_EQ(named.tool_choice, ToolChoice::kNamed);
  EXPECT_EQ(named.tool_choice_name, "get_weather");
  EXPECT_EQ(ParseChatError(R"({"messages": [{"role": "user", "content": "x"}],
                               "tool_choice": {"type": "function"}})")
                .param,
            "tool_choice");
}

TEST(HttpRequestTest, CompletionPromptForms) {
  for (const char* text : {R"({"prompt": "hello"})", R"({"prompt": ["hello"]})"}) {
    CompletionRequest request;
    ASSERT_FALSE(ParseCompletionRequest(Json::parse(text), request).has_value()) << text;
    EXPECT_EQ(request.prompt, "hello");
    EXPECT_TRUE(request.prompt_tokens.empty());
  }
  CompletionRequest tokens;
  ASSERT_FALSE(ParseCompletionRequest(Json::parse(R"({"prompt": [[5, 6]]})"), tokens).has_value());
  EXPECT_EQ(tokens.prompt_tokens, (std::vector<int32_t>{5, 6}));
  for (const char* text : {R"({"prompt": ["a", "b"]})", R"({"prompt": []})", R"({"prompt": 5})",
                           R"({"prompt": "x", "echo": true})", R"({"prompt": "x", "best_of": 3})",
                           R"({"prompt": "x", "suffix": "y"})", R"({"prompt": [1, 2.5]})"}) {
    CompletionRequest request;
    const auto error = ParseCompletionRequest(Json::parse(text), request);
    ASSERT_TRUE(error.has_value()) << text;
    EXPECT_EQ(error->http_status, 400);
    EXPECT_FALSE(error->param.empty()) << text;
  }
}

TEST(HttpRequestTest, ThinkingDecision) {
  auto decide = [](const char* text) { return DecideThinking(ParseChatOk(text)); };
  EXPECT_TRUE(decide(R"({"messages": [{"role": "user", "content": "hi"}]})"));
  EXPECT_FALSE(decide(R"({"messages": [{"role": "user", "content": "/no_think hi"}]})"));
  EXPECT_FALSE(decide(R"({"messages": [{"role": "user", "content": "hi /no_think."}]})"));
  // Within one message the later switch counts.
  EXPECT_TRUE(decide(R"({"messages": [{"role": "user", "content": "/no_think then /think"}]})"));
  EXPECT_FALSE(decide(R"({"messages": [{"role": "user", "content": "/think then /no_think"}]})"));
  // Assistant and tool text never switch.
  EXPECT_TRUE(decide(R"({"messages": [{"role": "user", "content": "hi"},
      {"role": "assistant", "content": "/no_think"}, {"role": "user", "content": "more"}]})"));
  // enable_thinking=true leaves the soft switches working, as in Qwen3's own template.
  EXPECT_FALSE(decide(R"({"messages": [{"role": "user", "content": "hi /no_think"}],
                          "chat_template_kwargs": {"enable_thinking": true}})"));
  EXPECT_FALSE(decide(R"({"messages": [{"role": "user", "content": "hi"}],
                          "chat_template_kwargs": {"enable_thinking": false}})"));
}

TEST(HttpRequestTest, SamplingDefaultsFollowTheModeAndYieldToTheClient) {
  CommonRequest common;
  SamplingParams thinking = ResolveSampling(common, /*thinking=*/true);
  EXPECT_FLOAT_EQ(thinking.temperature, 0.6f);
  EXPECT_FLOAT_EQ(thinking.top_p, 0.95f);
  SamplingParams plain = ResolveSampling(common, /*thinking=*/false);
  EXPECT_FLOAT_EQ(plain.temperature, 0.7f);
  EXPECT_FLOAT_EQ(plain.top_p, 0.8f);
  common.temperature = 0.0f;
  common.min_p = 0.05f;
  common.presence_penalty = 1.5f;
  plain = ResolveSampling(common, /*thinking=*/false);
  EXPECT_FLOAT_EQ(plain.temperature, 0.0f);
  EXPECT_FLOAT_EQ(plain.min_p, 0.05f);
  EXPECT_FLOAT_EQ(plain.presence_penalty, 1.5f);
  EXPECT_EQ(plain.top_k, 20);
}

TEST(HttpRequestTest, BackendStatusesMapToHttpStatuses) {
  EXPECT_EQ(ApiErrorFromStatus(absl::InvalidArgumentError("x")).http_status, 400);
  const ApiError too_long = ApiErrorFromStatus(absl::OutOfRangeError("x"));
  EXPECT_EQ(too_long.http_status, 413);
  EXPECT_EQ(too_long.code, "context_length_exceeded");
  EXPECT_EQ(ApiErrorFromStatus(absl::NotFoundError("x")).http_status, 404);
  EXPECT_EQ(ApiErrorFromStatus(absl::UnavailableError("x")).http_status, 503);
  EXPECT_EQ(ApiErrorFromStatus(absl::ResourceExhaustedError("x")).http_status, 429);
  EXPECT_EQ(ApiErrorFromStatus(absl::InternalError("boom")).http_status, 500);
  EXPECT_EQ(ApiErrorFromStatus(absl::InternalError("boom")).message, "boom");
  EXPECT_EQ(ErrorTypeForStatus(401), "authentication_error");
  EXPECT_EQ(ErrorTypeForStatus(503), "server_error");
  EXPECT_EQ(ErrorTypeForStatus(413), "invalid_request_error");
  const Json body = ErrorBody(ApiError{400, "bad", "top_p", ""});
  EXPECT_EQ(body, Json::parse(R"({"error": {"message": "bad", "type": "invalid_request_error",
                                            "param": "top_p", "code": null}})"));
}

}  // namespace
}  // namespace zen::http
