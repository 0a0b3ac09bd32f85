// Byte-level BPE tokenizer: hand-built vocabularies for the algorithm's rules, the real
// Qwen3 vocabulary against the reference engine's ids, and the streaming UTF-8 decoder.
#include <chrono>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "node/bpe_tokenizer.h"
#include "node/gguf.h"
#include "node/pretokenizer.h"
#include "node/utf8_stream.h"

namespace zen::node {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::string DataPath(const std::string& name) {
  return std::string(ZEN_TEST_DATA_DIR) + "/" + name;
}

// Byte-level text of raw bytes, as vocabularies store it.
std::string Encoded(std::string_view bytes) {
  std::string out;
  ByteLevelMap::Get().Encode(bytes, &out);
  return out;
}

TEST(ByteLevelMapTest, MapsBytesLikeGpt2) {
  const ByteLevelMap& map = ByteLevelMap::Get();
  EXPECT_EQ(map.CodePointOf(' '), 0x120u);
  EXPECT_EQ(map.CodePointOf('\n'), 0x10Au);
  EXPECT_EQ(map.CodePointOf('\t'), 0x109u);
  EXPECT_EQ(map.CodePointOf(0x7F), 0x121u);
  EXPECT_EQ(map.CodePointOf(0xAD), 0x143u);
  EXPECT_EQ(map.CodePointOf('A'), static_cast<uint32_t>('A'));
  EXPECT_EQ(map.CodePointOf(0xE9), 0xE9u);
  EXPECT_EQ(map.Utf8Of(' '), "\xC4\xA0");  // 'Ġ'
  for (int b = 0; b < 256; ++b) {
    EXPECT_EQ(map.ByteOf(map.CodePointOf(static_cast<uint8_t>(b))), b);
  }
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  std::string decoded;
  EXPECT_TRUE(map.Decode(Encoded(all), &decoded));
  EXPECT_EQ(decoded, all);
}

TEST(Utf8Test, ScanRejectsOverlongSurrogatesAndOutOfRange) {
  EXPECT_EQ(ScanUtf8("\xC3\xA9").kind, Utf8Scan::Kind::kValid);
  EXPECT_EQ(ScanUtf8("\xC3\xA9").code_point, 0xE9u);
  EXPECT_EQ(ScanUtf8("\xF0\x9F\xA6\x99").code_point, 0x1F999u);
  EXPECT_EQ(ScanUtf8("\xF0\x9F\xA6").kind, Utf8Scan::Kind::kIncomplete);
  EXPECT_EQ(ScanUtf8("\xC0\x80").kind, Utf8Scan::Kind::kInvalid);          // overlong NUL
  EXPECT_EQ(ScanUtf8("\xE0\x80\x80").kind, Utf8Scan::Kind::kInvalid);      // overlong
  EXPECT_EQ(ScanUtf8("\xED\xA0\x80").kind, Utf8Scan::Kind::kInvalid);      // surrogate
  EXPECT_EQ(ScanUtf8("\xF4\x90\x80\x80").kind, Utf8Scan::Kind::kInvalid);  // > U+10FFFF
  EXPECT_EQ(ScanUtf8("\x80").kind, Utf8Scan::Kind::kInvalid);
  EXPECT_EQ(SanitizeUtf8("a\xFF"
                         "b\xC3"),
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD");
}

TEST(Utf8StreamDecoderTest, ReleasesOnlyCompleteCharacters) {
  Utf8StreamDecoder decoder;
  const std::string llama = "\xF0\x9F\xA6\x99";  // U+1F999
  EXPECT_EQ(decoder.Feed("a" + llama.substr(0, 1)), "a");
  EXPECT_EQ(decoder.pending_bytes(), 1u);
  EXPECT_EQ(decoder.Feed(llama.substr(1, 2)), "");
  EXPECT_EQ(decoder.Feed(llama.substr(3) + "b"), llama + "b");
  EXPECT_EQ(decoder.Flush(), "");
}

TEST(Utf8StreamDecoderTest, InvalidBytesBecomeReplacementWhenTheyCannotComplete) {
  Utf8StreamDecoder decoder;
  // A lead byte followed by a non-continuation can never complete: replaced at once.
  EXPECT_EQ(decoder.Feed("\xE4\xB8"
                         "x"),
            "\xEF\xBF\xBD\xEF\xBF\xBDx");
  EXPECT_EQ(decoder.Feed("\xFF"), "\xEF\xBF\xBD");
  // A well-formed prefix waits, and becomes U+FFFD only at the end of the stream.
  EXPECT_EQ(decoder.Feed("\xE4\xB8"), "");
  EXPECT_EQ(decoder.Flush(), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(decoder.pending_bytes(), 0u);
}

TEST(PretokenizerTest, SplitsWithQwen2Regex) {
  auto pre = Pretokenizer::Create(PretokenizerKind::kQwen2);
  ASSERT_TRUE(pre.ok()) << pre.status();
  std::vector<std::string_view> words;
  (*pre)->Split("Hello, world! I'm 123  \n\n  x", &words);
  EXPECT_THAT(words, ElementsAre("Hello", ",", " world", "!", " I", "'m", " ", "1", "2", "3",
                                 "  \n\n", " ", " x"));
  words.clear();
  auto llama3 = Pretokenizer::Create(PretokenizerKind::kLlama3);
  ASSERT_TRUE(llama3.ok());
  (*llama3)->Split("12345 Héllo", &words);
  EXPECT_THAT(words, ElementsAre("123", "45", " Héllo"));
}

TEST(PretokenizerTest, RejectsUnknownPreTokenizer) {
  auto kind = PretokenizerKindFromName("falcon");
  ASSERT_FALSE(kind.ok());
  EXPECT_THAT(std::string(kind.status().message()), ::testing::HasSubstr("falcon"));
  EXPECT_TRUE(PretokenizerKindFromName("llama-bpe").ok());
}

// A small vocabulary: the 256 byte tokens, a few merges and special tokens.
BpeVocab SmallVocab() {
  BpeVocab vocab;
  for (int b = 0; b < 256; ++b) {
    vocab.tokens.push_back(std::string(ByteLevelMap::Get().Utf8Of(static_cast<uint8_t>(b))));
  }
  vocab.types.assign(256, TokenType::kNormal);
  auto add = [&](std::string text, TokenType type) {
    vocab.tokens.push_back(std::move(text));
    vocab.types.push_back(type);
    return static_cast<TokenId>(vocab.tokens.size() - 1);
  };
  add("ab", TokenType::kNormal);           // 256
  add("bc", TokenType::kNormal);           // 257
  add("abc", TokenType::kNormal);          // 258
  add(Encoded(" a"), TokenType::kNormal);  // 259
  add("<|ctl|>", TokenType::kControl);     // 260
  add("<tag>", TokenType::kUserDefined);   // 261
  add("<|ctl|>x", TokenType::kControl);    // 262, longer: wins over 260
  add("[PAD0]", TokenType::kUnused);       // 263
  vocab.merges = {"b c", "a b", "ab c", Encoded(" ") + " a", "c d"};
  vocab.eos_id = 260;
  return vocab;
}

TEST(BpeTokenizerTest, MergesByRankNotByPosition) {
  auto tok = BpeTokenizer::Create(SmallVocab());
  ASSERT_TRUE(tok.ok()) << tok.status();
  // "b c" has the best rank, so "abc" becomes a + bc (no "a bc" merge), not ab + c.
  EXPECT_THAT((*tok)->Tokenize("abc"), ElementsAre('a', 257));
  EXPECT_THAT((*tok)->Tokenize("ab"), ElementsAre(256));
  EXPECT_THAT((*tok)->Tokenize(" a"), ElementsAre(259));
  // Leftmost wins between equal ranks: "bcbc" -> bc bc.
  EXPECT_THAT((*tok)->Tokenize("bcbc"), ElementsAre(257, 257));
  // "c d" produces "cd", which is no token: it falls back to the characters' tokens.
  EXPECT_THAT((*tok)->Tokenize("cd"), ElementsAre('c', 'd'));
  EXPECT_THAT((*tok)->Tokenize(""), IsEmpty());
}

TEST(BpeTokenizerTest, SplitsSpecialTokensLongestFirst) {
  auto tok = BpeTokenizer::Create(SmallVocab());
  ASSERT_TRUE(tok.ok());
  EXPECT_THAT((*tok)->Tokenize("ab<|ctl|>x<|ctl|>ab"), ElementsAre(256, 262, 260, 256));
  // Control tokens need parse_special; user-defined ones never do.
  const auto plain = (*tok)->Tokenize("<|ctl|><tag>", false, false);
  EXPECT_EQ(plain.back(), 261);
  EXPECT_EQ(plain.size(), 1 + (*tok)->Tokenize("<|ctl|>", false, false).size());
  EXPECT_GT(plain.size(), 2u);
}

TEST(BpeTokenizerTest, DetokenizesByTokenType) {
  auto tok = BpeTokenizer::Create(SmallVocab());
  ASSERT_TRUE(tok.ok());
  const std::vector<TokenId> ids = {259, 260, 261, 263, 'a'};
  EXPECT_EQ(*(*tok)->Detokenize(ids), " a<tag>a");
  EXPECT_EQ(*(*tok)->Detokenize(ids, /*special=*/true), " a<|ctl|><tag>a");
  const std::vector<TokenId> bad = {1, 9999};
  EXPECT_FALSE((*tok)->Detokenize(bad).ok());
  EXPECT_EQ((*tok)->TokenToPiece(-1), "");
  EXPECT_TRUE((*tok)->IsEog(260));
  EXPECT_FALSE((*tok)->IsEog(261));
}

TEST(BpeTokenizerTest, InvalidUtf8BecomesReplacementCharacter) {
  auto tok = BpeTokenizer::Create(SmallVocab());
  ASSERT_TRUE(tok.ok());
  const auto ids = (*tok)->Tokenize("a\xFF");
  EXPECT_EQ(*(*tok)->Detokenize(ids), "a\xEF\xBF\xBD");
}

TEST(BpeTokenizerTest, RejectsInconsistentVocabularies) {
  BpeVocab vocab = SmallVocab();
  vocab.types.pop_back();
  EXPECT_FALSE(BpeTokenizer::Create(vocab).ok());
  vocab = SmallVocab();
  vocab.eos_id = 100000;
  EXPECT_FALSE(BpeTokenizer::Create(vocab).ok());
  vocab = SmallVocab();
  vocab.merges.push_back("nospace");
  auto bad_merge = BpeTokenizer::Create(vocab);
  ASSERT_FALSE(bad_merge.ok());
  EXPECT_THAT(std::string(bad_merge.status().message()), ::testing::HasSubstr("merges[5]"));
  vocab = SmallVocab();
  vocab.pre = "gpt-4o";
  EXPECT_FALSE(BpeTokenizer::Create(vocab).ok());
  EXPECT_FALSE(BpeTokenizer::Create(BpeVocab{}).ok());
}

// The real Qwen3 tokenizer, loaded once for the fixture tests.
class Qwen3VocabTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const auto start = std::chrono::steady_clock::now();
    auto file = GgufFile::Open(DataPath("qwen3-vocab.gguf"));
    ASSERT_TRUE(file.ok()) << file.status();
    const auto opened = std::chrono::steady_clock::now();
    auto tok = BpeTokenizer::FromGguf(**file);
    ASSERT_TRUE(tok.ok()) << tok.status();
    const auto built = std::chrono::steady_clock::now();
    using Ms = std::chrono::duration<double, std::milli>;
    std::printf("[ info ] open qwen3-vocab.gguf %.1f ms, build tokenizer %.1f ms\n",
                Ms(opened - start).count(), Ms(built - opened).count());
    tokenizer_ = std::move(*tok).release();
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    tokenizer_ = nullptr;
  }
  const BpeTokenizer& tok() const { return *tokenizer_; }
  static BpeTokenizer* tokenizer_;
};
BpeTokenizer* Qwen3VocabTest::tokenizer_ = nullptr;

TEST_F(Qwen3VocabTest, ReadsSpecialIdsFromMetadata) {
  ASSERT_NE(tokenizer_, nullptr);
  EXPECT_EQ(tok().n_vocab(), 151936);
  EXPECT_EQ(tok().eos_id(), 151645);
  EXPECT_EQ(tok().bos_id(), 151643);
  EXPECT_FALSE(tok().add_bos());
  EXPECT_THAT(tok().eog_ids(), ElementsAre(151643, 151645, 151662, 151663, 151664));
  EXPECT_EQ(tok().Tokenize("Hi", /*add_special=*/true).size(), 1u);  // no BOS for Qwen
}

TEST_F(Qwen3VocabTest, MatchesEveryFixtureCase) {
  ASSERT_NE(tokenizer_, nullptr);
  std::ifstream in(DataPath("tokenizer_cases.json"));
  const auto cases = nlohmann::json::parse(in);
  ASSERT_EQ(cases["vocab"], "qwen3-vocab.gguf");
  ASSERT_GE(cases["cases"].size(), 47u);
  for (const auto& c : cases["cases"]) {
    const std::string text = c["text"];
    const std::vector<TokenId> expected = c["ids"];
    const std::vector<TokenId> ids = tok().Tokenize(text, false, true);
    EXPECT_EQ(ids, expected) << "text: " << nlohmann::json(text).dump();
    auto back = tok().Detokenize(ids, /*special=*/true);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, text) << "round trip of " << nlohmann::json(text).dump();
  }
}

TEST_F(Qwen3VocabTest, MatchesUpstreamPairsWithoutSpecialParsing) {
  ASSERT_NE(tokenizer_, nullptr);
  const std::vector<std::pair<std::string, std::vector<TokenId>>> pairs = {
      {"Hello world", {9707, 1879}},
      {" Hello world", {21927, 1879}},
      {" ", {220}},
      {"  ", {256}},
      {"   ", {262}},
      {"\t", {197}},
      {"\n", {198}},
      {"\n\n", {271}},
      {"\n\n\n", {1406}},
      {"\t\n", {1572}},
      {"Hello, world!", {9707, 11, 1879, 0}},
      {"333", {18, 18, 18}},
      {"   Hello", {256, 21927}},
      {"ied 4 ½ months", {1122, 220, 19, 220, 26062, 3951}},
  };
  for (const auto& [text, expected] : pairs) {
    EXPECT_EQ(tok().Tokenize(text, false, false), expected) << nlohmann::json(text).dump();
  }
  // Without special parsing <|im_start|> is plain text, but <think> is still one token.
  EXPECT_GT(tok().Tokenize("<|im_start|>", false, false).size(), 1u);
  EXPECT_THAT(tok().Tokenize("<|im_start|>", false, true), ElementsAre(151644));
  EXPECT_THAT(tok().Tokenize("<think>", false, false), ElementsAre(151667));
}

TEST_F(Qwen3VocabTest, StreamsMultiByteCharactersSplitAcrossTokens) {
  ASSERT_NE(tokenizer_, nullptr);
  const std::string text = "🦙 and 😶‍🌫️ say 你好世界, ကမ္ဘာ!";
  const std::vector<TokenId> ids = tok().Tokenize(text);
  TokenStreamDecoder stream(tok());
  std::string streamed;
  bool saw_partial_token = false;
  for (TokenId id : ids) {
    const std::string piece(tok().TokenToPiece(id));
    const std::string out = stream.Feed(id);
    EXPECT_EQ(SanitizeUtf8(out), out) << "emitted half a character";
    if (out != piece) saw_partial_token = true;
    streamed += out;
  }
  streamed += stream.Flush();
  EXPECT_EQ(streamed, text);
  EXPECT_TRUE(saw_partial_token) << "the test text should split characters across tokens";
}

TEST_F(Qwen3VocabTest, TokenizesLongInputQuickly) {
  ASSERT_NE(tokenizer_, nullptr);
  std::string text;
  for (int i = 0; i < 10000; ++i) {
    text += (i % 7 == 0) ? "tokenization "
                         : (i % 5 == 0 ? "数据 " : "word" + std::to_string(i % 97) + " ");
  }
  const auto start = std::chrono::steady_clock::now();
  const auto ids = tok().Tokenize(text);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::printf("[ info ] 10k words -> %zu tokens in %.1f ms\n", ids.size(), ms);
  EXPECT_EQ(*tok().Detokenize(ids), text);
  // A pathological word (one long letter run) must not be quadratic.
  for (const std::string& run :
       {std::string(200000, 'a'), std::string(100000, ' ') + "x", std::string(100000, '\n'),
        std::string(100000, '7'), std::string(50000, '!') + std::string(50000, '\r')}) {
    const auto run_ids = tok().Tokenize(run);
    EXPECT_EQ(*tok().Detokenize(run_ids), run) << "run of " << nlohmann::json(run.substr(0, 1));
  }
}

TEST(TinyModelVocabTest, TruncatedVocabulariesTokenizeAndRoundTrip) {
  const std::string text =
      "<|im_start|>user\nWrite fizzbuzz in Python, 你好 🦙<|im_end|>\n<think>\n</think>";
  for (const char* name :
       {"qwen3-tiny-f32.gguf", "qwen3-tiny-q4_k_m.gguf", "qwen3-tiny-untied-q8_0.gguf"}) {
    auto file = GgufFile::Open(DataPath(name));
    ASSERT_TRUE(file.ok()) << file.status();
    auto tok = BpeTokenizer::FromGguf(**file);
    ASSERT_TRUE(tok.ok()) << name << ": " << tok.status();
    EXPECT_EQ((*tok)->n_vocab(), 4352) << name;
    const auto ids = (*tok)->Tokenize(text);
    for (TokenId id : ids) ASSERT_TRUE((*tok)->IsValid(id));
    EXPECT_EQ(ids.front(), 4097) << name << ": <|im_start|> follows the 4096 BPE pieces";
    EXPECT_EQ(*(*tok)->Detokenize(ids, true), text) << name;
  }
}

TEST(TokenizerGgufTest, RejectsFilesWithoutTokenizer) {
  GgufWriter writer;
  writer.SetString("general.architecture", "qwen3");
  const std::string path = std::string(ZEN_BINARY_DIR) + "/tokenizer_test_no_vocab.gguf";
  ASSERT_TRUE(writer.Write(path).ok());
  auto file = GgufFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  auto tok = BpeTokenizer::FromGguf(**file);
  ASSERT_FALSE(tok.ok());
  EXPECT_THAT(std::string(tok.status().message()), ::testing::HasSubstr("tokenizer"));

  writer.SetString("tokenizer.ggml.model", "llama");
  ASSERT_TRUE(writer.Write(path).ok());
  file = GgufFile::Open(path);
  ASSERT_TRUE(file.ok());
  tok = BpeTokenizer::FromGguf(**file);
  ASSERT_FALSE(tok.ok());
  EXPECT_THAT(std::string(tok.status().message()), ::testing::HasSubstr("\"llama\""));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace zen::node
