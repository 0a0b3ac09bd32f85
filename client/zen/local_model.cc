#include "client/zen/local_model.h"

#include <algorithm>

#include <CLI/CLI.hpp>

#include "absl/strings/str_cat.h"

namespace zen::cli {

void AddLocalModelOptions(CLI::App* cmd, LocalModelFlags& flags) {
  CLI::Option* model = cmd->add_option("--model,-m", flags.path, "GGUF model file");
  CLI::Option* host = cmd->add_option(
      "--host", flags.host,
      "A zend's client API (ADDR:PORT, its --api; default port 7071): use the cluster "
      "instead; $ZEN_API_KEY is sent when set");
  model->excludes(host);
  cmd->add_option("--threads,-t", flags.threads, "Compute threads")->capture_default_str();
  cmd->add_option("--ctx,-c", flags.context, "Context length (default: the model's, at most 8192)");
  cmd->add_option("--kv-type", flags.kv_type, "KV-cache type: f16, bf16 or q8_0")
      ->capture_default_str();
  cmd->add_option("--rope-scale", flags.yarn_factor, "YaRN context scaling factor (e.g. 4)");
  cmd->add_option("--yarn-orig-ctx", flags.yarn_orig_ctx,
                  "YaRN original context (default: the model's)");
}

absl::StatusOr<LocalModel> LoadLocalModel(const LocalModelFlags& flags) {
  if (flags.path.empty()) return absl::InvalidArgumentError("give --model FILE or --host ADDR");
  LocalModel m;
  absl::StatusOr<std::unique_ptr<node::GgufFile>> file = node::GgufFile::Open(flags.path);
  if (!file.ok()) return file.status();
  m.file = std::move(*file);
  absl::StatusOr<node::ModelConfig> config = node::ReadModelConfig(*m.file);
  if (!config.ok()) return config.status();
  m.config = *config;
  if (flags.yarn_factor > 1.0f) {
    node::EnableYarn(m.config, flags.yarn_factor,
                     flags.yarn_orig_ctx > 0 ? flags.yarn_orig_ctx : m.config.n_ctx_train);
  }
  const kernels::TypeTraits* kv = kernels::FindTypeTraitsByName(flags.kv_type);
  if (kv == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("unknown --kv-type '", flags.kv_type, "'"));
  }
  node::LayerRangeOptions options;
  options.n_threads = std::max(1, flags.threads);
  options.kv_type = kv->type;
  options.max_context = flags.context > 0 ? std::min<int64_t>(flags.context, m.config.n_ctx_train)
                                          : std::min<int64_t>(8192, m.config.n_ctx_train);
  options.max_batch_rows = flags.max_batch;
  absl::StatusOr<std::unique_ptr<node::LayerRange>> engine =
      node::LayerRange::Create(*m.file, m.config, options);
  if (!engine.ok()) return engine.status();
  m.engine = std::move(*engine);
  return m;
}

}  // namespace zen::cli
