#include "daemon/security/cluster_identity.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cctype>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "daemon/security/certificates.h"
#include "daemon/security/crypto_util.h"
#include "daemon/security/join_token.h"
#include "daemon/security/secure_files.h"

namespace zen::security {
namespace fs = std::filesystem;
namespace {

absl::Status CheckOwnerOnly(const fs::path& path) {
  struct stat info;
  if (stat(path.c_str(), &info) != 0) {
    return absl::NotFoundError(absl::StrCat("missing ", path.string()));
  }
  if ((info.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(
        absl::StrFormat("%s is readable by other users (mode %04o); run: chmod 600 %s",
                        path.string(), info.st_mode & 07777, path.string()));
  }
  return absl::OkStatus();
}

absl::Status RefuseExisting(const fs::path& state_dir) {
  std::string fingerprint = "unknown";
  if (absl::StatusOr<std::string> pem = ReadWholeFile(state_dir / kCaCertFile); pem.ok()) {
    if (absl::StatusOr<std::string> fp = CaFingerprint(*pem); fp.ok()) fingerprint = *fp;
  }
  return absl::AlreadyExistsError(absl::StrCat(
      state_dir.string(), " already holds a cluster identity (CA fingerprint ", fingerprint,
      "); pass --force to replace it, after which every other node must join again"));
}

absl::Status WriteIdentity(const fs::path& state_dir, const ClusterIdentity& identity) {
  if (absl::Status s = EnsurePrivateDir(state_dir); !s.ok()) return s;
  std::error_code ignored;
  fs::remove(state_dir / kCaKeyFile, ignored);  // a joined identity must not keep an old CA key
  const std::vector<std::pair<const char*, const std::string*>> files = {
      {kCaKeyFile, &identity.ca_key_pem},
      {kCaCertFile, &identity.ca_cert_pem},
      {kNodeKeyFile, &identity.node_key_pem},
      {kNodeCertFile, &identity.node_cert_pem}};
  for (const auto& [name, contents] : files) {
    if (contents->empty()) continue;
    if (absl::Status s = WritePrivateFile(state_dir / name, *contents); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> CaFingerprint(std::string_view ca_cert_pem) {
  absl::StatusOr<CertPtr> cert = CertFromPem(ca_cert_pem, "CA certificate");
  if (!cert.ok()) return cert.status();
  return CertFingerprint(cert->get());
}

std::string DefaultNodeName() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) return "zend";
  std::string name;
  for (const char* c = host; *c != '\0' && name.size() < 63; ++c) {
    const bool allowed = std::isalnum(static_cast<unsigned char>(*c)) || *c == '-' || *c == '_';
    if (*c == '.') break;  // the short host name is what people call the machine
    name += allowed ? *c : '-';
  }
  if (ValidateNodeName(name).ok()) return name;
  return "zend";
}

bool HasIdentity(const fs::path& state_dir) {
  std::error_code ignored;
  for (const char* name : {kCaCertFile, kCaKeyFile, kNodeCertFile, kNodeKeyFile}) {
    if (fs::exists(state_dir / name, ignored)) return true;
  }
  return false;
}

absl::StatusOr<ClusterIdentity> InitCluster(const InitOptions& options) {
  if (options.state_dir.empty()) return absl::InvalidArgumentError("no state directory given");
  if (!options.force && HasIdentity(options.state_dir)) return RefuseExisting(options.state_dir);
  ClusterIdentity identity;
  identity.node_name = options.node_name.empty() ? DefaultNodeName() : options.node_name;
  if (absl::Status s = ValidateNodeName(identity.node_name); !s.ok()) return s;

  absl::StatusOr<KeyPtr> ca_key = GenerateEcKey();
  if (!ca_key.ok()) return ca_key.status();
  absl::StatusOr<CertPtr> ca_cert = MakeCaCertificate(
      ca_key->get(), absl::StrCat("Zen Engine cluster CA (", identity.node_name, ")"));
  if (!ca_cert.ok()) return ca_cert.status();
  absl::StatusOr<KeyPtr> node_key = GenerateEcKey();
  if (!node_key.ok()) return node_key.status();
  absl::StatusOr<CertPtr> node_cert = SignNodeCertificate(
      ca_cert->get(), ca_key->get(), node_key->get(), identity.node_name, options.addresses);
  if (!node_cert.ok()) return node_cert.status();

  absl::StatusOr<std::string> ca_key_pem = KeyToPem(ca_key->get());
  absl::StatusOr<std::string> ca_cert_pem = CertToPem(ca_cert->get());
  absl::StatusOr<std::string> node_key_pem = KeyToPem(node_key->get());
  absl::StatusOr<std::string> node_cert_pem = CertToPem(node_cert->get());
  absl::StatusOr<std::string> fingerprint = CertFingerprint(ca_cert->get());
  for (const absl::Status& s : {ca_key_pem.status(), ca_cert_pem.status(), node_key_pem.status(),
                                node_cert_pem.status(), fingerprint.status()}) {
    if (!s.ok()) return s;
  }
  identity.ca_key_pem = *std::move(ca_key_pem);
  identity.ca_cert_pem = *std::move(ca_cert_pem);
  identity.node_key_pem = *std::move(node_key_pem);
  identity.node_cert_pem = *std::move(node_cert_pem);
  identity.ca_fingerprint = *std::move(fingerprint);

  if (absl::Status s = WriteIdentity(options.state_dir, identity); !s.ok()) return s;
  // Tokens pin the old CA and could never succeed again.
  std::error_code ignored;
  fs::remove(options.state_dir / kJoinTokensFile, ignored);
  return identity;
}

absl::Status StoreJoinedIdentity(const fs::path& state_dir, const ClusterIdentity& identity,
                                 bool force) {
  if (!force && HasIdentity(state_dir)) return RefuseExisting(state_dir);
  if (identity.ca_cert_pem.empty() || identity.node_cert_pem.empty() ||
      identity.node_key_pem.empty()) {
    return absl::InvalidArgumentError(
        "a joined identity needs the CA certificate, node "
        "certificate and node key");
  }
  return WriteIdentity(state_dir, identity);
}

absl::StatusOr<ClusterIdentity> LoadIdentity(const fs::path& state_dir) {
  if (!fs::exists(state_dir / kNodeCertFile)) {
    return absl::NotFoundError(absl::StrCat("no cluster identity in ", state_dir.string(),
                                            ": run `zend init` on the first node, or join with "
                                            "`zend start --join ADDR --token TOKEN`"));
  }
  if (absl::Status s = CheckOwnerOnly(state_dir / kNodeKeyFile); !s.ok()) return s;
  ClusterIdentity identity;
  const bool has_ca_key = fs::exists(state_dir / kCaKeyFile);
  if (has_ca_key) {
    if (absl::Status s = CheckOwnerOnly(state_dir / kCaKeyFile); !s.ok()) return s;
  }
  const std::vector<std::pair<const char*, std::string*>> files = {
      {kCaCertFile, &identity.ca_cert_pem},
      {kNodeCertFile, &identity.node_cert_pem},
      {kNodeKeyFile, &identity.node_key_pem},
      {kCaKeyFile, has_ca_key ? &identity.ca_key_pem : nullptr}};
  for (const auto& [name, target] : files) {
    if (target == nullptr) continue;
    absl::StatusOr<std::string> contents = ReadWholeFile(state_dir / name);
    if (!contents.ok()) return contents.status();
    *target = *std::move(contents);
  }

  const std::string where = state_dir.string() + "/";
  absl::StatusOr<CertPtr> ca = CertFromPem(identity.ca_cert_pem, where + kCaCertFile);
  if (!ca.ok()) return ca.status();
  absl::StatusOr<CertPtr> node = CertFromPem(identity.node_cert_pem, where + kNodeCertFile);
  if (!node.ok()) return node.status();
  absl::StatusOr<KeyPtr> node_key = KeyFromPem(identity.node_key_pem, where + kNodeKeyFile);
  if (!node_key.ok()) return node_key.status();
  if (!IsSignedBy(node->get(), ca->get())) {
    return absl::FailedPreconditionError(
        absl::StrCat(where, kNodeCertFile, " is not signed by ", where, kCaCertFile));
  }
  if (!CertMatchesKey(node->get(), node_key->get())) {
    return absl::FailedPreconditionError(
        absl::StrCat(where, kNodeKeyFile, " does not belong to ", where, kNodeCertFile));
  }
  if (has_ca_key) {
    absl::StatusOr<KeyPtr> ca_key = KeyFromPem(identity.ca_key_pem, where + kCaKeyFile);
    if (!ca_key.ok()) return ca_key.status();
    if (!CertMatchesKey(ca->get(), ca_key->get())) {
      return absl::FailedPreconditionError(
          absl::StrCat(where, kCaKeyFile, " does not belong to ", where, kCaCertFile));
    }
  }
  absl::StatusOr<std::string> fingerprint = CertFingerprint(ca->get());
  if (!fingerprint.ok()) return fingerprint.status();
  identity.ca_fingerprint = *std::move(fingerprint);
  identity.node_name = CommonName(node->get());
  return identity;
}

}  // namespace zen::security
