// The entry node's text side: prompt text to tokens, generated tokens to streamed text,
// end-of-generation and stop strings. Built once from the model file.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "node/bpe_tokenizer.h"
#include "node/chat_template.h"
#include "node/gguf.h"
#include "node/sampler.h"
#include "node/utf8_stream.h"

namespace zen::daemon {

// Turns one request's generated tokens into text, holding back what may be a stop string
// or half a UTF-8 character.
class TextStream {
 public:
  TextStream(const node::BpeTokenizer* tokenizer, std::vector<std::string> stop);
  // Adds a token; returns the text now safe to show. *stop_hit when a stop string appeared
  // (the returned text then ends just before it).
  std::string Add(int32_t token, bool* stop_hit);
  // The text held back, at the end of the stream.
  std::string Flush();

 private:
  std::unique_ptr<node::TokenStreamDecoder> decoder_;
  node::StopStringMatcher stop_;
};

// Tokenizer-backed text handling for Generate.
class TextSide {
 public:
  // Reads the tokenizer and chat template from the model file; without a tokenizer, only
  // token-id requests work.
  static std::unique_ptr<TextSide> FromGguf(const node::GgufFile& file);

  // The prompt's tokens; `chat` wraps it as one user turn of the model's chat template.
  absl::StatusOr<std::vector<int32_t>> EncodePrompt(const std::string& prompt, bool chat,
                                                    bool enable_thinking) const;
  bool IsEndOfGeneration(int32_t token) const;
  // A stream for one request's output.
  TextStream NewStream(std::vector<std::string> stop) const;
  // Text (with special tokens such as <|im_start|> parsed) to ids; BOS only when the
  // vocabulary asks for one.
  absl::StatusOr<std::vector<int32_t>> Tokenize(std::string_view text) const;
  // The same with the choices `zen tokenize` offers.
  absl::StatusOr<std::vector<int32_t>> Tokenize(std::string_view text, bool add_special,
                                                bool parse_special) const;
  // Ids to text, special tokens included as their text (for logs and Tokenize).
  absl::StatusOr<std::string> Detokenize(std::span<const int32_t> ids) const;
  // The bytes one token stands for.
  absl::StatusOr<std::string> TokenBytes(int32_t id) const;
  // The model's chat format (ChatML when the file names none; see its warning()).
  const node::ChatTemplate& chat_template() const { return chat_template_; }

 private:
  absl::Status CheckTokenizer() const;

  std::unique_ptr<node::BpeTokenizer> tokenizer_;
  std::string tokenizer_error_;
  node::ChatTemplate chat_template_{node::ChatFamily::kChatML};
};

}  // namespace zen::daemon
