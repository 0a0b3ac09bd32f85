// `zen gguf info FILE [--json]`: what a GGUF model file holds, read straight from its
// metadata and tensor table (no model is built, so it works on any valid GGUF).
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "client/zen/command_registry.h"
#include "node/gguf.h"

namespace zen::cli {
namespace {

using nlohmann::json;

// The value of an integer key, or null when absent or not an integer.
json IntOrNull(const node::GgufFile& f, const std::string& key) {
  auto v = f.GetUint(key);
  return v.ok() ? json(*v) : json(nullptr);
}

json FloatOrNull(const node::GgufFile& f, const std::string& key) {
  auto v = f.GetFloat(key);
  return v.ok() ? json(*v) : json(nullptr);
}

// Layer index of a "blk.N.*" tensor name, or -1.
int LayerOf(const std::string& name) {
  if (!name.starts_with("blk.")) return -1;
  size_t i = 4;
  int layer = 0;
  while (i < name.size() && i < 13 && name[i] >= '0' && name[i] <= '9') {
    layer = layer * 10 + (name[i++] - '0');
  }
  return (i > 4 && i < name.size() && name[i] == '.') ? layer : -1;
}

// Everything `zen gguf info` reports, as JSON; the text form is printed from this.
json Summarize(const node::GgufFile& f) {
  json out;
  out["file"] = f.path();
  out["version"] = f.version();
  auto arch_or = f.GetString("general.architecture");
  const std::string arch = arch_or.ok() ? *arch_or : "";
  out["architecture"] = arch_or.ok() ? json(arch) : json(nullptr);
  const std::string p = arch + ".";

  json hp;
  hp["n_layers"] = IntOrNull(f, p + "block_count");
  hp["n_embd"] = IntOrNull(f, p + "embedding_length");
  hp["n_head"] = IntOrNull(f, p + "attention.head_count");
  // llama.cpp's defaults when the keys are absent: as many KV heads as heads, and
  // head_dim = n_embd / n_head.
  hp["n_head_kv"] = IntOrNull(f, p + "attention.head_count_kv");
  if (hp["n_head_kv"].is_null()) hp["n_head_kv"] = hp["n_head"];
  hp["head_dim"] = IntOrNull(f, p + "attention.key_length");
  if (hp["head_dim"].is_null() && hp["n_embd"].is_number() && hp["n_head"].is_number() &&
      hp["n_head"].get<uint64_t>() > 0) {
    hp["head_dim"] = hp["n_embd"].get<uint64_t>() / hp["n_head"].get<uint64_t>();
  }
  hp["n_ff"] = IntOrNull(f, p + "feed_forward_length");
  hp["n_ctx_train"] = IntOrNull(f, p + "context_length");
  hp["rope_theta"] = FloatOrNull(f, p + "rope.freq_base");
  hp["rms_eps"] = FloatOrNull(f, p + "attention.layer_norm_rms_epsilon");
  json n_vocab = nullptr;
  if (const auto* tokens = f.FindStringArray("tokenizer.ggml.tokens")) {
    n_vocab = tokens->size();
  } else if (const auto* embd = f.FindTensor("token_embd.weight"); embd && embd->dims.size() >= 2) {
    n_vocab = embd->dims[1];
  }
  hp["n_vocab"] = n_vocab;
  out["hyperparameters"] = hp;

  std::map<std::string, std::pair<uint64_t, uint64_t>> by_type;  // name -> (count, bytes)
  uint64_t total = 0, layer_total = 0;
  std::set<int> layers;
  json non_layer = json::array();
  for (const node::GgufTensorInfo& t : f.tensors()) {
    const std::string type(kernels::GetTypeTraits(t.type).name);
    by_type[type].first += 1;
    by_type[type].second += t.n_bytes;
    total += t.n_bytes;
    if (const int layer = LayerOf(t.name); layer >= 0) {
      layers.insert(layer);
      layer_total += t.n_bytes;
    } else {
      non_layer.push_back({{"name", t.name}, {"type", type}, {"bytes", t.n_bytes}});
    }
  }
  json types = json::object();
  for (const auto& [name, cb] : by_type) types[name] = {{"count", cb.first}, {"bytes", cb.second}};
  out["n_tensors"] = f.tensors().size();
  out["tensor_types"] = types;
  out["total_tensor_bytes"] = total;
  out["n_layers_with_tensors"] = layers.size();
  out["bytes_per_layer"] = layers.empty() ? 0 : layer_total / layers.size();
  out["non_layer_tensors"] = non_layer;
  out["non_layer_bytes"] = total - layer_total;
  out["n_metadata_keys"] = f.keys().size();
  return out;
}

std::string Show(const json& v) {
  if (v.is_null()) return "-";
  if (v.is_number_float()) return fmt::format("{:.7g}", v.get<double>());
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

std::string HumanBytes(uint64_t n) {
  if (n >= (1ull << 30)) return fmt::format("{:.2f} GiB", n / double(1ull << 30));
  if (n >= (1ull << 20)) return fmt::format("{:.2f} MiB", n / double(1ull << 20));
  if (n >= (1ull << 10)) return fmt::format("{:.2f} KiB", n / double(1ull << 10));
  return fmt::format("{} B", n);
}

void PrintText(const json& s) {
  const json& hp = s["hyperparameters"];
  fmt::print("file:              {} (GGUF v{}, {} metadata keys)\n", Show(s["file"]),
             Show(s["version"]), Show(s["n_metadata_keys"]));
  fmt::print("architecture:      {}\n", Show(s["architecture"]));
  const std::pair<const char*, const char*> rows[] = {{"layers", "n_layers"},
                                                      {"hidden size", "n_embd"},
                                                      {"heads", "n_head"},
                                                      {"KV heads", "n_head_kv"},
                                                      {"head_dim", "head_dim"},
                                                      {"FFN size", "n_ff"},
                                                      {"context length", "n_ctx_train"},
                                                      {"RoPE theta", "rope_theta"},
                                                      {"RMS eps", "rms_eps"},
                                                      {"vocabulary size", "n_vocab"}};
  for (const auto& [label, key] : rows) {
    fmt::print("{:<19}{}\n", std::string(label) + ":", Show(hp[key]));
  }
  fmt::print("tensors:           {} ({} bytes, {})\n", Show(s["n_tensors"]),
             Show(s["total_tensor_bytes"]), HumanBytes(s["total_tensor_bytes"].get<uint64_t>()));
  fmt::print("  {:<8}{:>7}{:>16}\n", "type", "count", "bytes");
  for (const auto& [type, cb] : s["tensor_types"].items()) {
    fmt::print("  {:<8}{:>7}{:>16}\n", type, Show(cb["count"]), Show(cb["bytes"]));
  }
  const uint64_t per_layer = s["bytes_per_layer"].get<uint64_t>();
  fmt::print("bytes per layer:   {} ({}, average over {} layers)\n", per_layer,
             HumanBytes(per_layer), Show(s["n_layers_with_tensors"]));
  fmt::print("non-layer tensors: {} bytes ({})\n", Show(s["non_layer_bytes"]),
             HumanBytes(s["non_layer_bytes"].get<uint64_t>()));
  for (const json& t : s["non_layer_tensors"]) {
    fmt::print("  {:<24}{:<8}{:>16}\n", Show(t["name"]), Show(t["type"]), Show(t["bytes"]));
  }
}

struct InfoFlags {
  std::string file;
  bool json = false;
};

int RunInfo(const InfoFlags& flags) {
  auto file = node::GgufFile::Open(flags.file);
  if (!file.ok()) {
    std::cerr << "zen gguf info: " << file.status().message() << "\n";
    return 2;
  }
  const json summary = Summarize(**file);
  if (flags.json) {
    std::cout << summary.dump(2) << "\n";
  } else {
    PrintText(summary);
  }
  return 0;
}

void Setup(CLI::App& app, int* exit_code) {
  CLI::App* gguf = app.add_subcommand("gguf", "Inspect GGUF model files");
  gguf->require_subcommand(1);
  auto flags = std::make_shared<InfoFlags>();
  CLI::App* info = gguf->add_subcommand(
      "info", "Print a GGUF file's architecture, hyperparameters and tensor sizes");
  info->add_option("file", flags->file, "The .gguf file")->required();
  info->add_flag("--json", flags->json, "Print the same facts as JSON");
  info->callback([flags, exit_code] { *exit_code = RunInfo(*flags); });
}

}  // namespace

ZEN_REGISTER_COMMAND("10-gguf", Setup);

}  // namespace zen::cli
