#include "daemon/security/ca_fetch.h"

#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "daemon/security/crypto_util.h"
#include "daemon/security/string_util.h"

namespace zen::security {
namespace {

struct SslCtxDeleter {
  void operator()(SSL_CTX* context) const { SSL_CTX_free(context); }
};
struct SslDeleter {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};

// Closes the socket on every path out.
class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() {
    if (fd_ >= 0) close(fd_);
  }
  int fd() const { return fd_; }

 private:
  int fd_;
};

absl::Status SplitHostPort(std::string_view address, std::string* host, std::string* port) {
  size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == address.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("address '", AbslView(address), "' needs a port, e.g. 192.168.1.10:7070"));
  }
  std::string_view host_part = address.substr(0, colon);
  if (host_part.size() >= 2 && host_part.front() == '[' && host_part.back() == ']') {
    host_part = host_part.substr(1, host_part.size() - 2);
  }
  *host = std::string(host_part);
  *port = std::string(address.substr(colon + 1));
  int port_number = 0;
  if (!absl::SimpleAtoi(*port, &port_number) || port_number <= 0 || port_number > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("address '", AbslView(address), "': bad port"));
  }
  return absl::OkStatus();
}

// Connects with a deadline, then leaves the socket blocking with I/O timeouts.
absl::StatusOr<std::unique_ptr<Socket>> Connect(std::string_view address, absl::Time deadline) {
  std::string host, port;
  if (absl::Status s = SplitHostPort(address, &host, &port); !s.ok()) return s;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot resolve ", AbslView(address), ": ", gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> results(found, freeaddrinfo);
  std::string last_error = "no addresses";
  for (addrinfo* candidate = found; candidate != nullptr; candidate = candidate->ai_next) {
    auto socket_holder = std::make_unique<Socket>(socket(
        candidate->ai_family, candidate->ai_socktype | SOCK_CLOEXEC, candidate->ai_protocol));
    const int fd = socket_holder->fd();
    if (fd < 0) continue;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    int rc = connect(fd, candidate->ai_addr, candidate->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd waiter{fd, POLLOUT, 0};
      const int wait_ms =
          static_cast<int>(std::max<int64_t>(0, absl::ToInt64Milliseconds(deadline - absl::Now())));
      rc = poll(&waiter, 1, wait_ms) == 1 ? 0 : -1;
      int error = rc == 0 ? 0 : ETIMEDOUT;
      socklen_t length = sizeof(error);
      if (rc == 0) getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
      if (error != 0) {
        errno = error;
        rc = -1;
      }
    }
    if (rc != 0) {
      last_error = std::strerror(errno);
      continue;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    const absl::Duration left = std::max(deadline - absl::Now(), absl::Milliseconds(1));
    const timeval io_timeout = absl::ToTimeval(left);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &io_timeout, sizeof(io_timeout));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &io_timeout, sizeof(io_timeout));
    return socket_holder;
  }
  return absl::UnavailableError(
      absl::StrCat("cannot connect to ", AbslView(address), ": ", last_error));
}

// Records the presented chain instead of verifying it: the pin check below is the
// verification, and this connection carries nothing else.
int CaptureChain(X509_STORE_CTX* store, void* arg) {
  auto* chain = static_cast<std::vector<std::string>*>(arg);
  std::vector<X509*> certs;
  if (X509* leaf = X509_STORE_CTX_get0_cert(store)) certs.push_back(leaf);
  if (STACK_OF(X509)* untrusted = X509_STORE_CTX_get0_untrusted(store)) {
    for (int i = 0; i < sk_X509_num(untrusted); ++i) certs.push_back(sk_X509_value(untrusted, i));
  }
  for (X509* cert : certs) {
    if (absl::StatusOr<std::string> pem = CertToPem(cert); pem.ok()) chain->push_back(*pem);
  }
  return 1;
}

}  // namespace

absl::StatusOr<std::string> FetchPinnedCaCertificate(std::string_view address,
                                                     std::string_view ca_fingerprint,
                                                     absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::StatusOr<std::unique_ptr<Socket>> socket = Connect(address, deadline);
  if (!socket.ok()) return socket.status();

  std::unique_ptr<SSL_CTX, SslCtxDeleter> context(SSL_CTX_new(TLS_client_method()));
  if (!context) return OpenSslError("creating a TLS context");
  SSL_CTX_set_min_proto_version(context.get(), TLS1_2_VERSION);
  std::vector<std::string> chain;
  SSL_CTX_set_cert_verify_callback(context.get(), CaptureChain, &chain);
  SSL_CTX_set_verify(context.get(), SSL_VERIFY_PEER, nullptr);
  std::unique_ptr<SSL, SslDeleter> ssl(SSL_new(context.get()));
  // gRPC servers only complete handshakes that offer HTTP/2.
  static constexpr unsigned char kAlpn[] = {2, 'h', '2'};
  if (!ssl || SSL_set_alpn_protos(ssl.get(), kAlpn, sizeof(kAlpn)) != 0 ||
      SSL_set_fd(ssl.get(), (*socket)->fd()) != 1) {
    return OpenSslError("setting up a TLS connection");
  }
  // The server may reject us later for lacking a client certificate; the chain it
  // presented before that is all we need, so the result only matters if it is empty.
  const int connected = SSL_connect(ssl.get());
  if (connected == 1) SSL_shutdown(ssl.get());
  if (chain.empty()) {
    absl::Status error = OpenSslError("TLS handshake");
    return absl::UnavailableError(absl::StrCat("no TLS certificate from ", AbslView(address),
                                               " (is it a zend node port?): ", error.message()));
  }
  ERR_clear_error();  // a refused client certificate is expected, not an error to report later
  std::vector<std::string> seen;
  for (const std::string& pem : chain) {
    absl::StatusOr<CertPtr> cert = CertFromPem(pem, "presented certificate");
    if (!cert.ok()) continue;
    absl::StatusOr<std::string> fingerprint = CertFingerprint(cert->get());
    if (!fingerprint.ok()) continue;
    if (ConstantTimeEquals(*fingerprint, ca_fingerprint)) return pem;
    seen.push_back(*fingerprint);
  }
  return absl::PermissionDeniedError(absl::StrCat(
      AbslView(address), " presented no certificate with the CA fingerprint in the join token (",
      AbslView(ca_fingerprint), "; it presented ", absl::StrJoin(seen, ", "),
      "): it belongs to another cluster, or something is in the way"));
}

}  // namespace zen::security
