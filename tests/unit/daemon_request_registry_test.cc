// RequestRegistry: the ids Cancel takes and what cancelling one does.
#include "daemon/request_registry.h"

#include <gtest/gtest.h>

#include <set>

namespace zen::daemon {
namespace {

TEST(RequestRegistry, GivesEachRequestADistinctUnguessableId) {
  RequestRegistry registry;
  std::set<std::string> ids;
  std::vector<std::unique_ptr<RequestRegistry::Entry>> entries;
  for (int i = 0; i < 100; ++i) {
    entries.push_back(registry.Register());
    const std::string& id = entries.back()->id();
    EXPECT_EQ(id.rfind("req-", 0), 0u) << id;
    EXPECT_EQ(id.size(), 4u + 24u) << id;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 100u);
  EXPECT_EQ(registry.size(), 100u);
}

TEST(RequestRegistry, CancelFiresOnlyThatRequestsToken) {
  RequestRegistry registry;
  auto a = registry.Register();
  auto b = registry.Register();
  ASSERT_TRUE(registry.Cancel(a->id()).ok());
  EXPECT_TRUE(a->token().cancelled());
  EXPECT_TRUE(a->cancelled_by_request());
  EXPECT_FALSE(b->token().cancelled());
  EXPECT_FALSE(b->cancelled_by_request());
}

TEST(RequestRegistry, CancelOfUnknownOrFinishedRequestIsNotFound) {
  RequestRegistry registry;
  EXPECT_EQ(registry.Cancel("req-000000000000000000000000").code(), absl::StatusCode::kNotFound);
  std::string id;
  {
    auto entry = registry.Register();
    id = entry->id();
  }
  EXPECT_EQ(registry.size(), 0u);
  const absl::Status status = registry.Cancel(id);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(status.message().find(id), std::string::npos) << status;
}

TEST(RequestRegistry, ProbeCancelsWithoutCountingAsACancelCall) {
  RequestRegistry registry;
  auto entry = registry.Register();
  bool deadline_passed = false;
  entry->token().SetProbe([&] { return deadline_passed; });
  EXPECT_FALSE(entry->token().cancelled());
  deadline_passed = true;
  EXPECT_TRUE(entry->token().cancelled());
  EXPECT_FALSE(entry->cancelled_by_request());
}

}  // namespace
}  // namespace zen::daemon
