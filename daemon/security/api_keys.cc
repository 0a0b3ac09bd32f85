#include "daemon/security/api_keys.h"

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "daemon/security/crypto_util.h"
#include "daemon/security/secure_files.h"
#include "daemon/security/string_util.h"

namespace zen::security {
namespace fs = std::filesystem;
using json = nlohmann::json;

absl::StatusOr<ApiKeyStore> ApiKeyStore::Open(const fs::path& state_dir) {
  if (absl::Status s = EnsurePrivateDir(state_dir); !s.ok()) return s;
  ApiKeyStore store(state_dir);
  {
    absl::MutexLock lock(&store.mutex_);
    if (absl::Status s = store.RefreshLocked(); !s.ok()) return s;
  }
  return store;  // the move locks store.mutex_ itself
}

ApiKeyStore::ApiKeyStore(ApiKeyStore&& other) noexcept : state_dir_(std::move(other.state_dir_)) {
  absl::MutexLock lock(&other.mutex_);
  entries_ = std::move(other.entries_);
  loaded_ = other.loaded_;
}

absl::Status ApiKeyStore::RefreshLocked() {
  const fs::path path = state_dir_ / kApiKeysFile;
  struct stat info;
  FileVersion version;
  if (stat(path.c_str(), &info) == 0) {
    version = {info.st_mtim.tv_sec * 1'000'000'000 + info.st_mtim.tv_nsec, info.st_size,
               info.st_ino};
  }
  if (version == loaded_) return absl::OkStatus();
  std::vector<Entry> entries;
  if (version.size >= 0) {
    if ((info.st_mode & 077) != 0) {
      return absl::PermissionDeniedError(absl::StrCat(
          path.string(), " is readable by other users; run: chmod 600 ", path.string()));
    }
    absl::StatusOr<std::string> text = ReadWholeFile(path);
    if (!text.ok()) return text.status();
    json store = json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (!store.is_object() || !store.contains("keys") || !store["keys"].is_array()) {
      return absl::DataLossError(absl::StrCat(path.string(), " is not an API key store"));
    }
    for (const json& item : store["keys"]) {
      if (!item.is_object()) continue;
      entries.push_back({{item.value("id", ""), item.value("name", ""),
                          absl::FromUnixSeconds(item.value("created_unix", int64_t{0}))},
                         item.value("sha256", "")});
    }
  }
  entries_ = std::move(entries);
  loaded_ = version;
  return absl::OkStatus();
}

absl::Status ApiKeyStore::SaveLocked() {
  json keys = json::array();
  for (const Entry& entry : entries_) {
    keys.push_back({{"id", entry.info.id},
                    {"name", entry.info.name},
                    {"created_unix", absl::ToUnixSeconds(entry.info.created)},
                    {"sha256", entry.sha256}});
  }
  json store = {{"keys", std::move(keys)}};
  if (absl::Status s = WritePrivateFile(state_dir_ / kApiKeysFile, store.dump(2) + "\n"); !s.ok()) {
    return s;
  }
  loaded_ = FileVersion{};  // force a reread so our view matches what is on disk
  return RefreshLocked();
}

absl::StatusOr<CreatedApiKey> ApiKeyStore::Create(std::string_view name, absl::Time now) {
  absl::StatusOr<std::vector<uint8_t>> secret = RandomBytes(32);
  if (!secret.ok()) return secret.status();
  absl::StatusOr<std::vector<uint8_t>> id = RandomBytes(4);
  if (!id.ok()) return id.status();
  CreatedApiKey created{{absl::StrCat("k-", HexEncode(*id)), std::string(name),
                         absl::FromUnixSeconds(absl::ToUnixSeconds(now))},
                        absl::StrCat(kApiKeyPrefix, Base64UrlEncode(*secret))};

  absl::StatusOr<FileLock> file_lock = FileLock::Acquire(state_dir_ / kApiKeysLockFile);
  if (!file_lock.ok()) return file_lock.status();
  absl::MutexLock lock(&mutex_);
  if (absl::Status s = RefreshLocked(); !s.ok()) return s;
  entries_.push_back({created.info, Sha256Hex(created.key)});
  if (absl::Status s = SaveLocked(); !s.ok()) return s;
  return created;
}

absl::StatusOr<std::vector<ApiKeyInfo>> ApiKeyStore::List() {
  absl::MutexLock lock(&mutex_);
  if (absl::Status s = RefreshLocked(); !s.ok()) return s;
  std::vector<ApiKeyInfo> infos;
  for (const Entry& entry : entries_) infos.push_back(entry.info);
  return infos;
}

absl::Status ApiKeyStore::Revoke(std::string_view id) {
  absl::StatusOr<FileLock> file_lock = FileLock::Acquire(state_dir_ / kApiKeysLockFile);
  if (!file_lock.ok()) return file_lock.status();
  absl::MutexLock lock(&mutex_);
  if (absl::Status s = RefreshLocked(); !s.ok()) return s;
  const size_t before = entries_.size();
  std::erase_if(entries_, [&](const Entry& entry) { return entry.info.id == id; });
  if (entries_.size() == before) {
    return absl::NotFoundError(
        absl::StrCat("no API key with id '", AbslView(id), "'; `zend apikey list` shows the ids"));
  }
  return SaveLocked();
}

std::optional<std::string> ApiKeyStore::Verify(std::string_view presented) {
  const std::string hash = Sha256Hex(presented);
  absl::MutexLock lock(&mutex_);
  // A store that became unreadable keeps its last good view rather than locking everyone out.
  RefreshLocked().IgnoreError();
  std::optional<std::string> match;
  for (const Entry& entry : entries_) {
    // No early exit: the time taken does not tell which key (if any) matched.
    if (ConstantTimeEquals(hash, entry.sha256)) match = entry.info.id;
  }
  return match;
}

bool ApiKeyStore::HasKeys() {
  absl::MutexLock lock(&mutex_);
  RefreshLocked().IgnoreError();
  return !entries_.empty();
}

std::optional<std::string_view> BearerToken(std::string_view authorization_header) {
  std::string_view value = TrimAscii(authorization_header);
  constexpr std::string_view kScheme = "bearer";
  if (value.size() <= kScheme.size() ||
      !absl::StartsWithIgnoreCase(AbslView(value), AbslView(kScheme)) ||
      !absl::ascii_isspace(static_cast<unsigned char>(value[kScheme.size()]))) {
    return std::nullopt;
  }
  std::string_view credential = TrimAscii(value.substr(kScheme.size()));
  if (credential.empty()) return std::nullopt;
  return credential;
}

}  // namespace zen::security
