// Loading a GGUF for the CLI's local (no daemon) commands.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "absl/status/statusor.h"
#include "node/gguf.h"
#include "node/layer_range.h"
#include "node/model_config.h"

namespace zen::cli {

// A whole model on this machine: the mapped file and a LayerRange over every layer.
struct LocalModel {
  std::unique_ptr<node::GgufFile> file;
  node::ModelConfig config;
  std::unique_ptr<node::LayerRange> engine;
};

// Common options of the local commands.
struct LocalModelFlags {
  std::string path;
  std::string host;  // a zend address: run through the cluster instead of a local file
  int threads = 2;
  int64_t context = 0;  // 0: the model's own (capped to keep the default KV small)
  std::string kv_type = "f16";
  float yarn_factor = 0;  // > 1 enables YaRN
  int yarn_orig_ctx = 0;
  int64_t max_batch = 512;
};

// Adds --model or --host, --threads, --ctx, --kv-type, --rope-scale/--yarn-orig-ctx.
void AddLocalModelOptions(CLI::App* cmd, LocalModelFlags& flags);

// Opens the file and builds the engine, with messages fit for the terminal.
absl::StatusOr<LocalModel> LoadLocalModel(const LocalModelFlags& flags);

}  // namespace zen::cli
