// The identity and access commands of zend that need no daemon and no gRPC:
// `zend init`, `zend token`, `zend apikey create|list|revoke`. Each takes its parsed
// options, writes to `out`/`err` and returns the process exit code.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace zen::security {

// Exit codes of the commands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the command could not do its job (message on err)
inline constexpr int kExitUsage = 2;    // the options make no sense

// `zend init`: create the cluster CA and this node's certificate.
struct InitCommandOptions {
  std::string state_dir;               // empty: DefaultStateDir()
  std::string name;                    // empty: host name
  std::vector<std::string> addresses;  // extra SANs
  bool force = false;
};
// Runs `zend init`; prints the node name and CA fingerprint.
int RunInitCommand(const InitCommandOptions& options, std::ostream& out, std::ostream& err);

// `zend token`: print a one-time join token on the last line of `out`.
struct TokenCommandOptions {
  std::string state_dir;
  std::string ttl = "1h";  // absl duration syntax: 90s, 30m, 1h, 24h
};
// Runs `zend token`; the token is the last line of `out`.
int RunTokenCommand(const TokenCommandOptions& options, std::ostream& out, std::ostream& err);

// `zend apikey create|list|revoke`.
struct ApiKeyCommandOptions {
  std::string state_dir;
  std::string action;  // "create", "list" or "revoke"
  std::string name;    // create: the key's label
  std::string id;      // revoke: the key's id
};
// Runs `zend apikey <action>`; `create` prints the new key as the last line of `out`.
int RunApiKeyCommand(const ApiKeyCommandOptions& options, std::ostream& out, std::ostream& err);

}  // namespace zen::security
