// Files that hold secrets: a private state directory, owner-only files written
// atomically, and an advisory lock so the CLI and a running zend can share a store.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace zen::security {

// zend's state directory when none is given: /var/lib/zend for root, otherwise
// $XDG_DATA_HOME/zend or ~/.local/share/zend.
std::filesystem::path DefaultStateDir();

// Creates `dir` (and parents) if needed and makes it 0700. Refuses a path that exists
// but is not a directory.
absl::Status EnsurePrivateDir(const std::filesystem::path& dir);

// Writes `contents` to `path` with mode 0600 through a temporary file and rename, so a
// reader never sees half a file and a crash never leaves a truncated key.
absl::Status WritePrivateFile(const std::filesystem::path& path, std::string_view contents);

// The whole file, or NotFound naming the path.
absl::StatusOr<std::string> ReadWholeFile(const std::filesystem::path& path);

// An exclusive flock(2) on `path` (created 0600) held for the object's lifetime.
class FileLock {
 public:
  // Blocks until the lock is held.
  static absl::StatusOr<FileLock> Acquire(const std::filesystem::path& path);
  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace zen::security
