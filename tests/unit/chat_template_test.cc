// Chat template rendering (expected strings were produced by rendering the Qwen3 Jinja
// template stored in tests/data/qwen3-vocab.gguf with Python's jinja2 and Hugging Face's
// tojson filter), family detection, and the incremental model-output parser.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "node/chat_output_parser.h"
#include "node/chat_template.h"
#include "node/gguf.h"

namespace zen::node {
namespace {

using Json = nlohmann::ordered_json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kExpectedOneUserThinking[] =
    "<|im_start|>user\n"
    "Hi<|im_end|>\n"
    "<|im_start|>assistant\n"
    "";

constexpr char kExpectedOneUserNoThinking[] =
    "<|im_start|>user\n"
    "Hi<|im_end|>\n"
    "<|im_start|>assistant\n"
    "<think>\n"
    "\n"
    "</think>\n"
    "\n"
    "";

constexpr char kExpectedSystemMultiTurnDropsOldReasoning[] =
    "<|im_start|>system\n"
    "You are helpful.<|im_end|>\n"
    "<|im_start|>user\n"
    "What is 2+2?<|im_end|>\n"
    "<|im_start|>assistant\n"
    "4<|im_end|>\n"
    "<|im_start|>user\n"
    "And 3+3?<|im_end|>\n"
    "<|im_start|>assistant\n"
    "6<|im_end|>\n"
    "<|im_start|>user\n"
    "Thanks /no_think<|im_end|>\n"
    "<|im_start|>assistant\n"
    "";

constexpr char kExpectedToolsCallsAndResponses[] =
    "<|im_start|>system\n"
    "Be brief.\n"
    "\n"
    "# Tools\n"
    "\n"
    "You may call one or more functions to assist with the user query.\n"
    "\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n"
    "<tools>\n"
    "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Météo "
    "actuelle, en °C\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": "
    "{\"type\": \"string\", \"description\": \"Nom de la ville\"}, \"days\": {\"type\": "
    "\"integer\", \"minimum\": 1, \"maximum\": 7.5}}, \"required\": [\"city\"]}}}\n"
    "{\"type\": \"function\", \"function\": {\"name\": \"get_time\", \"parameters\": {\"zone\": "
    "\"UTC\", \"nested\": [1, 2.0, null, true, \"x\\ty\"]}}}\n"
    "</tools>\n"
    "\n"
    "For each function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags:\n"
    "<tool_call>\n"
    "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n"
    "</tool_call><|im_end|>\n"
    "<|im_start|>user\n"
    "Weather in Paris and the time?<|im_end|>\n"
    "<|im_start|>assistant\n"
    "<think>\n"
    "Need both tools.\n"
    "</think>\n"
    "\n"
    "<tool_call>\n"
    "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 2}}\n"
    "</tool_call>\n"
    "<tool_call>\n"
    "{\"name\": \"get_time\", \"arguments\": {\"zone\": \"CET\"}}\n"
    "</tool_call><|im_end|>\n"
    "<|im_start|>user\n"
    "<tool_response>\n"
    "{\"temp\": 21}\n"
    "</tool_response>\n"
    "<tool_response>\n"
    "{\"time\": \"14:05\"}\n"
    "</tool_response><|im_end|>\n"
    "<|im_start|>assistant\n"
    "Checking humidity too.\n"
    "<tool_call>\n"
    "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n"
    "</tool_call><|im_end|>\n"
    "<|im_start|>user\n"
    "<tool_response>\n"
    "humid\n"
    "</tool_response><|im_end|>\n"
    "<|im_start|>assistant\n"
    "<think>\n"
    "Got it all.\n"
    "</think>\n"
    "\n"
    "It is 21°C at 14:05, humid.<|im_end|>\n"
    "";

constexpr char kExpectedToolsWithoutSystem[] =
    "<|im_start|>system\n"
    "# Tools\n"
    "\n"
    "You may call one or more functions to assist with the user query.\n"
    "\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n"
    "<tools>\n"
    "{\"type\": \"function\", \"function\": {\"name\": \"get_time\", \"parameters\": {\"zone\": "
    "\"UTC\", \"nested\": [1, 2.0, null, true, \"x\\ty\"]}}}\n"
    "</tools>\n"
    "\n"
    "For each function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags:\n"
    "<tool_call>\n"
    "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n"
    "</tool_call><|im_end|>\n"
    "<|im_start|>user\n"
    "Time?<|im_end|>\n"
    "<|im_start|>assistant\n"
    "<think>\n"
    "\n"
    "</think>\n"
    "\n"
    "";

constexpr char kExpectedReasoningKeptAfterLastQuery[] =
    "<|im_start|>user\n"
    "Plan a trip.<|im_end|>\n"
    "<|im_start|>assistant\n"
    "Step one.<|im_end|>\n"
    "<|im_start|>user\n"
    "<tool_response>\n"
    "ok\n"
    "</tool_response><|im_end|>\n"
    "<|im_start|>assistant\n"
    "<think>\n"
    "The tool said ok.\n"
    "</think>\n"
    "\n"
    "Step two.<|im_end|>\n"
    "<|im_start|>system\n"
    "Mid-conversation note.<|im_end|>\n"
    "<|im_start|>assistant\n"
    "<think>\n"
    "Wrap up.\n"
    "</think>\n"
    "\n"
    "Final.<|im_end|>\n"
    "";

ChatMessage Msg(std::string role, std::string content) {
  ChatMessage m;
  m.role = std::move(role);
  m.content = std::move(content);
  return m;
}

ChatMessage Assistant(std::string content, std::optional<std::string> reasoning,
                      std::vector<ChatToolCall> calls = {}) {
  ChatMessage m = Msg("assistant", std::move(content));
  m.reasoning_content = std::move(reasoning);
  m.tool_calls = std::move(calls);
  return m;
}

Json WeatherTool() {
  return Json::parse(R"({"type": "function", "function": {"name": "get_weather",
      "description": "Météo actuelle, en °C", "parameters": {"type": "object", "properties":
      {"city": {"type": "string", "description": "Nom de la ville"}, "days": {"type": "integer",
      "minimum": 1, "maximum": 7.5}}, "required": ["city"]}}})");
}

Json TimeTool() {
  return Json::parse(R"({"type": "function", "function": {"name": "get_time", "parameters":
      {"zone": "UTC", "nested": [1, 2.0, null, true, "x\ty"]}}})");
}

std::string RenderQwen3(const std::vector<ChatMessage>& messages, ChatRenderOptions options) {
  auto text = ChatTemplate(ChatFamily::kQwen3).Render(messages, options);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *text : "";
}

TEST(Qwen3TemplateTest, OneUserMessageWithAndWithoutThinking) {
  const std::vector<ChatMessage> messages = {Msg("user", "Hi")};
  EXPECT_EQ(RenderQwen3(messages, {}), kExpectedOneUserThinking);
  ChatRenderOptions no_think;
  no_think.enable_thinking = false;
  EXPECT_EQ(RenderQwen3(messages, no_think), kExpectedOneUserNoThinking);
  ChatRenderOptions no_prompt;
  no_prompt.add_generation_prompt = false;
  EXPECT_EQ(RenderQwen3(messages, no_prompt), "<|im_start|>user\nHi<|im_end|>\n");
}

TEST(Qwen3TemplateTest, SystemAndMultiTurnDropReasoningFromHistory) {
  const std::vector<ChatMessage> messages = {
      Msg("system", "You are helpful."),
      Msg("user", "What is 2+2?"),
      Assistant("<think>\nSimple math.\n</think>\n\n4", std::nullopt),
      Msg("user", "And 3+3?"),
      Assistant("6", "Add again."),
      Msg("user", "Thanks /no_think"),
  };
  EXPECT_EQ(RenderQwen3(messages, {}), kExpectedSystemMultiTurnDropsOldReasoning);
}

TEST(Qwen3TemplateTest, ToolsToolCallsAndGroupedToolResponses) {
  std::vector<ChatMessage> messages = {
      Msg("system", "Be brief."),
      Msg("user", "Weather in Paris and the time?"),
      Assistant("", "Need both tools.",
                {{"call_1", "get_weather", Json::parse(R"({"city": "Paris", "days": 2})")},
                 {"call_2", "get_time", Json("{\"zone\": \"CET\"}")}}),
      Msg("tool", "{\"temp\": 21}"),
      Msg("tool", "{\"time\": \"14:05\"}"),
      Assistant("Checking humidity too.", std::nullopt,
                {{"", "get_weather", Json::parse(R"({"city": "Paris"})")}}),
      Msg("tool", "humid"),
      Assistant("<think>\nGot it all.\n\n</think>\n\nIt is 21°C at 14:05, humid.", std::nullopt),
  };
  ChatRenderOptions options;
  options.add_generation_prompt = false;
  options.tools = Json::array({WeatherTool(), TimeTool()});
  EXPECT_EQ(RenderQwen3(messages, options), kExpectedToolsCallsAndResponses);
}

TEST(Qwen3TemplateTest, ToolsWithoutSystemMessage) {
  ChatRenderOptions options;
  options.enable_thinking = false;
  options.tools = Json::array({TimeTool()});
  EXPECT_EQ(RenderQwen3({Msg("user", "Time?")}, options), kExpectedToolsWithoutSystem);
}

TEST(Qwen3TemplateTest, ReasoningKeptOnlyAfterLastRealUserQuery) {
  const std::vector<ChatMessage> messages = {
      Msg("user", "Plan a trip."),
      Assistant("Step one.", ""),
      Msg("user", "<tool_response>\nok\n</tool_response>"),
      Assistant("<think>\nThe tool said ok.\n</think>\n\nStep two.", std::nullopt),
      Msg("system", "Mid-conversation note."),
      Assistant("\n\nFinal.", "\nWrap up.\n"),
  };
  ChatRenderOptions options;
  options.add_generation_prompt = false;
  EXPECT_EQ(RenderQwen3(messages, options), kExpectedReasoningKeptAfterLastQuery);
}

TEST(ChatTemplateTest, RejectsEmptyConversationsAndUnknownRoles) {
  const ChatTemplate tmpl(ChatFamily::kQwen3);
  EXPECT_FALSE(tmpl.Render({}).ok());
  auto bad = tmpl.Render(std::vector<ChatMessage>{Msg("user", "a"), Msg("robot", "b")});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("messages[1].role"));
}

TEST(ChatTemplateTest, OtherFamilies) {
  const std::vector<ChatMessage> messages = {Msg("system", "S"), Msg("user", " Hi\n")};
  auto chatml = ChatTemplate(ChatFamily::kChatML).Render(messages);
  ASSERT_TRUE(chatml.ok());
  EXPECT_EQ(*chatml,
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\n Hi\n<|im_end|>\n"
            "<|im_start|>assistant\n");
  auto llama3 = ChatTemplate(ChatFamily::kLlama3).Render(messages);
  ASSERT_TRUE(llama3.ok());
  EXPECT_EQ(*llama3,
            "<|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ChatTemplateTest, DetectsFamilyFromTemplateText) {
  auto file = GgufFile::Open(std::string(ZEN_TEST_DATA_DIR) + "/qwen3-vocab.gguf");
  ASSERT_TRUE(file.ok()) << file.status();
  auto qwen = ChatTemplate::FromGguf(**file);
  ASSERT_TRUE(qwen.ok()) << qwen.status();
  EXPECT_EQ(qwen->family(), ChatFamily::kQwen3);
  EXPECT_FALSE(qwen->generation_opens_think());
  EXPECT_THAT(qwen->warning(), IsEmpty());

  EXPECT_EQ(ChatTemplate::FromTemplateText("{{'<|im_start|>' + message.role}}").family(),
            ChatFamily::kChatML);
  EXPECT_EQ(ChatTemplate::FromTemplateText("<|start_header_id|>{{ role }}").family(),
            ChatFamily::kLlama3);
  const ChatTemplate thinking =
      ChatTemplate::FromTemplateText("<|im_start|>... {{- '<|im_start|>assistant\\n<think>\\n' }}");
  EXPECT_EQ(thinking.family(), ChatFamily::kQwen3);
  EXPECT_TRUE(thinking.generation_opens_think());
  auto prompt = thinking.Render(std::vector<ChatMessage>{Msg("user", "Hi")});
  EXPECT_EQ(*prompt, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n");

  const ChatTemplate unknown = ChatTemplate::FromTemplateText("[INST] {{ content }} [/INST]");
  EXPECT_EQ(unknown.family(), ChatFamily::kChatML);
  EXPECT_THAT(unknown.warning(), HasSubstr("unrecognized"));
  EXPECT_THAT(ChatTemplate::FromTemplateText("").warning(), HasSubstr("no chat template"));
}

TEST(PythonJsonDumpsTest, MatchesPythonJsonDumps) {
  // Expected text from Python: json.dumps(value, ensure_ascii=False).
  const Json value = Json::array(
      {1.0, 0.5, 1e-05, 1e16, 123.456, -0.0001, 1e22, 12345678901234567890.0, 100.0, 0.1, 1e15,
       2.5e-7, "tab\t\"q\" \x01\x7f é/<>&", Json::parse(R"({"b": null, "a": [true, false]})")});
  EXPECT_EQ(PythonJsonDumps(value),
            "[1.0, 0.5, 1e-05, 1e+16, 123.456, -0.0001, 1e+22, 1.2345678901234567e+19, "
            "100.0, 0.1, 1000000000000000.0, 2.5e-07, \"tab\\t\\\"q\\\" \\u0001\x7f é/<>&\", "
            "{\"b\": null, \"a\": [true, false]}]");
  EXPECT_EQ(PythonJsonDumps(Json::object()), "{}");
  EXPECT_EQ(PythonJsonDumps(Json(-7)), "-7");
}

TEST(ChatOutputParserTest, SplitsReasoningFromAnswer) {
  const ChatOutputDelta out =
      ParseChatOutput("<think>\nLet me think.\nMore.\n</think>\n\nThe answer is 4.");
  EXPECT_EQ(out.reasoning, "Let me think.\nMore.");
  EXPECT_EQ(out.content, "The answer is 4.");
  EXPECT_THAT(out.tool_calls, IsEmpty());
  EXPECT_THAT(out.errors, IsEmpty());

  const ChatOutputDelta plain = ParseChatOutput("Just an answer.\n");
  EXPECT_EQ(plain.reasoning, "");
  EXPECT_EQ(plain.content, "Just an answer.");

  const ChatOutputDelta opened = ParseChatOutput("Thinking...\n</think>\n\nDone.", true);
  EXPECT_EQ(opened.reasoning, "Thinking...");
  EXPECT_EQ(opened.content, "Done.");
}

TEST(ChatOutputParserTest, ParsesToolCalls) {
  const ChatOutputDelta out = ParseChatOutput(
      "<think>\nNeed weather.\n</think>\n\nLet me check.\n<tool_call>\n"
      "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 2}}\n"
      "</tool_call>\n<tool_call>\n{\"name\": \"get_time\"}\n</tool_call>");
  EXPECT_EQ(out.reasoning, "Need weather.");
  EXPECT_EQ(out.content, "Let me check.");
  ASSERT_EQ(out.tool_calls.size(), 2u);
  EXPECT_EQ(out.tool_calls[0].name, "get_weather");
  EXPECT_EQ(PythonJsonDumps(out.tool_calls[0].arguments), R"({"city": "Paris", "days": 2})");
  EXPECT_EQ(out.tool_calls[1].name, "get_time");
  EXPECT_EQ(out.tool_calls[1].arguments, Json::object());
  EXPECT_THAT(out.errors, IsEmpty());
}

TEST(ChatOutputParserTest, MalformedToolCallIsKeptAsTextWithAnError) {
  const ChatOutputDelta out =
      ParseChatOutput("<tool_call>\n{\"name\": \"f\", \"arguments\": {oops}\n</tool_call>");
  EXPECT_THAT(out.tool_calls, IsEmpty());
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_THAT(out.errors[0], HasSubstr("does not parse"));
  EXPECT_EQ(out.content, "<tool_call>\n{\"name\": \"f\", \"arguments\": {oops}\n</tool_call>");

  const ChatOutputDelta no_name = ParseChatOutput("<tool_call>[1, 2]</tool_call>");
  ASSERT_EQ(no_name.errors.size(), 1u);
  EXPECT_THAT(no_name.errors[0], HasSubstr("not an object"));

  const ChatOutputDelta cut = ParseChatOutput("Sure.\n<tool_call>\n{\"name\": \"f\"");
  EXPECT_THAT(cut.tool_calls, IsEmpty());
  ASSERT_EQ(cut.errors.size(), 1u);
  EXPECT_THAT(cut.errors[0], HasSubstr("unterminated"));
  EXPECT_EQ(cut.content, "Sure.<tool_call>\n{\"name\": \"f\"");
}

TEST(ChatOutputParserTest, StreamingGivesTheSameResultAndNeverHalfATag) {
  const std::string text =
      "<think>\nStep 1.\n\nStep 2.\n</think>\n\nAnswer: <b>yes</b>.\n<tool_call>\n"
      "{\"name\": \"f\", \"arguments\": {\"x\": \"</tool\"}}\n</tool_call>";
  const ChatOutputDelta whole = ParseChatOutput(text);
  EXPECT_EQ(whole.reasoning, "Step 1.\n\nStep 2.");
  EXPECT_EQ(whole.content, "Answer: <b>yes</b>.");
  ASSERT_EQ(whole.tool_calls.size(), 1u);
  for (size_t chunk : {1, 2, 3, 5, 7}) {
    ChatOutputParser parser;
    ChatOutputDelta streamed;
    for (size_t i = 0; i < text.size(); i += chunk) {
      ChatOutputDelta delta = parser.Feed(text.substr(i, chunk));
      for (const std::string* part : {&delta.reasoning, &delta.content}) {
        EXPECT_THAT(*part, ::testing::Not(HasSubstr("<think")));
        EXPECT_THAT(*part, ::testing::Not(HasSubstr("</think")));
        EXPECT_THAT(*part, ::testing::Not(HasSubstr("<tool")));
      }
      streamed.Append(std::move(delta));
    }
    streamed.Append(parser.Finish());
    EXPECT_EQ(streamed.reasoning, whole.reasoning) << "chunk " << chunk;
    EXPECT_EQ(streamed.content, whole.content) << "chunk " << chunk;
    ASSERT_EQ(streamed.tool_calls.size(), 1u) << "chunk " << chunk;
    EXPECT_EQ(streamed.tool_calls[0].arguments, whole.tool_calls[0].arguments);
  }
}

TEST(ChatOutputParserTest, ParsedMessageRendersBackToTheSameTurn) {
  const std::string generated =
      "<think>\nCheck the tool.\n</think>\n\nOne moment.\n<tool_call>\n"
      "{\"name\": \"get_time\", \"arguments\": {\"zone\": \"UTC\"}}\n</tool_call>";
  const ChatOutputDelta parsed = ParseChatOutput(generated);
  ASSERT_EQ(parsed.tool_calls.size(), 1u);
  ChatMessage reply = Assistant(parsed.content, parsed.reasoning,
                                {{"", parsed.tool_calls[0].name, parsed.tool_calls[0].arguments}});
  ChatRenderOptions options;
  options.add_generation_prompt = false;
  const std::string rendered = RenderQwen3({Msg("user", "Time?"), reply}, options);
  EXPECT_EQ(rendered, "<|im_start|>user\nTime?<|im_end|>\n<|im_start|>assistant\n" + generated +
                          "<|im_end|>\n");
}

}  // namespace
}  // namespace zen::node
