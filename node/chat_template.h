// Chat prompts: renders a conversation the way the model's own template would, without a
// Jinja engine. The family (Qwen3, plain ChatML, Llama 3) is read off the GGUF's
// tokenizer.chat_template text; Qwen3 is reproduced exactly, including tools, reasoning
// history and the enable_thinking switch.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace zen::node {

class GgufFile;

// One function call an assistant message made.
struct ChatToolCall {
  std::string id;  // API-level call id (OpenAI "call_..."); the Qwen3 template does not show it
  std::string name;
  // The arguments object; a JSON string value is rendered verbatim (already-serialized args).
  nlohmann::ordered_json arguments = nlohmann::ordered_json::object();
};

// One turn of a conversation.
struct ChatMessage {
  std::string role;  // "system", "user", "assistant" or "tool"
  std::string content;
  std::optional<std::string> reasoning_content;  // assistant thinking, kept apart from content
  std::vector<ChatToolCall> tool_calls;          // assistant only
  std::string tool_call_id;                      // tool results; not rendered by Qwen3
};

// The prompt formats we can render.
enum class ChatFamily {
  kQwen3,   // ChatML + <think> + <tool_call> (Qwen3's template)
  kChatML,  // <|im_start|>role\n...<|im_end|>, no tools, no thinking
  kLlama3,  // <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>
};

// "qwen3", "chatml" or "llama3".
std::string_view ChatFamilyName(ChatFamily family);

// What to render besides the messages.
struct ChatRenderOptions {
  bool add_generation_prompt = true;  // end with the opening of the assistant's turn
  // false adds Qwen3's empty think block, so the model answers without thinking.
  bool enable_thinking = true;
  // Tool definitions as the API received them (OpenAI's {"type":"function","function":{...}}),
  // rendered one per line in their original key order.
  nlohmann::ordered_json tools = nlohmann::ordered_json::array();
};

// Renders conversations in one family's format.
class ChatTemplate {
 public:
  // A template of a known family.
  explicit ChatTemplate(ChatFamily family) : family_(family) {}
  // Recognizes the family from Jinja template text; unknown or empty text falls back to
  // ChatML and sets warning().
  static ChatTemplate FromTemplateText(std::string_view jinja);
  // Reads tokenizer.chat_template from a GGUF file (absent: ChatML with a warning).
  static absl::StatusOr<ChatTemplate> FromGguf(const GgufFile& file);

  // The prompt text. InvalidArgument for an empty conversation or an unknown role.
  absl::StatusOr<std::string> Render(std::span<const ChatMessage> messages,
                                     const ChatRenderOptions& options = {}) const;

  ChatFamily family() const { return family_; }
  // True when the generation prompt already opens a think block (Qwen3-2507 Thinking), so
  // the model's output starts inside its reasoning.
  bool generation_opens_think() const { return generation_opens_think_; }
  // Why the family was guessed rather than recognized; empty when recognized.
  const std::string& warning() const { return warning_; }

 private:
  std::string RenderQwen3(std::span<const ChatMessage> messages,
                          const ChatRenderOptions& options) const;

  ChatFamily family_;
  bool generation_opens_think_ = false;
  std::string warning_;
};

// Serializes JSON exactly like Python's json.dumps(value, ensure_ascii=False): ", " and ": "
// separators, keys in stored order, non-ASCII kept, floats in Python's repr form. This is
// what Hugging Face's `tojson` template filter produces.
std::string PythonJsonDumps(const nlohmann::ordered_json& value);

}  // namespace zen::node
