// TextSide on the tiny fixture model: chat prompts come from the model's own template
// (exactly what the inline rendering used to produce), stop strings never leak.
#include "daemon/text_side.h"

#include <gtest/gtest.h>

#include <string>

namespace zen::daemon {
namespace {

class TextSideTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto file = node::GgufFile::Open(std::string(ZEN_TEST_DATA_DIR) + "/qwen3-tiny-q8_0.gguf");
    ASSERT_TRUE(file.ok()) << file.status();
    file_ = std::move(*file);
    text_ = TextSide::FromGguf(*file_);
  }

  std::unique_ptr<node::GgufFile> file_;
  std::unique_ptr<TextSide> text_;
};

TEST_F(TextSideTest, ChatPromptIsOneUserTurnOfTheModelsTemplate) {
  EXPECT_EQ(text_->chat_template().family(), node::ChatFamily::kQwen3);
  // The single-turn rendering Generate has always sent, for both thinking modes.
  const std::string user = "What is 2+2?";
  const std::string thinking = "<|im_start|>user\n" + user + "<|im_end|>\n<|im_start|>assistant\n";
  const std::string no_thinking = thinking + "<think>\n\n</think>\n\n";
  auto on = text_->EncodePrompt(user, /*chat=*/true, /*enable_thinking=*/true);
  auto off = text_->EncodePrompt(user, /*chat=*/true, /*enable_thinking=*/false);
  ASSERT_TRUE(on.ok() && off.ok());
  EXPECT_EQ(*on, *text_->Tokenize(thinking));
  EXPECT_EQ(*off, *text_->Tokenize(no_thinking));
  EXPECT_EQ(*text_->Detokenize(*off), no_thinking);
}

TEST_F(TextSideTest, PlainPromptsDoNotParseSpecialTokens) {
  auto plain = text_->EncodePrompt("<|im_start|>", /*chat=*/false, true);
  auto parsed = text_->Tokenize("<|im_start|>");
  ASSERT_TRUE(plain.ok() && parsed.ok());
  EXPECT_EQ(parsed->size(), 1u);
  EXPECT_GT(plain->size(), 1u);
}

TEST_F(TextSideTest, StreamHoldsBackAPossibleStopStringAndEndsBeforeIt) {
  const auto ids = text_->Tokenize("one two three four", /*add_special=*/false,
                                   /*parse_special=*/false);
  ASSERT_TRUE(ids.ok());
  TextStream stream = text_->NewStream({" three"});
  std::string shown;
  bool stop = false;
  for (int32_t id : *ids) {
    shown += stream.Add(id, &stop);
    if (stop) break;
  }
  EXPECT_TRUE(stop);
  EXPECT_EQ(shown, "one two");

  TextStream free_run = text_->NewStream({"zzz"});
  shown.clear();
  for (int32_t id : *ids) shown += free_run.Add(id, &stop);
  EXPECT_FALSE(stop);
  shown += free_run.Flush();
  EXPECT_EQ(shown, "one two three four");
}

TEST_F(TextSideTest, TokenBytesAndDetokenizeAgree) {
  const auto ids = text_->Tokenize("hello world", false, true);
  ASSERT_TRUE(ids.ok());
  std::string joined;
  for (int32_t id : *ids) joined += *text_->TokenBytes(id);
  EXPECT_EQ(joined, "hello world");
  EXPECT_EQ(text_->TokenBytes(1 << 20).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace zen::daemon
