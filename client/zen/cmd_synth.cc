// `zen synth`: writes a random-weight GGUF of a real model shape.
#include <iostream>

#include "absl/strings/str_join.h"
#include "client/zen/command_registry.h"
#include "node/gguf.h"
#include "node/synthetic_model.h"

namespace zen::cli {
namespace {

struct SynthFlags {
  std::string like = "qwen3-4b";
  std::string type = "q4_k_m";
  std::string vocab;
  std::string out;
  uint64_t seed = 1;
  int layers = 0;
  bool untied = false;
  std::string arch;
};

int RunSynth(const SynthFlags& f) {
  absl::StatusOr<node::SynthSpec> spec = node::SynthPreset(f.like);
  if (!spec.ok()) {
    std::cerr << "zen synth: " << spec.status().message() << "\n";
    return 2;
  }
  spec->type = f.type;
  spec->seed = f.seed;
  if (f.layers > 0) spec->n_layers = f.layers;
  if (f.untied) spec->tied_output = false;
  if (!f.arch.empty()) spec->arch = f.arch;
  std::unique_ptr<node::GgufFile> vocab;
  if (!f.vocab.empty()) {
    absl::StatusOr<std::unique_ptr<node::GgufFile>> v = node::GgufFile::Open(f.vocab);
    if (!v.ok()) {
      std::cerr << "zen synth: " << v.status().message() << "\n";
      return 2;
    }
    vocab = std::move(*v);
  }
  absl::Status s = node::WriteSyntheticModel(*spec, vocab.get(), f.out);
  if (!s.ok()) {
    std::cerr << "zen synth: " << s.message() << "\n";
    return 2;
  }
  std::cerr << "zen synth: wrote " << f.out << " (" << f.like << ", " << f.type
            << ", random weights)\n";
  return 0;
}

void Setup(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<SynthFlags>();
  CLI::App* cmd = app.add_subcommand(
      "synth", "Write a GGUF with a real model's shapes and seeded random weights");
  cmd->add_option("--like", flags->like, "Shape: qwen3-0.6b, qwen3-1.7b, qwen3-4b, qwen3-8b, tiny")
      ->capture_default_str();
  cmd->add_option("--type", flags->type,
                  "Weight types: " + absl::StrJoin(node::SynthTypeNames(), ", "))
      ->capture_default_str();
  cmd->add_option("--vocab", flags->vocab, "GGUF whose tokenizer.* metadata to copy");
  cmd->add_option("--out", flags->out, "Output GGUF path")->required();
  cmd->add_option("--seed", flags->seed, "Random seed")->capture_default_str();
  cmd->add_option("--layers", flags->layers, "Override the number of layers");
  cmd->add_flag("--untied", flags->untied, "Write a separate output.weight");
  cmd->add_option("--arch", flags->arch, "Architecture: qwen3 (default) or llama");
  cmd->callback([flags, exit_code] { *exit_code = RunSynth(*flags); });
}

ZEN_REGISTER_COMMAND("60-synth", Setup);

}  // namespace
}  // namespace zen::cli
