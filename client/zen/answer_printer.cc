#include "client/zen/answer_printer.h"

#include <cstdio>

namespace zen::cli {
namespace {

constexpr char kFaint[] = "\x1b[2m";
constexpr char kReset[] = "\x1b[0m";

}  // namespace

void AnswerPrinter::Write(std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

void AnswerPrinter::Print(const client::ChatDelta& delta) {
  if (show_thinking_ && !delta.reasoning.empty()) {
    if (!in_reasoning_) Write(terminal_ ? kFaint : "<think>\n");
    in_reasoning_ = true;
    Write(delta.reasoning);
  }
  if (delta.content.empty() && delta.tool_calls.empty()) return;
  Finish();
  Write(delta.content);
  // As the model wrote them (Qwen3's format), so the output reads like the local form's.
  for (const client::ToolCall& call : delta.tool_calls) {
    Write("\n<tool_call>\n{\"name\": \"" + call.name + "\", \"arguments\": " +
          (call.arguments_json.empty() ? std::string("{}") : call.arguments_json) +
          "}\n</tool_call>");
  }
}

void AnswerPrinter::Finish() {
  if (!in_reasoning_) return;
  Write(terminal_ ? std::string(kReset) + "\n" : std::string("\n</think>\n\n"));
  in_reasoning_ = false;
}

}  // namespace zen::cli
