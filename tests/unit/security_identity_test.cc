// Cluster identity: `zend init`, loading, and the join flow's certificate steps.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "daemon/security/certificates.h"
#include "daemon/security/cluster_identity.h"
#include "daemon/security/crypto_util.h"
#include "daemon/security/enrollment.h"
#include "daemon/security/join_token.h"
#include "daemon/security/security_commands.h"
#include "tests/unit/security_test_util.h"

namespace zen::security {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

using ClusterIdentityTest = testing::TempDirTest;

TEST_F(ClusterIdentityTest, InitCreatesOwnerOnlyFiles) {
  const ClusterIdentity identity = InitIdentity("state", "laptop");
  EXPECT_EQ(Mode(Path("state")), 0700);
  for (const char* name : {kCaKeyFile, kCaCertFile, kNodeKeyFile, kNodeCertFile}) {
    EXPECT_EQ(Mode(Path("state") / name), 0600) << name;
  }
  EXPECT_EQ(identity.node_name, "laptop");
  EXPECT_EQ(identity.ca_fingerprint.size(), 64u);
  EXPECT_TRUE(identity.CanIssueCertificates());
}

TEST_F(ClusterIdentityTest, InitTightensAnExistingLooseDirectory) {
  std::filesystem::create_directories(Path("loose"));
  chmod(Path("loose").c_str(), 0755);
  InitIdentity("loose", "node");
  EXPECT_EQ(Mode(Path("loose")), 0700);
}

TEST_F(ClusterIdentityTest, InitRefusesToOverwriteUnlessForced) {
  const ClusterIdentity first = InitIdentity("state", "laptop");
  absl::StatusOr<ClusterIdentity> again = InitCluster({Path("state"), "laptop", {}, false});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(again.status().message()), HasSubstr("--force"));
  EXPECT_THAT(std::string(again.status().message()), HasSubstr(first.ca_fingerprint));
  absl::StatusOr<ClusterIdentity> loaded = LoadIdentity(Path("state"));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->ca_fingerprint, first.ca_fingerprint);

  absl::StatusOr<ClusterIdentity> forced = InitCluster({Path("state"), "laptop", {}, true});
  ASSERT_TRUE(forced.ok()) << forced.status();
  EXPECT_NE(forced->ca_fingerprint, first.ca_fingerprint);
}

TEST_F(ClusterIdentityTest, FingerprintIsStableAcrossLoadsAndMatchesTheCertificate) {
  const ClusterIdentity created = InitIdentity("state", "laptop");
  absl::StatusOr<ClusterIdentity> first = LoadIdentity(Path("state"));
  absl::StatusOr<ClusterIdentity> second = LoadIdentity(Path("state"));
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(first->ca_fingerprint, created.ca_fingerprint);
  EXPECT_EQ(second->ca_fingerprint, created.ca_fingerprint);
  EXPECT_EQ(first->node_name, "laptop");
  // The fingerprint is SHA-256 over the DER encoding, not over the PEM text.
  EXPECT_NE(created.ca_fingerprint, Sha256Hex(created.ca_cert_pem));
  absl::StatusOr<std::string> recomputed = CaFingerprint(created.ca_cert_pem);
  ASSERT_TRUE(recomputed.ok());
  EXPECT_EQ(*recomputed, created.ca_fingerprint);
}

TEST_F(ClusterIdentityTest, CertificatesHaveTheExpectedShape) {
  absl::StatusOr<ClusterIdentity> identity =
      InitCluster({Path("state"), "desk", {"192.168.1.20", "desk.lan"}, false});
  ASSERT_TRUE(identity.ok()) << identity.status();
  absl::StatusOr<CertPtr> ca = CertFromPem(identity->ca_cert_pem, "ca");
  absl::StatusOr<CertPtr> node = CertFromPem(identity->node_cert_pem, "node");
  ASSERT_TRUE(ca.ok() && node.ok());
  EXPECT_EQ(X509_check_ca(ca->get()), 1);
  EXPECT_EQ(X509_check_ca(node->get()), 0);
  EXPECT_TRUE(IsSignedBy(node->get(), ca->get()));
  EXPECT_TRUE(IsSignedBy(ca->get(), ca->get()));
  EXPECT_EQ(EVP_PKEY_get_base_id(X509_get0_pubkey(node->get())), EVP_PKEY_EC);
  const std::vector<std::string> names = SubjectAltNames(node->get());
  for (const char* expected : {"DNS:desk", "DNS:localhost", "IP:127.0.0.1", "IP:::1",
                               "IP:192.168.1.20", "DNS:desk.lan", "DNS:peer.zend.internal"}) {
    EXPECT_THAT(names, Contains(expected));
  }
  // Ten years, give or take the hour of clock-skew allowance.
  int days = 0, seconds = 0;
  ASSERT_EQ(ASN1_TIME_diff(&days, &seconds, X509_get0_notBefore(ca->get()),
                           X509_get0_notAfter(ca->get())),
            1);
  EXPECT_NEAR(days, 3650, 1);
}

TEST_F(ClusterIdentityTest, RejectsBadNodeNamesAndAddresses) {
  EXPECT_FALSE(InitCluster({Path("a"), "my laptop", {}, false}).ok());
  EXPECT_FALSE(InitCluster({Path("b"), "-x", {}, false}).ok());
  EXPECT_FALSE(InitCluster({Path("c"), "ok", {"not a host,IP:1.2.3.4"}, false}).ok());
  EXPECT_TRUE(ValidateNodeName("pi-4_b.lan").ok());
}

TEST_F(ClusterIdentityTest, LoadRefusesAKeyReadableByOthers) {
  InitIdentity("state", "laptop");
  ASSERT_EQ(chmod((Path("state") / kNodeKeyFile).c_str(), 0644), 0);
  absl::StatusOr<ClusterIdentity> loaded = LoadIdentity(Path("state"));
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("chmod 600"));
}

TEST_F(ClusterIdentityTest, LoadRefusesAMismatchedNodeCertificate) {
  InitIdentity("one", "a");
  InitIdentity("two", "b");
  std::filesystem::copy_file(Path("two") / kNodeCertFile, Path("one") / kNodeCertFile,
                             std::filesystem::copy_options::overwrite_existing);
  absl::StatusOr<ClusterIdentity> loaded = LoadIdentity(Path("one"));
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("is not signed by"));
}

TEST_F(ClusterIdentityTest, LoadOfAnEmptyDirectorySaysHowToCreateOne) {
  absl::StatusOr<ClusterIdentity> loaded = LoadIdentity(Path("nothing"));
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("zend init"));
}

TEST_F(ClusterIdentityTest, JoinFlowGivesTheJoinerAWorkingIdentity) {
  const ClusterIdentity leader = InitIdentity("leader", "leader");
  absl::StatusOr<CreatedJoinToken> token = CreateJoinToken(Path("leader"), absl::Hours(1));
  ASSERT_TRUE(token.ok()) << token.status();

  absl::StatusOr<JoinRequestMaterial> request = PrepareJoinRequest("pi-4");
  ASSERT_TRUE(request.ok()) << request.status();
  absl::StatusOr<JoinGrant> grant =
      AdmitNode(Path("leader"), leader, token->token, request->csr_pem, "pi-4", {"10.0.0.7"});
  ASSERT_TRUE(grant.ok()) << grant.status();
  absl::StatusOr<ClusterIdentity> joined =
      CompleteJoin(Path("joiner"), *request, token->token, *grant);
  ASSERT_TRUE(joined.ok()) << joined.status();

  // What a restart sees: the same CA, its own name, and no power to admit others.
  absl::StatusOr<ClusterIdentity> reloaded = LoadIdentity(Path("joiner"));
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ(reloaded->ca_fingerprint, leader.ca_fingerprint);
  EXPECT_EQ(reloaded->node_name, "pi-4");
  EXPECT_FALSE(reloaded->CanIssueCertificates());
  EXPECT_FALSE(std::filesystem::exists(Path("joiner") / kCaKeyFile));
  EXPECT_EQ(Mode(Path("joiner") / kNodeKeyFile), 0600);
  absl::StatusOr<CertPtr> cert = CertFromPem(reloaded->node_cert_pem, "joined");
  ASSERT_TRUE(cert.ok());
  EXPECT_THAT(SubjectAltNames(cert->get()), Contains("IP:10.0.0.7"));

  // A joined node cannot mint tokens: it has no CA key.
  absl::StatusOr<CreatedJoinToken> from_joiner = CreateJoinToken(Path("joiner"), absl::Hours(1));
  ASSERT_FALSE(from_joiner.ok());
  EXPECT_THAT(std::string(from_joiner.status().message()), HasSubstr("no CA key"));
}

TEST_F(ClusterIdentityTest, AdmitNodeRejectsAForgedCsrWithoutBurningTheToken) {
  const ClusterIdentity leader = InitIdentity("leader", "leader");
  absl::StatusOr<CreatedJoinToken> token = CreateJoinToken(Path("leader"), absl::Hours(1));
  ASSERT_TRUE(token.ok());
  absl::StatusOr<JoinGrant> bad = AdmitNode(Path("leader"), leader, token->token,
                                            "-----BEGIN CERTIFICATE REQUEST-----\nxx", "pi", {});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<JoinRequestMaterial> request = PrepareJoinRequest("pi");
  ASSERT_TRUE(request.ok());
  EXPECT_TRUE(AdmitNode(Path("leader"), leader, token->token, request->csr_pem, "pi", {}).ok());
}

TEST_F(ClusterIdentityTest, CompleteJoinRefusesACaThatDoesNotMatchThePin) {
  const ClusterIdentity leader = InitIdentity("leader", "leader");
  const ClusterIdentity impostor = InitIdentity("impostor", "leader");
  absl::StatusOr<CreatedJoinToken> token = CreateJoinToken(Path("leader"), absl::Hours(1));
  absl::StatusOr<JoinRequestMaterial> request = PrepareJoinRequest("pi");
  ASSERT_TRUE(token.ok() && request.ok());
  // The impostor signs with its own CA; the joiner's pin (from the token) must catch it.
  absl::StatusOr<std::string> cert = IssueNodeCertificate(impostor, request->csr_pem, "pi");
  ASSERT_TRUE(cert.ok()) << cert.status();
  absl::StatusOr<ClusterIdentity> joined =
      CompleteJoin(Path("joiner"), *request, token->token, JoinGrant{*cert, impostor.ca_cert_pem});
  ASSERT_FALSE(joined.ok());
  EXPECT_THAT(std::string(joined.status().message()), HasSubstr("does not match the fingerprint"));
  EXPECT_FALSE(HasIdentity(Path("joiner")));
  EXPECT_TRUE(PinnedCaMatches(leader.ca_cert_pem, leader.ca_fingerprint));
  EXPECT_FALSE(PinnedCaMatches(impostor.ca_cert_pem, leader.ca_fingerprint));
  EXPECT_FALSE(PinnedCaMatches("garbage", leader.ca_fingerprint));
}

TEST_F(ClusterIdentityTest, InitCommandPrintsTheFingerprintAndRefusesASecondRun) {
  std::ostringstream out, err;
  InitCommandOptions options{Path("state").string(), "box", {}, false};
  ASSERT_EQ(RunInitCommand(options, out, err), kExitOk) << err.str();
  absl::StatusOr<ClusterIdentity> loaded = LoadIdentity(Path("state"));
  ASSERT_TRUE(loaded.ok());
  EXPECT_THAT(out.str(), HasSubstr(loaded->ca_fingerprint));
  std::ostringstream out2, err2;
  EXPECT_EQ(RunInitCommand(options, out2, err2), kExitFailure);
  EXPECT_THAT(err2.str(), HasSubstr("already holds a cluster identity"));
}

}  // namespace
}  // namespace zen::security
