// ReportBatcher: group commit of workers' reports. Concurrent calls queue their report; one
// caller at a time takes every queued report (up to `max_batch`), applies them together with
// one call of `apply` (Store::ReportResults: one transaction, one commit), and hands each
// caller its own outcome; the reports that arrive meanwhile queue up for the next batch. Under
// load a search's reports share one lock acquisition, one read of each front and one commit;
// alone, a report is applied at once, as a batch of one.
//
//   ReportBatcher batcher([&](const auto& batch) { return store->ReportResults(batch); }, 64);
//   absl::StatusOr<ReportOutcome> outcome = batcher.Report(request);  // after its commit
//
// No call returns before the transaction holding its report committed (or failed): an
// acknowledged report is durable, and one that failed was not stored, exactly as without
// batching.
#ifndef NAS_SERVICES_REPORT_BATCHER_H_
#define NAS_SERVICES_REPORT_BATCHER_H_

#include <deque>
#include <functional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "proto/trainer_service.pb.h"
#include "services/store/store.h"

namespace nas {

class ReportBatcher {
 public:
  // Applies a batch: one outcome per report, in order, or a status for the whole batch (then
  // none of it was stored).
  using Apply = std::function<absl::StatusOr<std::vector<absl::StatusOr<ReportOutcome>>>(
      const std::vector<const nas::v1::ReportResultRequest*>&)>;

  ReportBatcher(Apply apply, int max_batch);

  // ReportBatcher::Report() returns `request`'s outcome once the batch holding it was applied.
  absl::StatusOr<ReportOutcome> Report(const nas::v1::ReportResultRequest& request);

  // Batches applied and reports in them so far, and reports waiting now (for tests; the
  // controller's metrics observe each batch's size as nas_report_batch_size).
  struct Counts {
    int64_t batches = 0;
    int64_t reports = 0;
    int64_t largest = 0;
    int64_t queued = 0;
  };
  Counts counts();

 private:
  struct Slot {
    const nas::v1::ReportResultRequest* request;
    bool done = false;
    absl::StatusOr<ReportOutcome> outcome = absl::UnknownError("not applied");
  };

  const Apply apply_;
  const int max_batch_;
  absl::Mutex mu_;
  std::deque<Slot*> queue_ ABSL_GUARDED_BY(mu_);
  bool applying_ ABSL_GUARDED_BY(mu_) = false;
  Counts counts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace nas

#endif  // NAS_SERVICES_REPORT_BATCHER_H_
