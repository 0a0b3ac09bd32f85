// API keys for the client APIs when they listen beyond loopback. Keys are shown once at
// creation and stored only as SHA-256 hashes; `zend apikey create|list|revoke` edits the
// store while zend runs, and zend notices the change on the next request.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace zen::security {

// The key store inside the state directory (0600 JSON), and its lock file.
inline constexpr char kApiKeysFile[] = "api_keys.json";
inline constexpr char kApiKeysLockFile[] = "api_keys.lock";
// Every key starts with this, so a leaked key is recognisable (and greppable).
inline constexpr char kApiKeyPrefix[] = "zen-sk-";

// What the store knows about a key; never the key itself.
struct ApiKeyInfo {
  std::string id;    // "k-" + 8 hex digits, what `zend apikey revoke` takes
  std::string name;  // the person's label ("open-webui")
  absl::Time created;
};

// A key just created: the only time its plain text exists.
struct CreatedApiKey {
  ApiKeyInfo info;
  std::string key;  // "zen-sk-" + base64url of 32 random bytes
};

// The API keys of one state directory. Thread-safe.
class ApiKeyStore {
 public:
  // A store over `state_dir` (created 0700 if missing; the file appears at the first key).
  static absl::StatusOr<ApiKeyStore> Open(const std::filesystem::path& state_dir);

  ApiKeyStore(ApiKeyStore&& other) noexcept;
  ApiKeyStore& operator=(ApiKeyStore&&) = delete;

  // Adds a key labelled `name` and returns its plain text.
  absl::StatusOr<CreatedApiKey> Create(std::string_view name, absl::Time now = absl::Now());

  // Every key's id, name and creation time, oldest first.
  absl::StatusOr<std::vector<ApiKeyInfo>> List();

  // Removes the key with `id`; NotFound if there is none.
  absl::Status Revoke(std::string_view id);

  // The id of the stored key equal to `presented`, or nullopt. Compares SHA-256 hashes in
  // constant time against every stored key; rereads the file if another process changed it.
  std::optional<std::string> Verify(std::string_view presented);

  // True when at least one key exists (a non-loopback API bind requires one).
  bool HasKeys();

 private:
  struct Entry {
    ApiKeyInfo info;
    std::string sha256;
  };
  explicit ApiKeyStore(std::filesystem::path state_dir) : state_dir_(std::move(state_dir)) {}
  // Rereads the file when its modification time or size changed.
  absl::Status RefreshLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  absl::Status SaveLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  std::filesystem::path state_dir_;
  absl::Mutex mutex_;
  std::vector<Entry> entries_ ABSL_GUARDED_BY(mutex_);
  // Identifies the file version entries_ came from: (mtime ns, size, inode).
  struct FileVersion {
    int64_t mtime_ns = -1;
    int64_t size = -1;
    ino_t inode = 0;
    bool operator==(const FileVersion&) const = default;
  };
  FileVersion loaded_ ABSL_GUARDED_BY(mutex_);
};

// The credential in an HTTP `Authorization: Bearer <key>` header value, or nullopt when
// the header uses another scheme or is empty. The scheme is matched case-insensitively.
std::optional<std::string_view> BearerToken(std::string_view authorization_header);

}  // namespace zen::security
