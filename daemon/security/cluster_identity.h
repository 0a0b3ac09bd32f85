// The cluster identity on disk: the CA created by `zend init`, and this node's key and
// certificate signed by it. Every node-to-node TLS connection is built from it.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace zen::security {

// File names inside the state directory. Keys are 0600, the directory 0700.
inline constexpr char kCaCertFile[] = "ca.pem";
inline constexpr char kCaKeyFile[] = "ca.key";  // only on the node that ran `zend init`
inline constexpr char kNodeCertFile[] = "node.pem";
inline constexpr char kNodeKeyFile[] = "node.key";

// Everything a node needs for mutual TLS, as PEM text.
struct ClusterIdentity {
  std::string node_name;  // the node certificate's common name
  std::string ca_cert_pem;
  std::string ca_key_pem;  // empty on nodes that joined: they cannot sign certificates
  std::string node_cert_pem;
  std::string node_key_pem;
  std::string ca_fingerprint;  // SHA-256 of the CA certificate's DER, 64 hex digits

  // True on the node holding the CA key, i.e. the one that can admit new nodes.
  bool CanIssueCertificates() const { return !ca_key_pem.empty(); }
};

// What `zend init` is told.
struct InitOptions {
  std::filesystem::path state_dir;
  std::string node_name;               // empty: this machine's host name
  std::vector<std::string> addresses;  // extra IP or DNS SANs for this node's certificate
  bool force = false;                  // replace an existing identity (every node must rejoin)
};

// Creates a new CA and this node's certificate in `options.state_dir`. Refuses to replace
// an existing identity unless `options.force`.
absl::StatusOr<ClusterIdentity> InitCluster(const InitOptions& options);

// Reads and checks the identity in `state_dir`: the node certificate must be signed by the
// CA and match its key, and key files must not be readable by group or others.
absl::StatusOr<ClusterIdentity> LoadIdentity(const std::filesystem::path& state_dir);

// True when `state_dir` holds (part of) an identity, which InitCluster would refuse to replace.
bool HasIdentity(const std::filesystem::path& state_dir);

// Writes an identity received at join (CA certificate, node certificate and key) into
// `state_dir`, refusing to replace an existing one unless `force`.
absl::Status StoreJoinedIdentity(const std::filesystem::path& state_dir,
                                 const ClusterIdentity& identity, bool force);

// The SHA-256 fingerprint (hex) of a PEM CA certificate.
absl::StatusOr<std::string> CaFingerprint(std::string_view ca_cert_pem);

// This machine's host name reduced to what a certificate accepts, or "zend" if none.
std::string DefaultNodeName();

}  // namespace zen::security
