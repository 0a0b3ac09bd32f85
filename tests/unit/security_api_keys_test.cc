// API keys: created once, stored hashed, verified, revoked (also from another process).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "absl/strings/str_split.h"
#include "daemon/security/api_keys.h"
#include "daemon/security/secure_files.h"
#include "daemon/security/security_commands.h"
#include "tests/unit/security_test_util.h"

namespace zen::security {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;
using ::testing::Optional;

class ApiKeyStoreTest : public testing::TempDirTest {
 protected:
  ApiKeyStore Open() {
    absl::StatusOr<ApiKeyStore> store = ApiKeyStore::Open(Path("state"));
    EXPECT_TRUE(store.ok()) << store.status();
    return *std::move(store);
  }
};

TEST_F(ApiKeyStoreTest, CreatedKeyVerifiesAndOthersDoNot) {
  ApiKeyStore store = Open();
  EXPECT_FALSE(store.HasKeys());
  absl::StatusOr<CreatedApiKey> created = store.Create("open-webui");
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_THAT(created->key, MatchesRegex("zen-sk-[A-Za-z0-9_-]{43}"));
  EXPECT_THAT(store.Verify(created->key), Optional(created->info.id));
  EXPECT_TRUE(store.HasKeys());

  std::string altered = created->key;
  altered[10] = altered[10] == 'x' ? 'y' : 'x';
  EXPECT_EQ(store.Verify(altered), std::nullopt);
  EXPECT_EQ(store.Verify(""), std::nullopt);
  EXPECT_EQ(store.Verify(created->key + "x"), std::nullopt);
  EXPECT_EQ(store.Verify(created->key.substr(0, 20)), std::nullopt);
}

TEST_F(ApiKeyStoreTest, FileHoldsOnlyHashesWithOwnerOnlyMode) {
  ApiKeyStore store = Open();
  absl::StatusOr<CreatedApiKey> first = store.Create("a");
  absl::StatusOr<CreatedApiKey> second = store.Create("b");
  ASSERT_TRUE(first.ok() && second.ok());
  absl::StatusOr<std::string> file = ReadWholeFile(Path("state") / kApiKeysFile);
  ASSERT_TRUE(file.ok());
  for (const CreatedApiKey* key : {&*first, &*second}) {
    EXPECT_THAT(*file, Not(HasSubstr(key->key)));
    EXPECT_THAT(*file, Not(HasSubstr(key->key.substr(7))));  // nor the random part alone
    EXPECT_THAT(*file, HasSubstr(key->info.id));
  }
  EXPECT_EQ(Mode(Path("state") / kApiKeysFile), 0600);
  EXPECT_EQ(Mode(Path("state")), 0700);
}

TEST_F(ApiKeyStoreTest, RevokedKeyIsRejectedAndOthersStillWork) {
  ApiKeyStore store = Open();
  absl::StatusOr<CreatedApiKey> keep = store.Create("keep");
  absl::StatusOr<CreatedApiKey> drop = store.Create("drop");
  ASSERT_TRUE(keep.ok() && drop.ok());
  ASSERT_TRUE(store.Revoke(drop->info.id).ok());
  EXPECT_EQ(store.Verify(drop->key), std::nullopt);
  EXPECT_THAT(store.Verify(keep->key), Optional(keep->info.id));
  absl::Status again = store.Revoke(drop->info.id);
  EXPECT_EQ(again.code(), absl::StatusCode::kNotFound);
}

TEST_F(ApiKeyStoreTest, RevocationByAnotherStoreTakesEffectWithoutRestart) {
  ApiKeyStore daemon = Open();
  absl::StatusOr<CreatedApiKey> key = daemon.Create("laptop");
  ASSERT_TRUE(key.ok());
  ASSERT_TRUE(daemon.Verify(key->key).has_value());
  // As `zend apikey revoke` would, from its own process.
  std::ostringstream out, err;
  ApiKeyCommandOptions revoke{Path("state").string(), "revoke", "", key->info.id};
  ASSERT_EQ(RunApiKeyCommand(revoke, out, err), kExitOk) << err.str();
  EXPECT_EQ(daemon.Verify(key->key), std::nullopt);
}

TEST_F(ApiKeyStoreTest, ListShowsIdsAndNamesButNeverKeys) {
  ApiKeyStore store = Open();
  absl::StatusOr<CreatedApiKey> key = store.Create("phone");
  ASSERT_TRUE(key.ok());
  absl::StatusOr<std::vector<ApiKeyInfo>> listed = store.List();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].name, "phone");
  EXPECT_EQ((*listed)[0].id, key->info.id);

  std::ostringstream out, err;
  ASSERT_EQ(RunApiKeyCommand({Path("state").string(), "list", "", ""}, out, err), kExitOk);
  EXPECT_THAT(out.str(), HasSubstr("phone"));
  EXPECT_THAT(out.str(), HasSubstr(key->info.id));
  EXPECT_THAT(out.str(), Not(HasSubstr(key->key)));
}

TEST_F(ApiKeyStoreTest, CreateCommandPrintsTheKeyOnceOnItsLastLine) {
  std::ostringstream out, err;
  ASSERT_EQ(RunApiKeyCommand({Path("state").string(), "create", "cli", ""}, out, err), kExitOk)
      << err.str();
  std::vector<std::string> lines = absl::StrSplit(out.str(), '\n', absl::SkipEmpty());
  ASSERT_FALSE(lines.empty());
  ApiKeyStore store = Open();
  EXPECT_TRUE(store.Verify(lines.back()).has_value());

  std::ostringstream bad_out, bad_err;
  EXPECT_EQ(RunApiKeyCommand({Path("state").string(), "revoke", "", ""}, bad_out, bad_err),
            kExitUsage);
  EXPECT_EQ(RunApiKeyCommand({Path("state").string(), "revoke", "", "k-nope"}, bad_out, bad_err),
            kExitFailure);
  EXPECT_THAT(bad_err.str(), HasSubstr("k-nope"));
}

TEST_F(ApiKeyStoreTest, StoreReadableByOthersIsRefused) {
  ApiKeyStore store = Open();
  ASSERT_TRUE(store.Create("x").ok());
  ASSERT_EQ(chmod((Path("state") / kApiKeysFile).c_str(), 0644), 0);
  absl::StatusOr<ApiKeyStore> reopened = ApiKeyStore::Open(Path("state"));
  ASSERT_FALSE(reopened.ok());
  EXPECT_THAT(std::string(reopened.status().message()), HasSubstr("chmod 600"));
}

TEST(BearerHeaderTest, ExtractsTheCredential) {
  EXPECT_THAT(BearerToken("Bearer zen-sk-abc"), Optional(std::string_view("zen-sk-abc")));
  EXPECT_THAT(BearerToken("bearer   zen-sk-abc  "), Optional(std::string_view("zen-sk-abc")));
  EXPECT_THAT(BearerToken("BEARER\tk"), Optional(std::string_view("k")));
  EXPECT_EQ(BearerToken("Basic dXNlcjpwYXNz"), std::nullopt);
  EXPECT_EQ(BearerToken("Bearer"), std::nullopt);
  EXPECT_EQ(BearerToken("Bearer    "), std::nullopt);
  EXPECT_EQ(BearerToken("Bearerzen-sk-abc"), std::nullopt);
  EXPECT_EQ(BearerToken(""), std::nullopt);
}

}  // namespace
}  // namespace zen::security
