// zend's settings, filled from the command line (zend_main.cc).
#pragma once

#include <cstdint>
#include <string>

namespace zen::daemon {

// Everything `zend start` can be told.
struct DaemonConfig {
  std::string model_path;
  std::string listen = "127.0.0.1:7070";  // the node port: zen.node.v1, for peers only
  // The client API (zen.v1 Inference and Admin); "off": none. Beyond loopback it requires
  // API keys.
  std::string api_listen = "127.0.0.1:7071";
  std::string state_dir;            // cluster identity, tokens, API keys; empty: the default
  std::string token;                // join token, for a node that has no certificate yet
  bool insecure = false;            // plaintext node port: development only
  bool log_prompts = false;         // logs may contain prompt and generated text
  std::string name;                 // default: host name + port
  std::string join;                 // leader address; empty: this node leads
  int64_t memory_budget_bytes = 0;  // 0: three quarters of available memory
  int max_layers = 0;               // 0: no cap
  int n_threads = 2;
  // Leader: announce itself on the LAN; a joiner with a token or member certificate but no
  // --join: find its leader there (daemon/discovery.h).
  bool discovery = true;
  int discovery_timeout_ms = 10000;  // a leader beacons every second
  int expect_nodes = 1;           // the leader plans once this many nodes (itself included) joined
  int64_t context_tokens = 4096;  // KV reserved per slice (the planner's context)
  int max_batch_rows = 256;
  // Wire type of hidden rows between nodes. f32 keeps results bit-identical to one node;
  // f16 halves the bytes per hop at the cost of rounding the hidden state at each boundary.
  std::string hidden_dtype = "f32";
  double hop_ms = 1.0;     // the planner's cost of one network hop per token
  double weight_gbps = 0;  // >0: report this speed instead of measuring
  int heartbeat_ms = 500;
  int heartbeat_misses = 3;         // a node missing this many heartbeats in a row is lost
  int request_timeout_ms = 120000;  // one pipeline pass; nothing waits longer
  // Node-API callers from public (non-LAN) addresses are refused unless this is set.
  bool allow_public_peers = false;
};

}  // namespace zen::daemon
