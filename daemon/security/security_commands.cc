#include "daemon/security/security_commands.h"

#include <filesystem>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "daemon/security/api_keys.h"
#include "daemon/security/cluster_identity.h"
#include "daemon/security/join_token.h"
#include "daemon/security/secure_files.h"

namespace zen::security {
namespace {

std::filesystem::path StateDir(const std::string& given) {
  return given.empty() ? DefaultStateDir() : std::filesystem::path(given);
}

std::string FormatUtc(absl::Time time) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", time, absl::UTCTimeZone());
}

int Fail(std::ostream& err, const absl::Status& status) {
  err << "error: " << status.message() << "\n";
  return kExitFailure;
}

}  // namespace

int RunInitCommand(const InitCommandOptions& options, std::ostream& out, std::ostream& err) {
  InitOptions init{StateDir(options.state_dir), options.name, options.addresses, options.force};
  absl::StatusOr<ClusterIdentity> identity = InitCluster(init);
  if (!identity.ok()) return Fail(err, identity.status());
  out << "Created a new cluster identity in " << init.state_dir.string() << "\n"
      << "  node name:      " << identity->node_name << "\n"
      << "  CA fingerprint: " << identity->ca_fingerprint << "\n"
      << "Keys are readable by this user only. To add a machine, run `zend token` here and\n"
      << "pass the token to `zend start --join ADDR --token TOKEN` on that machine.\n";
  return kExitOk;
}

int RunTokenCommand(const TokenCommandOptions& options, std::ostream& out, std::ostream& err) {
  absl::Duration ttl;
  if (!absl::ParseDuration(options.ttl, &ttl) || ttl <= absl::ZeroDuration()) {
    err << "error: --ttl '" << options.ttl << "' is not a positive duration (e.g. 30m, 1h, 24h)\n";
    return kExitUsage;
  }
  absl::StatusOr<CreatedJoinToken> token = CreateJoinToken(StateDir(options.state_dir), ttl);
  if (!token.ok()) return Fail(err, token.status());
  out << "Join token, valid once until " << FormatUtc(token->expires) << ":\n"
      << token->token << "\n";
  return kExitOk;
}

int RunApiKeyCommand(const ApiKeyCommandOptions& options, std::ostream& out, std::ostream& err) {
  absl::StatusOr<ApiKeyStore> store = ApiKeyStore::Open(StateDir(options.state_dir));
  if (!store.ok()) return Fail(err, store.status());
  if (options.action == "create") {
    absl::StatusOr<CreatedApiKey> created = store->Create(options.name);
    if (!created.ok()) return Fail(err, created.status());
    out << "Created API key " << created->info.id
        << (options.name.empty() ? "" : " (" + options.name + ")")
        << ". It is shown only now; store it safely:\n"
        << created->key << "\n";
    return kExitOk;
  }
  if (options.action == "list") {
    absl::StatusOr<std::vector<ApiKeyInfo>> keys = store->List();
    if (!keys.ok()) return Fail(err, keys.status());
    if (keys->empty()) {
      out << "No API keys. Create one with `zend apikey create --name NAME`.\n";
      return kExitOk;
    }
    out << absl::StrFormat("%-12s %-24s %s\n", "ID", "NAME", "CREATED");
    for (const ApiKeyInfo& key : *keys) {
      out << absl::StrFormat("%-12s %-24s %s\n", key.id, key.name, FormatUtc(key.created));
    }
    return kExitOk;
  }
  if (options.action == "revoke") {
    if (options.id.empty()) {
      err << "error: `zend apikey revoke` needs the key's ID (see `zend apikey list`)\n";
      return kExitUsage;
    }
    if (absl::Status s = store->Revoke(options.id); !s.ok()) return Fail(err, s);
    out << "Revoked API key " << options.id << "\n";
    return kExitOk;
  }
  err << "error: unknown apikey action '" << options.action << "' (create, list or revoke)\n";
  return kExitUsage;
}

}  // namespace zen::security
