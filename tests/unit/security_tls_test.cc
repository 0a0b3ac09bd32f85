// Mutual TLS over real gRPC on 127.0.0.1: cluster members get in, everyone else is
// refused at the handshake; the join-time CA pin and the per-call checks work on the wire.
#include <gmock/gmock.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>

#include "daemon/security/api_keys.h"
#include "daemon/security/ca_fetch.h"
#include "daemon/security/cluster_identity.h"
#include "daemon/security/enrollment.h"
#include "daemon/security/grpc_auth.h"
#include "daemon/security/join_token.h"
#include "daemon/security/tls_credentials.h"
#include "tests/unit/security_test_util.h"

namespace zen::security {
namespace {

using ::testing::HasSubstr;

constexpr char kWhoAmI[] = "/zen.test.Auth/WhoAmI";  // cluster-peer check, echoes the name
constexpr char kApiCall[] = "/zen.test.Auth/Api";    // API-key check

// A tiny service without a .proto: every call is authorised the way zend's handlers do
// it, then answered with the caller's certificate name.
class AuthService : public grpc::CallbackGenericService {
 public:
  AuthService(PeerPolicy policy, ApiKeyStore* keys) : policy_(policy), keys_(keys) {}

  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* context) override {
    // gRPC's callback API owns reactors through OnDone; this is its documented idiom.
    return new Reactor(context, policy_, keys_);
  }

 private:
  class Reactor : public grpc::ServerGenericBidiReactor {
   public:
    Reactor(grpc::GenericCallbackServerContext* context, PeerPolicy policy, ApiKeyStore* keys) {
      grpc::Status status = context->method() == kApiCall && keys != nullptr
                                ? AuthorizeApiKey(*context, *keys)
                                : AuthorizeClusterPeer(*context, policy);
      if (!status.ok()) {
        Finish(status);
        return;
      }
      grpc::Slice slice(PeerNodeName(*context).value_or("(no certificate)"));
      response_ = grpc::ByteBuffer(&slice, 1);
      StartWriteAndFinish(&response_, grpc::WriteOptions(), grpc::Status::OK);
    }
    void OnDone() override { delete this; }

   private:
    grpc::ByteBuffer response_;
  };

  PeerPolicy policy_;
  ApiKeyStore* keys_;
};

// A server on an ephemeral 127.0.0.1 port, shut down with the object.
class TestServer {
 public:
  TestServer(std::shared_ptr<grpc::ServerCredentials> credentials, PeerPolicy policy = {},
             ApiKeyStore* keys = nullptr)
      : service_(policy, keys) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", std::move(credentials), &port_);
    builder.RegisterCallbackGenericService(&service_);
    server_ = builder.BuildAndStart();
  }
  ~TestServer() {
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
  }
  bool started() const { return server_ != nullptr && port_ > 0; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  AuthService service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

struct CallResult {
  grpc::Status status;
  std::string body;
};

CallResult Call(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                const std::string& authorization = "") {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  // Generous for loaded CI machines and valgrind; refusals fail fast, not at the deadline.
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  if (!authorization.empty()) context.AddMetadata("authorization", authorization);
  grpc::Slice slice(std::string("ping"));
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                 [&done](grpc::Status status) { done.set_value(std::move(status)); });
  CallResult result{done.get_future().get(), ""};
  std::vector<grpc::Slice> slices;
  if (result.status.ok() && response.Dump(&slices).ok()) {
    for (const grpc::Slice& s : slices) {
      result.body.append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
  }
  return result;
}

class MutualTlsTest : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    cluster_ = InitIdentity("cluster", "leader");
    other_ = InitIdentity("other", "stranger");
  }

  // A second member of the cluster, admitted through a join token.
  ClusterIdentity JoinMember(const std::string& name) {
    absl::StatusOr<CreatedJoinToken> token = CreateJoinToken(Path("cluster"), absl::Hours(1));
    absl::StatusOr<JoinRequestMaterial> request = PrepareJoinRequest(name);
    EXPECT_TRUE(token.ok() && request.ok());
    absl::StatusOr<JoinGrant> grant =
        AdmitNode(Path("cluster"), cluster_, token->token, request->csr_pem, name);
    EXPECT_TRUE(grant.ok()) << grant.status();
    absl::StatusOr<ClusterIdentity> joined =
        CompleteJoin(Path(name), *request, token->token, *grant);
    EXPECT_TRUE(joined.ok()) << joined.status();
    return joined.ok() ? *joined : ClusterIdentity{};
  }

  static std::shared_ptr<grpc::Channel> Channel(
      const std::string& address, std::shared_ptr<grpc::ChannelCredentials> credentials) {
    return grpc::CreateCustomChannel(address, std::move(credentials), PeerChannelArguments());
  }

  ClusterIdentity cluster_;
  ClusterIdentity other_;
};

TEST_F(MutualTlsTest, JoinedMemberIsServedAndIdentified) {
  TestServer server(MakeServerCredentials(cluster_));
  ASSERT_TRUE(server.started());
  const ClusterIdentity member = JoinMember("pi-4");
  CallResult result = Call(CreatePeerChannel(server.address(), member), kWhoAmI);
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_EQ(result.body, "pi-4");
}

TEST_F(MutualTlsTest, ClientWithCertificateFromAnotherCaIsRefused) {
  TestServer server(MakeServerCredentials(cluster_));
  ASSERT_TRUE(server.started());
  // Trusts our CA (so the server side is fine) but presents the other cluster's certificate.
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = cluster_.ca_cert_pem;
  options.pem_private_key = other_.node_key_pem;
  options.pem_cert_chain = other_.node_cert_pem;
  CallResult result = Call(Channel(server.address(), grpc::SslCredentials(options)), kWhoAmI);
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << result.status.error_message();
}

TEST_F(MutualTlsTest, ClientWithoutCertificateIsRefused) {
  TestServer server(MakeServerCredentials(cluster_));
  ASSERT_TRUE(server.started());
  CallResult result = Call(
      Channel(server.address(), MakeEnrollmentChannelCredentials(cluster_.ca_cert_pem)), kWhoAmI);
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << result.status.error_message();
}

TEST_F(MutualTlsTest, PlaintextClientIsRefused) {
  TestServer server(MakeServerCredentials(cluster_));
  ASSERT_TRUE(server.started());
  CallResult result =
      Call(grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials()), kWhoAmI);
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << result.status.error_message();
}

TEST_F(MutualTlsTest, ClientRefusesAServerOfAnotherCluster) {
  TestServer impostor(MakeServerCredentials(other_));
  ASSERT_TRUE(impostor.started());
  CallResult result = Call(CreatePeerChannel(impostor.address(), cluster_), kWhoAmI);
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << result.status.error_message();
}

TEST_F(MutualTlsTest, JoinerPinsTheCaFromTheHandshakeAndEnrolls) {
  TestServer node_port(MakeServerCredentials(cluster_));
  TestServer enrollment(MakeEnrollmentServerCredentials(cluster_));
  ASSERT_TRUE(node_port.started() && enrollment.started());
  absl::StatusOr<CreatedJoinToken> token = CreateJoinToken(Path("cluster"), absl::Hours(1));
  ASSERT_TRUE(token.ok());
  absl::StatusOr<JoinToken> parsed = ParseJoinToken(token->token);
  ASSERT_TRUE(parsed.ok());

  // The CA can be read from either port, even though the node port then rejects us.
  for (const TestServer* server : {&node_port, &enrollment}) {
    absl::StatusOr<std::string> ca =
        FetchPinnedCaCertificate(server->address(), parsed->ca_fingerprint, absl::Seconds(5));
    ASSERT_TRUE(ca.ok()) << ca.status();
    EXPECT_TRUE(PinnedCaMatches(*ca, parsed->ca_fingerprint));
  }
  absl::StatusOr<EnrollmentChannel> joiner =
      CreateEnrollmentChannel(enrollment.address(), token->token, absl::Seconds(5));
  ASSERT_TRUE(joiner.ok()) << joiner.status();
  EXPECT_EQ(joiner->ca_cert_pem, cluster_.ca_cert_pem);
  // Certificate-less TLS to the enrollment port works, and handlers can tell it has no
  // cluster certificate: only the join RPC may be served there.
  CallResult result = Call(joiner->channel, kWhoAmI);
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(result.status.error_message(), HasSubstr("no cluster certificate"));
}

TEST_F(MutualTlsTest, NodePortVerifiesCertificatesAndLetsOnlyEnrollingNodesInWithoutOne) {
  // zend's node port: a client certificate is optional at the handshake (a joiner has
  // none yet) but verified when presented; handlers refuse calls without one.
  TestServer server(MakeNodeServerCredentials(cluster_));
  ASSERT_TRUE(server.started());
  const ClusterIdentity member = JoinMember("pi-5");
  CallResult result = Call(CreatePeerChannel(server.address(), member), kWhoAmI);
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_EQ(result.body, "pi-5");

  result = Call(Channel(server.address(), MakeEnrollmentChannelCredentials(cluster_.ca_cert_pem)),
                kWhoAmI);
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(result.status.error_message(), HasSubstr("no cluster certificate"));

  grpc::SslCredentialsOptions foreign;
  foreign.pem_root_certs = cluster_.ca_cert_pem;
  foreign.pem_private_key = other_.node_key_pem;
  foreign.pem_cert_chain = other_.node_cert_pem;
  result = Call(Channel(server.address(), grpc::SslCredentials(foreign)), kWhoAmI);
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << result.status.error_message();

  result = Call(grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials()), kWhoAmI);
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << result.status.error_message();
}

TEST_F(MutualTlsTest, CaFetchRefusesAnotherClustersServer) {
  TestServer impostor(MakeServerCredentials(other_));
  ASSERT_TRUE(impostor.started());
  absl::StatusOr<std::string> ca =
      FetchPinnedCaCertificate(impostor.address(), cluster_.ca_fingerprint, absl::Seconds(5));
  ASSERT_FALSE(ca.ok());
  EXPECT_EQ(ca.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(ca.status().message()), HasSubstr(other_.ca_fingerprint));
}

TEST_F(MutualTlsTest, CaFetchFromAClosedPortIsUnavailable) {
  // Bind and close a socket to get a port nobody listens on.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  close(fd);
  const std::string target = "127.0.0.1:" + std::to_string(ntohs(address.sin_port));
  absl::StatusOr<std::string> ca =
      FetchPinnedCaCertificate(target, cluster_.ca_fingerprint, absl::Seconds(2));
  ASSERT_FALSE(ca.ok());
  EXPECT_EQ(ca.status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(MutualTlsTest, ApiKeyIsRequiredOnTheClientApi) {
  absl::StatusOr<ApiKeyStore> keys = ApiKeyStore::Open(Path("cluster"));
  ASSERT_TRUE(keys.ok());
  absl::StatusOr<CreatedApiKey> key = keys->Create("app");
  ASSERT_TRUE(key.ok());
  TestServer api(grpc::InsecureServerCredentials(), {}, &*keys);
  ASSERT_TRUE(api.started());
  auto channel = grpc::CreateChannel(api.address(), grpc::InsecureChannelCredentials());

  CallResult missing = Call(channel, kApiCall);
  EXPECT_EQ(missing.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(missing.status.error_message(), HasSubstr("missing API key"));
  EXPECT_EQ(Call(channel, kApiCall, "Bearer zen-sk-wrong").status.error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(Call(channel, kApiCall, "Bearer " + key->key).status.ok());
  EXPECT_TRUE(Call(channel, kApiCall, key->key).status.ok());
  ASSERT_TRUE(keys->Revoke(key->info.id).ok());
  EXPECT_EQ(Call(channel, kApiCall, "Bearer " + key->key).status.error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

}  // namespace
}  // namespace zen::security
