#include "node/utf8_stream.h"

#include <algorithm>

#include "node/bpe_tokenizer.h"

namespace zen::node {
namespace {

bool IsContinuation(uint8_t byte) {
  return (byte & 0xC0) == 0x80;
}

}  // namespace

Utf8Scan ScanUtf8(std::string_view bytes) {
  const auto* s = reinterpret_cast<const uint8_t*>(bytes.data());
  const size_t n = bytes.size();
  const uint8_t lead = s[0];
  if (lead < 0x80) return {Utf8Scan::Kind::kValid, 1, lead};
  int length = 0;
  uint32_t code_point = 0;
  // The allowed range of the second byte excludes overlong forms (E0, F0), surrogates
  // (ED) and code points past U+10FFFF (F4), as in the Unicode standard's table 3-7.
  uint8_t second_lo = 0x80, second_hi = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    code_point = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    code_point = lead & 0x0F;
    if (lead == 0xE0) second_lo = 0xA0;
    if (lead == 0xED) second_hi = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    code_point = lead & 0x07;
    if (lead == 0xF0) second_lo = 0x90;
    if (lead == 0xF4) second_hi = 0x8F;
  } else {
    return {Utf8Scan::Kind::kInvalid, 1, 0};
  }
  for (int i = 1; i < length; ++i) {
    if (static_cast<size_t>(i) >= n) return {Utf8Scan::Kind::kIncomplete, i, 0};
    const uint8_t byte = s[i];
    const bool ok = i == 1 ? (byte >= second_lo && byte <= second_hi) : IsContinuation(byte);
    if (!ok) return {Utf8Scan::Kind::kInvalid, 1, 0};
    code_point = (code_point << 6) | (byte & 0x3F);
  }
  return {Utf8Scan::Kind::kValid, length, code_point};
}

std::string SanitizeUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const Utf8Scan scan = ScanUtf8(text.substr(i));
    if (scan.kind == Utf8Scan::Kind::kValid) {
      out.append(text.substr(i, scan.length));
      i += scan.length;
    } else {
      // An incomplete tail is invalid here too: nothing more will arrive.
      out.append(kReplacementChar);
      i += 1;
    }
  }
  return out;
}

void AppendUtf8(uint32_t code_point, std::string* out) {
  if (code_point < 0x80) {
    out->push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

size_t PartialSuffixLength(std::string_view text, std::string_view needle) {
  const size_t longest = std::min(text.size(), needle.empty() ? 0 : needle.size() - 1);
  for (size_t length = longest; length > 0; --length) {
    if (text.substr(text.size() - length) == needle.substr(0, length)) return length;
  }
  return 0;
}

std::string Utf8StreamDecoder::Feed(std::string_view bytes) {
  pending_.append(bytes);
  std::string out;
  size_t i = 0;
  while (i < pending_.size()) {
    const Utf8Scan scan = ScanUtf8(std::string_view(pending_).substr(i));
    if (scan.kind == Utf8Scan::Kind::kIncomplete) break;
    if (scan.kind == Utf8Scan::Kind::kValid) {
      out.append(pending_, i, scan.length);
      i += scan.length;
    } else {
      out.append(kReplacementChar);
      i += 1;
    }
  }
  pending_.erase(0, i);
  return out;
}

std::string Utf8StreamDecoder::Flush() {
  std::string out = SanitizeUtf8(pending_);
  pending_.clear();
  return out;
}

std::string TokenStreamDecoder::Feed(TokenId id) {
  return bytes_.Feed(tokenizer_.TokenToPiece(id, special_));
}

}  // namespace zen::node
