// How `zen` subcommands plug into the CLI: each command file registers itself at start-up,
// so adding a command touches no shared list.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace zen::cli {

// Adds a subcommand (and its options) to the app; the callback it installs does the work and
// sets the process exit code through the returned int pointer's target.
using CommandSetup = std::function<void(CLI::App& app, int* exit_code)>;

// Called from static initializers in each command file.
bool RegisterCommand(std::string order_key, CommandSetup setup);

// All registered commands, sorted by order_key.
std::vector<CommandSetup> RegisteredCommands();

}  // namespace zen::cli

#define ZEN_CONCAT_INNER(a, b) a##b
#define ZEN_CONCAT(a, b) ZEN_CONCAT_INNER(a, b)
// Registers a CommandSetup under a sort key; use once per command at namespace scope.
#define ZEN_REGISTER_COMMAND(key, setup)                            \
  static const bool ZEN_CONCAT(zen_command_registered_, __LINE__) = \
      ::zen::cli::RegisterCommand(key, setup)
