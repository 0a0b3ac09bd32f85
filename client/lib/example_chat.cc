// A small app on the zen_client library: asks a cluster one question and streams the
// answer, thinking apart from the reply, then asks a follow-up with the history.
//
//   zen_chat_example 127.0.0.1:7071 "Why is the sky blue?"
#include <cstdio>
#include <iostream>
#include <string>

#include "client/lib/zen_client.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: " << argv[0] << " HOST:PORT QUESTION [FOLLOW-UP]\n";
    return 2;
  }
  zen::client::Client cluster(argv[1]);

  auto models = cluster.ListModels();
  if (!models.ok()) {
    std::cerr << "cannot list models: " << models.status().message() << "\n";
    return 1;
  }
  for (const auto& model : *models) {
    std::cerr << "model " << model.id() << " (" << model.chat_format() << ", context "
              << model.context_length() << " tokens)\n";
  }

  zen::client::ChatOptions options;
  options.messages.push_back(zen::client::TextMessage("system", "You are a concise assistant."));
  options.messages.push_back(zen::client::TextMessage("user", argv[2]));
  options.max_tokens = 256;

  for (int turn = 0; turn < (argc > 3 ? 2 : 1); ++turn) {
    bool thinking = false;
    auto result = cluster.Chat(options, [&](const zen::client::ChatDelta& delta) {
      if (!delta.request_id.empty()) std::cerr << "request " << delta.request_id << "\n";
      if (!delta.reasoning.empty()) {
        if (!thinking) std::printf("(thinking) ");
        thinking = true;
        std::printf("%s", delta.reasoning.c_str());
      }
      if (!delta.content.empty()) {
        if (thinking) std::printf("\n(answer) ");
        thinking = false;
        std::printf("%s", delta.content.c_str());
      }
      for (const auto& call : delta.tool_calls) {
        std::printf("\n(tool call) %s %s", call.name.c_str(), call.arguments_json.c_str());
      }
      std::fflush(stdout);
      return true;  // false would stop the answer here
    });
    std::printf("\n");
    if (!result.ok()) {
      std::cerr << "chat failed: " << result.status().message() << "\n";
      return 1;
    }
    std::cerr << "finish " << result->finish_reason << ", " << result->prompt_tokens
              << " prompt tokens, " << result->completion_tokens << " generated\n";
    // The next turn sees this answer: history is the app's to keep.
    zen::client::ChatMessage answer = zen::client::TextMessage("assistant", result->content);
    if (!result->reasoning.empty()) answer.reasoning_content = result->reasoning;
    answer.tool_calls = result->tool_calls;
    options.messages.push_back(std::move(answer));
    if (argc > 3 && turn == 0)
      options.messages.push_back(zen::client::TextMessage("user", argv[3]));
  }
  return 0;
}
