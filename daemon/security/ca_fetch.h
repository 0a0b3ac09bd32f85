// Trust on first use, done safely: a joining node learns the cluster CA certificate from
// the leader's TLS handshake and accepts it only if its SHA-256 matches the fingerprint
// in the join token (the same scheme as kubeadm's discovery-token-ca-cert-hash).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace zen::security {

// Opens a TLS connection to `address` ("host:port" or "[v6]:port"), reads the certificate
// chain the server presents (zend servers append their CA), and returns the PEM of the
// certificate whose fingerprint equals `ca_fingerprint`. Nothing is sent but the
// handshake. Unavailable if the address cannot be reached in `timeout`, PermissionDenied
// if no presented certificate matches the pin.
absl::StatusOr<std::string> FetchPinnedCaCertificate(std::string_view address,
                                                     std::string_view ca_fingerprint,
                                                     absl::Duration timeout = absl::Seconds(10));

}  // namespace zen::security
