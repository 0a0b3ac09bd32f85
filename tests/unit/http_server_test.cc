// The OpenAI-compatible HTTP API end to end over a real loopback connection: response
// shapes, SSE framing and every error status.
#include <gtest/gtest.h>

#include <string>

#include "tests/unit/http_test_support.h"

namespace zen::http::testing {
namespace {

// Asserts an OpenAI error body with the given status and returns its "error" object.
Json ExpectError(const httplib::Result& result, int status) {
  EXPECT_TRUE(result) << "no response";
  if (!result) return Json();
  EXPECT_EQ(result->status, status) << result->body;
  EXPECT_EQ(result->get_header_value("Content-Type"), "application/json");
  const Json body = Json::parse(result->body, nullptr, false);
  EXPECT_TRUE(body.is_object() && body.contains("error")) << result->body;
  if (!body.is_object() || !body.contains("error")) return Json();
  const Json& error = body["error"];
  EXPECT_TRUE(error["message"].is_string());
  EXPECT_FALSE(error["message"].get<std::string>().empty());
  EXPECT_TRUE(error["type"].is_string());
  EXPECT_TRUE(error.contains("param"));
  EXPECT_TRUE(error.contains("code"));
  return error;
}

TEST_F(HttpServerTest, ModelsListsTheBackendModel) {
  auto result = Client().Get("/v1/models");
  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200);
  const Json body = Json::parse(result->body);
  EXPECT_EQ(body["object"], "list");
  ASSERT_EQ(body["data"].size(), 1u);
  EXPECT_EQ(body["data"][0]["id"], "zen-test-model");
  EXPECT_EQ(body["data"][0]["object"], "model");
  EXPECT_EQ(body["data"][0]["owned_by"], "zen");

  auto one = Client().Get("/v1/models/zen-test-model");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->status, 200);
  EXPECT_EQ(Json::parse(one->body)["id"], "zen-test-model");
  EXPECT_EQ(ExpectError(Client().Get("/v1/models/gpt-4"), 404)["code"], "model_not_found");
}

TEST_F(HttpServerTest, HealthReportsReadinessAndNodes) {
  auto ready = Client().Get("/health");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  Json body = Json::parse(ready->body);
  EXPECT_EQ(body["status"], "ok");
  ASSERT_EQ(body["nodes"].size(), 1u);
  EXPECT_EQ(body["nodes"][0]["name"], "laptop");
  EXPECT_EQ(body["nodes"][0]["layers"], Json::array({0, 27}));

  backend_.ready = false;
  auto not_ready = Client().Get("/health");
  ASSERT_TRUE(not_ready);
  EXPECT_EQ(not_ready->status, 503);
  body = Json::parse(not_ready->body);
  EXPECT_EQ(body["ready"], false);
  EXPECT_EQ(body["detail"], "loading slices");
}

TEST_F(HttpServerTest, NonStreamingChatHasOpenAiShape) {
  auto result = PostJson("/v1/chat/completions", ChatBody("Say hello"));
  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200) << result->body;
  EXPECT_EQ(result->get_header_value("Content-Type"), "application/json");
  const Json body = Json::parse(result->body);
  EXPECT_EQ(body["id"].get<std::string>().rfind("chatcmpl-", 0), 0u);
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_TRUE(body["created"].is_number_integer());
  EXPECT_EQ(body["model"], "zen-test-model");
  ASSERT_EQ(body["choices"].size(), 1u);
  const Json& choice = body["choices"][0];
  EXPECT_EQ(choice["index"], 0);
  EXPECT_EQ(choice["message"]["role"], "assistant");
  EXPECT_EQ(choice["message"]["content"], "Hello, world!");
  EXPECT_FALSE(choice["message"].contains("tool_calls"));
  EXPECT_EQ(choice["finish_reason"], "stop");
  const GenerateRequest sent = backend_.last_request();
  EXPECT_EQ(body["usage"]["prompt_tokens"], sent.prompt_text.size());
  EXPECT_EQ(body["usage"]["completion_tokens"], 4);
  EXPECT_EQ(body["usage"]["total_tokens"], sent.prompt_text.size() + 4);
}

TEST_F(HttpServerTest, StreamingChatHasExactSseFraming) {
  auto result = PostJson("/v1/chat/completions", ChatBody("Say hello", /*stream=*/true));
  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200) << result->body;
  EXPECT_EQ(result->get_header_value("Content-Type"), "text/event-stream");
  ASSERT_GE(result->body.size(), 14u);
  EXPECT_EQ(result->body.substr(result->body.size() - 14), "data: [DONE]\n\n");
  const std::vector<Json> chunks = SseChunks(result->body);
  // role chunk, 4 content deltas, finish chunk
  ASSERT_EQ(chunks.size(), 6u) << result->body;
  std::string text;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const Json& chunk = chunks[i];
    EXPECT_EQ(chunk["object"], "chat.completion.chunk");
    EXPECT_EQ(chunk["id"], chunks[0]["id"]);
    EXPECT_EQ(chunk["model"], "zen-test-model");
    EXPECT_FALSE(chunk.contains("usage")) << "usage only with stream_options.include_usage";
    ASSERT_EQ(chunk["choices"].size(), 1u);
    const Json& choice = chunk["choices"][0];
    if (i == 0) {
      EXPECT_EQ(choice["delta"]["role"], "assistant");
    }
    if (i + 1 < chunks.size()) {
      EXPECT_TRUE(choice["finish_reason"].is_null());
      if (choice["delta"].contains("content"))
        text += choice["delta"]["content"].get<std::string>();
    } else {
      EXPECT_EQ(choice["finish_reason"], "stop");
      EXPECT_EQ(choice["delta"], Json::object());
    }
  }
  EXPECT_EQ(text, "Hello, world!");
}

TEST_F(HttpServerTest, StreamIncludesUsageChunkWhenAsked) {
  Json body = ChatBody("Say hello", /*stream=*/true);
  body["stream_options"] = {{"include_usage", true}};
  auto result = PostJson("/v1/chat/completions", body);
  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200);
  const std::vector<Json> chunks = SseChunks(result->body);
  ASSERT_GE(chunks.size(), 2u);
  for (size_t i = 0; i + 1 < chunks.size(); ++i) {
    EXPECT_TRUE(chunks[i].contains("usage") && chunks[i]["usage"].is_null());
  }
  const Json& usage_chunk = chunks.back();
  EXPECT_EQ(usage_chunk["choices"], Json::array());
  EXPECT_EQ(usage_chunk["usage"]["prompt_tokens"], backend_.last_request().prompt_text.size());
  EXPECT_EQ(usage_chunk["usage"]["completion_tokens"], 4);
  EXPECT_EQ(chunks[chunks.size() - 2]["choices"][0]["finish_reason"], "stop");
}

TEST_F(HttpServerTest, CompletionsStreamAndNonStream) {
  Json body = {{"prompt", "Once upon a time"}, {"max_tokens", 3}};
  auto result = PostJson("/v1/completions", body);
  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200) << result->body;
  Json parsed = Json::parse(result->body);
  EXPECT_EQ(parsed["object"], "text_completion");
  EXPECT_EQ(parsed["id"].get<std::string>().rfind("cmpl-", 0), 0u);
  EXPECT_EQ(parsed["choices"][0]["text"], "Hello, world");
  EXPECT_EQ(parsed["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(parsed["usage"]["completion_tokens"], 3);
  EXPECT_EQ(backend_.last_request().prompt_text, "Once upon a time");
  EXPECT_EQ(backend_.last_request().max_tokens, 3);

  body["stream"] = true;
  result = PostJson("/v1/completions", body);
  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200);
  std::string text;
  const std::vector<Json> chunks = SseChunks(result->body);
  ASSERT_EQ(chunks.size(), 4u);
  for (const Json& chunk : chunks) {
    EXPECT_EQ(chunk["object"], "text_completion");
    text += chunk["choices"][0]["text"].get<std::string>();
  }
  EXPECT_EQ(text, "Hello, world");
  EXPECT_EQ(chunks.back()["choices"][0]["finish_reason"], "length");
}

TEST_F(HttpServerTest, CompletionsAcceptTokenIds) {
  auto result = PostJson("/v1/completions", Json{{"prompt", Json::array({1, 2, 3})}});
  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200) << result->body;
  EXPECT_EQ(backend_.last_request().prompt_tokens, (std::vector<int32_t>{1, 2, 3}));
}

TEST_F(HttpServerTest, MissingModelFieldUsesTheBackendModel) {
  Json body = ChatBody("hi");
  body.erase("model");
  auto result = PostJson("/v1/chat/completions", body);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200) << result->body;
  EXPECT_EQ(backend_.last_request().model, "zen-test-model");
}

TEST_F(HttpServerTest, BadJsonIs400) {
  auto result = Client().Post("/v1/chat/completions", "{\"messages\": [", "application/json");
  EXPECT_NE(ExpectError(result, 400)["message"].get<std::string>().find("not valid JSON"),
            std::string::npos);
  ExpectError(Client().Post("/v1/chat/completions", "[1, 2]", "application/json"), 400);
  ExpectError(Client().Post("/v1/completions", "", "application/json"), 400);
  // Invalid UTF-8 inside a JSON string.
  ExpectError(Client().Post("/v1/completions", "{\"prompt\": \"\xff\xfe\"}", "application/json"),
              400);
}

TEST_F(HttpServerTest, WrongFieldsAre400AndNameTheField) {
  struct Case {
    const char* field;
    Json value;
    const char* param;
  };
  const std::vector<Case> cases = {
      {"temperature", 3.5, "temperature"},
      {"temperature", "hot", "temperature"},
      {"top_p", 1.5, "top_p"},
      {"top_k", 2.5, "top_k"},
      {"min_p", -0.1, "min_p"},
      {"max_tokens", 0, "max_tokens"},
      {"max_tokens", "ten", "max_tokens"},
      {"presence_penalty", 3, "presence_penalty"},
      {"frequency_penalty", -2.5, "frequency_penalty"},
      {"stream", "yes", "stream"},
      {"stop", 42, "stop"},
      {"stop", Json::array({"a", 1}), "stop[1]"},
      {"seed", "x", "seed"},
      {"n", 2, "n"},
      {"model", 7, "model"},
      {"messages", "hi", "messages"},
      {"messages", Json::array(), "messages"},
      {"messages", Json::array({Json{{"role", "wizard"}, {"content", "x"}}}), "messages[0].role"},
      {"messages", Json::array({Json{{"content", "x"}}}), "messages[0].role"},
      {"messages", Json::array({Json{{"role", "user"}, {"content", 5}}}), "messages[0].content"},
      {"tools", Json::array({Json{{"type", "retrieval"}}}), "tools[0].type"},
      {"tool_choice", "always", "tool_choice"},
      {"chat_template_kwargs", Json{{"enable_thinking", "no"}},
       "chat_template_kwargs.enable_thinking"},
      {"response_format", Json{{"type", "json_object"}}, "response_format"},
      {"logprobs", true, "logprobs"},
  };
  for (const Case& test : cases) {
    SCOPED_TRACE(std::string(test.field) + " = " + test.value.dump());
    Json body = ChatBody("hi");
    body[test.field] = test.value;
    const Json error = ExpectError(PostJson("/v1/chat/completions", body), 400);
    EXPECT_EQ(error["param"], test.param);
    EXPECT_EQ(error["type"], "invalid_request_error");
  }
  Json missing = ChatBody("hi");
  missing.erase("messages");
  EXPECT_EQ(ExpectError(PostJson("/v1/chat/completions", missing), 400)["param"], "messages");
  EXPECT_EQ(
      ExpectError(PostJson("/v1/completions", Json{{"model", "zen-test-model"}}), 400)["param"],
      "prompt");
  EXPECT_EQ(
      ExpectError(PostJson("/v1/completions", Json{{"prompt", Json::array({-1})}}), 400)["param"],
      "prompt[0]");
  EXPECT_EQ(backend_.started, 0) << "no invalid request may reach the backend";
}

TEST_F(HttpServerTest, UnknownModelIs404) {
  Json body = ChatBody("hi");
  body["model"] = "gpt-4o";
  const Json error = ExpectError(PostJson("/v1/chat/completions", body), 404);
  EXPECT_EQ(error["code"], "model_not_found");
  EXPECT_EQ(error["param"], "model");
  EXPECT_NE(error["message"].get<std::string>().find("zen-test-model"), std::string::npos);
}

TEST_F(HttpServerTest, PromptLongerThanContextIs413) {
  backend_.context_length = 64;
  const Json error =
      ExpectError(PostJson("/v1/chat/completions", ChatBody(std::string(100, 'a'))), 413);
  EXPECT_EQ(error["code"], "context_length_exceeded");
  ExpectError(PostJson("/v1/completions", Json{{"prompt", std::string(64, 'b')}}), 413);
  // One token short of the context still leaves room for one generated token.
  auto fits = PostJson("/v1/completions", Json{{"prompt", std::string(63, 'b')}});
  ASSERT_TRUE(fits);
  EXPECT_EQ(fits->status, 200) << fits->body;
  EXPECT_EQ(Json::parse(fits->body)["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(backend_.last_request().max_tokens, 1);
}

TEST_F(HttpServerTest, NotReadyIs503) {
  backend_.ready = false;
  EXPECT_EQ(ExpectError(PostJson("/v1/chat/completions", ChatBody("hi")), 503)["type"],
            "server_error");
  ExpectError(PostJson("/v1/completions", Json{{"prompt", "x"}}), 503);
  backend_.ready = true;
  backend_.SetStartError(absl::UnavailableError("node pi-2 is unreachable"));
  const Json error = ExpectError(PostJson("/v1/chat/completions", ChatBody("hi")), 503);
  EXPECT_NE(error["message"].get<std::string>().find("pi-2"), std::string::npos);
  // A stream's 200 headers are out before the backend runs, so a refusal arrives as an
  // error event.
  auto stream = PostJson("/v1/chat/completions", ChatBody("hi", /*stream=*/true));
  ASSERT_TRUE(stream);
  const std::vector<Json> chunks = SseChunks(stream->body);
  ASSERT_FALSE(chunks.empty());
  EXPECT_EQ(chunks.back()["error"]["type"], "server_error");
  EXPECT_NE(chunks.back()["error"]["message"].get<std::string>().find("pi-2"), std::string::npos);
}

TEST_F(HttpServerTest, BackendFailureMidStreamEndsWithErrorEvent) {
  backend_.SetScript({"partial"}, FinishReason::kError);
  auto result = PostJson("/v1/chat/completions", ChatBody("hi", /*stream=*/true));
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200);
  const std::vector<Json> chunks = SseChunks(result->body);
  ASSERT_FALSE(chunks.empty());
  EXPECT_EQ(chunks.back()["error"]["message"], "node desktop stopped answering");

  const Json error = ExpectError(PostJson("/v1/chat/completions", ChatBody("hi")), 500);
  EXPECT_EQ(error["type"], "server_error");
}

TEST_F(HttpServerTest, UnknownRoutesAndMethods) {
  const Json missing = ExpectError(Client().Get("/v2/engines"), 404);
  EXPECT_NE(missing["message"].get<std::string>().find("/v2/engines"), std::string::npos);
  auto wrong_method = Client().Get("/v1/chat/completions");
  ExpectError(wrong_method, 405);
  EXPECT_EQ(wrong_method->get_header_value("Allow"), "POST");
  ExpectError(Client().Post("/health", "", "application/json"), 405);
  ExpectError(Client().Delete("/v1/models"), 405);
}

TEST_F(HttpServerTest, OversizedBodyIs413) {
  OpenAiServerOptions options;
  options.max_body_bytes = 1024;
  StartServer(options);
  ExpectError(PostJson("/v1/chat/completions", ChatBody(std::string(4096, 'z'))), 413);
  auto health = Client().Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST_F(HttpServerTest, ApiKeyRequiredWhenVerifierSet) {
  OpenAiServerOptions options;
  options.api_key_verifier = [](std::string_view token) { return token == "sk-household"; };
  StartServer(options);
  const Json missing = ExpectError(PostJson("/v1/chat/completions", ChatBody("hi")), 401);
  EXPECT_EQ(missing["type"], "authentication_error");
  EXPECT_EQ(missing["code"], "invalid_api_key");
  ExpectError(Client().Get("/health"), 401);
  ExpectError(
      PostJson("/v1/chat/completions", ChatBody("hi"), {{"Authorization", "Bearer sk-wrong"}}),
      401);
  ExpectError(PostJson("/v1/chat/completions", ChatBody("hi"), {{"Authorization", "sk-household"}}),
              401);
  EXPECT_EQ(backend_.started, 0);

  auto ok =
      PostJson("/v1/chat/completions", ChatBody("hi"), {{"Authorization", "Bearer sk-household"}});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
  httplib::Client client = Client();
  client.set_bearer_token_auth("sk-household");
  auto models = client.Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(models->status, 200);
}

TEST_F(HttpServerTest, GarbageOnTheSocketLeavesTheServerServing) {
  struct Garbage {
    std::string bytes;
    bool answered;  // whether the server can answer before the client hangs up
  };
  const std::vector<Garbage> cases = {
      // A TLS hello never ends its request line.
      {std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11), false},
      {"GET / HTTP/9.9\r\n\r\n", true},
      {"BREW /coffee HTTP/1.1\r\nHost: x\r\n\r\n", true},
      // httplib drains an oversized body before answering 413; the client leaves first.
      {"POST /v1/completions HTTP/1.1\r\nContent-Length: 99999999999999\r\n\r\n", false},
  };
  for (const Garbage& garbage : cases) {
    RawConnection connection(server_->port());
    ASSERT_TRUE(connection.connected());
    connection.Send(garbage.bytes);
    if (garbage.answered) {
      EXPECT_NE(connection.ReadUntil("\r\n\r\n").find("HTTP/1.1 400"), std::string::npos);
    }
  }
  auto health = Client().Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto chat = PostJson("/v1/chat/completions", ChatBody("still there?"));
  ASSERT_TRUE(chat);
  EXPECT_EQ(chat->status, 200);
}

TEST(ParseListenAddressTest, AcceptsHostPortForms) {
  auto plain = ParseListenAddress("127.0.0.1:8080");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->first, "127.0.0.1");
  EXPECT_EQ(plain->second, 8080);
  auto v6 = ParseListenAddress("[::1]:9000");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->first, "::1");
  EXPECT_EQ(v6->second, 9000);
  auto port_only = ParseListenAddress(":8081");
  ASSERT_TRUE(port_only.ok());
  EXPECT_EQ(port_only->first, "127.0.0.1");
  EXPECT_FALSE(ParseListenAddress("localhost").ok());
  EXPECT_FALSE(ParseListenAddress("0.0.0.0:http").ok());
  EXPECT_FALSE(ParseListenAddress("0.0.0.0:70000").ok());
}

TEST(OpenAiHttpServerTest, ReportsAnAddressInUse) {
  FakeBackend backend;
  OpenAiHttpServer first;
  OpenAiServerOptions options;
  options.port = 0;
  ASSERT_TRUE(first.Start(options, backend).ok());
  OpenAiHttpServer second;
  options.port = first.port();
  const absl::Status status = second.Start(options, backend);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(second.port(), 0);
}

}  // namespace
}  // namespace zen::http::testing
