// The store's connection pool under concurrent failing transactions, and its health check
// through a database outage.
#include <atomic>
#include <future>
#include <thread>

#include "gtest/gtest.h"
#include "services/store/store.h"
#include "tests/postgres_fixture.h"

namespace nas {
namespace {

// A transaction whose function answers an error rolls back before its connection can serve
// anyone else. Before the fix the connection went back to the pool while its transaction was
// alive, and the transaction's ROLLBACK then ran on a connection another thread was using:
// calls failed with pqxx usage errors (INTERNAL) or hung in BEGIN for good.
TEST(StorePoolTest, FailingTransactionsNeverShareAConnection) {
  absl::StatusOr<TestPostgres*> pg = SharedTestPostgres();
  ASSERT_TRUE(pg.ok()) << pg.status();
  absl::StatusOr<std::string> url = (*pg)->NewDatabase();
  ASSERT_TRUE(url.ok());
  StoreOptions options;
  options.database_url = *url;
  options.pool_size = 2;
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();

  constexpr int kThreads = 8;
  constexpr int kCalls = 300;
  std::atomic<int> wrong{0};
  std::atomic<int> done{0};
  std::mutex mu;
  std::string first_wrong;
  auto body = [&](int t) {
    for (int i = 0; i < kCalls; ++i) {
      absl::Status st;
      if ((i + t) % 3 == 0) {
        st = (*store)->CountUsers().status();  // commits
      } else {
        // Runs a query, then answers NotFound from inside the transaction (rolled back).
        nas::v1::HeartbeatRequest hb;
        hb.set_worker_id(1);
        hb.set_lease_id(1000000 + i);
        st = (*store)->Heartbeat(hb, absl::Seconds(5)).status();
        if (st.code() == absl::StatusCode::kNotFound) st = absl::OkStatus();
      }
      if (!st.ok() && wrong++ == 0) {
        std::lock_guard<std::mutex> lock(mu);
        first_wrong = st.ToString();
      }
      ++done;
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(body, t);
  // A wedged pool never finishes: give it a generous bound, then fail loudly rather than hang.
  const absl::Time deadline = absl::Now() + absl::Seconds(120);
  while (done.load() < kThreads * kCalls && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  if (done.load() < kThreads * kCalls) {
    ADD_FAILURE() << "the pool wedged: " << done.load() << " of " << kThreads * kCalls
                  << " calls finished in 120 s";
    std::_Exit(1);  // the stuck threads cannot be joined
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0) << "first: " << first_wrong;
  // Every connection came back, and the pool still works.
  EXPECT_TRUE((*store)->Health(absl::Seconds(2)).ok());
  EXPECT_TRUE((*store)->CountUsers().ok());
}

// Health fails while the database is down and passes again by itself once it is back; calls
// in between answer Unavailable, never hang.
TEST(StorePoolTest, HealthFollowsTheDatabase) {
  absl::StatusOr<std::unique_ptr<TestPostgres>> pg = TestPostgres::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  absl::StatusOr<std::string> url = (*pg)->NewDatabase();
  ASSERT_TRUE(url.ok());
  StoreOptions options;
  options.database_url = *url;
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->Health(absl::Seconds(2)).ok());

  ASSERT_TRUE((*pg)->Stop().ok());
  absl::Status down = (*store)->Health(absl::Seconds(2));
  EXPECT_EQ(down.code(), absl::StatusCode::kUnavailable) << down;
  EXPECT_EQ((*store)->CountUsers().status().code(), absl::StatusCode::kUnavailable);

  ASSERT_TRUE((*pg)->Resume().ok());
  EXPECT_TRUE((*store)->Health(absl::Seconds(2)).ok());
  EXPECT_TRUE((*store)->CountUsers().ok());
}

}  // namespace
}  // namespace nas
