// Periodic duties shared by several controllers (Store::ClaimDuty): each round one claims it.
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "services/store/store.h"
#include "tests/controller_harness.h"

namespace nas {
namespace {

TEST(StoreDutiesTest, OneControllerOfSeveralClaimsEachRound) {
  absl::StatusOr<std::unique_ptr<ControllerHarness>> harness = ControllerHarness::Create();
  ASSERT_TRUE(harness.ok()) << harness.status();
  StoreOptions options;
  options.database_url = (*harness)->database_url();
  absl::StatusOr<std::unique_ptr<Store>> a = Store::Open(options);
  absl::StatusOr<std::unique_ptr<Store>> b = Store::Open(options);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  const absl::Duration round = absl::Seconds(2);
  absl::StatusOr<bool> first = (*a)->ClaimDuty("test_duty", round, "a");
  absl::StatusOr<bool> second = (*b)->ClaimDuty("test_duty", round, "b");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(*first) << "a duty nobody ran is claimable";
  EXPECT_FALSE(*second) << "claimed twice in one round";
  EXPECT_FALSE(*(*a)->ClaimDuty("test_duty", round, "a")) << "claimed again in its own round";
  // Another duty is claimed on its own.
  EXPECT_TRUE(*(*b)->ClaimDuty("other_duty", round, "b"));
  absl::SleepFor(round + absl::Milliseconds(200));
  // The next round: whoever comes first (the claimer of the last round need not be alive).
  EXPECT_TRUE(*(*b)->ClaimDuty("test_duty", round, "b"));
  EXPECT_FALSE(*(*a)->ClaimDuty("test_duty", round, "a"));
}

}  // namespace
}  // namespace nas
