// Local generation: the streamed text is exactly the greedy tokens' text, and every way a
// generation can end is reported.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "node/bpe_tokenizer.h"
#include "node/generator.h"
#include "node/gguf.h"
#include "node/layer_range.h"
#include "node/logits_eval.h"
#include "node/model_config.h"

namespace zen::node {
namespace {

class GeneratorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto file = GgufFile::Open(std::string(ZEN_TEST_DATA_DIR) + "/qwen3-tiny-untied-f16.gguf");
    ASSERT_TRUE(file.ok()) << file.status();
    file_ = std::move(*file);
    auto config = ReadModelConfig(*file_);
    ASSERT_TRUE(config.ok());
    LayerRangeOptions options;
    options.max_context = 128;
    auto model = LayerRange::Create(*file_, *config, options);
    ASSERT_TRUE(model.ok());
    model_ = std::move(*model);
    auto tokenizer = BpeTokenizer::FromGguf(*file_);
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
    tokenizer_ = std::move(*tokenizer);
    prompt_ = tokenizer_->Tokenize("<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n");
  }

  GenerateOptions Greedy(int n) {
    GenerateOptions o;
    o.max_tokens = n;
    o.sampling = SamplingParams::Greedy();
    o.stop_at_eog = false;
    return o;
  }

  std::unique_ptr<GgufFile> file_;
  std::unique_ptr<LayerRange> model_;
  std::unique_ptr<BpeTokenizer> tokenizer_;
  std::vector<TokenId> prompt_;
};

TEST_F(GeneratorTest, GreedyTextEqualsDetokenizedGreedyTokens) {
  auto tokens = GreedyContinuation(*model_, prompt_, 20);
  ASSERT_TRUE(tokens.ok());
  auto want = tokenizer_->Detokenize(*tokens);
  ASSERT_TRUE(want.ok());
  std::string got;
  auto result = Generate(*model_, *tokenizer_, prompt_, Greedy(20), [&](std::string_view piece) {
    got += piece;
    return true;
  });
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(got, *want);
  EXPECT_EQ(result->completion_tokens, 20);
  EXPECT_EQ(result->prompt_tokens, static_cast<int>(prompt_.size()));
  EXPECT_EQ(result->finish_reason, "length");
  EXPECT_EQ(model_->SequenceLength(1), 0) << "the cache must be released";
}

TEST_F(GeneratorTest, StopStringEndsGenerationAndIsNotEmitted) {
  std::string full;
  ASSERT_TRUE(Generate(*model_, *tokenizer_, prompt_, Greedy(20), [&](std::string_view p) {
                full += p;
                return true;
              }).ok());
  ASSERT_GE(full.size(), 8u);
  GenerateOptions o = Greedy(20);
  o.stop = {full.substr(4, 3)};
  std::string got;
  auto result = Generate(*model_, *tokenizer_, prompt_, o, [&](std::string_view p) {
    got += p;
    return true;
  });
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->finish_reason, "stop");
  EXPECT_EQ(got, full.substr(0, full.find(o.stop[0])));
}

TEST_F(GeneratorTest, CallbackReturningFalseCancels) {
  int calls = 0;
  auto result = Generate(*model_, *tokenizer_, prompt_, Greedy(20),
                         [&](std::string_view) { return ++calls < 2; });
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->finish_reason, "cancelled");
  EXPECT_LT(result->completion_tokens, 20);
  EXPECT_EQ(model_->SequenceLength(1), 0);
}

TEST_F(GeneratorTest, FullContextEndsAsLength) {
  GenerateOptions o = Greedy(1000);
  auto result = Generate(*model_, *tokenizer_, prompt_, o, [](std::string_view) { return true; });
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->finish_reason, "length");
  EXPECT_LE(result->prompt_tokens + result->completion_tokens, 129);
}

TEST_F(GeneratorTest, RejectsEmptyPromptAndPartialModels) {
  EXPECT_FALSE(
      Generate(*model_, *tokenizer_, {}, Greedy(5), [](std::string_view) { return true; }).ok());
  auto config = ReadModelConfig(*file_);
  LayerRangeOptions head;
  head.last_layer = 0;
  auto partial = LayerRange::Create(*file_, *config, head);
  ASSERT_TRUE(partial.ok());
  EXPECT_EQ(
      Generate(**partial, *tokenizer_, prompt_, Greedy(5), [](std::string_view) { return true; })
          .status()
          .code(),
      absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace zen::node
