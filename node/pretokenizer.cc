#include "node/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "node/utf8_stream.h"

namespace zen::node {
namespace {

// llama.cpp's spelling of the Hugging Face patterns: the case-insensitive contractions are
// written as explicit character classes, because a caseless (?i:) under Unicode rules would
// also fold characters such as U+017F (long s) into 's', which neither engine does.
constexpr std::string_view kContractions =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
constexpr std::string_view kQwen2Tail =
    "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+"
    "|\\s+(?!\\S)|\\s+";
// Debian's abseil has its own string_view type; StrCat needs it spelled out.
absl::string_view Sv(std::string_view s) {
  return {s.data(), s.size()};
}

constexpr std::string_view kLlama3Tail =
    "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+"
    "|\\s+(?!\\S)|\\s+";

}  // namespace

struct Pretokenizer::Regex {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Regex() {
    if (code != nullptr) pcre2_code_free(code);
  }
};

absl::StatusOr<PretokenizerKind> PretokenizerKindFromName(std::string_view pre) {
  if (pre == "qwen2" || pre == "deepseek-r1-qwen" || pre == "megrez") {
    return PretokenizerKind::kQwen2;
  }
  if (pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3" || pre == "falcon3" ||
      pre == "pixtral") {
    return PretokenizerKind::kLlama3;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("tokenizer.ggml.pre = \"", Sv(pre),
                   "\" is not supported; supported pre-tokenizers: qwen2, deepseek-r1-qwen, "
                   "megrez (Qwen regex), llama-bpe, llama3 (Llama 3 regex)"));
}

Pretokenizer::Pretokenizer(PretokenizerKind kind, std::unique_ptr<Regex> regex)
    : kind_(kind), regex_(std::move(regex)) {}

Pretokenizer::~Pretokenizer() = default;

absl::StatusOr<std::unique_ptr<Pretokenizer>> Pretokenizer::Create(PretokenizerKind kind) {
  const std::string pattern = absl::StrCat(
      Sv(kContractions), Sv(kind == PretokenizerKind::kQwen2 ? kQwen2Tail : kLlama3Tail));
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  auto regex = std::make_unique<Regex>();
  regex->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                              PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, nullptr);
  if (regex->code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof(message));
    return absl::InternalError(absl::StrCat("pre-tokenizer regex failed to compile at offset ",
                                            error_offset, ": ",
                                            reinterpret_cast<const char*>(message)));
  }
  // JIT is an optimization only: without it (unsupported CPU, no executable memory) the
  // interpreter gives the same matches.
  regex->jit = pcre2_jit_compile(regex->code, PCRE2_JIT_COMPLETE) == 0;
  return std::unique_ptr<Pretokenizer>(new Pretokenizer(kind, std::move(regex)));
}

void Pretokenizer::Split(std::string_view text, std::vector<std::string_view>* words) const {
  if (text.empty()) return;
  pcre2_match_data* match = pcre2_match_data_create_from_pattern(regex_->code, nullptr);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t start = 0;                       // where the next match search begins
  size_t covered = 0;                     // end of the last emitted word
  uint32_t options = PCRE2_NO_UTF_CHECK;  // callers pass sanitized UTF-8
  while (start < text.size()) {
    int rc = pcre2_match(regex_->code, subject, text.size(), start, options, match, nullptr);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
      // Very long runs can exhaust the JIT stack; the interpreter uses the heap instead.
      rc = pcre2_match(regex_->code, subject, text.size(), start, options | PCRE2_NO_JIT, match,
                       nullptr);
    }
    if (rc < 0) break;  // no further match (or a resource limit): the rest is one word
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match);
    const size_t begin = ovector[0];
    size_t end = ovector[1];
    if (begin > covered) words->push_back(text.substr(covered, begin - covered));
    if (end == begin) {
      // An empty match cannot happen with these patterns; step one character to be safe.
      end = begin + ScanUtf8(text.substr(begin)).length;
    }
    words->push_back(text.substr(begin, end - begin));
    covered = end;
    start = end;
  }
  if (covered < text.size()) words->push_back(text.substr(covered));
  pcre2_match_data_free(match);
}

const ByteLevelMap& ByteLevelMap::Get() {
  static const ByteLevelMap map;
  return map;
}

ByteLevelMap::ByteLevelMap() {
  cp_to_byte_.fill(-1);
  // Printable Latin-1 bytes stand for themselves; the other 68 bytes, in increasing
  // order, take U+0100 onwards (GPT-2's bytes_to_unicode).
  uint32_t next = 0x100;
  for (int byte = 0; byte < 256; ++byte) {
    const bool printable =
        (byte >= 0x21 && byte <= 0x7E) || (byte >= 0xA1 && byte <= 0xAC) || byte >= 0xAE;
    const uint32_t cp = printable ? static_cast<uint32_t>(byte) : next++;
    byte_to_cp_[byte] = cp;
    cp_to_byte_[cp] = static_cast<int16_t>(byte);
    AppendUtf8(cp, &byte_utf8_[byte]);
  }
}

void ByteLevelMap::Encode(std::string_view bytes, std::string* out) const {
  for (char c : bytes) out->append(byte_utf8_[static_cast<uint8_t>(c)]);
}

bool ByteLevelMap::Decode(std::string_view text, std::string* out) const {
  bool all_mapped = true;
  size_t i = 0;
  while (i < text.size()) {
    const Utf8Scan scan = ScanUtf8(text.substr(i));
    const int byte = scan.kind == Utf8Scan::Kind::kValid ? ByteOf(scan.code_point) : -1;
    if (byte >= 0) {
      out->push_back(static_cast<char>(byte));
    } else {
      out->append(text.substr(i, scan.length));
      all_mapped = false;
    }
    i += scan.length;
  }
  return all_mapped;
}

}  // namespace zen::node
