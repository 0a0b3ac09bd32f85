// Join tokens: how a new node proves to the leader that a person with access to the
// cluster let it in. A token carries the CA fingerprint (so the joiner can pin the CA
// before trusting anything) and a one-time secret the leader keeps only as a hash.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace zen::security {

// The token store inside the state directory (0600 JSON), and its lock file.
inline constexpr char kJoinTokensFile[] = "join_tokens.json";
inline constexpr char kJoinTokensLockFile[] = "join_tokens.lock";
// The version prefix of every token: "zen1.<ca fingerprint>.<id>.<secret>".
inline constexpr char kJoinTokenPrefix[] = "zen1";

// A token split into its parts.
struct JoinToken {
  std::string ca_fingerprint;  // 64 hex digits: SHA-256 of the CA certificate's DER
  std::string id;              // 12 hex digits, names the stored hash
  std::string secret;          // 43 base64url characters (32 random bytes)
};

// Splits and checks the shape of a token; InvalidArgument says which part is wrong.
absl::StatusOr<JoinToken> ParseJoinToken(std::string_view text);

// A token just created: the text to give the joining node, and when it stops working.
struct CreatedJoinToken {
  std::string token;
  absl::Time expires;
};

// Creates a one-time token valid for `ttl` from `now` for the CA in `state_dir`, storing
// only the SHA-256 of its secret. Needs the CA key (only the initial node can admit).
absl::StatusOr<CreatedJoinToken> CreateJoinToken(const std::filesystem::path& state_dir,
                                                 absl::Duration ttl, absl::Time now = absl::Now());

// Checks `token` against the store in `state_dir` and this cluster's `ca_fingerprint`, and
// on success marks it used so it never works again. Unauthenticated errors say whether the
// token is for another cluster, unknown, wrong, already used or expired.
absl::Status VerifyJoinToken(const std::filesystem::path& state_dir, std::string_view token,
                             std::string_view ca_fingerprint, absl::Time now = absl::Now());

}  // namespace zen::security
