#include "daemon/security/security_cli.h"

#include <iostream>
#include <memory>

#include "daemon/security/security_commands.h"

namespace zen::security {
namespace {

constexpr char kStateDirHelp[] =
    "State directory holding the cluster identity (default: ~/.local/share/zend, or "
    "/var/lib/zend as root)";

}  // namespace

void AddSecurityCommands(CLI::App& app, int* exit_code) {
  // Options live in shared state owned by the callbacks, which live as long as `app`.
  auto init = std::make_shared<InitCommandOptions>();
  CLI::App* init_command = app.add_subcommand(
      "init", "Create this cluster's identity: a CA and this node's certificate");
  init_command->add_option("--state-dir", init->state_dir, kStateDirHelp);
  init_command->add_option("--name", init->name, "This node's name (default: the host name)");
  init_command->add_option("--address", init->addresses,
                           "Extra IP address or host name for this node's certificate "
                           "(repeatable)");
  init_command->add_flag("--force", init->force,
                         "Replace an existing identity (every other node must join again)");
  init_command->callback(
      [init, exit_code] { *exit_code = RunInitCommand(*init, std::cout, std::cerr); });

  auto token = std::make_shared<TokenCommandOptions>();
  CLI::App* token_command = app.add_subcommand(
      "token", "Print a one-time join token for another machine (on the last line)");
  token_command->add_option("--state-dir", token->state_dir, kStateDirHelp);
  token_command->add_option("--ttl", token->ttl, "How long the token stays valid (30m, 1h, 24h)")
      ->capture_default_str();
  token_command->callback(
      [token, exit_code] { *exit_code = RunTokenCommand(*token, std::cout, std::cerr); });

  auto apikey = std::make_shared<ApiKeyCommandOptions>();
  CLI::App* apikey_command =
      app.add_subcommand("apikey", "Manage API keys for client APIs not bound to loopback");
  apikey_command->require_subcommand(1);
  apikey_command->add_option("--state-dir", apikey->state_dir, kStateDirHelp);
  auto run_apikey = [apikey, exit_code](const char* action) {
    return [apikey, exit_code, action] {
      apikey->action = action;
      *exit_code = RunApiKeyCommand(*apikey, std::cout, std::cerr);
    };
  };
  CLI::App* create = apikey_command->add_subcommand("create", "Create a key (shown only once)");
  create->add_option("--name", apikey->name, "A label for the key, e.g. open-webui");
  create->add_option("--state-dir", apikey->state_dir, kStateDirHelp);
  create->callback(run_apikey("create"));
  CLI::App* list = apikey_command->add_subcommand("list", "List keys (ids and names, never keys)");
  list->add_option("--state-dir", apikey->state_dir, kStateDirHelp);
  list->callback(run_apikey("list"));
  CLI::App* revoke = apikey_command->add_subcommand("revoke", "Revoke a key by its id");
  revoke->add_option("id", apikey->id, "The key's id, as `zend apikey list` shows it")->required();
  revoke->add_option("--state-dir", apikey->state_dir, kStateDirHelp);
  revoke->callback(run_apikey("revoke"));
}

}  // namespace zen::security
