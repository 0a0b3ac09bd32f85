// Prints a streamed chat answer (zen chat, zen run --host --chat) to stdout: the thinking
// dimmed on a terminal or between <think> tags otherwise, then the answer and tool calls.
#pragma once

#include <string>
#include <string_view>

#include "client/lib/zen_client.h"

namespace zen::cli {

// Writes one answer's deltas in order; call Finish once at the end.
class AnswerPrinter {
 public:
  // `show_thinking` false drops the reasoning; `terminal` dims it instead of tagging it.
  AnswerPrinter(bool show_thinking, bool terminal)
      : show_thinking_(show_thinking), terminal_(terminal) {}

  void Print(const client::ChatDelta& delta);
  // Closes an open thinking section.
  void Finish();

 private:
  static void Write(std::string_view text);

  const bool show_thinking_;
  const bool terminal_;
  bool in_reasoning_ = false;
};

}  // namespace zen::cli
