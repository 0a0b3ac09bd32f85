#include "daemon/security/enrollment.h"

#include "absl/strings/str_cat.h"
#include "daemon/security/certificates.h"
#include "daemon/security/crypto_util.h"
#include "daemon/security/join_token.h"

namespace zen::security {

absl::StatusOr<JoinRequestMaterial> PrepareJoinRequest(std::string_view node_name) {
  absl::StatusOr<KeyPtr> key = GenerateEcKey();
  if (!key.ok()) return key.status();
  absl::StatusOr<CsrPtr> request = MakeCertificateRequest(key->get(), node_name);
  if (!request.ok()) return request.status();
  absl::StatusOr<std::string> key_pem = KeyToPem(key->get());
  if (!key_pem.ok()) return key_pem.status();
  absl::StatusOr<std::string> csr_pem = CsrToPem(request->get());
  if (!csr_pem.ok()) return csr_pem.status();
  return JoinRequestMaterial{std::string(node_name), *std::move(key_pem), *std::move(csr_pem)};
}

absl::StatusOr<std::string> IssueNodeCertificate(const ClusterIdentity& leader,
                                                 std::string_view csr_pem,
                                                 std::string_view node_name,
                                                 const std::vector<std::string>& addresses) {
  if (!leader.CanIssueCertificates()) {
    return absl::FailedPreconditionError(
        "this node has no CA key and cannot admit nodes; join through the node that ran "
        "`zend init`");
  }
  absl::StatusOr<CsrPtr> request = CsrFromPem(csr_pem, "join request CSR");
  if (!request.ok()) return absl::InvalidArgumentError(request.status().message());
  EVP_PKEY* public_key = X509_REQ_get0_pubkey(request->get());
  // The self-signature proves the joiner holds the private key it asks us to certify.
  if (public_key == nullptr || X509_REQ_verify(request->get(), public_key) != 1) {
    return absl::InvalidArgumentError("join request CSR: its signature does not verify");
  }
  absl::StatusOr<CertPtr> ca = CertFromPem(leader.ca_cert_pem, "CA certificate");
  if (!ca.ok()) return ca.status();
  absl::StatusOr<KeyPtr> ca_key = KeyFromPem(leader.ca_key_pem, "CA key");
  if (!ca_key.ok()) return ca_key.status();
  absl::StatusOr<CertPtr> cert =
      SignNodeCertificate(ca->get(), ca_key->get(), public_key, node_name, addresses);
  if (!cert.ok()) return cert.status();
  return CertToPem(cert->get());
}

absl::StatusOr<JoinGrant> AdmitNode(const std::filesystem::path& state_dir,
                                    const ClusterIdentity& leader, std::string_view token,
                                    std::string_view csr_pem, std::string_view node_name,
                                    const std::vector<std::string>& addresses, absl::Time now) {
  // Check what is cheap and needs no secret first, so a bad CSR does not burn the token.
  if (absl::Status s = ValidateNodeName(node_name); !s.ok()) return s;
  absl::StatusOr<CsrPtr> request = CsrFromPem(csr_pem, "join request CSR");
  if (!request.ok()) return absl::InvalidArgumentError(request.status().message());
  if (absl::Status s = VerifyJoinToken(state_dir, token, leader.ca_fingerprint, now); !s.ok()) {
    return s;
  }
  absl::StatusOr<std::string> cert = IssueNodeCertificate(leader, csr_pem, node_name, addresses);
  if (!cert.ok()) return cert.status();
  return JoinGrant{*std::move(cert), leader.ca_cert_pem};
}

bool PinnedCaMatches(std::string_view ca_cert_pem, std::string_view fingerprint) {
  absl::StatusOr<std::string> actual = CaFingerprint(ca_cert_pem);
  return actual.ok() && ConstantTimeEquals(*actual, fingerprint);
}

absl::StatusOr<ClusterIdentity> CompleteJoin(const std::filesystem::path& state_dir,
                                             const JoinRequestMaterial& request,
                                             std::string_view token, const JoinGrant& grant,
                                             bool force) {
  absl::StatusOr<JoinToken> parsed = ParseJoinToken(token);
  if (!parsed.ok()) return parsed.status();
  if (!PinnedCaMatches(grant.ca_cert_pem, parsed->ca_fingerprint)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "the leader's CA certificate does not match the fingerprint in the join token (",
        parsed->ca_fingerprint, "): refusing to trust it"));
  }
  absl::StatusOr<CertPtr> ca = CertFromPem(grant.ca_cert_pem, "granted CA certificate");
  if (!ca.ok()) return ca.status();
  absl::StatusOr<CertPtr> cert = CertFromPem(grant.node_cert_pem, "granted node certificate");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<KeyPtr> key = KeyFromPem(request.key_pem, "join key");
  if (!key.ok()) return key.status();
  if (!IsSignedBy(cert->get(), ca->get())) {
    return absl::PermissionDeniedError("the granted node certificate is not signed by the CA");
  }
  if (!CertMatchesKey(cert->get(), key->get())) {
    return absl::PermissionDeniedError(
        "the granted node certificate is for another key than this node's join request");
  }
  ClusterIdentity identity;
  identity.node_name = CommonName(cert->get());
  identity.ca_cert_pem = grant.ca_cert_pem;
  identity.node_cert_pem = grant.node_cert_pem;
  identity.node_key_pem = request.key_pem;
  identity.ca_fingerprint = parsed->ca_fingerprint;
  if (absl::Status s = StoreJoinedIdentity(state_dir, identity, force); !s.ok()) return s;
  return identity;
}

}  // namespace zen::security
