// The order watchers read a search's events in: the order their transactions became final,
// so that resuming after an event never skips one whose transaction committed late (a lease
// granted, a heartbeat: they do not take the search's row lock, and several controllers write).
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "services/store/store.h"
#include "tests/controller_harness.h"

namespace nas {
namespace {

TEST(StoreEventsTest, AWatcherNeverSkipsAnEventWhoseTransactionCommittedLate) {
  absl::StatusOr<std::unique_ptr<ControllerHarness>> harness = ControllerHarness::Create();
  ASSERT_TRUE(harness.ok()) << harness.status();
  const std::string token = (*harness)->NewUserToken("alice");
  int64_t search_id = 0;
  {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, token);
    nas::v1::SubmitSearchRequest req;
    req.mutable_spec()->mutable_budget()->set_max_candidates(2);
    nas::v1::Search search;
    ASSERT_TRUE((*harness)->Nas()->SubmitSearch(&ctx, req, &search).ok());
    search_id = search.id();
  }
  const std::string url = (*harness)->database_url();
  StoreOptions options;
  options.database_url = url;
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();
  pqxx::connection db(url);
  Caller alice;
  {
    pqxx::work tx(db);
    alice.user_id = tx.exec1("SELECT id FROM users WHERE name = 'alice'")[0].as<int64_t>();
  }
  // Reads every event after `after` (as WatchSearch does, page by page) and moves `after`.
  int64_t after = 0;
  const auto read = [&] {
    std::vector<std::string> messages;
    for (;;) {
      absl::StatusOr<std::vector<nas::v1::SearchEvent>> page =
          (*store)->EventsAfter(alice, search_id, after, 500);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok() || page->empty()) return messages;
      for (const nas::v1::SearchEvent& e : *page) {
        EXPECT_GT(e.event_id(), after);
        after = e.event_id();
        messages.push_back(e.message());
      }
    }
  };
  read();

  // "late" is inserted first (the lower id) and commits last.
  pqxx::connection late_connection(url);
  pqxx::work late(late_connection);
  late.exec_params("INSERT INTO events (search_id, kind, message) VALUES ($1, 9, 'late')",
                   search_id);
  {
    pqxx::connection c(url);
    pqxx::work early(c);
    early.exec_params("INSERT INTO events (search_id, kind, message) VALUES ($1, 9, 'early')",
                      search_id);
    early.commit();
  }
  // While "late" may still commit, neither is shown: "early" is held back, not shown ahead.
  for (const std::string& m : read()) {
    EXPECT_NE(m, "late");
    EXPECT_NE(m, "early") << "shown while an earlier transaction could still commit";
  }
  late.commit();
  std::vector<std::string> shown;
  for (const std::string& m : read()) {
    if (m == "late" || m == "early") shown.push_back(m);
  }
  EXPECT_EQ(shown, (std::vector<std::string>{"late", "early"}));
  // And the newest event's id, where a new watcher starts, is the last one read.
  absl::StatusOr<int64_t> latest = (*store)->LatestEventId(alice, search_id);
  ASSERT_TRUE(latest.ok());
  EXPECT_GE(*latest, after);
}

}  // namespace
}  // namespace nas
