#include "daemon/security/join_token.h"

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "daemon/security/cluster_identity.h"
#include "daemon/security/crypto_util.h"
#include "daemon/security/secure_files.h"
#include "daemon/security/string_util.h"

namespace zen::security {
namespace fs = std::filesystem;
using json = nlohmann::json;
namespace {

constexpr size_t kFingerprintLength = 64;
constexpr size_t kIdBytes = 6;
constexpr size_t kSecretBytes = 32;
constexpr size_t kSecretLength = 43;  // base64url of 32 bytes, unpadded
// Used and expired entries stay this long so a late retry hears "used"/"expired", not
// "unknown".
constexpr absl::Duration kKeepAfterExpiry = absl::Hours(24 * 7);

bool AllOf(std::string_view text, bool (*allowed)(char)) {
  for (char c : text) {
    if (!allowed(c)) return false;
  }
  return true;
}
bool IsLowerHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}
bool IsBase64Url(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
}

std::string FormatUtc(absl::Time time) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", time, absl::UTCTimeZone());
}

absl::StatusOr<json> ReadStore(const fs::path& path) {
  if (!fs::exists(path)) return json{{"tokens", json::array()}};
  absl::StatusOr<std::string> text = ReadWholeFile(path);
  if (!text.ok()) return text.status();
  json store = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!store.is_object() || !store.contains("tokens") || !store["tokens"].is_array()) {
    return absl::DataLossError(
        absl::StrCat(path.string(), " is not a join token store; delete it to start afresh"));
  }
  return store;
}

void Prune(json& store, absl::Time now) {
  json kept = json::array();
  for (const json& entry : store["tokens"]) {
    const absl::Time expires = absl::FromUnixSeconds(entry.value("expires_unix", int64_t{0}));
    if (expires + kKeepAfterExpiry > now) kept.push_back(entry);
  }
  store["tokens"] = std::move(kept);
}

}  // namespace

absl::StatusOr<JoinToken> ParseJoinToken(std::string_view text) {
  text = TrimAscii(text);
  std::vector<std::string> parts = absl::StrSplit(AbslView(text), '.');
  const absl::string_view expected = "expected zen1.<64 hex CA fingerprint>.<id>.<secret>";
  if (parts.size() != 4 || parts[0] != kJoinTokenPrefix) {
    return absl::InvalidArgumentError(absl::StrCat("malformed join token: ", expected));
  }
  if (parts[1].size() != kFingerprintLength || !AllOf(parts[1], IsLowerHex)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "malformed join token: the CA fingerprint must be 64 lowercase hex digits; ", expected));
  }
  if (parts[2].size() != kIdBytes * 2 || !AllOf(parts[2], IsLowerHex)) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed join token: the id must be 12 lowercase hex digits; ", expected));
  }
  if (parts[3].size() != kSecretLength || !AllOf(parts[3], IsBase64Url)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "malformed join token: the secret must be 43 base64url characters (was it cut when "
        "copied?); ",
        expected));
  }
  return JoinToken{parts[1], parts[2], parts[3]};
}

absl::StatusOr<CreatedJoinToken> CreateJoinToken(const fs::path& state_dir, absl::Duration ttl,
                                                 absl::Time now) {
  if (ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the token lifetime (--ttl) must be positive, e.g. 1h");
  }
  absl::StatusOr<ClusterIdentity> identity = LoadIdentity(state_dir);
  if (!identity.ok()) return identity.status();
  if (!identity->CanIssueCertificates()) {
    return absl::FailedPreconditionError(
        absl::StrCat(state_dir.string(),
                     " has no CA key: create join tokens on the node where `zend init` ran"));
  }
  absl::StatusOr<std::vector<uint8_t>> id = RandomBytes(kIdBytes);
  if (!id.ok()) return id.status();
  absl::StatusOr<std::vector<uint8_t>> secret = RandomBytes(kSecretBytes);
  if (!secret.ok()) return secret.status();
  const JoinToken token{identity->ca_fingerprint, HexEncode(*id), Base64UrlEncode(*secret)};

  absl::StatusOr<FileLock> lock = FileLock::Acquire(state_dir / kJoinTokensLockFile);
  if (!lock.ok()) return lock.status();
  absl::StatusOr<json> store = ReadStore(state_dir / kJoinTokensFile);
  if (!store.ok()) return store.status();
  Prune(*store, now);
  const absl::Time expires = now + ttl;
  (*store)["tokens"].push_back({{"id", token.id},
                                {"secret_sha256", Sha256Hex(token.secret)},
                                {"created_unix", absl::ToUnixSeconds(now)},
                                {"expires_unix", absl::ToUnixSeconds(expires)}});
  if (absl::Status s = WritePrivateFile(state_dir / kJoinTokensFile, store->dump(2) + "\n");
      !s.ok()) {
    return s;
  }
  return CreatedJoinToken{
      absl::StrCat(kJoinTokenPrefix, ".", token.ca_fingerprint, ".", token.id, ".", token.secret),
      expires};
}

absl::Status VerifyJoinToken(const fs::path& state_dir, std::string_view text,
                             std::string_view ca_fingerprint, absl::Time now) {
  absl::StatusOr<JoinToken> token = ParseJoinToken(text);
  if (!token.ok()) return absl::UnauthenticatedError(token.status().message());
  if (!ConstantTimeEquals(token->ca_fingerprint, ca_fingerprint)) {
    return absl::UnauthenticatedError(absl::StrCat(
        "join token is for another cluster: it pins CA fingerprint ", token->ca_fingerprint,
        " but this cluster's CA is ", AbslView(ca_fingerprint)));
  }
  absl::StatusOr<FileLock> lock = FileLock::Acquire(state_dir / kJoinTokensLockFile);
  if (!lock.ok()) return lock.status();
  absl::StatusOr<json> store = ReadStore(state_dir / kJoinTokensFile);
  if (!store.ok()) return store.status();

  json* entry = nullptr;
  for (json& candidate : (*store)["tokens"]) {
    if (candidate.value("id", "") == token->id) entry = &candidate;
  }
  if (entry == nullptr) {
    return absl::UnauthenticatedError(absl::StrCat(
        "unknown join token id ", token->id,
        ": it was not created by this node, or expired more than a week ago; create one with "
        "`zend token` on the node that ran `zend init`"));
  }
  // Comparing hashes keeps the comparison's timing independent of the secret itself.
  if (!ConstantTimeEquals(Sha256Hex(token->secret), entry->value("secret_sha256", ""))) {
    return absl::UnauthenticatedError(
        absl::StrCat("join token ", token->id, " has a wrong secret"));
  }
  if (entry->contains("used_unix")) {
    return absl::UnauthenticatedError(
        absl::StrCat("join token ", token->id, " was already used at ",
                     FormatUtc(absl::FromUnixSeconds((*entry)["used_unix"].get<int64_t>())),
                     "; tokens work once, create a new one with `zend token`"));
  }
  const absl::Time expires = absl::FromUnixSeconds(entry->value("expires_unix", int64_t{0}));
  if (now >= expires) {
    return absl::UnauthenticatedError(
        absl::StrCat("join token ", token->id, " expired at ", FormatUtc(expires), " (",
                     absl::FormatDuration(absl::Trunc(now - expires, absl::Seconds(1))),
                     " ago); create a new one with `zend token`"));
  }
  (*entry)["used_unix"] = absl::ToUnixSeconds(now);
  Prune(*store, now);
  return WritePrivateFile(state_dir / kJoinTokensFile, store->dump(2) + "\n");
}

}  // namespace zen::security
