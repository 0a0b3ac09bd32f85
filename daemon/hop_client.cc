#include "daemon/hop_client.h"

#include <vector>

#include "absl/strings/str_cat.h"

namespace zen::daemon {

grpc::ChannelArguments PeerChannelArguments() {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 2000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 2000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // Reconnect quickly after a peer restarts instead of backing off for up to two minutes.
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  return args;
}

HopClient::HopClient(std::string peer_name, std::string peer_address,
                     std::shared_ptr<grpc::Channel> channel)
    : peer_name_(std::move(peer_name)),
      peer_address_(std::move(peer_address)),
      channel_(std::move(channel)),
      stub_(pb::Node::NewStub(channel_)) {}

HopClient::~HopClient() {
  std::unique_ptr<Connection> connection;
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
    connection = std::move(connection_);
  }
  if (connection != nullptr) {
    connection->context.TryCancel();
    if (connection->reader.joinable()) connection->reader.join();
  }
}

HopClient::Connection* HopClient::EnsureConnection() {
  if (connection_ != nullptr && !connection_->broken) return connection_.get();
  if (connection_ != nullptr && connection_->reader.joinable()) {
    // The reader marked it broken and is about to exit (it never takes mu_ again).
    connection_->reader.join();
  }
  connection_ = std::make_unique<Connection>();
  Connection* c = connection_.get();
  c->stream = stub_->Forward(&c->context);
  c->reader = std::thread([this, c] { ReadLoop(c); });
  return c;
}

bool HopClient::Write(Connection* connection, const pb::ForwardRequest& request) {
  std::lock_guard<std::mutex> lock(write_mu_);
  {
    std::lock_guard<std::mutex> state(mu_);
    if (connection->broken) return false;
  }
  return connection->stream->Write(request);
}

void HopClient::Submit(pb::Batch batch, BatchDone done) {
  pb::ForwardRequest request;
  Connection* connection;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_) {
      done(ErrorResponse(batch.batch_id(), static_cast<int>(grpc::StatusCode::UNAVAILABLE),
                         absl::StrCat("the hop to node ", peer_name_, " is closing")));
      return;
    }
    connection = EnsureConnection();
    const uint64_t id = next_id_++;
    pending_[id] = {batch.batch_id(), std::move(done)};
    batch.set_batch_id(id);
  }
  *request.mutable_batch() = std::move(batch);
  // A failed write leaves the batch pending; the reader fails it when the stream ends.
  Write(connection, request);
}

void HopClient::SendControl(pb::Control control) {
  pb::ForwardRequest request;
  *request.mutable_control() = std::move(control);
  Connection* connection;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_) return;
    connection = EnsureConnection();
  }
  Write(connection, request);
}

void HopClient::ReadLoop(Connection* connection) {
  pb::ForwardResponse response;
  while (connection->stream->Read(&response)) {
    BatchDone done;
    {
      std::lock_guard<std::mutex> lock(mu_);
      connection->established = true;
      auto it = pending_.find(response.batch_id());
      if (it == pending_.end()) continue;  // an error about a control or an unknown batch
      response.set_batch_id(it->second.first);
      done = std::move(it->second.second);
      pending_.erase(it);
    }
    done(std::move(response));
  }
  grpc::Status status;
  std::map<uint64_t, std::pair<uint64_t, BatchDone>> failed;
  bool established;
  {
    // Marked broken before Finish, with no write in progress, so no write follows Finish.
    // After this block the reader never takes mu_ again: Submit may join it under mu_.
    std::lock_guard<std::mutex> lock(write_mu_);
    {
      std::lock_guard<std::mutex> state(mu_);
      connection->broken = true;
      failed.swap(pending_);
      established = connection->established;
    }
    status = connection->stream->Finish();
  }
  const std::string message = established || status.error_code() != grpc::StatusCode::UNAVAILABLE
                                  ? absl::StrCat("lost the pipeline stream to node ", peer_name_,
                                                 " (", peer_address_, "): ", status.error_message())
                                  : absl::StrCat("node ", peer_name_, " (", peer_address_,
                                                 ") is unreachable: ", status.error_message());
  for (auto& [id, entry] : failed) {
    entry.second(
        ErrorResponse(entry.first, static_cast<int>(grpc::StatusCode::UNAVAILABLE), message));
  }
}

}  // namespace zen::daemon
