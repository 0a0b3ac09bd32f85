// `zen chat --host ADDR`: an interactive conversation with a cluster over the gRPC Chat
// call. Reads stdin line by line (so it also works piped), streams each answer, keeps the
// history, and knows a few slash commands.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "client/lib/zen_client.h"
#include "client/zen/answer_printer.h"
#include "client/zen/command_registry.h"
#include "node/sampler.h"

namespace zen::cli {
namespace {

constexpr char kHelp[] =
    "commands: /reset (forget the conversation), /system TEXT (set the system message), "
    "/think, /no_think (thinking on or off), /quit\n";

struct ChatFlags {
  std::string host;
  std::string model;
  std::string system;
  bool show_thinking = false;
  bool no_think = false;
  int max_tokens = 0;
  std::optional<float> temperature, top_p;
  std::optional<int> top_k;
  std::optional<uint64_t> seed;
  bool verbose = false;
};

// Set by SIGINT while an answer streams: that answer stops, the chat goes on.
std::atomic<bool> interrupted{false};

void OnInterrupt(int) {
  interrupted.store(true);
}

class ChatSession {
 public:
  explicit ChatSession(const ChatFlags& flags)
      : flags_(flags),
        cluster_(flags.host),
        thinking_(!flags.no_think),
        system_(flags.system),
        stdin_tty_(isatty(STDIN_FILENO) != 0),
        stdout_tty_(isatty(STDOUT_FILENO) != 0) {}

  int Run() {
    if (stdin_tty_) std::cerr << "zen chat with " << flags_.host << "; " << kHelp;
    std::string line;
    while (true) {
      if (stdin_tty_) std::cerr << (thinking_ ? "you> " : "you (no_think)> ") << std::flush;
      if (!std::getline(std::cin, line)) break;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      if (line[0] == '/') {
        if (!Command(line)) break;
        continue;
      }
      if (!Ask(line)) return 1;
    }
    return 0;
  }

 private:
  // Handles a slash command; false ends the chat.
  bool Command(const std::string& line) {
    const std::string word = line.substr(0, line.find(' '));
    if (word == "/quit" || word == "/exit") return false;
    if (word == "/reset") {
      history_.clear();
      std::cerr << "(conversation cleared)\n";
    } else if (word == "/system") {
      system_ = line.size() > word.size() ? line.substr(word.size() + 1) : "";
      std::cerr << (system_.empty() ? "(system message removed)\n" : "(system message set)\n");
    } else if (word == "/think") {
      thinking_ = true;
      std::cerr << "(thinking on)\n";
    } else if (word == "/no_think") {
      thinking_ = false;
      std::cerr << "(thinking off)\n";
    } else {
      std::cerr << "unknown command " << word << "; " << kHelp;
    }
    return true;
  }

  client::ChatOptions Options() const {
    client::ChatOptions o;
    o.model = flags_.model;
    if (!system_.empty()) o.messages.push_back(client::TextMessage("system", system_));
    o.messages.insert(o.messages.end(), history_.begin(), history_.end());
    o.enable_thinking = thinking_;
    o.max_tokens = flags_.max_tokens;
    if (flags_.temperature || flags_.top_p || flags_.top_k || flags_.seed) {
      const node::SamplingParams preset = thinking_ ? node::SamplingParams::QwenThinking()
                                                    : node::SamplingParams::QwenNonThinking();
      client::Sampling s;
      s.temperature = flags_.temperature.value_or(preset.temperature);
      s.top_p = flags_.top_p.value_or(preset.top_p);
      s.top_k = flags_.top_k.value_or(preset.top_k);
      s.seed = flags_.seed.value_or(0);
      o.sampling = s;
    }
    return o;
  }

  // Sends one user turn and streams the answer; false on an error that ends the chat.
  bool Ask(const std::string& text) {
    history_.push_back(client::TextMessage("user", text));
    AnswerPrinter printer(flags_.show_thinking, stdout_tty_);
    interrupted.store(false);
    auto previous = std::signal(SIGINT, OnInterrupt);
    auto result = cluster_.Chat(Options(), [&](const client::ChatDelta& delta) {
      printer.Print(delta);
      return !interrupted.load();
    });
    std::signal(SIGINT, previous);
    printer.Finish();
    std::fputc('\n', stdout);
    std::fflush(stdout);
    if (!result.ok()) {
      history_.pop_back();
      if (result.status().code() == absl::StatusCode::kCancelled && interrupted.load()) {
        std::cerr << "(interrupted)\n";
        return true;
      }
      std::cerr << "zen chat: " << result.status().message() << "\n";
      // A refused turn (too long, bad input) leaves the chat usable; a lost cluster does not.
      return result.status().code() != absl::StatusCode::kUnavailable;
    }
    client::ChatMessage answer = client::TextMessage("assistant", result->content);
    if (!result->reasoning.empty()) answer.reasoning_content = result->reasoning;
    answer.tool_calls = result->tool_calls;
    history_.push_back(std::move(answer));
    if (flags_.verbose) {
      std::cerr << "[" << result->prompt_tokens << " prompt tokens, " << result->completion_tokens
                << " generated, " << result->finish_reason << "]\n";
    }
    return true;
  }

  const ChatFlags& flags_;
  client::Client cluster_;
  bool thinking_;
  std::string system_;
  std::vector<client::ChatMessage> history_;  // user and assistant turns, no system
  const bool stdin_tty_;
  const bool stdout_tty_;
};

void Setup(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<ChatFlags>();
  CLI::App* cmd = app.add_subcommand(
      "chat",
      "Chat with a cluster: streams answers, keeps the history (/reset /system /think "
      "/no_think /quit)");
  cmd->add_option("--host", flags->host, "Address of any zend's client API (host:port)")
      ->required();
  cmd->add_option("--model", flags->model, "Model id (default: the one the cluster serves)");
  cmd->add_option("--system", flags->system, "System message");
  cmd->add_flag("--show-thinking", flags->show_thinking,
                "Show the model's thinking (dimmed on a terminal)");
  cmd->add_flag("--no-think", flags->no_think, "Start with thinking off (as /no_think)");
  cmd->add_option("-n,--max-tokens", flags->max_tokens,
                  "Most tokens per answer (0: until the answer ends)")
      ->capture_default_str();
  cmd->add_option("--temp", flags->temperature, "Temperature (0 = greedy)");
  cmd->add_option("--top-k", flags->top_k, "Top-k");
  cmd->add_option("--top-p", flags->top_p, "Top-p");
  cmd->add_option("--seed", flags->seed, "Sampling seed");
  cmd->add_flag("--verbose,-v", flags->verbose, "Print token counts per answer to stderr");
  cmd->callback([flags, exit_code] { *exit_code = ChatSession(*flags).Run(); });
}

ZEN_REGISTER_COMMAND("31-chat", Setup);

}  // namespace
}  // namespace zen::cli
