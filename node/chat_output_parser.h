// Splits a Qwen3-style model answer into reasoning (<think>...</think>), visible content and
// tool calls (<tool_call>\n{json}\n</tool_call>), incrementally, so a streaming API can send
// each part as it arrives and never shows half a tag.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace zen::node {

// A tool call the model made.
struct ParsedToolCall {
  std::string name;
  nlohmann::ordered_json arguments;  // usually an object; {} when the model gave none
  std::string raw_json;              // the text between the tags, for logs and errors
};

// What one Feed or Finish produced.
struct ChatOutputDelta {
  std::string reasoning;
  std::string content;
  std::vector<ParsedToolCall> tool_calls;
  // Malformed tool calls: their text is kept in `content` and the reason is given here.
  std::vector<std::string> errors;

  bool empty() const {
    return reasoning.empty() && content.empty() && tool_calls.empty() && errors.empty();
  }
  // Appends another delta (for callers that want the whole message).
  void Append(ChatOutputDelta other);
};

// Incremental parser for one assistant message. Text is held back only while it may be the
// start of a tag, or newlines that the template would strip around tags.
class ChatOutputParser {
 public:
  // `starts_in_reasoning`: the prompt already opened <think> (see
  // ChatTemplate::generation_opens_think), so output is reasoning until </think>.
  explicit ChatOutputParser(bool starts_in_reasoning = false);

  // Adds generated text (complete UTF-8 characters); returns what is now certain.
  ChatOutputDelta Feed(std::string_view text);
  // Ends the message: flushes held text; an unterminated <tool_call> becomes content with
  // an error.
  ChatOutputDelta Finish();

 private:
  enum class State { kStart, kReasoning, kContent, kToolCall };

  void Process(bool final, ChatOutputDelta* delta);
  // Emits `text` to reasoning or content, holding back trailing newlines.
  void Emit(std::string_view text, std::string* target);
  void EndSection();
  void FinishToolCall(std::string_view body, ChatOutputDelta* delta);

  State state_;
  std::string buffer_;            // unconsumed input
  std::string held_newlines_;     // trailing newlines of the section, not yet emitted
  bool section_started_ = false;  // a section's leading newlines are dropped
};

// Parses a complete message in one go.
ChatOutputDelta ParseChatOutput(std::string_view text, bool starts_in_reasoning = false);

}  // namespace zen::node
