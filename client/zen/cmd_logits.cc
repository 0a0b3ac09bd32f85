// `zen logits`: writes the logits of every prompt position as float32 rows.
#include <cstdio>
#include <fstream>
#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "client/lib/zen_client.h"
#include "client/zen/command_registry.h"
#include "client/zen/local_model.h"
#include "node/logits_eval.h"

namespace zen::cli {
namespace {

struct LogitsFlags {
  LocalModelFlags model;
  std::string tokens;
  std::string out;
  int64_t chunk = 0;
};

int RunLogits(LogitsFlags& f) {
  std::vector<int32_t> tokens;
  for (absl::string_view part : absl::StrSplit(f.tokens, ',', absl::SkipWhitespace())) {
    int32_t id = 0;
    if (!absl::SimpleAtoi(part, &id)) {
      std::cerr << "zen logits: --tokens: '" << std::string(part) << "' is not a token id\n";
      return 2;
    }
    tokens.push_back(id);
  }
  if (tokens.empty()) {
    std::cerr << "zen logits: --tokens is empty\n";
    return 2;
  }
  absl::StatusOr<std::vector<float>> logits;
  int64_t n_vocab = 0;
  if (!f.model.host.empty()) {
    // Over the pipeline the last node returns logits instead of sampling.
    int remote_vocab = 0;
    logits = client::Client(f.model.host).Logits(tokens, static_cast<int>(f.chunk), &remote_vocab);
    n_vocab = remote_vocab;
  } else {
    f.model.max_batch = std::max<int64_t>(f.chunk > 0 ? f.chunk : tokens.size(), 1);
    f.model.context = std::max<int64_t>(f.model.context, static_cast<int64_t>(tokens.size()));
    absl::StatusOr<LocalModel> m = LoadLocalModel(f.model);
    if (!m.ok()) {
      std::cerr << "zen logits: " << m.status().message() << "\n";
      return 2;
    }
    n_vocab = m->config.n_vocab;
    logits = node::ComputeAllLogits(*m->engine, tokens, f.chunk);
  }
  if (!logits.ok()) {
    std::cerr << "zen logits: " << logits.status().message() << "\n";
    return 1;
  }
  std::ofstream out(f.out, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(logits->data()),
            static_cast<std::streamsize>(logits->size() * sizeof(float)));
  if (!out) {
    std::cerr << "zen logits: cannot write " << f.out << "\n";
    return 1;
  }
  std::cerr << "zen logits: wrote " << tokens.size() << " x " << n_vocab << " float32 logits to "
            << f.out << "\n";
  return 0;
}

void Setup(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<LogitsFlags>();
  CLI::App* cmd = app.add_subcommand(
      "logits", "Write float32 logits [n_tokens][n_vocab] for every prompt position");
  AddLocalModelOptions(cmd, flags->model);
  cmd->add_option("--tokens", flags->tokens, "Comma-separated token ids")->required();
  cmd->add_option("--out,-o", flags->out, "Output file")->required();
  cmd->add_option("--chunk", flags->chunk, "Tokens per forward call (default: all; 1 = decode)");
  cmd->callback([flags, exit_code] { *exit_code = RunLogits(*flags); });
}

ZEN_REGISTER_COMMAND("40-logits", Setup);

}  // namespace
}  // namespace zen::cli
