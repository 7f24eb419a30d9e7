#include "services/report_batcher.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace nas {
namespace {

using Batch = std::vector<const nas::v1::ReportResultRequest*>;
using Outcomes = std::vector<absl::StatusOr<ReportOutcome>>;

// Each report's outcome names its lease as the candidate; lease 13 is refused.
Outcomes Echo(const Batch& batch) {
  Outcomes out;
  for (const nas::v1::ReportResultRequest* r : batch) {
    if (r->lease_id() == 13) {
      out.push_back(absl::FailedPreconditionError("lease 13 expired"));
      continue;
    }
    ReportOutcome o;
    o.candidate_id = r->lease_id();
    out.push_back(o);
  }
  return out;
}

nas::v1::ReportResultRequest Request(int64_t lease) {
  nas::v1::ReportResultRequest r;
  r.set_lease_id(lease);
  return r;
}

TEST(ReportBatcherTest, AloneAReportIsABatchOfOne) {
  std::vector<size_t> sizes;
  ReportBatcher batcher(
      [&](const Batch& b) -> absl::StatusOr<Outcomes> {
        sizes.push_back(b.size());
        return Echo(b);
      },
      64);
  for (int64_t lease : {1, 2, 3}) {
    absl::StatusOr<ReportOutcome> o = batcher.Report(Request(lease));
    ASSERT_TRUE(o.ok()) << o.status();
    EXPECT_EQ(o->candidate_id, lease);
  }
  EXPECT_EQ(sizes, (std::vector<size_t>{1, 1, 1}));
}

// While one batch is being applied, the reports that arrive queue up and are applied together,
// at most max_batch at a time, each caller getting its own outcome.
TEST(ReportBatcherTest, ReportsArrivingDuringABatchShareTheNext) {
  absl::Notification first_entered, release_first;
  std::atomic<int> calls{0};
  std::vector<size_t> sizes;
  absl::Mutex mu;
  ReportBatcher batcher(
      [&](const Batch& b) -> absl::StatusOr<Outcomes> {
        if (calls++ == 0) {
          first_entered.Notify();
          release_first.WaitForNotification();
        }
        absl::MutexLock lock(&mu);
        sizes.push_back(b.size());
        return Echo(b);
      },
      8);
  std::vector<absl::StatusOr<ReportOutcome>> got(21);
  std::vector<std::thread> threads;
  threads.emplace_back([&] { got[0] = batcher.Report(Request(100)); });
  first_entered.WaitForNotification();
  for (int i = 1; i <= 20; ++i) {
    threads.emplace_back([&, i] { got[i] = batcher.Report(Request(i == 13 ? 13 : 100 + i)); });
  }
  // The 20 queue behind the first batch.
  while (batcher.counts().queued < 20) absl::SleepFor(absl::Milliseconds(5));
  release_first.Notify();
  for (std::thread& t : threads) t.join();
  for (int i = 0; i <= 20; ++i) {
    if (i == 13) {
      EXPECT_EQ(got[i].status().code(), absl::StatusCode::kFailedPrecondition);
      continue;
    }
    ASSERT_TRUE(got[i].ok()) << i << ": " << got[i].status();
    EXPECT_EQ(got[i]->candidate_id, 100 + i);
  }
  const ReportBatcher::Counts c = batcher.counts();
  EXPECT_EQ(c.reports, 21);
  EXPECT_EQ(c.largest, 8);
  // 1 alone, then 20 in batches of at most 8: 8, 8, 4.
  EXPECT_EQ(c.batches, 4);
  ASSERT_EQ(sizes.size(), 4u);
  EXPECT_EQ(sizes[0], 1u);
}

TEST(ReportBatcherTest, AFailedBatchFailsEachOfItsReports) {
  ReportBatcher batcher(
      [](const Batch&) -> absl::StatusOr<Outcomes> {
        return absl::UnavailableError("store: connection lost");
      },
      64);
  absl::StatusOr<ReportOutcome> o = batcher.Report(Request(5));
  EXPECT_EQ(o.status().code(), absl::StatusCode::kUnavailable);
}

TEST(ReportBatcherTest, AnApplyThatLosesOutcomesIsAnError) {
  ReportBatcher batcher([](const Batch&) -> absl::StatusOr<Outcomes> { return Outcomes(); }, 64);
  EXPECT_EQ(batcher.Report(Request(5)).status().code(), absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace nas
