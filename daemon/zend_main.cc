// zend: the Zen Engine daemon. `zend start` runs one node of a cluster.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "absl/time/time.h"
#include "daemon/config.h"
#include "daemon/discovery.h"
#include "daemon/http/openai_server.h"
#include "daemon/http_backend.h"
#include "daemon/node_daemon.h"
#include "daemon/node_identity.h"
#include "daemon/security/api_keys.h"
#include "daemon/security/cluster_identity.h"
#include "daemon/security/grpc_auth.h"
#include "daemon/security/join_token.h"
#include "daemon/security/peer_policy.h"
#include "daemon/security/secure_files.h"
#include "daemon/security/security_cli.h"
#include "daemon/units.h"

namespace {

// Flags of `zend start` that are not part of the node's DaemonConfig.
struct StartFlags {
  std::string budget_text;
  std::string http = "127.0.0.1:8080";  // "off": no HTTP API
};

// The state directory zend uses: --state-dir, or the default.
std::filesystem::path StateDir(const zen::daemon::DaemonConfig& config) {
  return config.state_dir.empty() ? zen::security::DefaultStateDir()
                                  : std::filesystem::path(config.state_dir);
}

// Opens the API key store once a client API listens beyond loopback on `bind` (given as
// `flag`), and insists that it holds a key. False (after printing why) when zend may not
// start that way.
bool RequireApiKeys(const char* flag, const std::string& bind,
                    const zen::daemon::DaemonConfig& config,
                    std::optional<zen::security::ApiKeyStore>* keys) {
  if (keys->has_value()) return true;  // opened and checked for the other API
  const std::filesystem::path dir = StateDir(config);
  auto store = zen::security::ApiKeyStore::Open(dir);
  if (!store.ok()) {
    fprintf(stderr, "zend: API keys in %s: %s\n", dir.c_str(),
            std::string(store.status().message()).c_str());
    return false;
  }
  if (!store->HasKeys()) {
    fprintf(stderr,
            "zend: %s %s listens beyond this machine, which requires API keys, and %s "
            "has none. Create one with `zend apikey create --name NAME --state-dir %s`, or "
            "bind it to loopback (%s 127.0.0.1:PORT).\n",
            flag, bind.c_str(), dir.c_str(), dir.c_str(), flag);
    return false;
  }
  keys->emplace(std::move(*store));
  return true;
}

// The HTTP API's options, with an API-key check when it listens beyond loopback.
// Nullopt (after printing why) when it may not start.
std::optional<zen::http::OpenAiServerOptions> HttpOptions(
    const StartFlags& flags, const zen::daemon::DaemonConfig& config,
    std::optional<zen::security::ApiKeyStore>* keys) {
  auto parsed = zen::http::ParseListenAddress(flags.http);
  if (!parsed.ok()) {
    fprintf(stderr, "zend: --http %s: %s\n", flags.http.c_str(),
            std::string(parsed.status().message()).c_str());
    return std::nullopt;
  }
  zen::http::OpenAiServerOptions options;
  options.bind_address = parsed->first;
  options.port = parsed->second;
  if (zen::security::IsLoopbackBind(flags.http)) return options;
  if (!RequireApiKeys("--http", flags.http, config, keys)) return std::nullopt;
  zen::security::ApiKeyStore* checker = &keys->value();
  options.api_key_verifier = [checker](std::string_view token) {
    return checker->Verify(token).has_value();
  };
  return options;
}

// The gRPC client API's per-call check: API keys beyond loopback, none on loopback.
// False (after printing why) when it may not start.
bool ApiAuthorizer(const zen::daemon::DaemonConfig& config,
                   std::optional<zen::security::ApiKeyStore>* keys,
                   zen::daemon::RequestAuthorizer* authorizer) {
  if (config.api_listen == "off" || zen::security::IsLoopbackBind(config.api_listen)) return true;
  if (!RequireApiKeys("--api", config.api_listen, config, keys)) return false;
  zen::security::ApiKeyStore* checker = &keys->value();
  *authorizer = [checker](const grpc::ServerContextBase& context) {
    return zen::security::AuthorizeApiKey(context, *checker);
  };
  return true;
}

// The node port's identity (nullopt under --insecure, after a loud warning): the
// leader's, loaded or created; a joiner's, loaded or enrolled with --token. Returns 0, or
// the exit code after printing why there is none.
int ObtainIdentity(const zen::daemon::DaemonConfig& config, const sigset_t& signals,
                   std::optional<zen::security::ClusterIdentity>* identity) {
  if (config.insecure) {
    spdlog::warn(
        "--insecure: node-to-node traffic is PLAINTEXT and UNAUTHENTICATED: anyone on the "
        "network can read prompts, activations and answers, join this cluster and send it "
        "work. For development only; never on a network you do not control.");
    return 0;
  }
  // A signal while waiting for the leader stays pending for the main loop.
  auto interrupted = [&signals] {
    sigset_t pending;
    sigpending(&pending);
    for (int sig : {SIGINT, SIGTERM}) {
      if (sigismember(&signals, sig) == 1 && sigismember(&pending, sig) == 1) return true;
    }
    return false;
  };
  auto obtained = config.join.empty() ? zen::daemon::LoadOrCreateIdentity(config)
                                      : zen::daemon::LoadOrEnrollIdentity(config, interrupted);
  if (!obtained.ok()) {
    fprintf(stderr, "zend: %s\n", std::string(obtained.status().message()).c_str());
    return obtained.status().code() == absl::StatusCode::kFailedPrecondition ? 2 : 1;
  }
  identity->emplace(*std::move(obtained));
  return 0;
}

// A node with no --join that belongs to a cluster (a join token, or a stored member
// certificate) looks for its leader's beacon on the LAN and joins it; any other node
// without --join leads. Returns 0, or the exit code after printing why not.
int FindLeaderOnLan(zen::daemon::DaemonConfig* config) {
  if (!config->join.empty() || config->insecure) return 0;
  std::string fingerprint;
  if (!config->token.empty()) {
    auto token = zen::security::ParseJoinToken(config->token);
    if (!token.ok()) {
      fprintf(stderr, "zend: --token: %s\n", std::string(token.status().message()).c_str());
      return 2;
    }
    fingerprint = token->ca_fingerprint;
  } else if (zen::security::HasIdentity(config->state_dir)) {
    auto stored = zen::security::LoadIdentity(config->state_dir);
    if (!stored.ok() || stored->CanIssueCertificates()) return 0;  // a leader's, or reported later
    fingerprint = stored->ca_fingerprint;
  } else {
    return 0;
  }
  if (!config->discovery) {
    fprintf(stderr,
            "zend: this node joins a cluster (%s) but --no-discovery is set: pass --join "
            "ADDR:PORT of the leader's node port\n",
            config->token.empty() ? "it holds a member certificate" : "--token");
    return 2;
  }
  auto cluster = zen::daemon::ClusterIdFromCaFingerprint(fingerprint);
  if (!cluster.ok()) {
    fprintf(stderr, "zend: %s\n", std::string(cluster.status().message()).c_str());
    return 2;
  }
  zen::daemon::DiscoveryOptions options;
  options.interface_address = zen::daemon::DiscoveryInterfaceForListen(config->listen);
  options.allow_public_sources = config->allow_public_peers;
  spdlog::info("looking for the leader of cluster {} on the LAN (up to {} ms)",
               zen::daemon::ClusterIdHex(*cluster), config->discovery_timeout_ms);
  auto leader = zen::daemon::DiscoverLeader(options, *cluster,
                                            absl::Milliseconds(config->discovery_timeout_ms));
  if (!leader.ok()) {
    fprintf(stderr, "zend: %s\n", std::string(leader.status().message()).c_str());
    return 1;
  }
  spdlog::info("found leader {} at {} (model {})", leader->beacon.leader_name, leader->address,
               leader->beacon.model);
  config->join = leader->address;
  return 0;
}

// Runs a node until SIGINT/SIGTERM or a fatal error; returns the exit code.
int RunStart(zen::daemon::DaemonConfig config, const StartFlags& flags) {
  const std::string& budget_text = flags.budget_text;
  if (!budget_text.empty()) {
    auto budget = zen::daemon::ParseBytes(budget_text);
    if (!budget.ok()) {
      fprintf(stderr, "zend: --memory-budget: %s\n",
              std::string(budget.status().message()).c_str());
      return 2;
    }
    config.memory_budget_bytes = *budget;
  }
  config.state_dir = StateDir(config).string();
  if (config.name.empty()) config.name = zen::daemon::DefaultNodeName(config.listen);
  // Signals are taken synchronously by the main thread (sigtimedwait); every other thread
  // inherits the blocked mask, so no handler runs at a random point.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // The key store outlives the servers whose checks point into it.
  std::optional<zen::security::ApiKeyStore> keys;
  std::optional<zen::http::OpenAiServerOptions> http_options;
  if (flags.http != "off") {
    http_options = HttpOptions(flags, config, &keys);
    if (!http_options) return 2;
  }
  zen::daemon::RequestAuthorizer api_authorizer;
  if (!ApiAuthorizer(config, &keys, &api_authorizer)) return 2;

  if (int code = FindLeaderOnLan(&config); code != 0) return code;
  std::optional<zen::security::ClusterIdentity> identity;
  if (int code = ObtainIdentity(config, signals, &identity); code != 0) return code;

  zen::daemon::NodeDaemon daemon(std::move(config), std::move(identity));
  if (absl::Status s = daemon.Start(std::move(api_authorizer)); !s.ok()) {
    fprintf(stderr, "zend: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  zen::daemon::DaemonHttpBackend backend(&daemon);
  zen::http::OpenAiHttpServer http_server;
  if (http_options) {
    if (absl::Status s = http_server.Start(*http_options, backend); !s.ok()) {
      fprintf(stderr, "zend: HTTP API on %s: %s\n", flags.http.c_str(),
              std::string(s.message()).c_str());
      daemon.Shutdown();
      return 2;
    }
    printf("zend: OpenAI-compatible API on http://%s:%d/v1 (model \"%s\")\n",
           http_options->bind_address.c_str(), http_server.port(), backend.model_id().c_str());
  }
  if (!daemon.api_address().empty()) {
    printf("zend: client API (gRPC: zen run/status/plan --host) on %s\n",
           daemon.api_address().c_str());
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
  // HTTP first: it cancels in-flight generations while the pipeline can still release them.
  http_server.Stop();
  daemon.Shutdown();
  spdlog::info("stopped");
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"zend: the Zen Engine daemon; runs one node of a cluster that serves a model"};
  app.require_subcommand(1);
  zen::daemon::DaemonConfig config;
  StartFlags flags;
  bool no_discovery = false;
  CLI::App* start = app.add_subcommand("start", "Run a node: lead a cluster, or --join one");
  start->add_option("--model", config.model_path, "GGUF model file (every node needs a copy)")
      ->required();
  start
      ->add_option("--listen", config.listen,
                   "Address:port of the node port, for cluster peers only (mutual TLS)")
      ->capture_default_str();
  start
      ->add_option("--api", config.api_listen,
                   "Address:port of the gRPC client API (zen --host, apps), or \"off\"; "
                   "beyond loopback it requires API keys (zend apikey create)")
      ->capture_default_str();
  start->add_option("--name", config.name, "Node name, unique in the cluster (default host:port)");
  start->add_option("--join", config.join,
                    "Leader's node port ADDR:PORT; without it, a node with --token or a member "
                    "certificate finds its leader on the LAN, any other node leads");
  start->add_option("--memory-budget", flags.budget_text,
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
                  "No LAN discovery: the leader sends no multicast beacons, and a node joining "
                  "with --token or a member certificate needs --join");
  start
      ->add_option("--http", flags.http,
                   "Address:port of the OpenAI-compatible HTTP API, or \"off\"; beyond "
                   "loopback it requires API keys (zend apikey create)")
      ->capture_default_str();
  start->add_option("--state-dir", config.state_dir,
                    "State directory: cluster identity, join tokens, API keys (default: "
                    "~/.local/share/zend, or /var/lib/zend as root)");
  start->add_flag("--allow-public-peers", config.allow_public_peers,
                  "Accept node calls from public (non-LAN) addresses; default: loopback and "
                  "private ranges only");
  start->add_option("--token", config.token,
                    "Join token from `zend token` on the leader, for a node that has no "
                    "certificate in its --state-dir yet (it keeps the one it gets)");
  start->add_flag("--insecure", config.insecure,
                  "Plaintext, unauthenticated node port without certificates: development only");
  start->add_flag("--log-prompts", config.log_prompts,
                  "Let logs contain prompt and generated text (without it they never do)");
  int exit_code = 0;
  zen::security::AddSecurityCommands(app, &exit_code);
  start->callback([&] {
    config.discovery = !no_discovery;
    exit_code = RunStart(config, flags);
  });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return exit_code;
}
