// The upstream end of one pipeline hop: a persistent Forward stream to the next node,
// shared by every sequence. Batches are written in order; a reader thread matches results
// to their batches. When the stream breaks, every batch in flight fails with UNAVAILABLE
// naming the peer, and the next batch opens a new stream.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "daemon/stage.h"
#include "zen/node/v1/node.grpc.pb.h"

namespace zen::daemon {

// Channel settings every node-to-node and client channel uses: no message size cap
// (logits rows), and keepalives so a vanished peer is noticed within seconds.
grpc::ChannelArguments PeerChannelArguments();

// A Stage that is the rest of the pipeline behind a network hop.
class HopClient : public Stage {
 public:
  // `channel` reaches the peer's node port (NodeDaemon::PeerChannel).
  HopClient(std::string peer_name, std::string peer_address,
            std::shared_ptr<grpc::Channel> channel);
  // Cancels the stream, fails what is in flight and joins the reader.
  ~HopClient() override;

  void Submit(pb::Batch batch, BatchDone done) override;
  void SendControl(pb::Control control) override;

  const std::string& peer_name() const { return peer_name_; }
  const std::string& peer_address() const { return peer_address_; }

 private:
  // One stream and its reader; replaced when it breaks.
  struct Connection {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReaderWriter<pb::ForwardRequest, pb::ForwardResponse>> stream;
    std::thread reader;
    bool established = false;  // a response arrived, so the peer was reachable
    bool broken = false;       // guarded by HopClient::mu_
  };

  // Opens a stream if there is none or the last one broke. Requires mu_.
  Connection* EnsureConnection();
  void ReadLoop(Connection* connection);
  // Writes under write_mu_; false when the stream is broken.
  bool Write(Connection* connection, const pb::ForwardRequest& request);

  const std::string peer_name_;
  const std::string peer_address_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::Node::Stub> stub_;

  std::mutex mu_;
  std::unique_ptr<Connection> connection_;
  std::map<uint64_t, std::pair<uint64_t, BatchDone>> pending_;  // our id -> (caller id, done)
  uint64_t next_id_ = 1;
  bool closing_ = false;
  std::mutex write_mu_;  // one writer at a time; Finish() waits for it too
};

}  // namespace zen::daemon
