// How zend obtains its cluster identity at start, without a network: the leader creates
// or reloads it, a joiner without identity or token is told what to do, and the leader's
// side of enrollment issues a certificate for a valid token exactly once.
#include "daemon/node_identity.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon/security/certificates.h"
#include "daemon/security/enrollment.h"
#include "daemon/security/join_token.h"
#include "tests/unit/security_test_util.h"

namespace zen::daemon {
namespace {

using security::testing::TempDirTest;
using ::testing::HasSubstr;

TEST(CertificateNameTest, KeepsValidNamesAndRepairsOthers) {
  EXPECT_EQ(CertificateName("pi-4"), "pi-4");
  EXPECT_EQ(CertificateName("laptop:7070"), "laptop-7070");
  EXPECT_EQ(CertificateName(""), "n");
  EXPECT_EQ(CertificateName("-x"), "n-x");
  EXPECT_EQ(CertificateName("über"), "n--ber");
  const std::string long_name(100, 'a');
  EXPECT_EQ(CertificateName(long_name).size(), 63u);
  for (const char* name : {"laptop:7070", "", "-x", "über", "a b/c"}) {
    EXPECT_TRUE(security::ValidateNodeName(CertificateName(name)).ok()) << name;
  }
}

class NodeIdentityTest : public TempDirTest {
 protected:
  DaemonConfig Config(const std::string& dir, const std::string& name) {
    DaemonConfig config;
    config.state_dir = Path(dir).string();
    config.name = name;
    return config;
  }
};

TEST_F(NodeIdentityTest, LeaderCreatesItsIdentityOnceAndReloadsIt) {
  const DaemonConfig config = Config("leader", "laptop:7070");
  absl::StatusOr<security::ClusterIdentity> created = LoadOrCreateIdentity(config);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(created->CanIssueCertificates());
  EXPECT_EQ(created->node_name, "laptop-7070");
  absl::StatusOr<security::ClusterIdentity> reloaded = LoadOrCreateIdentity(config);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ(reloaded->ca_fingerprint, created->ca_fingerprint);
  EXPECT_EQ(reloaded->node_cert_pem, created->node_cert_pem);
}

TEST_F(NodeIdentityTest, JoinerWithoutIdentityOrTokenIsToldToGetAToken) {
  DaemonConfig config = Config("joiner", "pi");
  config.join = "127.0.0.1:1";
  absl::StatusOr<security::ClusterIdentity> identity =
      LoadOrEnrollIdentity(config, [] { return false; });
  ASSERT_FALSE(identity.ok());
  EXPECT_EQ(identity.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(identity.status().message()), HasSubstr("zend token"));
  EXPECT_THAT(std::string(identity.status().message()), HasSubstr("--token"));
}

TEST_F(NodeIdentityTest, JoinerWithStoredIdentityNeedsNoLeaderAndNoToken) {
  const security::ClusterIdentity existing = InitIdentity("joiner", "pi");
  DaemonConfig config = Config("joiner", "pi");
  config.join = "127.0.0.1:1";  // nothing listens: the stored identity must suffice
  absl::StatusOr<security::ClusterIdentity> identity =
      LoadOrEnrollIdentity(config, [] { return false; });
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->ca_fingerprint, existing.ca_fingerprint);
}

TEST_F(NodeIdentityTest, LeaderEnrollsAValidTokenOnceAndRefusesTheRest) {
  const DaemonConfig config = Config("leader", "leader");
  absl::StatusOr<security::ClusterIdentity> leader = LoadOrCreateIdentity(config);
  ASSERT_TRUE(leader.ok()) << leader.status();
  absl::StatusOr<security::CreatedJoinToken> token =
      security::CreateJoinToken(config.state_dir, absl::Hours(1));
  ASSERT_TRUE(token.ok()) << token.status();
  absl::StatusOr<security::JoinRequestMaterial> material =
      security::PrepareJoinRequest(CertificateName("pi:7070"));
  ASSERT_TRUE(material.ok()) << material.status();

  pb::JoinRequest request;
  request.mutable_capabilities()->set_name("pi:7070");
  request.set_csr_pem(material->csr_pem);
  absl::StatusOr<pb::JoinResponse> refused = EnrollNode(config, *leader, request);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("zend token"));

  request.set_token(token->token);
  absl::StatusOr<pb::JoinResponse> granted = EnrollNode(config, *leader, request);
  ASSERT_TRUE(granted.ok()) << granted.status();
  EXPECT_EQ(granted->ca_cert_pem(), leader->ca_cert_pem);
  absl::StatusOr<security::ClusterIdentity> joined =
      security::CompleteJoin(Path("joiner"), *material, token->token,
                             security::JoinGrant{granted->node_cert_pem(), granted->ca_cert_pem()});
  ASSERT_TRUE(joined.ok()) << joined.status();
  EXPECT_EQ(joined->node_name, "pi-7070");

  absl::StatusOr<pb::JoinResponse> reused = EnrollNode(config, *leader, request);
  ASSERT_FALSE(reused.ok());
  EXPECT_EQ(reused.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(reused.status().message()), HasSubstr("already used"));
}

}  // namespace
}  // namespace zen::daemon
