#include "daemon/text_side.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace zen::daemon {

TextStream::TextStream(const node::BpeTokenizer* tokenizer, std::vector<std::string> stop)
    : stop_(std::move(stop)) {
  if (tokenizer != nullptr) decoder_ = std::make_unique<node::TokenStreamDecoder>(*tokenizer);
}

std::string TextStream::Add(int32_t token, bool* stop_hit) {
  *stop_hit = false;
  if (decoder_ == nullptr) return "";
  held_ += decoder_->Feed(token);
  for (const std::string& stop : stop_) {
    const size_t at = stop.empty() ? std::string::npos : held_.find(stop);
    if (at != std::string::npos) {
      *stop_hit = true;
      std::string out = held_.substr(0, at);
      held_.clear();
      return out;
    }
  }
  size_t keep = 0;
  for (const std::string& stop : stop_)
    keep = std::max(keep, node::PartialSuffixLength(held_, stop));
  std::string out = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return out;
}

std::string TextStream::Flush() {
  std::string out = std::move(held_);
  held_.clear();
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
  return side;
}

absl::StatusOr<std::vector<int32_t>> TextSide::EncodePrompt(const std::string& prompt, bool chat,
                                                            bool enable_thinking) const {
  if (tokenizer_ == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat("the model's tokenizer could not be loaded (",
                                                      tokenizer_error_, "); send token ids"));
  }
  std::string text = prompt;
  if (chat) {
    // Qwen3's rendering of a single user turn; the full template (system prompts, tools,
    // history) arrives with the Chat API.
    text = absl::StrCat("<|im_start|>user\n", prompt, "<|im_end|>\n<|im_start|>assistant\n",
                        enable_thinking ? "" : "<think>\n\n</think>\n\n");
  }
  return tokenizer_->Tokenize(text, /*add_special=*/true, /*parse_special=*/chat);
}

bool TextSide::IsEndOfGeneration(int32_t token) const {
  return tokenizer_ != nullptr && tokenizer_->IsEog(token);
}

TextStream TextSide::NewStream(std::vector<std::string> stop) const {
  return TextStream(tokenizer_.get(), std::move(stop));
}

absl::StatusOr<std::vector<int32_t>> TextSide::Tokenize(std::string_view text) const {
  if (tokenizer_ == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("the model's tokenizer could not be loaded (", tokenizer_error_, ")"));
  }
  return tokenizer_->Tokenize(text, /*add_special=*/true, /*parse_special=*/true);
}

}  // namespace zen::daemon
