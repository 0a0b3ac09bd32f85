// The generations running on this entry, by request id, so a Cancel call can reach one.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "daemon/http/inference_backend.h"

namespace zen::daemon {

// Ids handed to clients in the first message of Generate and Chat, and the cancel switch
// of each. Thread-safe.
class RequestRegistry {
  struct Key {
    explicit Key() = default;
  };

 public:
  // One running request; unregisters itself when it goes away.
  class Entry {
   public:
    ~Entry();
    Entry(const Entry&) = delete;
    Entry& operator=(const Entry&) = delete;

    const std::string& id() const { return id_; }
    // Polled by the generation; fires on Cancel(id) (and on the probe it may be given).
    http::CancelToken& token() { return token_; }
    // True when a Cancel call (not the probe) stopped it.
    bool cancelled_by_request() const;

    // Only RequestRegistry::Register can make one: the key is private to the registry.
    Entry(Key, RequestRegistry* registry, std::string id)
        : registry_(registry), id_(std::move(id)) {}

   private:
    friend class RequestRegistry;

    RequestRegistry* registry_;
    std::string id_;
    http::CancelToken token_;
    bool by_request_ = false;  // guarded by registry_->mu_
  };

  // Registers a new request under a fresh unguessable id ("req-" and 24 hex digits).
  std::unique_ptr<Entry> Register();
  // Cancels a running request; NotFound when no request with that id runs here.
  absl::Status Cancel(const std::string& id);
  // How many requests are running.
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, Entry*> running_;  // an Entry removes itself before it dies
};

}  // namespace zen::daemon
