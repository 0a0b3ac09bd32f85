// Shared fixture for the security tests: every test gets its own fresh directory under
// $TMPDIR, removed afterwards, so tests never see each other's keys or stores.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "daemon/security/cluster_identity.h"

namespace zen::security::testing {

// A gtest fixture owning a private temporary directory.
class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        (std::filesystem::path(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") / "zen-sec-XXXXXX")
            .string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(root_, ignored);
  }

  // A path inside the temporary directory (not created).
  std::filesystem::path Path(const std::string& name) const { return root_ / name; }

  // A new cluster (CA and node certificate) in Path(dir) for node `name`; a failure fails
  // the test and returns an empty identity.
  ClusterIdentity InitIdentity(const std::string& dir, const std::string& name) {
    absl::StatusOr<ClusterIdentity> identity = InitCluster({Path(dir), name, {}, false});
    EXPECT_TRUE(identity.ok()) << identity.status();
    return identity.ok() ? *identity : ClusterIdentity{};
  }

  // The permission bits of `path`, e.g. 0600.
  static int Mode(const std::filesystem::path& path) {
    struct stat info;
    if (stat(path.c_str(), &info) != 0) return -1;
    return static_cast<int>(info.st_mode & 07777);
  }

 private:
  std::filesystem::path root_;
};

}  // namespace zen::security::testing
