// UTF-8 helpers for the text side: strict decoding, sanitizing untrusted input, and an
// incremental decoder that turns a stream of token bytes into complete characters only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace zen::node {

class BpeTokenizer;
using TokenId = int32_t;

// U+FFFD REPLACEMENT CHARACTER in UTF-8.
inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";

// Result of looking at the bytes at the start of a buffer.
struct Utf8Scan {
  enum class Kind {
    kValid,       // a complete, well-formed character of `length` bytes
    kIncomplete,  // a well-formed prefix; more bytes could complete it
    kInvalid,     // the first byte cannot start a character here; skip 1 byte
  };
  Kind kind = Kind::kInvalid;
  int length = 1;
  uint32_t code_point = 0;  // valid only for kValid
};

// Classifies the character at the start of `bytes` (non-empty), rejecting overlong forms,
// surrogates and code points above U+10FFFF so the result is always valid UTF-8.
Utf8Scan ScanUtf8(std::string_view bytes);

// Returns `text` with every byte that does not belong to a well-formed character replaced
// by U+FFFD, so regex engines and JSON writers never see invalid UTF-8.
std::string SanitizeUtf8(std::string_view text);

// Appends the UTF-8 encoding of `code_point` (must be <= U+10FFFF).
void AppendUtf8(uint32_t code_point, std::string* out);

// Length of the longest suffix of `text` that is a proper prefix of `needle`: how much of a
// streamed text must be held back because `needle` may be arriving.
size_t PartialSuffixLength(std::string_view text, std::string_view needle);

// Buffers raw bytes and releases only complete UTF-8 characters, so a streamed answer
// never shows half an emoji. Invalid bytes become U+FFFD as soon as they cannot be the start
// of a character; an incomplete tail becomes U+FFFD only at Flush().
class Utf8StreamDecoder {
 public:
  // Adds bytes; returns the text that is now complete.
  std::string Feed(std::string_view bytes);
  // Returns whatever is pending (an unfinished character as U+FFFD) and resets.
  std::string Flush();
  // Bytes held back waiting for the rest of a character.
  size_t pending_bytes() const { return pending_.size(); }

 private:
  std::string pending_;
};

// Detokenizes one token at a time for streaming: token pieces go through a
// Utf8StreamDecoder, so multi-byte characters split across tokens come out whole.
class TokenStreamDecoder {
 public:
  // `tokenizer` must outlive this object; `special` renders control tokens as their text.
  explicit TokenStreamDecoder(const BpeTokenizer& tokenizer, bool special = false)
      : tokenizer_(tokenizer), special_(special) {}
  // Feeds one token (invalid ids add nothing); returns the newly complete text.
  std::string Feed(TokenId id);
  // Ends the stream; returns the pending tail.
  std::string Flush() { return bytes_.Flush(); }

 private:
  const BpeTokenizer& tokenizer_;
  bool special_;
  Utf8StreamDecoder bytes_;
};

}  // namespace zen::node
