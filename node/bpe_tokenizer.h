// Byte-level BPE tokenizer (GPT-2 style, as Qwen2/Qwen3 and Llama 3 use), built from a GGUF
// file's tokenizer.* metadata or from plain vectors. Matches llama.cpp's tokenizer: special
// tokens are split out first (longest first), the rest is cut into words by the model's
// regex, each word's bytes are merged by merge rank, and detokenization maps the byte-level
// characters back to bytes.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "node/pretokenizer.h"

namespace zen::node {

class GgufFile;
using TokenId = int32_t;

// GGUF token types (tokenizer.ggml.token_type; llama.cpp's llama_token_type).
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

// Everything a byte-level BPE tokenizer is made of, as plain data.
struct BpeVocab {
  std::string pre = "qwen2";        // tokenizer.ggml.pre
  std::vector<std::string> tokens;  // byte-level encoded texts; index = id
  std::vector<TokenType> types;     // same length as tokens; empty means all normal
  std::vector<std::string> merges;  // "left right"; rank = index
  TokenId bos_id = -1;
  TokenId eos_id = -1;
  TokenId eot_id = -1;  // end of turn, when the file names one
  TokenId eom_id = -1;  // end of message (Llama 3.1 tool use)
  TokenId padding_id = -1;
  std::optional<bool> add_bos;  // unset: the pre-tokenizer's default (Llama 3 yes, Qwen no)
  bool add_eos = false;
};

// Tokenizes text to ids and ids to text. Immutable after construction, so one instance is
// shared by all threads.
class BpeTokenizer {
 public:
  // Builds the tables (vocabulary index, merge ranks, decoded pieces). InvalidArgument for
  // inconsistent input (type count, ids out of range, unsupported pre-tokenizer).
  static absl::StatusOr<std::unique_ptr<BpeTokenizer>> Create(BpeVocab vocab);
  // Reads tokenizer.ggml.* from a GGUF file (see bpe_tokenizer_gguf.cc).
  static absl::StatusOr<std::unique_ptr<BpeTokenizer>> FromGguf(const GgufFile& file);
  // Reads the tokenizer.ggml.* keys into a BpeVocab without building anything.
  static absl::StatusOr<BpeVocab> ReadVocab(const GgufFile& file);

  ~BpeTokenizer();
  BpeTokenizer(const BpeTokenizer&) = delete;
  BpeTokenizer& operator=(const BpeTokenizer&) = delete;

  // Converts text to ids. `add_special` prepends BOS (and appends EOS) when the vocabulary
  // asks for it; `parse_special` lets control tokens written in the text (<|im_start|>)
  // become their ids. User-defined tokens (<think>, <tool_call>) are always recognized, as
  // in Hugging Face and llama.cpp. Invalid UTF-8 bytes are tokenized as U+FFFD.
  std::vector<TokenId> Tokenize(std::string_view text, bool add_special = false,
                                bool parse_special = true) const;

  // The bytes one token stands for: normal tokens decoded from byte-level text,
  // user-defined tokens literally, control/unknown tokens only when `special`, else "".
  // Invalid ids give "". The bytes may be part of a UTF-8 character.
  std::string_view TokenToPiece(TokenId id, bool special = false) const;
  // Concatenates the pieces of `ids`; InvalidArgument naming the first id out of range.
  absl::StatusOr<std::string> Detokenize(std::span<const TokenId> ids, bool special = false) const;

  // Number of ids (tokenizer.ggml.tokens length).
  int n_vocab() const { return n_vocab_; }
  bool IsValid(TokenId id) const { return id >= 0 && id < n_vocab(); }
  // True for end-of-generation tokens: EOS, EOT, EOM and the known end markers the vocab has
  // (<|im_end|>, <|endoftext|>, <|eot_id|>, <|fim_pad|>, <|repo_name|>, <|file_sep|>, ...).
  bool IsEog(TokenId id) const;
  const std::vector<TokenId>& eog_ids() const { return eog_ids_; }
  TokenId bos_id() const { return bos_id_; }
  TokenId eos_id() const { return eos_id_; }
  TokenId padding_id() const { return padding_id_; }
  bool add_bos() const { return add_bos_; }
  PretokenizerKind pretokenizer_kind() const { return pretokenizer_->kind(); }

  // The stored (byte-level encoded) text of a token; "" for invalid ids.
  std::string_view TokenText(TokenId id) const;
  TokenType GetTokenType(TokenId id) const;
  // The id whose stored text is exactly `text`.
  std::optional<TokenId> FindToken(std::string_view text) const;

 private:
  // A merge of two adjacent symbols: its rank and the symbol it produces.
  struct Merge {
    int32_t rank;
    int32_t result;
  };

  BpeTokenizer() = default;
  absl::Status Build(BpeVocab vocab);
  int32_t SymbolFor(std::string_view text);
  void TokenizeWord(std::string_view word, std::vector<TokenId>* out) const;
  void TokenizeText(std::string_view text, std::vector<TokenId>* out) const;
  void EmitSymbol(int32_t symbol, std::vector<TokenId>* out) const;

  // The text of a valid id.
  std::string_view Text(TokenId id) const {
    return std::string_view(text_pool_)
        .substr(text_offsets_[id], text_offsets_[id + 1] - text_offsets_[id]);
  }

  int n_vocab_ = 0;
  // Token texts in one buffer: the build looks up ~450k strings, and packed texts keep those
  // lookups in cache far better than 150k separate strings.
  std::string text_pool_;
  std::vector<uint32_t> text_offsets_;  // n_vocab + 1
  std::vector<TokenType> types_;
  absl::flat_hash_map<std::string_view, TokenId> token_ids_;  // views into text_pool_
  // Merge results that are not vocabulary entries get symbol ids from n_vocab upwards, so
  // merging can go through them (as it does on strings in llama.cpp).
  std::vector<std::string> extra_symbols_;
  absl::flat_hash_map<std::string, int32_t> extra_symbol_ids_;
  absl::flat_hash_map<uint64_t, Merge> merges_;  // (left << 32 | right) -> merge
  std::array<int32_t, 256> byte_symbols_{};      // symbol of each single byte
  std::string pieces_;                           // decoded bytes of every token, concatenated
  std::vector<uint32_t> piece_offsets_;          // n_vocab + 1 offsets into pieces_
  std::vector<TokenId> special_tokens_;          // control/user-defined, longest text first
  std::vector<TokenId> eog_ids_;
  TokenId bos_id_ = -1;
  TokenId eos_id_ = -1;
  TokenId padding_id_ = -1;
  bool add_bos_ = false;
  bool add_eos_ = false;
  bool ignore_merges_ = false;  // Llama 3: a word that is a whole token is taken as is
  std::unique_ptr<Pretokenizer> pretokenizer_;
};

}  // namespace zen::node
