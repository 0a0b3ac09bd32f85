// Chat semantics of the HTTP API: the prompt the backend receives (thinking switches, tools),
// and how the model's text is split into reasoning, content and tool calls, streamed or not.
#include <gtest/gtest.h>

#include <string>

#include "tests/unit/http_test_support.h"

namespace zen::http::testing {
namespace {

constexpr char kEmptyThink[] = "<think>\n\n</think>\n\n";

bool EndsWith(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

Json WeatherTools() {
  return Json::parse(R"([{"type": "function", "function": {"name": "get_weather",
      "description": "Current weather", "parameters": {"type": "object",
      "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])");
}

// Concatenated reasoning and content deltas, and the tool-call deltas, of a chat stream.
struct StreamedMessage {
  std::string reasoning;
  std::string content;
  std::vector<Json> tool_calls;
  std::string finish_reason;
};

StreamedMessage Collect(const std::vector<Json>& chunks) {
  StreamedMessage message;
  for (const Json& chunk : chunks) {
    if (chunk["choices"].empty()) continue;
    const Json& choice = chunk["choices"][0];
    const Json& delta = choice["delta"];
    if (delta.contains("reasoning_content")) {
      message.reasoning += delta["reasoning_content"].get<std::string>();
    }
    if (delta.contains("content")) message.content += delta["content"].get<std::string>();
    if (delta.contains("tool_calls")) {
      for (const Json& call : delta["tool_calls"]) message.tool_calls.push_back(call);
    }
    if (choice["finish_reason"].is_string()) message.finish_reason = choice["finish_reason"];
  }
  return message;
}

class HttpChatTest : public HttpServerTest {
 protected:
  Json Chat(const Json& body) {
    auto result = PostJson("/v1/chat/completions", body);
    EXPECT_TRUE(result);
    if (!result) return Json();
    EXPECT_EQ(result->status, 200) << result->body;
    return Json::parse(result->body, nullptr, false);
  }
  StreamedMessage ChatStream(Json body) {
    body["stream"] = true;
    auto result = PostJson("/v1/chat/completions", body);
    EXPECT_TRUE(result);
    if (!result) return {};
    EXPECT_EQ(result->status, 200) << result->body;
    return Collect(SseChunks(result->body));
  }
};

TEST_F(HttpChatTest, ReasoningIsSplitFromContent) {
  backend_.SetScript(
      {"<think>", "\nThe user", " greets me.", "\n</think>", "\n\n", "Hi", " there"});
  const Json message = Chat(ChatBody("hello"))["choices"][0]["message"];
  EXPECT_EQ(message["reasoning_content"], "The user greets me.");
  EXPECT_EQ(message["content"], "Hi there");

  const StreamedMessage streamed = ChatStream(ChatBody("hello"));
  EXPECT_EQ(streamed.reasoning, "The user greets me.");
  EXPECT_EQ(streamed.content, "Hi there");
  EXPECT_EQ(streamed.finish_reason, "stop");
}

TEST_F(HttpChatTest, TagSplitAcrossTokensNeverLeaksIntoDeltas) {
  backend_.SetScript({"<th", "ink>", "hm", "</thi", "nk>", "ok <", "tool", "_call> is a tag"});
  auto result = PostJson("/v1/chat/completions", ChatBody("hello", /*stream=*/true));
  ASSERT_TRUE(result);
  for (const Json& chunk : SseChunks(result->body)) {
    const std::string text = chunk["choices"][0]["delta"].dump();
    EXPECT_EQ(text.find("<th"), std::string::npos) << text;
    EXPECT_EQ(text.find("</thi"), std::string::npos) << text;
  }
  const StreamedMessage message = Collect(SseChunks(result->body));
  EXPECT_EQ(message.reasoning, "hm");
  EXPECT_EQ(message.content, "ok <tool_call> is a tag");  // unterminated: kept as text
}

TEST_F(HttpChatTest, OneToolCall) {
  backend_.SetScript({"<tool_call>", "\n{\"name\": \"get_weather\", ",
                      "\"arguments\": {\"city\": \"Paris\"}}", "\n</tool_call>"});
  Json body = ChatBody("Weather in Paris?");
  body["tools"] = WeatherTools();
  const Json response = Chat(body);
  const Json& choice = response["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  EXPECT_TRUE(choice["message"]["content"].is_null());
  ASSERT_EQ(choice["message"]["tool_calls"].size(), 1u);
  const Json& call = choice["message"]["tool_calls"][0];
  EXPECT_EQ(call["type"], "function");
  EXPECT_EQ(call["id"].get<std::string>().rfind("call_", 0), 0u);
  EXPECT_EQ(call["function"]["name"], "get_weather");
  ASSERT_TRUE(call["function"]["arguments"].is_string());
  EXPECT_EQ(Json::parse(call["function"]["arguments"].get<std::string>()),
            Json::parse(R"({"city": "Paris"})"));
  // The tools reached the prompt in Qwen3's <tools> block.
  const std::string prompt = backend_.last_request().prompt_text;
  EXPECT_NE(
      prompt.find("<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\""),
      std::string::npos)
      << prompt;
}

TEST_F(HttpChatTest, TwoToolCallsStreamAsIndexedDeltas) {
  backend_.SetScript({"Let me check.", "\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": ",
                      "{\"city\": \"Paris\"}}\n</tool_call>", "\n<tool_call>\n",
                      "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}",
                      "\n</tool_call>"});
  Json body = ChatBody("Paris and Oslo?");
  body["tools"] = WeatherTools();
  const StreamedMessage streamed = ChatStream(body);
  EXPECT_EQ(streamed.content, "Let me check.");
  EXPECT_EQ(streamed.finish_reason, "tool_calls");
  ASSERT_EQ(streamed.tool_calls.size(), 2u);
  EXPECT_EQ(streamed.tool_calls[0]["index"], 0);
  EXPECT_EQ(streamed.tool_calls[1]["index"], 1);
  EXPECT_NE(streamed.tool_calls[0]["id"], streamed.tool_calls[1]["id"]);
  EXPECT_EQ(Json::parse(streamed.tool_calls[1]["function"]["arguments"].get<std::string>())["city"],
            "Oslo");

  const Json message = Chat(body)["choices"][0]["message"];
  EXPECT_EQ(message["content"], "Let me check.");
  ASSERT_EQ(message["tool_calls"].size(), 2u);
  EXPECT_FALSE(message["tool_calls"][0].contains("index"));
}

TEST_F(HttpChatTest, MalformedToolCallJsonIsKeptAsContent) {
  backend_.SetScript(
      {"<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {city: Paris}", "\n</tool_call>"});
  Json body = ChatBody("Weather?");
  body["tools"] = WeatherTools();
  const Json choice = Chat(body)["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "stop");
  EXPECT_FALSE(choice["message"].contains("tool_calls"));
  EXPECT_NE(choice["message"]["content"].get<std::string>().find("{city: Paris}"),
            std::string::npos);

  const StreamedMessage streamed = ChatStream(body);
  EXPECT_TRUE(streamed.tool_calls.empty());
  EXPECT_NE(streamed.content.find("<tool_call>"), std::string::npos);
  EXPECT_EQ(streamed.finish_reason, "stop");

  // A call without a name is malformed too; the server keeps serving.
  backend_.SetScript({"<tool_call>\n{\"arguments\": {}}\n</tool_call>"});
  EXPECT_FALSE(Chat(body)["choices"][0]["message"].contains("tool_calls"));
  auto health = Client().Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST_F(HttpChatTest, ToolChoiceNoneHidesTools) {
  Json body = ChatBody("hi");
  body["tools"] = WeatherTools();
  body["tool_choice"] = "none";
  Chat(body);
  EXPECT_EQ(backend_.last_request().prompt_text.find("<tools>"), std::string::npos);
}

TEST_F(HttpChatTest, ToolHistoryRendersIntoThePrompt) {
  const Json body = Json::parse(R"({"messages": [
      {"role": "user", "content": "Weather in Paris?"},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "18 C, sunny"}]})");
  Chat(body);
  const std::string prompt = backend_.last_request().prompt_text;
  EXPECT_NE(prompt.find("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
                        "\"Paris\"}}\n</tool_call>"),
            std::string::npos)
      << prompt;
  EXPECT_NE(prompt.find("<tool_response>\n18 C, sunny\n</tool_response>"), std::string::npos)
      << prompt;
}

TEST_F(HttpChatTest, ThinkingOnByDefaultWithThinkingSampling) {
  Chat(ChatBody("hello"));
  const GenerateRequest request = backend_.last_request();
  EXPECT_TRUE(EndsWith(request.prompt_text, "<|im_start|>assistant\n")) << request.prompt_text;
  EXPECT_FLOAT_EQ(request.sampling.temperature, 0.6f);
  EXPECT_FLOAT_EQ(request.sampling.top_p, 0.95f);
  EXPECT_EQ(request.sampling.top_k, 20);
}

TEST_F(HttpChatTest, ChatTemplateKwargsDisableThinking) {
  Json body = ChatBody("hello");
  body["chat_template_kwargs"] = {{"enable_thinking", false}};
  Chat(body);
  const GenerateRequest request = backend_.last_request();
  EXPECT_TRUE(EndsWith(request.prompt_text, std::string("<|im_start|>assistant\n") + kEmptyThink))
      << request.prompt_text;
  EXPECT_FLOAT_EQ(request.sampling.temperature, 0.7f);
  EXPECT_FLOAT_EQ(request.sampling.top_p, 0.8f);

  // A /think soft switch cannot turn thinking back on against enable_thinking=false.
  body["messages"][0]["content"] = "hello /think";
  Chat(body);
  EXPECT_TRUE(EndsWith(backend_.last_request().prompt_text, kEmptyThink));
}

TEST_F(HttpChatTest, SoftSwitchesFollowTheLatestMessage) {
  Chat(ChatBody("What is 2+2? /no_think"));
  EXPECT_TRUE(EndsWith(backend_.last_request().prompt_text, kEmptyThink));

  Json body = Json::parse(R"({"messages": [
      {"role": "user", "content": "hi /no_think"},
      {"role": "assistant", "content": "Hello!"},
      {"role": "user", "content": "now think hard /think"}]})");
  Chat(body);
  EXPECT_FALSE(EndsWith(backend_.last_request().prompt_text, kEmptyThink));

  // Not a switch: part of a longer word or path.
  Chat(ChatBody("see /no_thinking and a/no_think"));
  EXPECT_FALSE(EndsWith(backend_.last_request().prompt_text, kEmptyThink));

  // The system prompt may switch it off too; explicit sampling beats the mode's defaults.
  body = Json::parse(R"({"messages": [{"role": "system", "content": "Be brief. /no_think"},
      {"role": "user", "content": "hi"}], "temperature": 0, "top_k": -1, "seed": 7})");
  Chat(body);
  const GenerateRequest request = backend_.last_request();
  EXPECT_TRUE(EndsWith(request.prompt_text, kEmptyThink));
  EXPECT_FLOAT_EQ(request.sampling.temperature, 0.0f);
  EXPECT_EQ(request.sampling.top_k, 0);
  EXPECT_EQ(request.sampling.seed.value_or(0), 7u);
}

TEST_F(HttpChatTest, StopStringsEndTheAnswerAndCancelTheBackend) {
  backend_.SetScript({"One", " two", " thr", "ee STO", "P four", " five"});
  Json body = ChatBody("count");
  body["stop"] = Json::array({"STOP", "never"});
  const Json choice = Chat(body)["choices"][0];
  EXPECT_EQ(choice["message"]["content"], "One two three ");
  EXPECT_EQ(choice["finish_reason"], "stop");
  EXPECT_EQ(backend_.cancelled, 1) << "the backend must stop generating after a stop string";

  auto result = PostJson("/v1/chat/completions", [&] {
    Json streamed = body;
    streamed["stream"] = true;
    return streamed;
  }());
  ASSERT_TRUE(result);
  EXPECT_EQ(result->body.find("ST"), std::string::npos) << "no part of the stop string is sent";
  EXPECT_EQ(Collect(SseChunks(result->body)).content, "One two three ");
}

TEST_F(HttpChatTest, MaxTokensEndsWithLength) {
  backend_.SetScript({"a", "b", "c", "d", "e"});
  Json body = ChatBody("letters");
  body["max_tokens"] = 2;
  const Json response = Chat(body);
  EXPECT_EQ(response["choices"][0]["message"]["content"], "ab");
  EXPECT_EQ(response["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(response["usage"]["completion_tokens"], 2);
  EXPECT_EQ(backend_.last_request().max_tokens, 2);
}

TEST_F(HttpChatTest, ContentPartsAndDeveloperRoleAreAccepted) {
  const Json body = Json::parse(R"({"messages": [
      {"role": "developer", "content": "Answer in French."},
      {"role": "user", "content": [{"type": "text", "text": "Hello "},
                                   {"type": "text", "text": "there"}]}]})");
  Chat(body);
  const std::string prompt = backend_.last_request().prompt_text;
  EXPECT_NE(prompt.find("<|im_start|>system\nAnswer in French.<|im_end|>"), std::string::npos)
      << prompt;
  EXPECT_NE(prompt.find("<|im_start|>user\nHello there<|im_end|>"), std::string::npos) << prompt;
}

}  // namespace
}  // namespace zen::http::testing
