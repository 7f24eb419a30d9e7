// Controllers wake each other through PostgreSQL's LISTEN/NOTIFY
// (services/store/change_listener.h): what one stores reaches another's long polls at once, and a
// listener whose connection is killed connects again by itself.
#include "services/store/change_listener.h"

#include <atomic>
#include <pqxx/pqxx>
#include <string>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/controller_harness.h"

namespace nas {
namespace {

// Waits up to 10 s for `done`.
template <typename Fn>
bool Eventually(Fn done) {
  for (absl::Time until = absl::Now() + absl::Seconds(10); absl::Now() < until;) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return done();
}

TEST(ChangeListenerTest, WhatAControllerStoresWakesTheOthersAndAKilledListenerReconnects) {
  absl::StatusOr<std::unique_ptr<ControllerHarness>> harness = ControllerHarness::Create();
  ASSERT_TRUE(harness.ok()) << harness.status();
  const std::string url = (*harness)->database_url();
  std::atomic<int> woken{0};
  ChangeListener listener(url, [&] { ++woken; });
  ASSERT_TRUE(Eventually([&] { return listener.connections() == 1; }));

  // A search submitted to the controller queues its first candidates: a notification.
  const int64_t before_submit = listener.received();
  {
    grpc::ClientContext ctx;
    ControllerHarness::Authorize(&ctx, (*harness)->NewUserToken("alice"));
    nas::v1::SubmitSearchRequest req;
    req.mutable_spec()->mutable_budget()->set_max_candidates(4);
    nas::v1::Search search;
    ASSERT_TRUE((*harness)->Nas()->SubmitSearch(&ctx, req, &search).ok());
  }
  EXPECT_TRUE(Eventually([&] { return listener.received() > before_submit; }))
      << "queueing work notified no listener";

  // Its connection killed (a database restart, a network cut): it connects again and wakes
  // its controller once for whatever it missed, then hears the next change.
  pqxx::connection admin(url);
  {
    pqxx::nontransaction tx(admin);
    const pqxx::result killed = tx.exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE query LIKE 'LISTEN%nas_changes%' AND pid <> pg_backend_pid()");
    ASSERT_GE(killed.size(), 1u);
  }
  const int woken_before = woken.load();
  ASSERT_TRUE(Eventually([&] { return listener.connections() >= 2; }));
  EXPECT_GT(woken.load(), woken_before);
  const int64_t before_notify = listener.received();
  {
    pqxx::work tx(admin);
    tx.exec0("NOTIFY nas_changes");
    tx.commit();
  }
  EXPECT_TRUE(Eventually([&] { return listener.received() > before_notify; }));
}

}  // namespace
}  // namespace nas
