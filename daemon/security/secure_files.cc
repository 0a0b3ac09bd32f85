#include "daemon/security/secure_files.h"
#include "daemon/security/string_util.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace zen::security {
namespace fs = std::filesystem;

namespace {

absl::Status ErrnoError(std::string_view what, const fs::path& path) {
  return absl::PermissionDeniedError(
      absl::StrCat(AbslView(what), " ", path.string(), ": ", std::strerror(errno)));
}

}  // namespace

fs::path DefaultStateDir() {
  if (geteuid() == 0) return "/var/lib/zend";
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg != nullptr && *xdg != '\0') {
    return fs::path(xdg) / "zend";
  }
  const char* home = std::getenv("HOME");
  return fs::path(home != nullptr && *home != '\0' ? home : ".") / ".local/share/zend";
}

absl::Status EnsurePrivateDir(const fs::path& dir) {
  std::error_code error;
  if (fs::exists(dir, error) && !fs::is_directory(dir, error)) {
    return absl::FailedPreconditionError(
        absl::StrCat("state directory ", dir.string(), " exists but is not a directory"));
  }
  fs::create_directories(dir, error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create state directory ", dir.string(), ": ", error.message()));
  }
  if (chmod(dir.c_str(), 0700) != 0) return ErrnoError("cannot chmod 0700", dir);
  return absl::OkStatus();
}

absl::Status WritePrivateFile(const fs::path& path, std::string_view contents) {
  const fs::path temp = path.string() + ".tmp";
  int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError("cannot create", temp);
  // open()'s mode is filtered by the umask and ignored for an existing file.
  bool ok = fchmod(fd, 0600) == 0;
  size_t written = 0;
  while (ok && written < contents.size()) {
    ssize_t n = write(fd, contents.data() + written, contents.size() - written);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) written += static_cast<size_t>(n);
  }
  ok = ok && fsync(fd) == 0;
  absl::Status status = ok ? absl::OkStatus() : ErrnoError("cannot write", temp);
  close(fd);
  if (status.ok() && rename(temp.c_str(), path.c_str()) != 0) {
    status = ErrnoError("cannot rename into place", path);
  }
  if (!status.ok()) unlink(temp.c_str());
  return status;
}

absl::StatusOr<std::string> ReadWholeFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path.string()));
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

absl::StatusOr<FileLock> FileLock::Acquire(const fs::path& path) {
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError("cannot open lock file", path);
  while (flock(fd, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    absl::Status status = ErrnoError("cannot lock", path);
    close(fd);
    return status;
  }
  return FileLock(fd);
}

FileLock::FileLock(FileLock&& other) noexcept : fd_(other.fd_) {
  other.fd_ = -1;
}

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

FileLock::~FileLock() {
  if (fd_ >= 0) close(fd_);  // closing releases the flock
}

}  // namespace zen::security
