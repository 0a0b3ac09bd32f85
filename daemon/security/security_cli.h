// Hooks the security commands into zend's CLI11 command line.
#pragma once

#include <CLI/CLI.hpp>

namespace zen::security {

// Adds `init`, `token` and `apikey create|list|revoke` to `app`. When one of them runs,
// its exit code is stored in `*exit_code` (which must outlive parsing).
void AddSecurityCommands(CLI::App& app, int* exit_code);

}  // namespace zen::security
