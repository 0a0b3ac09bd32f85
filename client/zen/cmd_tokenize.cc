// `zen tokenize --model FILE TEXT` and `zen detokenize --model FILE IDS...`: the model's own
// tokenizer, read from the GGUF metadata, with no weights loaded.
#include <charconv>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "client/zen/command_registry.h"
#include "node/bpe_tokenizer.h"
#include "node/gguf.h"

namespace zen::cli {
namespace {

struct TokenizeFlags {
  std::string model;
  std::string text;
  bool no_special = false;
  bool add_special = false;
};

struct DetokenizeFlags {
  std::string model;
  std::vector<std::string> ids;
  bool no_special = false;
};

// Opens the file and builds its tokenizer, or prints why not.
std::unique_ptr<node::BpeTokenizer> LoadTokenizer(const std::string& command,
                                                  const std::string& path) {
  auto file = node::GgufFile::Open(path);
  if (!file.ok()) {
    std::cerr << "zen " << command << ": " << file.status().message() << "\n";
    return nullptr;
  }
  auto tokenizer = node::BpeTokenizer::FromGguf(**file);
  if (!tokenizer.ok()) {
    std::cerr << "zen " << command << ": " << tokenizer.status().message() << "\n";
    return nullptr;
  }
  return std::move(*tokenizer);
}

int RunTokenize(const TokenizeFlags& flags) {
  std::unique_ptr<node::BpeTokenizer> tokenizer = LoadTokenizer("tokenize", flags.model);
  if (tokenizer == nullptr) return 2;
  std::string text = flags.text;
  if (text == "-") text.assign(std::istreambuf_iterator<char>(std::cin), {});
  const std::vector<node::TokenId> ids =
      tokenizer->Tokenize(text, flags.add_special, /*parse_special=*/!flags.no_special);
  std::string line;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) line += ' ';
    line += std::to_string(ids[i]);
  }
  std::cout << line << "\n";
  return 0;
}

// Ids may be given as separate arguments, comma-separated, or both ("1,2 3").
bool ParseIds(const std::vector<std::string>& args, std::vector<node::TokenId>* ids) {
  for (const std::string& arg : args) {
    size_t pos = 0;
    while (pos < arg.size()) {
      const size_t end = std::min(arg.find_first_of(", ", pos), arg.size());
      if (end > pos) {
        node::TokenId id = 0;
        const auto [ptr, ec] = std::from_chars(arg.data() + pos, arg.data() + end, id);
        if (ec != std::errc() || ptr != arg.data() + end) {
          std::cerr << "zen detokenize: \"" << arg.substr(pos, end - pos)
                    << "\" is not a token id (expected a non-negative integer)\n";
          return false;
        }
        ids->push_back(id);
      }
      pos = end + 1;
    }
  }
  return true;
}

int RunDetokenize(const DetokenizeFlags& flags) {
  std::vector<node::TokenId> ids;
  if (!ParseIds(flags.ids, &ids)) return 2;
  std::unique_ptr<node::BpeTokenizer> tokenizer = LoadTokenizer("detokenize", flags.model);
  if (tokenizer == nullptr) return 2;
  auto text = tokenizer->Detokenize(ids, /*special=*/!flags.no_special);
  if (!text.ok()) {
    std::cerr << "zen detokenize: " << text.status().message() << "\n";
    return 2;
  }
  std::cout << *text << "\n";
  return 0;
}

void SetupTokenize(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<TokenizeFlags>();
  CLI::App* cmd = app.add_subcommand(
      "tokenize", "Print the token ids of TEXT (space-separated) using a model's tokenizer");
  cmd->add_option("--model,-m", flags->model, "GGUF file whose tokenizer to use")->required();
  cmd->add_option("text", flags->text, "The text to tokenize (\"-\" reads standard input)")
      ->required();
  cmd->add_flag("--no-special", flags->no_special,
                "Treat control tokens written in the text (<|im_start|>) as plain text");
  cmd->add_flag("--add-special", flags->add_special,
                "Add BOS/EOS where the model asks for them (Llama 3 adds BOS; Qwen adds none)");
  cmd->callback([flags, exit_code] { *exit_code = RunTokenize(*flags); });
}

void SetupDetokenize(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<DetokenizeFlags>();
  CLI::App* cmd =
      app.add_subcommand("detokenize", "Print the text of token IDS using a model's tokenizer");
  cmd->add_option("--model,-m", flags->model, "GGUF file whose tokenizer to use")->required();
  cmd->add_option("ids", flags->ids, "Token ids, as separate arguments or comma-separated")
      ->required();
  cmd->add_flag("--no-special", flags->no_special,
                "Hide control tokens (<|im_start|>, <|im_end|>) instead of printing their text");
  cmd->callback([flags, exit_code] { *exit_code = RunDetokenize(*flags); });
}

}  // namespace

ZEN_REGISTER_COMMAND("20-tokenize", SetupTokenize);
ZEN_REGISTER_COMMAND("21-detokenize", SetupDetokenize);

}  // namespace zen::cli
