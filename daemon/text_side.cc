#include "daemon/text_side.h"

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace zen::daemon {

TextStream::TextStream(const node::BpeTokenizer* tokenizer, std::vector<std::string> stop)
    : stop_(std::move(stop)) {
  if (tokenizer != nullptr) decoder_ = std::make_unique<node::TokenStreamDecoder>(*tokenizer);
}

std::string TextStream::Add(int32_t token, bool* stop_hit) {
  *stop_hit = false;
  if (decoder_ == nullptr) return "";
  node::StopStringMatcher::Result fed = stop_.Feed(decoder_->Feed(token));
  *stop_hit = fed.stopped;
  return std::move(fed.text);
}

std::string TextStream::Flush() {
  std::string out = stop_.Flush();
  if (decoder_ != nullptr) out += decoder_->Flush();
  return out;
}

std::unique_ptr<TextSide> TextSide::FromGguf(const node::GgufFile& file) {
  auto side = std::make_unique<TextSide>();
  auto tokenizer = node::BpeTokenizer::FromGguf(file);
  if (tokenizer.ok()) {
    side->tokenizer_ = std::move(*tokenizer);
  } else {
    side->tokenizer_error_ = std::string(tokenizer.status().message());
  }
  auto chat_template = node::ChatTemplate::FromGguf(file);
  if (chat_template.ok()) {
    side->chat_template_ = std::move(*chat_template);
  } else {
    spdlog::warn("chat template: {}; using ChatML", std::string(chat_template.status().message()));
    side->chat_template_ = node::ChatTemplate::FromTemplateText("");
  }
  return side;
}

absl::Status TextSide::CheckTokenizer() const {
  if (tokenizer_ != nullptr) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat("the model's tokenizer could not be loaded (",
                                                    tokenizer_error_, "); send token ids"));
}

absl::StatusOr<std::vector<int32_t>> TextSide::EncodePrompt(const std::string& prompt, bool chat,
                                                            bool enable_thinking) const {
  if (absl::Status s = CheckTokenizer(); !s.ok()) return s;
  if (!chat) return tokenizer_->Tokenize(prompt, /*add_special=*/true, /*parse_special=*/false);
  node::ChatMessage user;
  user.role = "user";
  user.content = prompt;
  node::ChatRenderOptions options;
  options.enable_thinking = enable_thinking;
  absl::StatusOr<std::string> text =
      chat_template_.Render(std::span<const node::ChatMessage>(&user, 1), options);
  if (!text.ok()) return text.status();
  return tokenizer_->Tokenize(*text, /*add_special=*/true, /*parse_special=*/true);
}

bool TextSide::IsEndOfGeneration(int32_t token) const {
  return tokenizer_ != nullptr && tokenizer_->IsEog(token);
}

TextStream TextSide::NewStream(std::vector<std::string> stop) const {
  return TextStream(tokenizer_.get(), std::move(stop));
}

absl::StatusOr<std::vector<int32_t>> TextSide::Tokenize(std::string_view text) const {
  return Tokenize(text, /*add_special=*/true, /*parse_special=*/true);
}

absl::StatusOr<std::vector<int32_t>> TextSide::Tokenize(std::string_view text, bool add_special,
                                                        bool parse_special) const {
  if (absl::Status s = CheckTokenizer(); !s.ok()) return s;
  return tokenizer_->Tokenize(text, add_special, parse_special);
}

absl::StatusOr<std::string> TextSide::Detokenize(std::span<const int32_t> ids) const {
  if (absl::Status s = CheckTokenizer(); !s.ok()) return s;
  return tokenizer_->Detokenize(ids, /*special=*/true);
}

absl::StatusOr<std::string> TextSide::TokenBytes(int32_t id) const {
  if (absl::Status s = CheckTokenizer(); !s.ok()) return s;
  if (!tokenizer_->IsValid(id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("token ", id, " is outside the vocabulary [0, ", tokenizer_->n_vocab(), ")"));
  }
  return std::string(tokenizer_->TokenToPiece(id, /*special=*/true));
}

}  // namespace zen::daemon
