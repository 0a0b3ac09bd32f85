// Join tokens: format, one-time use, expiry, and the errors a user sees.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "absl/strings/str_split.h"
#include "daemon/security/cluster_identity.h"
#include "daemon/security/join_token.h"
#include "daemon/security/secure_files.h"
#include "daemon/security/security_commands.h"
#include "tests/unit/security_test_util.h"

namespace zen::security {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

class JoinTokenTest : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    fingerprint_ = InitIdentity("state", "leader").ca_fingerprint;
    ASSERT_FALSE(fingerprint_.empty());
  }

  std::string NewToken(absl::Duration ttl = absl::Hours(1), absl::Time now = absl::Now()) {
    absl::StatusOr<CreatedJoinToken> token = CreateJoinToken(Path("state"), ttl, now);
    EXPECT_TRUE(token.ok()) << token.status();
    return token.ok() ? token->token : "";
  }

  absl::Status Verify(const std::string& token, absl::Time now = absl::Now()) {
    return VerifyJoinToken(Path("state"), token, fingerprint_, now);
  }

  static std::string Message(const absl::Status& status) { return std::string(status.message()); }

  std::string fingerprint_;
};

TEST_F(JoinTokenTest, TokenCarriesTheFingerprintAndIsUrlSafe) {
  const std::string token = NewToken();
  EXPECT_THAT(token, MatchesRegex("zen1\\.[0-9a-f]{64}\\.[0-9a-f]{12}\\.[A-Za-z0-9_-]{43}"));
  absl::StatusOr<JoinToken> parsed = ParseJoinToken(token);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->ca_fingerprint, fingerprint_);
  EXPECT_NE(NewToken(), token);
}

TEST_F(JoinTokenTest, StoreKeepsOnlyTheSecretsHashWithOwnerOnlyMode) {
  const std::string token = NewToken();
  absl::StatusOr<JoinToken> parsed = ParseJoinToken(token);
  ASSERT_TRUE(parsed.ok());
  absl::StatusOr<std::string> store = ReadWholeFile(Path("state") / kJoinTokensFile);
  ASSERT_TRUE(store.ok());
  EXPECT_THAT(*store, Not(HasSubstr(parsed->secret)));
  EXPECT_THAT(*store, HasSubstr(parsed->id));
  EXPECT_EQ(Mode(Path("state") / kJoinTokensFile), 0600);
}

TEST_F(JoinTokenTest, RoundTripSucceedsOnceThenReportsReuse) {
  const std::string token = NewToken();
  EXPECT_TRUE(Verify(token).ok());
  absl::Status again = Verify(token);
  EXPECT_EQ(again.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(Message(again), HasSubstr("already used"));
}

TEST_F(JoinTokenTest, TokensAreIndependent) {
  const std::string first = NewToken();
  const std::string second = NewToken();
  EXPECT_TRUE(Verify(second).ok());
  EXPECT_TRUE(Verify(first).ok());
}

TEST_F(JoinTokenTest, ExpiredTokenSaysExpired) {
  const absl::Time created = absl::Now();
  const std::string token = NewToken(absl::Minutes(10), created);
  absl::Status status = Verify(token, created + absl::Minutes(11));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(Message(status), HasSubstr("expired"));
  EXPECT_THAT(Message(status), HasSubstr("1m ago"));
  // Just before the deadline it still works.
  EXPECT_TRUE(Verify(token, created + absl::Minutes(9)).ok());
}

TEST_F(JoinTokenTest, WrongFingerprintSaysAnotherCluster) {
  std::string token = NewToken();
  const std::string other_fingerprint(64, 'a');
  token.replace(5, 64, other_fingerprint);
  absl::Status status = Verify(token);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(Message(status), HasSubstr("another cluster"));
  EXPECT_THAT(Message(status), HasSubstr(other_fingerprint));
}

TEST_F(JoinTokenTest, WrongSecretIsRefusedAndDoesNotConsumeTheToken) {
  const std::string token = NewToken();
  std::string forged = token;
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  absl::Status status = Verify(forged);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(Message(status), HasSubstr("wrong secret"));
  EXPECT_TRUE(Verify(token).ok());
}

TEST_F(JoinTokenTest, UnknownIdIsRefused) {
  std::string token = NewToken();
  token.replace(5 + 64 + 1, 12, "0123456789ab");
  absl::Status status = Verify(token);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(Message(status), HasSubstr("unknown join token"));
}

TEST_F(JoinTokenTest, MalformedTokensNameTheBadPart) {
  const std::string token = NewToken();
  struct Case {
    std::string text;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"", "malformed"},
      {"zen2" + token.substr(4), "malformed"},
      {token.substr(0, token.size() - 5), "secret must be 43"},
      {token.substr(0, 10) + "G" + token.substr(11), "fingerprint must be 64"},
      {token + ".extra", "malformed"},
  };
  for (const Case& c : cases) {
    absl::Status status = Verify(c.text);
    EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated) << c.text;
    EXPECT_THAT(Message(status), HasSubstr(c.says)) << c.text;
  }
  // Surrounding whitespace from a copy and paste is forgiven.
  EXPECT_TRUE(Verify("  " + token + "\n").ok());
}

TEST_F(JoinTokenTest, NonPositiveTtlIsRejected) {
  EXPECT_EQ(CreateJoinToken(Path("state"), absl::ZeroDuration()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(JoinTokenTest, TokenCommandPrintsAWorkingTokenOnItsLastLine) {
  std::ostringstream out, err;
  ASSERT_EQ(RunTokenCommand({Path("state").string(), "30m"}, out, err), kExitOk) << err.str();
  std::vector<std::string> lines = absl::StrSplit(out.str(), '\n', absl::SkipEmpty());
  ASSERT_GE(lines.size(), 2u);
  EXPECT_TRUE(Verify(lines.back()).ok());

  std::ostringstream bad_out, bad_err;
  EXPECT_EQ(RunTokenCommand({Path("state").string(), "soon"}, bad_out, bad_err), kExitUsage);
  EXPECT_THAT(bad_err.str(), HasSubstr("--ttl"));
}

}  // namespace
}  // namespace zen::security
