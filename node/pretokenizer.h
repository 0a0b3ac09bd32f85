// Pre-tokenization for byte-level BPE vocabularies: the model's regex splits raw text into
// words (BPE never merges across them), and GPT-2's byte <-> code point mapping turns
// bytes into the printable characters the vocabulary is written in.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace zen::node {

// The word-splitting regex a vocabulary was trained with.
enum class PretokenizerKind {
  kQwen2,   // Qwen2/Qwen3: single digits (\p{N})
  kLlama3,  // Llama 3: digit runs of up to three (\p{N}{1,3})
};

// Maps GGUF `tokenizer.ggml.pre` to a kind; InvalidArgument naming the value otherwise.
absl::StatusOr<PretokenizerKind> PretokenizerKindFromName(std::string_view pre);

// Splits text into words with a compiled PCRE2 regex (UTF + UCP; JIT when available).
// Thread-safe: Split keeps its match state on the stack.
class Pretokenizer {
 public:
  // Compiles the regex of `kind`.
  static absl::StatusOr<std::unique_ptr<Pretokenizer>> Create(PretokenizerKind kind);
  ~Pretokenizer();
  Pretokenizer(const Pretokenizer&) = delete;
  Pretokenizer& operator=(const Pretokenizer&) = delete;

  // Appends the words of `text` (valid UTF-8) to `words`, as views into `text`. The words
  // cover `text` exactly, in order.
  void Split(std::string_view text, std::vector<std::string_view>* words) const;

  PretokenizerKind kind() const { return kind_; }

 private:
  struct Regex;
  Pretokenizer(PretokenizerKind kind, std::unique_ptr<Regex> regex);

  PretokenizerKind kind_;
  std::unique_ptr<Regex> regex_;
};

// GPT-2's bytes_to_unicode table: byte -> code point, and code point -> byte (-1 if the code
// point is not an image of a byte).
class ByteLevelMap {
 public:
  // The process-wide table.
  static const ByteLevelMap& Get();

  // The code point that stands for `byte`.
  uint32_t CodePointOf(uint8_t byte) const { return byte_to_cp_[byte]; }
  // The UTF-8 text of the code point that stands for `byte`.
  std::string_view Utf8Of(uint8_t byte) const { return byte_utf8_[byte]; }
  // The byte a code point stands for, or -1.
  int ByteOf(uint32_t code_point) const {
    return code_point < cp_to_byte_.size() ? cp_to_byte_[code_point] : -1;
  }

  // Appends the byte-level encoding of `bytes` (each byte as its code point's UTF-8).
  void Encode(std::string_view bytes, std::string* out) const;
  // Appends the bytes a byte-level token text stands for. Characters outside the table are
  // copied through unchanged (such text is not byte-level encoded). Returns false if any was.
  bool Decode(std::string_view text, std::string* out) const;

 private:
  ByteLevelMap();
  std::array<uint32_t, 256> byte_to_cp_{};
  std::array<std::string, 256> byte_utf8_;
  std::array<int16_t, 0x144> cp_to_byte_{};  // the highest image is U+0143
};

}  // namespace zen::node
