// X.509 building blocks for the cluster CA: self-signed CA certificates, node
// certificate requests, and node certificates signed by the CA.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "daemon/security/crypto_util.h"

namespace zen::security {

// CA certificates live ten years: a household cluster has no one to rotate them.
inline constexpr absl::Duration kCaValidity = absl::Hours(24 * 3650);
// Node certificates live as long as the CA; there is no renewal protocol yet.
inline constexpr absl::Duration kNodeValidity = absl::Hours(24 * 3650);

// Checks a node name can appear in a certificate: 1-63 of [A-Za-z0-9._-], not starting
// with '-' or '.'.
absl::Status ValidateNodeName(std::string_view name);

// A self-signed CA certificate (CA:TRUE, pathlen 0, keyCertSign) for `key`.
absl::StatusOr<CertPtr> MakeCaCertificate(EVP_PKEY* key, std::string_view common_name,
                                          absl::Duration validity = kCaValidity);

// A certificate request for `key` with CN = `node_name`; what a joining node sends.
absl::StatusOr<CsrPtr> MakeCertificateRequest(EVP_PKEY* key, std::string_view node_name);

// A node certificate for `public_key` signed by the CA: CN and DNS SAN `node_name`,
// plus "localhost", 127.0.0.1, ::1, kPeerTargetName and every entry of `addresses`
// (IP literals become IP SANs, anything else a DNS SAN). Usable as TLS server and client.
absl::StatusOr<CertPtr> SignNodeCertificate(X509* ca_cert, EVP_PKEY* ca_key, EVP_PKEY* public_key,
                                            std::string_view node_name,
                                            const std::vector<std::string>& addresses,
                                            absl::Duration validity = kNodeValidity);

// True when `cert`'s signature verifies under `issuer`'s public key and names it as issuer.
bool IsSignedBy(X509* cert, X509* issuer);

// True when `key` is the private half of `cert`'s public key.
bool CertMatchesKey(X509* cert, EVP_PKEY* key);

// The subject common name, or "" if there is none.
std::string CommonName(X509* cert);

// Every subject alternative name as "DNS:x" or "IP:x", in certificate order.
std::vector<std::string> SubjectAltNames(X509* cert);

// A DNS name in every node certificate. Peers are dialled by IP addresses that DHCP may
// change, so channels check this name (plus the CA signature) instead of the address.
inline constexpr char kPeerTargetName[] = "peer.zend.internal";

}  // namespace zen::security
