#include "node/chat_template.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "node/gguf.h"

namespace zen::node {
namespace {

using Json = nlohmann::ordered_json;

constexpr std::string_view kQwen3ToolsHeader =
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>";
constexpr std::string_view kQwen3ToolsFooter =
    "\n</tools>\n\nFor each function call, return a json object with function name and "
    "arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": "
    "<function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n";

// Python's str.strip/lstrip/rstrip with '\n' as the only stripped character.
std::string_view LstripNewlines(std::string_view s) {
  const size_t start = s.find_first_not_of('\n');
  return start == std::string_view::npos ? std::string_view() : s.substr(start);
}
std::string_view RstripNewlines(std::string_view s) {
  const size_t end = s.find_last_not_of('\n');
  return end == std::string_view::npos ? std::string_view() : s.substr(0, end + 1);
}
std::string_view StripNewlines(std::string_view s) {
  return RstripNewlines(LstripNewlines(s));
}

// Python: s.split(sep)[-1] and s.split(sep)[0].
std::string_view AfterLast(std::string_view s, std::string_view sep) {
  const size_t at = s.rfind(sep);
  return at == std::string_view::npos ? s : s.substr(at + sep.size());
}
std::string_view BeforeFirst(std::string_view s, std::string_view sep) {
  return s.substr(0, s.find(sep));
}

bool IsToolResponseWrapped(std::string_view content) {
  return content.starts_with("<tool_response>") && content.ends_with("</tool_response>");
}

// Python's repr() of a float, which json.dumps uses.
void AppendPythonFloat(double value, std::string* out) {
  if (std::isnan(value)) {
    out->append("NaN");
    return;
  }
  if (std::isinf(value)) {
    out->append(value < 0 ? "-Infinity" : "Infinity");
    return;
  }
  char buffer[64];
  // Shortest round-trip digits, like Python's repr; only the layout differs.
  const auto result =
      std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::scientific);
  std::string_view sci(buffer, result.ptr - buffer);
  std::string sign;
  if (sci.starts_with('-')) {
    sign = "-";
    sci.remove_prefix(1);
  }
  const size_t e = sci.find('e');
  std::string digits(sci.substr(0, e));
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int exponent = std::stoi(std::string(sci.substr(e + 1)));
  out->append(sign);
  // Python switches to exponent notation below 1e-4 and from 1e16 up.
  if (exponent < -4 || exponent >= 16) {
    out->push_back(digits[0]);
    if (digits.size() > 1) {
      out->push_back('.');
      out->append(digits, 1);
    }
    char exp_text[16];
    std::snprintf(exp_text, sizeof(exp_text), "e%c%02d", exponent < 0 ? '-' : '+',
                  std::abs(exponent));
    out->append(exp_text);
  } else if (exponent < 0) {
    out->append("0.");
    out->append(static_cast<size_t>(-exponent - 1), '0');
    out->append(digits);
  } else {
    const size_t int_digits = static_cast<size_t>(exponent) + 1;
    if (digits.size() <= int_digits) {
      out->append(digits);
      out->append(int_digits - digits.size(), '0');
      out->append(".0");
    } else {
      out->append(digits, 0, int_digits);
      out->push_back('.');
      out->append(digits, int_digits);
    }
  }
}

void AppendPythonString(std::string_view s, std::string* out) {
  out->push_back('"');
  for (char c : s) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x", static_cast<unsigned char>(c));
          out->append(escaped);
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

void AppendPythonJson(const Json& value, std::string* out) {
  switch (value.type()) {
    case Json::value_t::null:
    case Json::value_t::discarded:
      out->append("null");
      break;
    case Json::value_t::boolean:
      out->append(value.get<bool>() ? "true" : "false");
      break;
    case Json::value_t::number_integer:
      out->append(std::to_string(value.get<int64_t>()));
      break;
    case Json::value_t::number_unsigned:
      out->append(std::to_string(value.get<uint64_t>()));
      break;
    case Json::value_t::number_float:
      AppendPythonFloat(value.get<double>(), out);
      break;
    case Json::value_t::string:
      AppendPythonString(value.get_ref<const std::string&>(), out);
      break;
    case Json::value_t::array: {
      out->push_back('[');
      bool first = true;
      for (const Json& item : value) {
        if (!first) out->append(", ");
        first = false;
        AppendPythonJson(item, out);
      }
      out->push_back(']');
      break;
    }
    case Json::value_t::object: {
      out->push_back('{');
      bool first = true;
      for (const auto& [key, item] : value.items()) {
        if (!first) out->append(", ");
        first = false;
        AppendPythonString(key, out);
        out->append(": ");
        AppendPythonJson(item, out);
      }
      out->push_back('}');
      break;
    }
    case Json::value_t::binary:
      out->append("null");
      break;
  }
}

absl::Status CheckRoles(std::span<const ChatMessage> messages) {
  if (messages.empty()) return absl::InvalidArgumentError("the conversation has no messages");
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string& role = messages[i].role;
    if (role != "system" && role != "user" && role != "assistant" && role != "tool") {
      return absl::InvalidArgumentError(absl::StrCat(
          "messages[", i, "].role = \"", role, "\"; expected system, user, assistant or tool"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string_view ChatFamilyName(ChatFamily family) {
  switch (family) {
    case ChatFamily::kQwen3:
      return "qwen3";
    case ChatFamily::kChatML:
      return "chatml";
    case ChatFamily::kLlama3:
      return "llama3";
  }
  return "unknown";
}

std::string PythonJsonDumps(const nlohmann::ordered_json& value) {
  std::string out;
  AppendPythonJson(value, &out);
  return out;
}

ChatTemplate ChatTemplate::FromTemplateText(std::string_view jinja) {
  const auto has = [&](std::string_view needle) {
    return jinja.find(needle) != std::string_view::npos;
  };
  if (has("<|im_start|>")) {
    if (has("<think>") || has("enable_thinking")) {
      ChatTemplate tmpl(ChatFamily::kQwen3);
      // Thinking-only variants (Qwen3-2507 Thinking) open the block in the prompt itself and
      // have no switch to turn it off.
      tmpl.generation_opens_think_ =
          !has("enable_thinking") && has("'<|im_start|>assistant\\n<think>\\n'");
      return tmpl;
    }
    return ChatTemplate(ChatFamily::kChatML);
  }
  if (has("<|start_header_id|>")) return ChatTemplate(ChatFamily::kLlama3);
  ChatTemplate fallback(ChatFamily::kChatML);
  fallback.warning_ = jinja.empty() ? "the model has no chat template; using ChatML"
                                    : "unrecognized chat template; using ChatML";
  return fallback;
}

absl::StatusOr<ChatTemplate> ChatTemplate::FromGguf(const GgufFile& file) {
  if (file.Find("tokenizer.chat_template") == nullptr) return FromTemplateText("");
  absl::StatusOr<std::string> text = file.GetString("tokenizer.chat_template");
  if (!text.ok()) return text.status();
  return FromTemplateText(*text);
}

absl::StatusOr<std::string> ChatTemplate::Render(std::span<const ChatMessage> messages,
                                                 const ChatRenderOptions& options) const {
  if (absl::Status status = CheckRoles(messages); !status.ok()) return status;
  std::string out;
  switch (family_) {
    case ChatFamily::kQwen3:
      return RenderQwen3(messages, options);
    case ChatFamily::kChatML:
      // llama.cpp's built-in ChatML: no tools, no thinking.
      for (const ChatMessage& m : messages) {
        absl::StrAppend(&out, "<|im_start|>", m.role, "\n", m.content, "<|im_end|>\n");
      }
      if (options.add_generation_prompt) out += "<|im_start|>assistant\n";
      return out;
    case ChatFamily::kLlama3:
      // llama.cpp's built-in Llama 3 format; BOS comes from the tokenizer (add_bos).
      for (const ChatMessage& m : messages) {
        std::string_view content = m.content;
        const size_t begin = content.find_first_not_of(" \t\n\r");
        const size_t end = content.find_last_not_of(" \t\n\r");
        content = begin == std::string_view::npos ? std::string_view()
                                                  : content.substr(begin, end - begin + 1);
        absl::StrAppend(&out, "<|start_header_id|>", m.role, "<|end_header_id|>\n\n",
                        absl::string_view(content.data(), content.size()), "<|eot_id|>");
      }
      if (options.add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
      return out;
  }
  return absl::InternalError("unknown chat family");
}

std::string ChatTemplate::RenderQwen3(std::span<const ChatMessage> messages,
                                      const ChatRenderOptions& options) const {
  std::string out;
  const bool has_tools = options.tools.is_array() && !options.tools.empty();
  if (has_tools) {
    out += "<|im_start|>system\n";
    if (messages[0].role == "system") out += messages[0].content + "\n\n";
    out += kQwen3ToolsHeader;
    for (const Json& tool : options.tools) {
      out += "\n";
      AppendPythonJson(tool, &out);
    }
    out += kQwen3ToolsFooter;
  } else if (messages[0].role == "system") {
    out += "<|im_start|>system\n" + messages[0].content + "<|im_end|>\n";
  }

  // The last real user query: reasoning of assistant turns after it is kept, earlier
  // reasoning is dropped. Tool results sent back as user messages do not count.
  const size_t n = messages.size();
  size_t last_query = n - 1;
  for (size_t i = n; i-- > 0;) {
    if (messages[i].role == "user" && !IsToolResponseWrapped(messages[i].content)) {
      last_query = i;
      break;
    }
  }

  for (size_t i = 0; i < n; ++i) {
    const ChatMessage& m = messages[i];
    if (m.role == "user" || (m.role == "system" && i != 0)) {
      out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
    } else if (m.role == "assistant") {
      std::string_view content = m.content;
      std::string_view reasoning;
      if (m.reasoning_content.has_value()) {
        reasoning = *m.reasoning_content;
      } else if (content.find("</think>") != std::string_view::npos) {
        reasoning = LstripNewlines(
            AfterLast(RstripNewlines(BeforeFirst(m.content, "</think>")), "<think>"));
        content = LstripNewlines(AfterLast(m.content, "</think>"));
      }
      const bool last = i + 1 == n;
      if (i > last_query && (last || !reasoning.empty())) {
        out += "<|im_start|>assistant\n<think>\n";
        out += StripNewlines(reasoning);
        out += "\n</think>\n\n";
        out += LstripNewlines(content);
      } else {
        out += "<|im_start|>assistant\n";
        out += content;
      }
      for (size_t j = 0; j < m.tool_calls.size(); ++j) {
        const ChatToolCall& call = m.tool_calls[j];
        if (j > 0 || !content.empty()) out += "\n";
        out += "<tool_call>\n{\"name\": \"" + call.name + "\", \"arguments\": ";
        if (call.arguments.is_string()) {
          out += call.arguments.get_ref<const std::string&>();
        } else {
          AppendPythonJson(call.arguments, &out);
        }
        out += "}\n</tool_call>";
      }
      out += "<|im_end|>\n";
    } else if (m.role == "tool") {
      // Consecutive tool results share one user turn.
      if (i == 0 || messages[i - 1].role != "tool") out += "<|im_start|>user";
      out += "\n<tool_response>\n" + m.content + "\n</tool_response>";
      if (i + 1 == n || messages[i + 1].role != "tool") out += "<|im_end|>\n";
    }
  }
  if (options.add_generation_prompt) {
    out += "<|im_start|>assistant\n";
    if (generation_opens_think_) {
      out += "<think>\n";
    } else if (!options.enable_thinking) {
      out += "<think>\n\n</think>\n\n";
    }
  }
  return out;
}

}  // namespace zen::node
