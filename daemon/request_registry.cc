#include "daemon/request_registry.h"

#include <random>

#include "absl/strings/str_cat.h"

namespace zen::daemon {
namespace {

std::string NewId() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string id = "req-";
  for (int i = 0; i < 24; ++i) id.push_back(kDigits[rng() % 16]);
  return id;
}

}  // namespace

RequestRegistry::Entry::~Entry() {
  std::lock_guard<std::mutex> lock(registry_->mu_);
  registry_->running_.erase(id_);
}

bool RequestRegistry::Entry::cancelled_by_request() const {
  std::lock_guard<std::mutex> lock(registry_->mu_);
  return by_request_;
}

std::unique_ptr<RequestRegistry::Entry> RequestRegistry::Register() {
  std::lock_guard<std::mutex> lock(mu_);
  std::string id = NewId();
  while (running_.count(id) > 0) id = NewId();
  auto entry = std::make_unique<Entry>(Key{}, this, id);
  running_[id] = entry.get();
  return entry;
}

absl::Status RequestRegistry::Cancel(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = running_.find(id);
  if (it == running_.end()) {
    return absl::NotFoundError(
        absl::StrCat("no request \"", id,
                     "\" is running on this node (finished already, or started through "
                     "another node)"));
  }
  it->second->by_request_ = true;
  it->second->token_.Cancel();
  return absl::OkStatus();
}

size_t RequestRegistry::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return running_.size();
}

}  // namespace zen::daemon
