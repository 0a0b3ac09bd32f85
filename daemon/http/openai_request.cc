#include "daemon/http/openai_request.h"

#include <cctype>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"

namespace zen::http {
namespace {

// The most stop strings a request may carry (OpenAI allows 4; llama.cpp more).
constexpr size_t kMaxStopStrings = 16;

ApiError BadField(std::string param, std::string problem) {
  ApiError error;
  error.http_status = 400;
  error.message = absl::StrCat(param, ": ", problem);
  error.param = std::move(param);
  return error;
}

std::string TypeName(const Json& value) {
  return value.type_name();
}

// Reads optional fields of one JSON object; absent and null both mean "not set".
class FieldReader {
 public:
  FieldReader(const Json& object, std::string prefix)
      : object_(object), prefix_(std::move(prefix)) {}

  std::string Path(std::string_view name) const { return prefix_ + std::string(name); }

  // The value of `name`, or nullptr when absent or null.
  const Json* Get(std::string_view name) const {
    auto it = object_.find(std::string(name));
    if (it == object_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  std::optional<ApiError> Bool(std::string_view name, std::optional<bool>& out) const {
    const Json* value = Get(name);
    if (value == nullptr) return std::nullopt;
    if (!value->is_boolean())
      return BadField(Path(name), "must be a boolean, got " + TypeName(*value));
    out = value->get<bool>();
    return std::nullopt;
  }

  std::optional<ApiError> String(std::string_view name, std::optional<std::string>& out) const {
    const Json* value = Get(name);
    if (value == nullptr) return std::nullopt;
    if (!value->is_string())
      return BadField(Path(name), "must be a string, got " + TypeName(*value));
    out = value->get<std::string>();
    return std::nullopt;
  }

  // A number within [low, high].
  std::optional<ApiError> Number(std::string_view name, double low, double high,
                                 std::optional<float>& out) const {
    const Json* value = Get(name);
    if (value == nullptr) return std::nullopt;
    if (!value->is_number())
      return BadField(Path(name), "must be a number, got " + TypeName(*value));
    const double number = value->get<double>();
    if (!(number >= low && number <= high)) {
      return BadField(Path(name),
                      absl::StrCat("must be between ", low, " and ", high, ", got ", number));
    }
    out = static_cast<float>(number);
    return std::nullopt;
  }

  // An integer within [low, high]; 3.0 counts as an integer, 3.5 does not.
  std::optional<ApiError> Integer(std::string_view name, int64_t low, int64_t high,
                                  std::optional<int64_t>& out) const {
    const Json* value = Get(name);
    if (value == nullptr) return std::nullopt;
    int64_t number = 0;
    if (value->is_number_integer()) {
      if (value->is_number_unsigned() &&
          value->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return BadField(Path(name), "is too large");
      }
      number = value->get<int64_t>();
    } else if (value->is_number_float()) {
      const double real = value->get<double>();
      if (std::trunc(real) != real || std::abs(real) > 9e15) {
        return BadField(Path(name), absl::StrCat("must be an integer, got ", real));
      }
      number = static_cast<int64_t>(real);
    } else {
      return BadField(Path(name), "must be an integer, got " + TypeName(*value));
    }
    if (number < low || number > high) {
      return BadField(Path(name),
                      absl::StrCat("must be between ", low, " and ", high, ", got ", number));
    }
    out = number;
    return std::nullopt;
  }

 private:
  const Json& object_;
  std::string prefix_;
};

// Runs each check in turn and keeps the first failure.
#define ZEN_HTTP_CHECK(expr)                 \
  do {                                       \
    if (auto error_ = (expr)) return error_; \
  } while (false)

std::optional<ApiError> ParseStop(const Json* value, std::vector<std::string>& out) {
  if (value == nullptr) return std::nullopt;
  if (value->is_string()) {
    out.push_back(value->get<std::string>());
    return std::nullopt;
  }
  if (!value->is_array()) {
    return BadField("stop", "must be a string or an array of strings, got " + TypeName(*value));
  }
  if (value->size() > kMaxStopStrings) {
    return BadField("stop",
                    absl::StrCat("at most ", kMaxStopStrings, " strings, got ", value->size()));
  }
  for (size_t i = 0; i < value->size(); ++i) {
    if (!(*value)[i].is_string()) {
      return BadField(absl::StrCat("stop[", i, "]"), "must be a string");
    }
    out.push_back((*value)[i].get<std::string>());
  }
  return std::nullopt;
}

std::optional<ApiError> ParseCommon(const Json& body, CommonRequest& out) {
  const FieldReader fields(body, "");
  std::optional<std::string> model;
  ZEN_HTTP_CHECK(fields.String("model", model));
  out.model = model.value_or("");

  std::optional<bool> stream;
  ZEN_HTTP_CHECK(fields.Bool("stream", stream));
  out.stream = stream.value_or(false);
  if (const Json* options = fields.Get("stream_options")) {
    if (!options->is_object()) return BadField("stream_options", "must be an object");
    std::optional<bool> include_usage;
    ZEN_HTTP_CHECK(FieldReader(*options, "stream_options.").Bool("include_usage", include_usage));
    out.include_usage = include_usage.value_or(false);
  }

  ZEN_HTTP_CHECK(fields.Number("temperature", 0.0, 2.0, out.temperature));
  ZEN_HTTP_CHECK(fields.Number("top_p", 0.0, 1.0, out.top_p));
  ZEN_HTTP_CHECK(fields.Number("min_p", 0.0, 1.0, out.min_p));
  std::optional<int64_t> top_k;
  ZEN_HTTP_CHECK(fields.Integer("top_k", -1, 1 << 20, top_k));
  if (top_k) out.top_k = static_cast<int>(std::max<int64_t>(*top_k, 0));  // -1 means off too

  std::optional<float> penalty;
  ZEN_HTTP_CHECK(fields.Number("presence_penalty", -2.0, 2.0, penalty));
  out.presence_penalty = penalty.value_or(0.0f);
  penalty.reset();
  ZEN_HTTP_CHECK(fields.Number("frequency_penalty", -2.0, 2.0, penalty));
  out.frequency_penalty = penalty.value_or(0.0f);
  penalty.reset();
  ZEN_HTTP_CHECK(fields.Number("repetition_penalty", 0.01, 10.0, penalty));
  out.repetition_penalty = penalty.value_or(1.0f);

  std::optional<int64_t> seed;
  ZEN_HTTP_CHECK(fields.Integer("seed", std::numeric_limits<int64_t>::min(),
                                std::numeric_limits<int64_t>::max(), seed));
  if (seed) out.seed = static_cast<uint64_t>(*seed);

  std::optional<int64_t> max_tokens;
  ZEN_HTTP_CHECK(
      fields.Integer("max_completion_tokens", 1, std::numeric_limits<int>::max(), max_tokens));
  ZEN_HTTP_CHECK(fields.Integer("max_tokens", 1, std::numeric_limits<int>::max(), max_tokens));
  if (max_tokens) out.max_tokens = static_cast<int>(*max_tokens);

  ZEN_HTTP_CHECK(ParseStop(fields.Get("stop"), out.stop));

  std::optional<int64_t> n;
  ZEN_HTTP_CHECK(fields.Integer("n", 1, 1, n));
  if (const Json* logprobs = fields.Get("logprobs");
      logprobs != nullptr && !(logprobs->is_boolean() && !logprobs->get<bool>())) {
    return BadField("logprobs", "log probabilities are not supported");
  }
  if (fields.Get("top_logprobs") != nullptr) {
    return BadField("top_logprobs", "log probabilities are not supported");
  }
  return std::nullopt;
}

// Text of a message's content: a string, null, or an array of {"type":"text"} parts.
std::optional<ApiError> ParseContent(const Json* content, const std::string& path,
                                     std::string& out) {
  if (content == nullptr) return std::nullopt;
  if (content->is_string()) {
    out = content->get<std::string>();
    return std::nullopt;
  }
  if (!content->is_array()) {
    return BadField(path,
                    "must be a string or an array of content parts, got " + TypeName(*content));
  }
  for (size_t i = 0; i < content->size(); ++i) {
    const Json& part = (*content)[i];
    const std::string part_path = absl::StrCat(path, "[", i, "]");
    if (!part.is_object()) return BadField(part_path, "must be an object");
    auto type = part.find("type");
    if (type == part.end() || !type->is_string() || type->get<std::string>() != "text") {
      return BadField(part_path + ".type", "only \"text\" content parts are supported");
    }
    auto text = part.find("text");
    if (text == part.end() || !text->is_string()) {
      return BadField(part_path + ".text", "must be a string");
    }
    out += text->get<std::string>();
  }
  return std::nullopt;
}

std::optional<ApiError> ParseToolCalls(const Json& calls, const std::string& path,
                                       std::vector<node::ChatToolCall>& out) {
  if (!calls.is_array()) return BadField(path, "must be an array");
  for (size_t i = 0; i < calls.size(); ++i) {
    const Json& call = calls[i];
    const std::string call_path = absl::StrCat(path, "[", i, "]");
    if (!call.is_object()) return BadField(call_path, "must be an object");
    const FieldReader fields(call, call_path + ".");
    node::ChatToolCall parsed;
    std::optional<std::string> id;
    ZEN_HTTP_CHECK(fields.String("id", id));
    parsed.id = id.value_or("");
    const Json* function = fields.Get("function");
    if (function == nullptr || !function->is_object()) {
      return BadField(call_path + ".function", "must be an object with \"name\" and \"arguments\"");
    }
    const FieldReader function_fields(*function, call_path + ".function.");
    std::optional<std::string> name;
    ZEN_HTTP_CHECK(function_fields.String("name", name));
    parsed.name = name.value_or("");  // CheckChatMessage requires it
    if (const Json* arguments = function_fields.Get("arguments")) {
      if (arguments->is_string()) {
        parsed.arguments = ToolArgumentsFromText(arguments->get_ref<const std::string&>());
      } else if (arguments->is_object()) {
        parsed.arguments = *arguments;
      } else {
        return BadField(function_fields.Path("arguments"), "must be a JSON string or object");
      }
    }
    out.push_back(std::move(parsed));
  }
  return std::nullopt;
}

std::optional<ApiError> ParseMessages(const Json* messages, std::vector<node::ChatMessage>& out) {
  if (messages == nullptr) return BadField("messages", "is required");
  if (!messages->is_array()) return BadField("messages", "must be an array");
  if (messages->empty()) return BadField("messages", "must not be empty");
  for (size_t i = 0; i < messages->size(); ++i) {
    const Json& message = (*messages)[i];
    const std::string path = absl::StrCat("messages[", i, "]");
    if (!message.is_object()) return BadField(path, "must be an object");
    const FieldReader fields(message, path + ".");
    node::ChatMessage parsed;
    std::optional<std::string> role;
    ZEN_HTTP_CHECK(fields.String("role", role));
    if (!role) return BadField(fields.Path("role"), "is required");
    parsed.role = *role;
    ZEN_HTTP_CHECK(ParseContent(fields.Get("content"), fields.Path("content"), parsed.content));
    std::optional<std::string> text;
    ZEN_HTTP_CHECK(fields.String("reasoning_content", text));
    parsed.reasoning_content = text;
    text.reset();
    ZEN_HTTP_CHECK(fields.String("tool_call_id", text));
    parsed.tool_call_id = text.value_or("");
    if (const Json* calls = fields.Get("tool_calls")) {
      ZEN_HTTP_CHECK(ParseToolCalls(*calls, fields.Path("tool_calls"), parsed.tool_calls));
    }
    ZEN_HTTP_CHECK(CheckChatMessage(path, parsed, fields.Get("tool_calls") != nullptr));
    out.push_back(std::move(parsed));
  }
  return std::nullopt;
}

std::optional<ApiError> ParseTools(const FieldReader& fields, ChatRequest& out) {
  if (const Json* tools = fields.Get("tools")) {
    if (!tools->is_array()) return BadField("tools", "must be an array");
    for (size_t i = 0; i < tools->size(); ++i) {
      const Json& tool = (*tools)[i];
      const std::string path = absl::StrCat("tools[", i, "]");
      if (!tool.is_object()) return BadField(path, "must be an object");
      auto type = tool.find("type");
      if (type == tool.end() || *type != "function") {
        return BadField(path + ".type", "must be \"function\"");
      }
      auto function = tool.find("function");
      if (function == tool.end() || !function->is_object() || !function->contains("name") ||
          !(*function)["name"].is_string()) {
        return BadField(path + ".function", "must be an object with a string \"name\"");
      }
    }
    out.tools = *tools;
  }
  const Json* choice = fields.Get("tool_choice");
  if (choice == nullptr) return std::nullopt;
  if (choice->is_string()) {
    const std::string& mode = choice->get_ref<const std::string&>();
    if (mode == "auto") {
      out.tool_choice = ToolChoice::kAuto;
    } else if (mode == "none") {
      out.tool_choice = ToolChoice::kNone;
    } else if (mode == "required") {
      out.tool_choice = ToolChoice::kRequired;
    } else {
      return BadField("tool_choice", "must be \"auto\", \"none\", \"required\" or an object");
    }
    return std::nullopt;
  }
  if (choice->is_object() && choice->contains("function") && (*choice)["function"].is_object() &&
      (*choice)["function"].contains("name") && (*choice)["function"]["name"].is_string()) {
    out.tool_choice = ToolChoice::kNamed;
    out.tool_choice_name = (*choice)["function"]["name"].get<std::string>();
    return std::nullopt;
  }
  return BadField("tool_choice",
                  "must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", "
                  "\"function\": {\"name\": ...}}");
}

// Position of the last `word` in `text` standing alone (whitespace or text edge before it,
// no letter, digit or '_' after it); npos when absent.
size_t FindLastSwitch(std::string_view text, std::string_view word) {
  for (size_t at = text.rfind(word); at != std::string_view::npos;
       at = at == 0 ? std::string_view::npos : text.rfind(word, at - 1)) {
    const bool starts = at == 0 || std::isspace(static_cast<unsigned char>(text[at - 1]));
    const size_t end = at + word.size();
    const bool ends = end == text.size() ||
                      !(std::isalnum(static_cast<unsigned char>(text[end])) || text[end] == '_');
    if (starts && ends) return at;
  }
  return std::string_view::npos;
}

}  // namespace

std::string ErrorTypeForStatus(int http_status) {
  switch (http_status) {
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 429:
      return "rate_limit_error";
    default:
      return http_status >= 500 ? "server_error" : "invalid_request_error";
  }
}

Json ErrorBody(const ApiError& error) {
  Json inner = Json::object();
  inner["message"] = error.message;
  inner["type"] = ErrorTypeForStatus(error.http_status);
  inner["param"] = error.param.empty() ? Json(nullptr) : Json(error.param);
  inner["code"] = error.code.empty() ? Json(nullptr) : Json(error.code);
  Json body = Json::object();
  body["error"] = std::move(inner);
  return body;
}

namespace {

// Status codes and the HTTP statuses they travel as, both ways; the rest are 500 / Internal.
constexpr std::pair<absl::StatusCode, int> kHttpStatuses[] = {
    {absl::StatusCode::kInvalidArgument, 400},   {absl::StatusCode::kUnauthenticated, 401},
    {absl::StatusCode::kNotFound, 404},          {absl::StatusCode::kOutOfRange, 413},
    {absl::StatusCode::kResourceExhausted, 429}, {absl::StatusCode::kUnavailable, 503},
    {absl::StatusCode::kCancelled, 503},
};

}  // namespace

ApiError ApiErrorFromStatus(const absl::Status& status) {
  ApiError error;
  error.message = std::string(status.message());
  error.http_status = 500;
  for (const auto& [code, http_status] : kHttpStatuses) {
    if (code == status.code()) error.http_status = http_status;
  }
  if (status.code() == absl::StatusCode::kOutOfRange) error.code = "context_length_exceeded";
  return error;
}

absl::Status StatusFromApiError(const ApiError& error) {
  // The first match wins, so 503 comes back as Unavailable.
  for (const auto& [code, http_status] : kHttpStatuses) {
    if (http_status == error.http_status) return absl::Status(code, error.message);
  }
  return absl::InternalError(error.message);
}

Json ToolArgumentsFromText(const std::string& text) {
  // OpenAI sends arguments as serialized JSON; the template wants the object back.
  Json object = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  return object.is_discarded() ? Json(text) : object;
}

std::optional<ApiError> CheckChatMessage(const std::string& path, node::ChatMessage& message,
                                         bool tool_calls_given) {
  const std::string role = message.role;
  if (role == "developer") message.role = "system";
  if (message.role != "system" && message.role != "user" && message.role != "assistant" &&
      message.role != "tool") {
    return BadField(path + ".role", role.empty() ? "is required"
                                                 : "must be one of system, developer, user, "
                                                   "assistant, tool; got \"" +
                                                       role + "\"");
  }
  if ((tool_calls_given || !message.tool_calls.empty()) && message.role != "assistant") {
    return BadField(path + ".tool_calls", "only assistant messages carry tool calls");
  }
  for (size_t i = 0; i < message.tool_calls.size(); ++i) {
    if (message.tool_calls[i].name.empty()) {
      return BadField(absl::StrCat(path, ".tool_calls[", i, "].function.name"), "is required");
    }
  }
  return std::nullopt;
}

std::optional<ApiError> ParseJsonBody(const std::string& body, Json& out) {
  try {
    out = Json::parse(body);
  } catch (const Json::parse_error& e) {
    // nlohmann's message names the byte offset and what it expected there.
    ApiError error;
    error.message = absl::StrCat("request body is not valid JSON: ", e.what());
    return error;
  }
  if (!out.is_object()) {
    ApiError error;
    error.message = "request body must be a JSON object, got " + TypeName(out);
    return error;
  }
  return std::nullopt;
}

std::optional<ApiError> ParseChatRequest(const Json& body, ChatRequest& out) {
  ZEN_HTTP_CHECK(ParseCommon(body, out.common));
  const FieldReader fields(body, "");
  ZEN_HTTP_CHECK(ParseMessages(fields.Get("messages"), out.messages));
  ZEN_HTTP_CHECK(ParseTools(fields, out));
  if (const Json* kwargs = fields.Get("chat_template_kwargs")) {
    if (!kwargs->is_object()) return BadField("chat_template_kwargs", "must be an object");
    ZEN_HTTP_CHECK(
        FieldReader(*kwargs, "chat_template_kwargs.").Bool("enable_thinking", out.enable_thinking));
  }
  if (const Json* format = fields.Get("response_format")) {
    if (!format->is_object() || !format->contains("type") || (*format)["type"] != "text") {
      return BadField("response_format",
                      "only {\"type\": \"text\"} is supported (no constrained JSON output)");
    }
  }
  return std::nullopt;
}

std::optional<ApiError> ParseCompletionRequest(const Json& body, CompletionRequest& out) {
  ZEN_HTTP_CHECK(ParseCommon(body, out.common));
  const FieldReader fields(body, "");
  const Json* prompt = fields.Get("prompt");
  if (prompt == nullptr) return BadField("prompt", "is required");
  // One prompt per request: a string, or token ids, optionally wrapped in a 1-element array.
  if (prompt->is_array() && prompt->size() == 1 &&
      ((*prompt)[0].is_string() || (*prompt)[0].is_array())) {
    prompt = &(*prompt)[0];
  }
  if (prompt->is_string()) {
    out.prompt = prompt->get<std::string>();
  } else if (prompt->is_array() && !prompt->empty()) {
    for (size_t i = 0; i < prompt->size(); ++i) {
      const Json& id = (*prompt)[i];
      if (!id.is_number_integer() || id.get<int64_t>() < 0 ||
          id.get<int64_t>() > std::numeric_limits<int32_t>::max()) {
        return BadField(absl::StrCat("prompt[", i, "]"),
                        "must be a token id (a non-negative integer); send one prompt per "
                        "request");
      }
      out.prompt_tokens.push_back(static_cast<int32_t>(id.get<int64_t>()));
    }
  } else {
    return BadField("prompt", "must be a string or a non-empty array of token ids");
  }
  std::optional<bool> echo;
  ZEN_HTTP_CHECK(fields.Bool("echo", echo));
  if (echo.value_or(false)) return BadField("echo", "echoing the prompt is not supported");
  std::optional<int64_t> best_of;
  ZEN_HTTP_CHECK(fields.Integer("best_of", 1, 1, best_of));
  if (const Json* suffix = fields.Get("suffix"); suffix != nullptr && *suffix != "") {
    return BadField("suffix", "is not supported");
  }
  return std::nullopt;
}

bool DecideThinking(const ChatRequest& request) {
  if (request.enable_thinking.has_value() && !*request.enable_thinking) return false;
  bool thinking = true;
  for (const node::ChatMessage& message : request.messages) {
    if (message.role != "user" && message.role != "system") continue;
    const size_t on = FindLastSwitch(message.content, "/think");
    const size_t off = FindLastSwitch(message.content, "/no_think");
    if (on == std::string_view::npos && off == std::string_view::npos) continue;
    if (on == std::string_view::npos) {
      thinking = false;
    } else if (off == std::string_view::npos) {
      thinking = true;
    } else {
      thinking = on > off;
    }
  }
  return thinking;
}

SamplingParams ResolveSampling(const CommonRequest& request, bool thinking) {
  SamplingParams params =
      thinking ? SamplingParams::QwenThinking() : SamplingParams::QwenNonThinking();
  if (request.temperature) params.temperature = *request.temperature;
  if (request.top_p) params.top_p = *request.top_p;
  if (request.top_k) params.top_k = *request.top_k;
  if (request.min_p) params.min_p = *request.min_p;
  params.presence_penalty = request.presence_penalty;
  params.frequency_penalty = request.frequency_penalty;
  params.repetition_penalty = request.repetition_penalty;
  params.seed = request.seed;
  return params;
}

}  // namespace zen::http
