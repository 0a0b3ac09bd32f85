// The security subcommands as zend's command line parses them (CLI11).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "absl/strings/str_split.h"
#include "daemon/security/api_keys.h"
#include "daemon/security/cluster_identity.h"
#include "daemon/security/join_token.h"
#include "daemon/security/security_cli.h"
#include "daemon/security/security_commands.h"
#include "tests/unit/security_test_util.h"

namespace zen::security {
namespace {

using ::testing::HasSubstr;

class SecurityCliTest : public testing::TempDirTest {
 protected:
  // Parses `args` the way zend's main would and returns what the command printed.
  std::string Run(std::vector<std::string> args, int* exit_code) {
    CLI::App app("zend");
    app.require_subcommand(1);
    *exit_code = -1;
    AddSecurityCommands(app, exit_code);
    std::vector<const char*> argv = {"zend"};
    for (const std::string& arg : args) argv.push_back(arg.c_str());
    ::testing::internal::CaptureStdout();
    try {
      app.parse(static_cast<int>(argv.size()), const_cast<char**>(argv.data()));
    } catch (const CLI::ParseError& error) {
      *exit_code = app.exit(error);
    }
    return ::testing::internal::GetCapturedStdout();
  }

  static std::string LastLine(const std::string& text) {
    std::vector<std::string> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
    return lines.empty() ? "" : lines.back();
  }
};

TEST_F(SecurityCliTest, InitTokenAndApiKeyLifecycle) {
  const std::string dir = Path("state").string();
  int code = 0;
  std::string out =
      Run({"init", "--state-dir", dir, "--name", "hub", "--address", "10.0.0.2"}, &code);
  ASSERT_EQ(code, kExitOk) << out;
  absl::StatusOr<ClusterIdentity> identity = LoadIdentity(dir);
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->node_name, "hub");

  out = Run({"token", "--state-dir", dir, "--ttl", "10m"}, &code);
  ASSERT_EQ(code, kExitOk) << out;
  EXPECT_TRUE(VerifyJoinToken(dir, LastLine(out), identity->ca_fingerprint).ok());

  out = Run({"apikey", "create", "--state-dir", dir, "--name", "webui"}, &code);
  ASSERT_EQ(code, kExitOk) << out;
  const std::string key = LastLine(out);
  absl::StatusOr<ApiKeyStore> store = ApiKeyStore::Open(dir);
  ASSERT_TRUE(store.ok());
  std::optional<std::string> id = store->Verify(key);
  ASSERT_TRUE(id.has_value()) << out;

  out = Run({"apikey", "--state-dir", dir, "list"}, &code);
  ASSERT_EQ(code, kExitOk);
  EXPECT_THAT(out, HasSubstr("webui"));
  EXPECT_THAT(out, HasSubstr(*id));

  out = Run({"apikey", "revoke", *id, "--state-dir", dir}, &code);
  ASSERT_EQ(code, kExitOk) << out;
  EXPECT_FALSE(store->Verify(key).has_value());
}

TEST_F(SecurityCliTest, RevokeWithoutIdIsAUsageError) {
  int code = 0;
  Run({"apikey", "revoke", "--state-dir", Path("state").string()}, &code);
  EXPECT_NE(code, kExitOk);
}

TEST_F(SecurityCliTest, SecondInitFailsWithoutForce) {
  const std::string dir = Path("state").string();
  int code = 0;
  Run({"init", "--state-dir", dir}, &code);
  ASSERT_EQ(code, kExitOk);
  Run({"init", "--state-dir", dir}, &code);
  EXPECT_EQ(code, kExitFailure);
  Run({"init", "--state-dir", dir, "--force"}, &code);
  EXPECT_EQ(code, kExitOk);
}

}  // namespace
}  // namespace zen::security
