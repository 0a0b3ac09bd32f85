// The `zen` command: local model tools and the cluster client.
#include <algorithm>
#include <map>
#include <utility>

#include "client/zen/command_registry.h"

namespace zen::cli {
namespace {

std::multimap<std::string, CommandSetup>& Registry() {
  static auto* registry = new std::multimap<std::string, CommandSetup>();
  return *registry;
}

}  // namespace

bool RegisterCommand(std::string order_key, CommandSetup setup) {
  Registry().emplace(std::move(order_key), std::move(setup));
  return true;
}

std::vector<CommandSetup> RegisteredCommands() {
  std::vector<CommandSetup> out;
  for (auto& [key, setup] : Registry()) out.push_back(setup);
  return out;
}

}  // namespace zen::cli

int main(int argc, char** argv) {
  CLI::App app{"zen: run Qwen3 models on one machine or across a zend cluster"};
  app.require_subcommand(1);
  int exit_code = 0;
  for (const auto& setup : zen::cli::RegisteredCommands()) setup(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return exit_code;
}
