// Reading a BpeVocab from GGUF metadata (tokenizer.ggml.*), kept apart from the tokenizer
// itself so the tokenizer core builds and tests without the GGUF reader.
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "node/bpe_tokenizer.h"
#include "node/gguf.h"

namespace zen::node {
namespace {

// Debian's abseil has its own string_view type; StrCat needs it spelled out.
absl::string_view Sv(std::string_view s) {
  return {s.data(), s.size()};
}

// The id stored under `key`, -1 when absent; an error when present but not an id.
absl::StatusOr<TokenId> OptionalId(const GgufFile& file, std::string_view key) {
  if (file.Find(key) == nullptr) return -1;
  absl::StatusOr<uint64_t> id = file.GetUint(key);
  if (!id.ok()) return id.status();
  if (*id > static_cast<uint64_t>(INT32_MAX)) {
    return absl::InvalidArgumentError(absl::StrCat(Sv(key), " = ", *id, " is not a token id"));
  }
  return static_cast<TokenId>(*id);
}

absl::StatusOr<const std::vector<std::string>*> RequiredStringArray(const GgufFile& file,
                                                                    std::string_view key) {
  if (const auto* values = file.FindStringArray(key); values != nullptr) return values;
  if (file.Find(key) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(file.path(), ": missing ", Sv(key), "; this GGUF has no BPE tokenizer"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(file.path(), ": ", Sv(key), " is not an array of strings"));
}

}  // namespace

absl::StatusOr<BpeVocab> BpeTokenizer::ReadVocab(const GgufFile& file) {
  BpeVocab vocab;
  if (file.Find("tokenizer.ggml.model") == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(file.path(), ": no tokenizer.ggml.model key; this GGUF carries no tokenizer"));
  }
  absl::StatusOr<std::string> model = file.GetString("tokenizer.ggml.model");
  if (!model.ok()) return model.status();
  if (*model != "gpt2") {
    return absl::UnimplementedError(absl::StrCat(
        file.path(), ": tokenizer.ggml.model = \"", *model,
        "\" is not supported; only byte-level BPE (\"gpt2\", as Qwen and Llama 3 use) is"));
  }
  if (file.Find("tokenizer.ggml.pre") != nullptr) {
    absl::StatusOr<std::string> pre = file.GetString("tokenizer.ggml.pre");
    if (!pre.ok()) return pre.status();
    vocab.pre = *pre;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(file.path(),
                     ": missing tokenizer.ggml.pre; cannot tell which pre-tokenizer regex the "
                     "vocabulary needs"));
  }

  absl::StatusOr<const std::vector<std::string>*> tokens =
      RequiredStringArray(file, "tokenizer.ggml.tokens");
  if (!tokens.ok()) return tokens.status();
  vocab.tokens = **tokens;
  absl::StatusOr<const std::vector<std::string>*> merges =
      RequiredStringArray(file, "tokenizer.ggml.merges");
  if (!merges.ok()) return merges.status();
  vocab.merges = **merges;

  if (file.Find("tokenizer.ggml.token_type") != nullptr) {
    absl::StatusOr<std::vector<int64_t>> types = file.GetIntArray("tokenizer.ggml.token_type");
    if (!types.ok()) return types.status();
    vocab.types.reserve(types->size());
    for (size_t i = 0; i < types->size(); ++i) {
      const int64_t type = (*types)[i];
      if (type < 0 || type > static_cast<int64_t>(TokenType::kByte)) {
        return absl::InvalidArgumentError(absl::StrCat(file.path(), ": tokenizer.ggml.token_type[",
                                                       i, "] = ", type, " is not a token type"));
      }
      vocab.types.push_back(static_cast<TokenType>(type));
    }
  }

  struct IdKey {
    const char* key;
    TokenId* id;
  };
  for (const IdKey& entry : {IdKey{"tokenizer.ggml.bos_token_id", &vocab.bos_id},
                             IdKey{"tokenizer.ggml.eos_token_id", &vocab.eos_id},
                             IdKey{"tokenizer.ggml.eot_token_id", &vocab.eot_id},
                             IdKey{"tokenizer.ggml.eom_token_id", &vocab.eom_id},
                             IdKey{"tokenizer.ggml.padding_token_id", &vocab.padding_id}}) {
    absl::StatusOr<TokenId> id = OptionalId(file, entry.key);
    if (!id.ok()) return id.status();
    *entry.id = *id;
  }
  if (file.Find("tokenizer.ggml.add_bos_token") != nullptr) {
    absl::StatusOr<bool> add_bos = file.GetBool("tokenizer.ggml.add_bos_token");
    if (!add_bos.ok()) return add_bos.status();
    vocab.add_bos = *add_bos;
  }
  if (file.Find("tokenizer.ggml.add_eos_token") != nullptr) {
    absl::StatusOr<bool> add_eos = file.GetBool("tokenizer.ggml.add_eos_token");
    if (!add_eos.ok()) return add_eos.status();
    vocab.add_eos = *add_eos;
  }
  return vocab;
}

absl::StatusOr<std::unique_ptr<BpeTokenizer>> BpeTokenizer::FromGguf(const GgufFile& file) {
  absl::StatusOr<BpeVocab> vocab = ReadVocab(file);
  if (!vocab.ok()) return vocab.status();
  absl::StatusOr<std::unique_ptr<BpeTokenizer>> tokenizer = Create(std::move(*vocab));
  if (!tokenizer.ok()) {
    return absl::Status(tokenizer.status().code(),
                        absl::StrCat(file.path(), ": ", tokenizer.status().message()));
  }
  return tokenizer;
}

}  // namespace zen::node
