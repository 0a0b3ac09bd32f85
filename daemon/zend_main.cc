// zend: the Zen Engine daemon. `zend start` runs one node of a cluster.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <string>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "daemon/config.h"
#include "daemon/security/security_cli.h"
#include "daemon/node_daemon.h"
#include "daemon/units.h"

namespace {

// Runs a node until SIGINT/SIGTERM or a fatal error; returns the exit code.
int RunStart(zen::daemon::DaemonConfig config, const std::string& budget_text) {
  if (!budget_text.empty()) {
    auto budget = zen::daemon::ParseBytes(budget_text);
    if (!budget.ok()) {
      fprintf(stderr, "zend: --memory-budget: %s\n",
              std::string(budget.status().message()).c_str());
      return 2;
    }
    config.memory_budget_bytes = *budget;
  }
  // Signals are taken synchronously by the main thread (sigtimedwait); every other thread
  // inherits the blocked mask, so no handler runs at a random point.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  zen::daemon::NodeDaemon daemon(std::move(config));
  if (absl::Status s = daemon.Start(); !s.ok()) {
    fprintf(stderr, "zend: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  printf("zend: node %s ready on %s\n", daemon.config().name.c_str(),
         daemon.config().listen.c_str());
  fflush(stdout);
  int exit_code = 0;
  const timespec tick{0, 200 * 1000 * 1000};
  while (!daemon.WaitForShutdown(std::chrono::milliseconds(0), &exit_code)) {
    const int sig = sigtimedwait(&signals, nullptr, &tick);
    if (sig == SIGINT || sig == SIGTERM) {
      spdlog::info("signal {}: shutting down", sig);
      daemon.RequestShutdown(0);
    }
  }
  daemon.Shutdown();
  spdlog::info("stopped");
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"zend: the Zen Engine daemon; runs one node of a cluster that serves a model"};
  app.require_subcommand(1);
  zen::daemon::DaemonConfig config;
  std::string budget_text;
  bool no_discovery = false;
  CLI::App* start = app.add_subcommand("start", "Run a node: lead a cluster, or --join one");
  start->add_option("--model", config.model_path, "GGUF model file (every node needs a copy)")
      ->required();
  start->add_option("--listen", config.listen, "Address:port for the node and client APIs")
      ->capture_default_str();
  start->add_option("--name", config.name, "Node name, unique in the cluster (default host:port)");
  start->add_option("--join", config.join, "Leader address:port; without it this node leads");
  start->add_option("--memory-budget", budget_text,
                    "Memory this node may use for weights, KV-cache and buffers (3GiB, 512MiB); "
                    "default three quarters of available memory");
  start->add_option("--max-layers", config.max_layers, "Most layers this node takes (0: no cap)")
      ->check(CLI::NonNegativeNumber);
  start->add_option("--threads,-t", config.n_threads, "Compute threads")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  start
      ->add_option("--expect-nodes", config.expect_nodes,
                   "Leader: plan once this many nodes (itself included) have joined")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  start
      ->add_option("--context", config.context_tokens,
                   "Tokens of KV-cache per sequence each slice reserves (the planner's context)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  start
      ->add_option("--max-batch-rows", config.max_batch_rows, "Rows per forward pass on every node")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  start
      ->add_option("--hidden-type", config.hidden_dtype,
                   "Leader: wire type of hidden rows between nodes (f16, bf16, f32)")
      ->check(CLI::IsMember({"f16", "bf16", "f32"}))
      ->capture_default_str();
  start->add_option("--hop-ms", config.hop_ms, "Leader: planner's cost of one network hop")
      ->capture_default_str();
  start->add_option("--speed-gbps", config.weight_gbps,
                    "Report this weight-streaming speed (GB/s) instead of measuring it");
  start->add_option("--heartbeat-ms", config.heartbeat_ms, "Heartbeat interval")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  start
      ->add_option("--request-timeout-ms", config.request_timeout_ms,
                   "Longest wait for one pipeline pass")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  start->add_flag("--no-discovery", no_discovery,
                  "Do not look for peers on the LAN (discovery is not implemented yet; "
                  "use --join)");
  int exit_code = 0;
  zen::security::AddSecurityCommands(app, &exit_code);
  start->callback([&] { exit_code = RunStart(config, budget_text); });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return exit_code;
}
