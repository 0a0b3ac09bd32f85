// `zen run`: one prompt in, the streamed answer out, on this machine or on a cluster.
#include <cstdio>
#include <iostream>
#include <optional>

#include "client/lib/zen_client.h"
#include "client/zen/answer_printer.h"
#include "client/zen/command_registry.h"
#include "client/zen/local_model.h"
#include "node/bpe_tokenizer.h"
#include "node/chat_template.h"
#include "node/generator.h"

namespace zen::cli {
namespace {

struct RunFlags {
  LocalModelFlags model;
  std::string prompt;
  std::string system;
  bool chat = false;
  bool no_think = false;
  int max_tokens = 256;
  std::optional<float> temperature, top_p, min_p;
  std::optional<int> top_k;
  float presence_penalty = 0, frequency_penalty = 0, repetition_penalty = 1;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  bool verbose = false;
};

int RunLocal(RunFlags& f) {
  absl::StatusOr<LocalModel> m = LoadLocalModel(f.model);
  if (!m.ok()) {
    std::cerr << "zen run: " << m.status().message() << "\n";
    return 2;
  }
  absl::StatusOr<std::unique_ptr<node::BpeTokenizer>> tokenizer =
      node::BpeTokenizer::FromGguf(*m->file);
  if (!tokenizer.ok()) {
    std::cerr << "zen run: " << tokenizer.status().message() << "\n";
    return 2;
  }
  std::string text = f.prompt;
  if (f.chat) {
    absl::StatusOr<node::ChatTemplate> tmpl = node::ChatTemplate::FromGguf(*m->file);
    if (!tmpl.ok()) {
      std::cerr << "zen run: " << tmpl.status().message() << "\n";
      return 2;
    }
    if (!tmpl->warning().empty()) std::cerr << "zen run: " << tmpl->warning() << "\n";
    std::vector<node::ChatMessage> messages;
    auto message = [](std::string role, std::string content) {
      node::ChatMessage m;
      m.role = std::move(role);
      m.content = std::move(content);
      return m;
    };
    if (!f.system.empty()) messages.push_back(message("system", f.system));
    messages.push_back(message("user", f.prompt));
    node::ChatRenderOptions options;
    options.enable_thinking = !f.no_think;
    absl::StatusOr<std::string> rendered = tmpl->Render(messages, options);
    if (!rendered.ok()) {
      std::cerr << "zen run: " << rendered.status().message() << "\n";
      return 2;
    }
    text = *rendered;
  }
  const std::vector<node::TokenId> prompt =
      (*tokenizer)->Tokenize(text, /*add_special=*/!f.chat, /*parse_special=*/f.chat);
  if (prompt.empty()) {
    std::cerr << "zen run: the prompt is empty\n";
    return 2;
  }
  if (static_cast<int64_t>(prompt.size()) >= m->engine->max_context()) {
    std::cerr << "zen run: the prompt has " << prompt.size() << " tokens; the context holds "
              << m->engine->max_context() << " (see --ctx)\n";
    return 2;
  }

  node::GenerateOptions options;
  options.max_tokens = f.max_tokens;
  options.stop = f.stop;
  options.sampling =
      f.no_think ? node::SamplingParams::QwenNonThinking() : node::SamplingParams::QwenThinking();
  if (f.temperature) options.sampling.temperature = *f.temperature;
  if (f.top_k) options.sampling.top_k = *f.top_k;
  if (f.top_p) options.sampling.top_p = *f.top_p;
  if (f.min_p) options.sampling.min_p = *f.min_p;
  options.sampling.presence_penalty = f.presence_penalty;
  options.sampling.frequency_penalty = f.frequency_penalty;
  options.sampling.repetition_penalty = f.repetition_penalty;
  options.sampling.seed = f.seed;
  absl::StatusOr<node::GenerateResult> result =
      node::Generate(*m->engine, **tokenizer, prompt, options, [](std::string_view piece) {
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
        return true;
      });
  std::fputc('\n', stdout);
  if (!result.ok()) {
    std::cerr << "zen run: " << result.status().message() << "\n";
    return 1;
  }
  if (f.verbose) {
    std::fprintf(stderr,
                 "zen run: %d prompt tokens at %.1f tok/s, %d generated at %.1f tok/s (%s)\n",
                 result->prompt_tokens, result->prompt_tokens / result->prefill_seconds,
                 result->completion_tokens,
                 result->completion_tokens / std::max(1e-9, result->decode_seconds),
                 result->finish_reason.c_str());
  }
  return 0;
}

// The same generation through a cluster. With --chat it is a one-turn Chat call (system
// message included), printed as the local form prints it: thinking between <think> tags.
int RunRemote(const RunFlags& f) {
  client::Client cluster(f.model.host);
  const node::SamplingParams preset =
      f.no_think ? node::SamplingParams::QwenNonThinking() : node::SamplingParams::QwenThinking();
  client::Sampling s;
  s.temperature = f.temperature.value_or(preset.temperature);
  s.top_k = f.top_k.value_or(preset.top_k);
  s.top_p = f.top_p.value_or(preset.top_p);
  s.min_p = f.min_p.value_or(preset.min_p);
  s.presence_penalty = f.presence_penalty;
  s.frequency_penalty = f.frequency_penalty;
  s.repetition_penalty = f.repetition_penalty;
  s.seed = f.seed.value_or(0);
  auto print = [](std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  };
  int prompt_tokens = 0, completion_tokens = 0;
  std::string finish;
  absl::Status status;
  if (f.chat) {
    client::ChatOptions o;
    if (!f.system.empty()) o.messages.push_back(client::TextMessage("system", f.system));
    o.messages.push_back(client::TextMessage("user", f.prompt));
    o.enable_thinking = !f.no_think;
    o.max_tokens = f.max_tokens;
    o.sampling = s;
    o.stop = f.stop;
    AnswerPrinter printer(/*show_thinking=*/true, /*terminal=*/false);
    auto result = cluster.Chat(o, [&](const client::ChatDelta& delta) {
      printer.Print(delta);
      return true;
    });
    printer.Finish();
    status = result.status();
    if (result.ok()) {
      prompt_tokens = result->prompt_tokens;
      completion_tokens = result->completion_tokens;
      finish = result->finish_reason;
    }
  } else {
    if (!f.system.empty()) {
      std::cerr << "zen run: --system needs --chat\n";
      return 2;
    }
    client::GenerateOptions o;
    o.prompt = f.prompt;
    o.max_tokens = f.max_tokens;
    o.sampling = s;
    o.stop = f.stop;
    auto result =
        cluster.Generate(o, [&](std::string_view text, std::span<const int32_t>) { print(text); });
    status = result.status();
    if (result.ok()) {
      prompt_tokens = result->prompt_tokens;
      completion_tokens = result->completion_tokens;
      finish = result->finish_reason;
    }
  }
  std::fputc('\n', stdout);
  if (!status.ok()) {
    std::cerr << "zen run: " << status.message() << "\n";
    return 1;
  }
  if (f.verbose) {
    std::fprintf(stderr, "zen run: %d prompt tokens, %d generated (%s)\n", prompt_tokens,
                 completion_tokens, finish.c_str());
  }
  return 0;
}

void Setup(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<RunFlags>();
  CLI::App* cmd = app.add_subcommand("run", "Generate an answer to one prompt (streams to stdout)");
  AddLocalModelOptions(cmd, flags->model);
  cmd->add_option("--prompt,-p", flags->prompt, "Prompt text")->required();
  cmd->add_flag("--chat", flags->chat, "Wrap the prompt in the model's chat template");
  cmd->add_option("--system", flags->system, "System message (with --chat)");
  cmd->add_flag("--no-think", flags->no_think, "Disable Qwen3 thinking (empty think block)");
  cmd->add_option("-n,--max-tokens", flags->max_tokens, "Tokens to generate")
      ->capture_default_str();
  cmd->add_option("--temp", flags->temperature, "Temperature (0 = greedy)");
  cmd->add_option("--top-k", flags->top_k, "Top-k");
  cmd->add_option("--top-p", flags->top_p, "Top-p");
  cmd->add_option("--min-p", flags->min_p, "Min-p");
  cmd->add_option("--presence-penalty", flags->presence_penalty, "Presence penalty");
  cmd->add_option("--frequency-penalty", flags->frequency_penalty, "Frequency penalty");
  cmd->add_option("--repeat-penalty", flags->repetition_penalty, "Repetition penalty");
  cmd->add_option("--seed", flags->seed, "Sampling seed");
  cmd->add_option("--stop", flags->stop, "Stop string (repeatable)");
  cmd->add_flag("--verbose,-v", flags->verbose, "Print token counts and speed to stderr");
  cmd->callback([flags, exit_code] {
    *exit_code = flags->model.host.empty() ? RunLocal(*flags) : RunRemote(*flags);
  });
}

ZEN_REGISTER_COMMAND("30-run", Setup);

}  // namespace
}  // namespace zen::cli
