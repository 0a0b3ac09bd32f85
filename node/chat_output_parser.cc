#include "node/chat_output_parser.h"

#include "node/utf8_stream.h"

namespace zen::node {
namespace {

constexpr std::string_view kThinkOpen = "<think>";
constexpr std::string_view kThinkClose = "</think>";
constexpr std::string_view kToolOpen = "<tool_call>";
constexpr std::string_view kToolClose = "</tool_call>";

std::string_view TrimWhitespace(std::string_view s) {
  const size_t begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(" \t\r\n") - begin + 1);
}

}  // namespace

void ChatOutputDelta::Append(ChatOutputDelta other) {
  reasoning += other.reasoning;
  content += other.content;
  for (ParsedToolCall& call : other.tool_calls) tool_calls.push_back(std::move(call));
  for (std::string& error : other.errors) errors.push_back(std::move(error));
}

ChatOutputParser::ChatOutputParser(bool starts_in_reasoning)
    : state_(starts_in_reasoning ? State::kReasoning : State::kStart) {}

ChatOutputDelta ChatOutputParser::Feed(std::string_view text) {
  buffer_.append(text);
  ChatOutputDelta delta;
  Process(/*final=*/false, &delta);
  return delta;
}

ChatOutputDelta ChatOutputParser::Finish() {
  ChatOutputDelta delta;
  Process(/*final=*/true, &delta);
  return delta;
}

void ChatOutputParser::Emit(std::string_view text, std::string* target) {
  // The template strips newlines next to <think>, </think> and tool calls; dropping them
  // here makes a parsed message render back to the same prompt text.
  if (!section_started_) {
    const size_t start = text.find_first_not_of('\n');
    if (start == std::string_view::npos) return;
    text.remove_prefix(start);
    section_started_ = true;
  }
  const size_t last = text.find_last_not_of('\n');
  if (last == std::string_view::npos) {
    held_newlines_.append(text);
    return;
  }
  target->append(held_newlines_);
  held_newlines_.clear();
  target->append(text.substr(0, last + 1));
  held_newlines_.append(text.substr(last + 1));
}

void ChatOutputParser::EndSection() {
  held_newlines_.clear();
  section_started_ = false;
}

void ChatOutputParser::FinishToolCall(std::string_view body, ChatOutputDelta* delta) {
  const std::string_view json_text = TrimWhitespace(body);
  auto parsed = nlohmann::ordered_json::parse(json_text.begin(), json_text.end(), nullptr,
                                              /*allow_exceptions=*/false);
  std::string problem;
  if (parsed.is_discarded()) {
    problem = "its JSON does not parse";
  } else if (!parsed.is_object()) {
    problem = "its JSON is not an object";
  } else if (!parsed.contains("name") || !parsed["name"].is_string()) {
    problem = "it has no string \"name\"";
  }
  if (!problem.empty()) {
    delta->errors.push_back("malformed <tool_call> kept as text: " + problem + ": " +
                            std::string(json_text));
    Emit(std::string(kToolOpen) + std::string(body) + std::string(kToolClose), &delta->content);
    return;
  }
  ParsedToolCall call;
  call.name = parsed["name"].get<std::string>();
  call.arguments =
      parsed.contains("arguments") ? parsed["arguments"] : nlohmann::ordered_json::object();
  call.raw_json = std::string(json_text);
  delta->tool_calls.push_back(std::move(call));
}

void ChatOutputParser::Process(bool final, ChatOutputDelta* delta) {
  while (true) {
    switch (state_) {
      case State::kStart: {
        const size_t first = buffer_.find_first_not_of(" \t\r\n");
        if (first == std::string::npos) {
          if (final) buffer_.clear();
          return;
        }
        const std::string_view rest = std::string_view(buffer_).substr(first);
        if (rest.starts_with(kThinkOpen)) {
          buffer_.erase(0, first + kThinkOpen.size());
          state_ = State::kReasoning;
          EndSection();
          continue;
        }
        if (!final && rest.size() < kThinkOpen.size() && kThinkOpen.starts_with(rest)) return;
        state_ = State::kContent;
        EndSection();
        continue;
      }
      case State::kReasoning:
      case State::kContent: {
        const bool reasoning = state_ == State::kReasoning;
        const std::string_view close = reasoning ? kThinkClose : kToolOpen;
        std::string* target = reasoning ? &delta->reasoning : &delta->content;
        const size_t at = buffer_.find(close);
        if (at != std::string::npos) {
          Emit(std::string_view(buffer_).substr(0, at), target);
          EndSection();
          buffer_.erase(0, at + close.size());
          state_ = reasoning ? State::kContent : State::kToolCall;
          continue;
        }
        const size_t keep = final ? 0 : PartialSuffixLength(buffer_, close);
        Emit(std::string_view(buffer_).substr(0, buffer_.size() - keep), target);
        buffer_.erase(0, buffer_.size() - keep);
        if (final) EndSection();
        return;
      }
      case State::kToolCall: {
        const size_t at = buffer_.find(kToolClose);
        if (at != std::string::npos) {
          FinishToolCall(std::string_view(buffer_).substr(0, at), delta);
          buffer_.erase(0, at + kToolClose.size());
          state_ = State::kContent;
          EndSection();
          continue;
        }
        if (final) {
          delta->errors.push_back("unterminated <tool_call> kept as text: " + buffer_);
          Emit(std::string(kToolOpen) + buffer_, &delta->content);
          buffer_.clear();
          EndSection();
        }
        return;
      }
    }
  }
}

ChatOutputDelta ParseChatOutput(std::string_view text, bool starts_in_reasoning) {
  ChatOutputParser parser(starts_in_reasoning);
  ChatOutputDelta all = parser.Feed(text);
  all.Append(parser.Finish());
  return all;
}

}  // namespace zen::node
