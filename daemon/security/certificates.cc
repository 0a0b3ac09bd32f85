#include "daemon/security/certificates.h"
#include "daemon/security/string_util.h"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/x509v3.h>

#include <cctype>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace zen::security {
namespace {

struct X509ExtensionDeleter {
  void operator()(X509_EXTENSION* extension) const { X509_EXTENSION_free(extension); }
};

// A random positive 127-bit serial (RFC 5280 allows up to 20 octets).
absl::Status SetRandomSerial(X509* cert) {
  absl::StatusOr<std::vector<uint8_t>> bytes = RandomBytes(16);
  if (!bytes.ok()) return bytes.status();
  (*bytes)[0] &= 0x7f;
  (*bytes)[0] |= 0x01;  // never zero, never negative
  BIGNUM* number = BN_bin2bn(bytes->data(), static_cast<int>(bytes->size()), nullptr);
  bool ok = number != nullptr && BN_to_ASN1_INTEGER(number, X509_get_serialNumber(cert)) != nullptr;
  BN_free(number);
  return ok ? absl::OkStatus() : OpenSslError("setting a certificate serial number");
}

absl::Status SetCommonName(X509_NAME* name, std::string_view common_name) {
  const std::string cn(common_name);
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                 0) != 1) {
    return OpenSslError(absl::StrCat("setting common name '", cn, "'"));
  }
  return absl::OkStatus();
}

absl::Status SetValidity(X509* cert, absl::Duration validity) {
  // Start an hour early so a peer whose clock lags a little still accepts the certificate.
  if (X509_gmtime_adj(X509_getm_notBefore(cert), -3600) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert), absl::ToInt64Seconds(validity)) == nullptr) {
    return OpenSslError("setting certificate validity");
  }
  return absl::OkStatus();
}

absl::Status AddExtension(X509* cert, X509V3_CTX* context, int nid, const std::string& value) {
  std::unique_ptr<X509_EXTENSION, X509ExtensionDeleter> extension(
      X509V3_EXT_nconf_nid(nullptr, context, nid, value.c_str()));
  if (!extension || X509_add_ext(cert, extension.get(), -1) != 1) {
    return OpenSslError(absl::StrCat("adding extension ", OBJ_nid2sn(nid), "=", value));
  }
  return absl::OkStatus();
}

absl::Status AddExtensions(X509* cert, X509* issuer,
                           const std::vector<std::pair<int, std::string>>& extensions) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer, cert, nullptr, nullptr, 0);
  for (const auto& [nid, value] : extensions) {
    if (absl::Status status = AddExtension(cert, &context, nid, value); !status.ok()) {
      return status;
    }
  }
  return absl::OkStatus();
}

bool IsIpLiteral(const std::string& text) {
  unsigned char buffer[16];
  return inet_pton(AF_INET, text.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, text.c_str(), buffer) == 1;
}

absl::StatusOr<std::string> AltNameList(std::string_view node_name,
                                        const std::vector<std::string>& addresses) {
  std::vector<std::string> names = {absl::StrCat("DNS:", AbslView(node_name)), "DNS:localhost",
                                    absl::StrCat("DNS:", kPeerTargetName), "IP:127.0.0.1",
                                    "IP:::1"};
  for (const std::string& address : addresses) {
    if (IsIpLiteral(address)) {
      names.push_back(absl::StrCat("IP:", address));
      continue;
    }
    if (absl::Status status = ValidateNodeName(address); !status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("address '", address, "' is neither an IP literal nor a host name"));
    }
    names.push_back(absl::StrCat("DNS:", address));
  }
  return absl::StrJoin(names, ",");
}

absl::StatusOr<CertPtr> NewCertificate(EVP_PKEY* subject_key, std::string_view common_name,
                                       absl::Duration validity) {
  CertPtr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      X509_set_pubkey(cert.get(), subject_key) != 1) {
    return OpenSslError("creating a certificate");
  }
  if (absl::Status s = SetRandomSerial(cert.get()); !s.ok()) return s;
  if (absl::Status s = SetValidity(cert.get(), validity); !s.ok()) return s;
  if (absl::Status s = SetCommonName(X509_get_subject_name(cert.get()), common_name); !s.ok()) {
    return s;
  }
  return cert;
}

}  // namespace

absl::Status ValidateNodeName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 63 && name.front() != '-' && name.front() != '.';
  for (char c : name) {
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_');
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "node name '", AbslView(name),
      "' must be 1-63 letters, digits, '.', '-' or '_' and not start with '-' or '.'"));
}

absl::StatusOr<CertPtr> MakeCaCertificate(EVP_PKEY* key, std::string_view common_name,
                                          absl::Duration validity) {
  absl::StatusOr<CertPtr> cert = NewCertificate(key, common_name, validity);
  if (!cert.ok()) return cert.status();
  X509* ca = cert->get();
  if (X509_set_issuer_name(ca, X509_get_subject_name(ca)) != 1) {
    return OpenSslError("setting the CA issuer");
  }
  absl::Status status = AddExtensions(ca, ca,
                                      {{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                                       {NID_key_usage, "critical,keyCertSign,cRLSign"},
                                       {NID_subject_key_identifier, "hash"}});
  if (!status.ok()) return status;
  if (X509_sign(ca, key, EVP_sha256()) <= 0) return OpenSslError("self-signing the CA");
  return cert;
}

absl::StatusOr<CsrPtr> MakeCertificateRequest(EVP_PKEY* key, std::string_view node_name) {
  if (absl::Status status = ValidateNodeName(node_name); !status.ok()) return status;
  CsrPtr request(X509_REQ_new());
  if (!request || X509_REQ_set_version(request.get(), 0) != 1 ||
      X509_REQ_set_pubkey(request.get(), key) != 1) {
    return OpenSslError("creating a certificate request");
  }
  if (absl::Status s = SetCommonName(X509_REQ_get_subject_name(request.get()), node_name);
      !s.ok()) {
    return s;
  }
  if (X509_REQ_sign(request.get(), key, EVP_sha256()) <= 0) {
    return OpenSslError("signing the certificate request");
  }
  return request;
}

absl::StatusOr<CertPtr> SignNodeCertificate(X509* ca_cert, EVP_PKEY* ca_key, EVP_PKEY* public_key,
                                            std::string_view node_name,
                                            const std::vector<std::string>& addresses,
                                            absl::Duration validity) {
  if (absl::Status status = ValidateNodeName(node_name); !status.ok()) return status;
  if (!CertMatchesKey(ca_cert, ca_key)) {
    return absl::FailedPreconditionError("the CA key does not belong to the CA certificate");
  }
  absl::StatusOr<std::string> alt_names = AltNameList(node_name, addresses);
  if (!alt_names.ok()) return alt_names.status();
  absl::StatusOr<CertPtr> cert = NewCertificate(public_key, node_name, validity);
  if (!cert.ok()) return cert.status();
  if (X509_set_issuer_name(cert->get(), X509_get_subject_name(ca_cert)) != 1) {
    return OpenSslError("setting the node certificate issuer");
  }
  absl::Status status = AddExtensions(cert->get(), ca_cert,
                                      {{NID_basic_constraints, "critical,CA:FALSE"},
                                       {NID_key_usage, "critical,digitalSignature,keyAgreement"},
                                       {NID_ext_key_usage, "serverAuth,clientAuth"},
                                       {NID_subject_key_identifier, "hash"},
                                       {NID_authority_key_identifier, "keyid:always"},
                                       {NID_subject_alt_name, *alt_names}});
  if (!status.ok()) return status;
  if (X509_sign(cert->get(), ca_key, EVP_sha256()) <= 0) {
    return OpenSslError("signing the node certificate");
  }
  return cert;
}

bool IsSignedBy(X509* cert, X509* issuer) {
  if (X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(issuer)) != 0) return false;
  EVP_PKEY* issuer_key = X509_get0_pubkey(issuer);
  return issuer_key != nullptr && X509_verify(cert, issuer_key) == 1;
}

bool CertMatchesKey(X509* cert, EVP_PKEY* key) {
  EVP_PKEY* public_key = X509_get0_pubkey(cert);
  return public_key != nullptr && EVP_PKEY_eq(public_key, key) == 1;
}

std::string CommonName(X509* cert) {
  char buffer[256] = {};
  int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buffer,
                                    sizeof(buffer));
  return n > 0 ? std::string(buffer, n) : std::string();
}

std::vector<std::string> SubjectAltNames(X509* cert) {
  std::vector<std::string> names;
  auto* general_names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (general_names == nullptr) return names;
  for (int i = 0; i < sk_GENERAL_NAME_num(general_names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(general_names, i);
    if (name->type == GEN_DNS) {
      const ASN1_IA5STRING* dns = name->d.dNSName;
      names.push_back(absl::StrCat(
          "DNS:", absl::string_view(reinterpret_cast<const char*>(dns->data), dns->length)));
    } else if (name->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* ip = name->d.iPAddress;
      char text[INET6_ADDRSTRLEN] = {};
      int family = ip->length == 4 ? AF_INET : AF_INET6;
      if ((ip->length == 4 || ip->length == 16) &&
          inet_ntop(family, ip->data, text, sizeof(text)) != nullptr) {
        names.push_back(absl::StrCat("IP:", text));
      }
    }
  }
  GENERAL_NAMES_free(general_names);
  return names;
}

}  // namespace zen::security
