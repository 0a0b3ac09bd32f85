#include "node/bpe_tokenizer.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "node/utf8_stream.h"

namespace zen::node {
namespace {

// Texts that end generation when the vocabulary has them as control tokens, besides the
// ids the file names (llama.cpp's EOG detection; the FIM pad/repo/file separators are EOG
// because a model that emits them has left the chat format).
constexpr std::string_view kEogTexts[] = {
    "<|endoftext|>", "<|im_end|>", "<|eot_id|>", "<|eom_id|>",  "<|end_of_text|>", "<|end|>",
    "<end_of_turn>", "<EOT>",      "_<EOT>",     "<|fim_pad|>", "<|repo_name|>",   "<|file_sep|>",
};

// Texts llama.cpp always treats as control tokens, whatever type the file gives them.
constexpr std::string_view kControlTexts[] = {
    "<|endoftext|>",  "<|im_end|>",  "<|eot_id|>",    "<|eom_id|>",     "<|end|>",
    "<end_of_turn>",  "<EOT>",       "_<EOT>",        "<|fim_prefix|>", "<|fim_middle|>",
    "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
};

uint64_t PairKey(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

// One symbol of a word being merged, in a doubly linked list over a flat array.
struct Symbol {
  int32_t id;  // symbol id, or -1 once merged into its left neighbour
  int32_t prev;
  int32_t next;
};

// A candidate merge of the symbol at `left` with its right neighbour, valid only while both
// still hold the recorded symbol ids.
struct Candidate {
  int32_t rank;
  int32_t left;
  int32_t left_id;
  int32_t right_id;
  int32_t result;
};

// Heap order: lowest rank first, ties to the leftmost pair (llama.cpp's comparator).
bool LaterThan(const Candidate& a, const Candidate& b) {
  return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
}

// A run of the input: either a special token or raw text still to be tokenized.
struct Fragment {
  TokenId token;  // -1 for raw text
  size_t offset;
  size_t length;
};

}  // namespace

BpeTokenizer::~BpeTokenizer() = default;

absl::StatusOr<std::unique_ptr<BpeTokenizer>> BpeTokenizer::Create(BpeVocab vocab) {
  std::unique_ptr<BpeTokenizer> tokenizer(new BpeTokenizer());
  absl::Status status = tokenizer->Build(std::move(vocab));
  if (!status.ok()) return status;
  return tokenizer;
}

int32_t BpeTokenizer::SymbolFor(std::string_view text) {
  if (auto it = token_ids_.find(text); it != token_ids_.end()) return it->second;
  auto [it, inserted] = extra_symbol_ids_.try_emplace(
      std::string(text), static_cast<int32_t>(n_vocab_ + extra_symbols_.size()));
  if (inserted) extra_symbols_.emplace_back(text);
  return it->second;
}

absl::Status BpeTokenizer::Build(BpeVocab vocab) {
  absl::StatusOr<PretokenizerKind> kind = PretokenizerKindFromName(vocab.pre);
  if (!kind.ok()) return kind.status();
  absl::StatusOr<std::unique_ptr<Pretokenizer>> pretokenizer = Pretokenizer::Create(*kind);
  if (!pretokenizer.ok()) return pretokenizer.status();
  pretokenizer_ = std::move(*pretokenizer);

  if (vocab.tokens.empty()) {
    return absl::InvalidArgumentError("tokenizer.ggml.tokens is empty");
  }
  if (vocab.tokens.size() > static_cast<size_t>(INT32_MAX / 2)) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer.ggml.tokens has ", vocab.tokens.size(), " entries (too many)"));
  }
  n_vocab_ = static_cast<int>(vocab.tokens.size());
  const TokenId n = n_vocab_;
  if (vocab.types.empty()) {
    types_.assign(n, TokenType::kNormal);
  } else if (vocab.types.size() != vocab.tokens.size()) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer.ggml.token_type has ",
                                                   vocab.types.size(),
                                                   " entries but tokenizer.ggml.tokens has ", n));
  } else {
    types_ = std::move(vocab.types);
  }
  size_t pool_size = 0;
  for (const std::string& text : vocab.tokens) pool_size += text.size();
  if (pool_size > UINT32_MAX) {
    return absl::InvalidArgumentError("tokenizer.ggml.tokens texts exceed 4 GiB");
  }
  text_pool_.reserve(pool_size);
  text_offsets_.reserve(n + 1);
  for (const std::string& text : vocab.tokens) {
    text_offsets_.push_back(static_cast<uint32_t>(text_pool_.size()));
    text_pool_.append(text);
  }
  text_offsets_.push_back(static_cast<uint32_t>(text_pool_.size()));
  vocab.tokens = {};
  for (auto [name, id] : {std::pair{"bos", vocab.bos_id}, std::pair{"eos", vocab.eos_id},
                          std::pair{"eot", vocab.eot_id}, std::pair{"eom", vocab.eom_id},
                          std::pair{"padding", vocab.padding_id}}) {
    if (id < -1 || id >= n) {
      return absl::InvalidArgumentError(absl::StrCat("tokenizer.ggml.", name, "_token_id = ", id,
                                                     " is outside the vocabulary (", n,
                                                     " tokens)"));
    }
  }
  bos_id_ = vocab.bos_id;
  eos_id_ = vocab.eos_id;
  padding_id_ = vocab.padding_id;
  const bool llama3 = *kind == PretokenizerKind::kLlama3;
  add_bos_ = vocab.add_bos.value_or(llama3) && bos_id_ >= 0;
  add_eos_ = vocab.add_eos && eos_id_ >= 0;
  ignore_merges_ = llama3;

  // Later duplicates win, as in llama.cpp's token_to_id map.
  token_ids_.reserve(n);
  for (TokenId id = 0; id < n; ++id) {
    if (id + 16 < n) token_ids_.prefetch(Text(id + 16));
    token_ids_.insert_or_assign(Text(id), id);
  }
  const bool unique_texts = token_ids_.size() == static_cast<size_t>(n);
  // Some files mark end-of-turn and FIM markers user-defined; llama.cpp treats them as
  // control tokens (hidden in output, matched only with parse_special), and so do we.
  for (std::string_view text : kControlTexts) {
    auto it = token_ids_.find(text);
    if (it != token_ids_.end() && types_[it->second] != TokenType::kNormal) {
      types_[it->second] = TokenType::kControl;
    }
  }

  const ByteLevelMap& bytes = ByteLevelMap::Get();
  for (int b = 0; b < 256; ++b) byte_symbols_[b] = SymbolFor(bytes.Utf8Of(static_cast<uint8_t>(b)));

  // The build is dominated by cache misses in the two hash maps, so lookups are software-
  // pipelined: a merge's parts are prefetched kAhead lines early, their ids looked up and
  // the pair's merge slot prefetched kAhead/2 lines early.
  constexpr size_t kAhead = 16;
  const std::vector<std::string>& lines = vocab.merges;
  auto split = [&](size_t rank, std::string_view* left, std::string_view* right) {
    const std::string& line = lines[rank];
    // Search from 1: a merge's left part is never empty, so a leading space is text.
    const size_t space = line.find(' ', 1);
    if (space == std::string::npos || space + 1 >= line.size()) return false;
    *left = std::string_view(line.data(), space);
    *right = std::string_view(line.data() + space + 1, line.size() - space - 1);
    return true;
  };
  struct PendingPair {
    int32_t left = -1;
    int32_t right = -1;
  };
  std::array<PendingPair, kAhead> pending;
  auto resolve = [&](size_t rank) {
    std::string_view left, right;
    PendingPair& slot = pending[rank % kAhead];
    slot = {};
    if (!split(rank, &left, &right)) return;
    slot = {SymbolFor(left), SymbolFor(right)};
    merges_.prefetch(PairKey(slot.left, slot.right));
  };
  merges_.reserve(lines.size());
  for (size_t rank = 0; rank < std::min(lines.size(), kAhead / 2); ++rank) resolve(rank);
  std::string joined;
  for (size_t rank = 0; rank < lines.size(); ++rank) {
    std::string_view left, right;
    if (rank + kAhead < lines.size() && split(rank + kAhead, &left, &right)) {
      token_ids_.prefetch(left);
      token_ids_.prefetch(right);
    }
    if (rank + kAhead / 2 < lines.size()) resolve(rank + kAhead / 2);
    if (!split(rank, &left, &right)) {
      return absl::InvalidArgumentError(absl::StrCat("tokenizer.ggml.merges[", rank, "] = \"",
                                                     lines[rank],
                                                     "\" is not two space-separated parts"));
    }
    const PendingPair ids = pending[rank % kAhead];
    // Vocabularies converted from Hugging Face list merge results in rank order after the
    // 256 byte tokens; checking that guess first saves a third of the build's lookups.
    const int64_t guess = 256 + static_cast<int64_t>(rank);
    int32_t result;
    if (unique_texts && guess < n &&
        Text(static_cast<TokenId>(guess)).size() == left.size() + right.size() &&
        Text(static_cast<TokenId>(guess)).starts_with(left) &&
        Text(static_cast<TokenId>(guess)).ends_with(right)) {
      result = static_cast<int32_t>(guess);
    } else {
      joined.assign(left);
      joined.append(right);
      result = SymbolFor(joined);
    }
    merges_.try_emplace(PairKey(ids.left, ids.right), Merge{static_cast<int32_t>(rank), result});
  }

  // Decoded pieces once, so detokenizing is a lookup and a copy.
  piece_offsets_.reserve(n + 1);
  pieces_.reserve(text_pool_.size());
  for (TokenId id = 0; id < n; ++id) {
    piece_offsets_.push_back(static_cast<uint32_t>(pieces_.size()));
    switch (types_[id]) {
      case TokenType::kNormal:
      case TokenType::kUndefined:
        bytes.Decode(Text(id), &pieces_);
        break;
      case TokenType::kUserDefined:
        pieces_.append(Text(id));
        break;
      default:  // control and unknown render only on request; unused and byte never
        break;
    }
  }
  piece_offsets_.push_back(static_cast<uint32_t>(pieces_.size()));

  for (TokenId id = 0; id < n; ++id) {
    const TokenType type = types_[id];
    if ((type == TokenType::kControl || type == TokenType::kUserDefined ||
         type == TokenType::kUnknown) &&
        !Text(id).empty()) {
      special_tokens_.push_back(id);
    }
  }
  std::stable_sort(special_tokens_.begin(), special_tokens_.end(),
                   [&](TokenId a, TokenId b) { return Text(a).size() > Text(b).size(); });

  for (TokenId id : {eos_id_, vocab.eot_id, vocab.eom_id}) {
    if (id >= 0) eog_ids_.push_back(id);
  }
  for (std::string_view text : kEogTexts) {
    auto it = token_ids_.find(text);
    if (it != token_ids_.end() && types_[it->second] == TokenType::kControl) {
      eog_ids_.push_back(it->second);
    }
  }
  std::sort(eog_ids_.begin(), eog_ids_.end());
  eog_ids_.erase(std::unique(eog_ids_.begin(), eog_ids_.end()), eog_ids_.end());
  return absl::OkStatus();
}

bool BpeTokenizer::IsEog(TokenId id) const {
  return std::binary_search(eog_ids_.begin(), eog_ids_.end(), id);
}

std::string_view BpeTokenizer::TokenText(TokenId id) const {
  return IsValid(id) ? Text(id) : std::string_view();
}

TokenType BpeTokenizer::GetTokenType(TokenId id) const {
  return IsValid(id) ? types_[id] : TokenType::kUndefined;
}

std::optional<TokenId> BpeTokenizer::FindToken(std::string_view text) const {
  auto it = token_ids_.find(text);
  if (it == token_ids_.end()) return std::nullopt;
  return it->second;
}

std::string_view BpeTokenizer::TokenToPiece(TokenId id, bool special) const {
  if (!IsValid(id)) return {};
  if (special && (types_[id] == TokenType::kControl || types_[id] == TokenType::kUnknown)) {
    return Text(id);
  }
  return std::string_view(pieces_).substr(piece_offsets_[id],
                                          piece_offsets_[id + 1] - piece_offsets_[id]);
}

absl::StatusOr<std::string> BpeTokenizer::Detokenize(std::span<const TokenId> ids,
                                                     bool special) const {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!IsValid(ids[i])) {
      return absl::InvalidArgumentError(absl::StrCat("token id ", ids[i], " (position ", i,
                                                     ") is outside the vocabulary [0, ", n_vocab(),
                                                     ")"));
    }
    out.append(TokenToPiece(ids[i], special));
  }
  return out;
}

void BpeTokenizer::EmitSymbol(int32_t symbol, std::vector<TokenId>* out) const {
  if (symbol < n_vocab()) {
    out->push_back(symbol);
    return;
  }
  // A merge result the vocabulary lacks: fall back to the tokens of its characters.
  const std::string& text = extra_symbols_[symbol - n_vocab()];
  size_t i = 0;
  while (i < text.size()) {
    const int length = ScanUtf8(std::string_view(text).substr(i)).length;
    if (auto it = token_ids_.find(std::string_view(text).substr(i, length));
        it != token_ids_.end()) {
      out->push_back(it->second);
    }
    i += length;
  }
}

void BpeTokenizer::TokenizeWord(std::string_view word, std::vector<TokenId>* out) const {
  if (word.size() == 1) {
    EmitSymbol(byte_symbols_[static_cast<uint8_t>(word[0])], out);
    return;
  }
  if (ignore_merges_) {
    std::string encoded;
    ByteLevelMap::Get().Encode(word, &encoded);
    if (auto it = token_ids_.find(encoded); it != token_ids_.end()) {
      out->push_back(it->second);
      return;
    }
  }
  // Scratch space reused across words and calls on this thread: words are merged millions
  // of times per long prompt, and allocation would dominate.
  thread_local std::vector<Symbol> symbols;
  thread_local std::vector<Candidate> heap;
  symbols.clear();
  heap.clear();
  const auto n = static_cast<int32_t>(word.size());
  for (int32_t i = 0; i < n; ++i) {
    symbols.push_back(
        {byte_symbols_[static_cast<uint8_t>(word[i])], i - 1, i + 1 < n ? i + 1 : -1});
  }
  auto try_add = [&](int32_t left) {
    const int32_t right = symbols[left].next;
    if (right < 0) return;
    auto it = merges_.find(PairKey(symbols[left].id, symbols[right].id));
    if (it == merges_.end()) return;
    heap.push_back({it->second.rank, left, symbols[left].id, symbols[right].id, it->second.result});
    std::push_heap(heap.begin(), heap.end(), LaterThan);
  };
  for (int32_t i = 0; i + 1 < n; ++i) try_add(i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), LaterThan);
    const Candidate c = heap.back();
    heap.pop_back();
    Symbol& left = symbols[c.left];
    if (left.id != c.left_id || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    if (right.id != c.right_id) continue;
    left.id = c.result;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = c.left;
    right.id = -1;
    if (left.prev >= 0) try_add(left.prev);
    try_add(c.left);
  }
  for (int32_t i = 0; i >= 0; i = symbols[i].next) EmitSymbol(symbols[i].id, out);
}

void BpeTokenizer::TokenizeText(std::string_view text, std::vector<TokenId>* out) const {
  thread_local std::vector<std::string_view> words;
  words.clear();
  pretokenizer_->Split(text, &words);
  for (std::string_view word : words) TokenizeWord(word, out);
}

std::vector<TokenId> BpeTokenizer::Tokenize(std::string_view text, bool add_special,
                                            bool parse_special) const {
  const std::string clean = SanitizeUtf8(text);
  std::vector<Fragment> fragments = {{-1, 0, clean.size()}};
  std::vector<Fragment> next;
  // Longest special token first, over every raw fragment, as llama.cpp partitions.
  for (TokenId special : special_tokens_) {
    const TokenType type = types_[special];
    if (!parse_special && (type == TokenType::kControl || type == TokenType::kUnknown)) continue;
    const std::string_view needle = Text(special);
    next.clear();
    for (const Fragment& fragment : fragments) {
      if (fragment.token >= 0) {
        next.push_back(fragment);
        continue;
      }
      const std::string_view raw = std::string_view(clean).substr(fragment.offset, fragment.length);
      size_t from = 0;
      for (size_t hit = raw.find(needle); hit != std::string_view::npos;
           hit = raw.find(needle, from)) {
        if (hit > from) next.push_back({-1, fragment.offset + from, hit - from});
        next.push_back({special, 0, 0});
        from = hit + needle.size();
      }
      if (from < raw.size()) next.push_back({-1, fragment.offset + from, raw.size() - from});
    }
    fragments.swap(next);
  }

  std::vector<TokenId> out;
  out.reserve(clean.size() / 3 + 2);
  if (add_special && add_bos_) out.push_back(bos_id_);
  for (const Fragment& fragment : fragments) {
    if (fragment.token >= 0) {
      out.push_back(fragment.token);
    } else {
      TokenizeText(std::string_view(clean).substr(fragment.offset, fragment.length), &out);
    }
  }
  if (add_special && add_eos_) out.push_back(eos_id_);
  return out;
}

}  // namespace zen::node
