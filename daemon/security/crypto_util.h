// Small OpenSSL helpers shared by the security code: RAII handles, PEM conversion,
// hashing, randomness and URL-safe encodings.
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace zen::security {

// Deleters so OpenSSL objects live in std::unique_ptr.
struct OpenSslDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
  void operator()(X509* cert) const { X509_free(cert); }
  void operator()(X509_REQ* request) const { X509_REQ_free(request); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, OpenSslDeleter>;
using CertPtr = std::unique_ptr<X509, OpenSslDeleter>;
using CsrPtr = std::unique_ptr<X509_REQ, OpenSslDeleter>;

// The text of OpenSSL's error queue (emptied), prefixed by what we were doing.
absl::Status OpenSslError(std::string_view what);

// A fresh EC P-256 key pair: fast to make and small, which matters on a Raspberry Pi.
absl::StatusOr<KeyPtr> GenerateEcKey();

// PEM text of a private key (unencrypted PKCS#8), a certificate, a certificate request.
absl::StatusOr<std::string> KeyToPem(EVP_PKEY* key);
absl::StatusOr<std::string> CertToPem(X509* cert);
absl::StatusOr<std::string> CsrToPem(X509_REQ* request);
// Parses the first PEM object of its kind in `pem`; errors name `what` (e.g. a file path).
absl::StatusOr<KeyPtr> KeyFromPem(std::string_view pem, std::string_view what);
absl::StatusOr<CertPtr> CertFromPem(std::string_view pem, std::string_view what);
absl::StatusOr<CsrPtr> CsrFromPem(std::string_view pem, std::string_view what);

// SHA-256 of `data` as 64 lowercase hex digits.
std::string Sha256Hex(std::string_view data);

// SHA-256 of a certificate's DER encoding as hex: the CA fingerprint users compare.
absl::StatusOr<std::string> CertFingerprint(X509* cert);

// `n` bytes from OpenSSL's CSPRNG.
absl::StatusOr<std::vector<uint8_t>> RandomBytes(size_t n);

// Base64url without padding (RFC 4648 section 5): safe in URLs, shells and file names.
std::string Base64UrlEncode(const std::vector<uint8_t>& bytes);

// Lowercase hex of `bytes`.
std::string HexEncode(const std::vector<uint8_t>& bytes);

// Equality of two strings in time that depends only on their lengths.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace zen::security
